/**
 * A manifest GET or HEAD answered again from memory, without Koa: clients ask for the same manifest by
 * the same tag over and over (every `docker pull`, every CI job, every node of a cluster), and the
 * answer changes only when the repository does. Koa's middleware chain, the router and the handler cost
 * ~80 us of a manifest GET's ~100 us of CPU (docs/benchmarks.md, "Manifest GETs answered from
 * memory"); sending an answer Koa already wrote costs ~35 us.
 *
 * It never makes an answer up. It sends again the headers and the body that Koa wrote, with status
 * 200, for an earlier request with the same URL, Host and Accept header, and does what Koa's path does
 * for it: the request is counted and timed in /metrics under its operation (getManifest,
 * headManifest), logged (request-log.ts), and a GET announced as manifest-pulled (activity feed,
 * metrics, the UI's live stream). Anything else goes to Koa, which may then remember its answer.
 *
 * A request is answered from memory only when all of these hold:
 *   - registry auth is off (with auth on, every request is authorized on its own) and the server is
 *     alone over its store (replicas of a cluster change it behind each other's backs): index.ts;
 *   - GET or HEAD, and no header but Host, Accept, User-Agent, Accept-Encoding, Connection (and
 *     fetch()'s Accept-Language and Sec-Fetch-Mode): no Origin or Sec-Fetch-Site (a web page, which
 *     request-origin.ts may refuse), no If-None-Match (a 304), no Authorization, no body;
 *   - the Host names this server, by request-origin.ts's own check;
 *   - the server is not stopping, and no webhook endpoint takes pulls (a pull's answer then waits for
 *     its delivery to be written to the outbox: webhooks/recorder.ts);
 *   - nothing the answer depends on changed since Koa answered (`versionOf` its repository): no tag of
 *     the repository written, no link, tag or the repository removed (storage/repository-store.ts), no
 *     manifest body evicted, no upstream of the pull-through cache changed. A push to another
 *     repository leaves it valid. A change anywhere during the request that answered (`version`)
 *     keeps its answer from being remembered at all. Answers through the pull-through cache are never
 *     remembered (an upstream decides them).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { RegistryEvents } from '../registry/events.ts';
import type { RegistryMetrics } from '../registry/metrics.ts';
import { originOf } from './context.ts';
import { logWhenClosed } from './request-log.ts';

/**
 * The request headers an answer may be given again for (lowercase): those registry clients send (Go's
 * and curl's), and those fetch() adds that no route reads. Any other sends the request to Koa.
 */
const PLAIN_HEADERS = new Set(['host', 'accept', 'user-agent', 'accept-encoding', 'connection', 'accept-language', 'sec-fetch-mode']);
/** Answers are remembered up to this size each (larger manifests are rare) and this much in all. */
const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_TOTAL_BYTES = 8 * 1024 * 1024;
/** What an answer costs besides its body (key, headers, object): for the total only. */
const ANSWER_OVERHEAD = 1024;

/** What the manifest handler tells of a 200 it gave from the store (http/manifests.ts). */
export interface ManifestAnswer {
  repository: string;
  reference: string;
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

interface Remembered extends ManifestAnswer {
  /** The response's headers as Koa wrote them, names as spelled: [name, value, name, value, ...]. */
  headers: string[];
  /** versionOf(repository) when it was remembered. */
  version: number;
}

const offered = new WeakMap<ServerResponse, ManifestAnswer>();

/** The handler's 200 may be given again to the same request (called only for answers from the store). */
export function offerAnswer(res: ServerResponse, answer: ManifestAnswer): void {
  offered.set(res, answer);
}

export interface ManifestAnswersDeps {
  /** Changes whenever any remembered answer may have become wrong (see the top). */
  version(): number;
  /** Changes whenever an answer about `repository` may have become wrong (version() changes then too). */
  versionOf(repository: string): number;
  /** Whether answers may be given from memory now (not while stopping, nor while webhooks take pulls). */
  open(): boolean;
  /** Whether a Host header names this server (request-origin.ts). */
  namesUs(host: string): boolean;
  metrics: RegistryMetrics;
  events: RegistryEvents;
  log: Logger;
  stopping?: () => boolean;
}

export class ManifestAnswers {
  private readonly answers = new LRUCache<string, Remembered>({
    maxSize: MAX_TOTAL_BYTES,
    maxEntrySize: MAX_ANSWER_BYTES + ANSWER_OVERHEAD,
    sizeCalculation: (a) => a.bytes.length + ANSWER_OVERHEAD,
  });

  constructor(private readonly deps: ManifestAnswersDeps) {}

  /** The server's request listener: answers from memory where it can, else hands the request to `handler`. */
  wrap(handler: RequestListener): RequestListener {
    return (req, res) => {
      if (!this.answered(req, res)) handler(req, res);
    };
  }

  private answered(req: IncomingMessage, res: ServerResponse): boolean {
    const { method, url } = req;
    if ((method !== 'GET' && method !== 'HEAD') || url === undefined || !url.startsWith('/v2/') || !url.includes('/manifests/')) return false;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!PLAIN_HEADERS.has(raw[i]!.toLowerCase())) return false;
    const host = req.headers.host ?? '';
    const key = `${url}\n${host}\n${req.headers.accept ?? ''}`;
    const answer = this.answers.get(key);
    if (answer && answer.version !== this.deps.versionOf(answer.repository)) this.answers.delete(key);
    else if (answer && this.deps.open() && this.deps.namesUs(host)) {
      this.send(req, res, method, url, answer);
      return true;
    }
    // Koa answers; its answer is remembered if nothing at all changed meanwhile.
    const version = this.deps.version();
    res.once('finish', () => this.remember(key, version, res));
    return false;
  }

  private send(req: IncomingMessage, res: ServerResponse, method: 'GET' | 'HEAD', url: string, answer: Remembered): void {
    const { metrics, events, log } = this.deps;
    const started = process.hrtime.bigint();
    const query = url.indexOf('?');
    if (log.isLevelEnabled('info')) {
      const facts = { method, path: query < 0 ? url : url.slice(0, query), remote: req.socket.remoteAddress ?? '', started };
      logWhenClosed(log, res, facts, {}, this.deps.stopping ? { stopping: this.deps.stopping } : {});
    }
    if (method === 'GET') {
      const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
      const { repository, digest, reference, mediaType, bytes } = answer;
      events.emit('manifest-pulled', { repository, digest, reference, mediaType, size: bytes.length, origin: originOf(req, scheme, undefined) });
    }
    res.writeHead(200, answer.headers);
    res.end(method === 'GET' ? answer.bytes : undefined);
    metrics.observeRequest(method, method === 'GET' ? 'getManifest' : 'headManifest', 200, Number(process.hrtime.bigint() - started) / 1e9);
    metrics.answeredFromMemory();
  }

  private remember(key: string, version: number, res: ServerResponse): void {
    const answer = offered.get(res);
    if (!answer || res.statusCode !== 200 || version !== this.deps.version()) return;
    // Valid from now until its repository changes: nothing changed while Koa answered.
    const current = this.deps.versionOf(answer.repository);
    const headers: string[] = [];
    // Names as Koa spelled them (Node has getRawHeaderNames() on every outgoing message; its types
    // declare it on ClientRequest only).
    for (const name of (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
      const value = res.getHeader(name);
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) headers.push(name, String(one));
    }
    this.answers.set(key, { ...answer, headers, version: current });
  }
}
