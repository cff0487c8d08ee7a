/**
 * The HTTP client of one upstream registry: manifest HEAD/GET, blob HEAD/GET (OCI Distribution Spec
 * v1.1 "Pulling manifests", "Pulling blobs"), with its authentication (upstream-auth.ts), a timeout on
 * every answer and on every pause of a blob body, kept-alive connections, and redirects followed for
 * blobs (Docker Hub sends them to its CDN; the Authorization header never leaves the upstream's origin).
 * It contacts only its upstream's URL, the realm upstream-auth.ts allows, and where the upstream
 * redirects a blob GET. Every answer's RateLimit-Remaining is reported (Docker Hub's pulls left).
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { MANIFEST_MEDIA_TYPES } from '../registry/media-types.ts';
import { parseChallenges } from './challenge.ts';
import { UpstreamAuth, type UpstreamCredentialsSource } from './upstream-auth.ts';
import { UpstreamError, unreachable } from './upstream-errors.ts';
import type { Upstream } from './upstreams.ts';

/** The manifest types we ask for: every one we store, never Docker's schema 1 (refused by Berth). */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');
const MAX_REDIRECTS = 5;

export interface UpstreamClientDeps {
  upstream: Upstream;
  credentials: UpstreamCredentialsSource;
  now(): number;
  /** Called with every RateLimit-Remaining the upstream sends. */
  onRateLimit(remaining: number): void;
  /** The largest manifest accepted (registry/manifests.ts MAX_MANIFEST_BYTES). */
  maxManifestBytes: number;
}

export interface ManifestHead {
  digest: string | null;
  mediaType: string | null;
  size: number | null;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** Docker-Content-Digest, when sent. */
  digest: string | null;
}

export interface BlobBody {
  /** Content-Length, when the upstream sent one. */
  size: number | null;
  body: Readable;
}

interface Sent {
  res: http.IncomingMessage;
  url: URL;
}

export class UpstreamClient {
  readonly upstream: Upstream;
  readonly auth: UpstreamAuth;
  private readonly deps: UpstreamClientDeps;
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(deps: UpstreamClientDeps) {
    this.deps = deps;
    this.upstream = deps.upstream;
    this.base = new URL(deps.upstream.url);
    const options = { keepAlive: true, maxSockets: 32, maxFreeSockets: 8, scheduling: 'lifo' as const };
    this.agent = this.base.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
    this.auth = new UpstreamAuth({
      upstream: deps.upstream,
      credentials: deps.credentials,
      now: deps.now,
      get: async (url, headers) => {
        const { res } = await this.send('GET', url, headers);
        return { status: res.statusCode ?? 0, body: await readBody(res, 1024 * 1024, this.upstream.name, 'token answer', this.upstream.timeoutMs) };
      },
    });
  }

  /** GET /v2/: whether the upstream answers, and its challenge (the self-test). */
  async ping(): Promise<{ status: number; challenge: string | null }> {
    const { res } = await this.send('GET', new URL('/v2/', this.base), {});
    res.resume();
    return { status: res.statusCode ?? 0, challenge: header(res, 'www-authenticate') };
  }

  async headManifest(remote: string, reference: string): Promise<ManifestHead> {
    const res = await this.request('HEAD', remote, `manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    res.resume();
    await this.expectOk(res, `manifest ${remote}:${reference}`, true);
    const length = Number(header(res, 'content-length'));
    return {
      digest: header(res, 'docker-content-digest'),
      mediaType: mediaTypeOf(res),
      size: Number.isFinite(length) && length >= 0 && header(res, 'content-length') !== null ? length : null,
    };
  }

  async getManifest(remote: string, reference: string): Promise<FetchedManifest> {
    const what = `manifest ${remote}${reference.includes(':') ? '@' : ':'}${reference}`;
    const res = await this.request('GET', remote, `manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    await this.expectOk(res, what);
    const bytes = await readBody(res, this.deps.maxManifestBytes, this.upstream.name, what, this.upstream.timeoutMs);
    return { bytes, mediaType: mediaTypeOf(res) ?? '', digest: header(res, 'docker-content-digest') };
  }

  async headBlob(remote: string, digest: string): Promise<number | null> {
    const res = await this.request('HEAD', remote, `blobs/${digest}`, {}, { follow: true });
    res.resume();
    await this.expectOk(res, `blob ${digest} of ${remote}`, true);
    const length = header(res, 'content-length');
    return length === null ? null : Number(length);
  }

  /** The blob's body as it arrives; a pause longer than the timeout destroys it with an UpstreamError. */
  async getBlob(remote: string, digest: string): Promise<BlobBody> {
    const res = await this.request('GET', remote, `blobs/${digest}`, {}, { follow: true });
    await this.expectOk(res, `blob ${digest} of ${remote}`);
    const length = header(res, 'content-length');
    watchIdle(res, this.upstream.timeoutMs, () => new UpstreamError(this.upstream.name, 'timeout', `${this.upstream.name} stopped sending blob ${digest} for ${formatSeconds(this.upstream.timeoutMs)}`));
    // The watcher's 'data' listener must not start the flow before the fill pipes the body somewhere.
    res.pause();
    return { size: length === null ? null : Number(length), body: res };
  }

  close(): void {
    this.agent.destroy();
  }

  // ---- internals ------------------------------------------------------------------------------

  /** A registry request with authentication: a 401 is answered once by what its challenge asks for. */
  private async request(method: 'GET' | 'HEAD', remote: string, rest: string, headers: Record<string, string>, { follow = false } = {}): Promise<http.IncomingMessage> {
    const url = new URL(`/v2/${remote}/${rest}`, this.base);
    const scope = `repository:${remote}:pull`;
    const authorization = await this.auth.header(scope);
    let sent = await this.sendFollowing(method, url, headers, authorization, follow);
    if (sent.res.statusCode !== 401) return sent.res;
    sent.res.resume();
    if (!(await this.auth.learn(parseChallenges(header(sent.res, 'www-authenticate') ?? undefined)))) return sent.res;
    // A fresh token (a cached one may have been revoked or expired early): once, never in a loop.
    const renewed = await this.auth.header(scope, { renew: true });
    sent = await this.sendFollowing(method, url, headers, renewed, follow);
    return sent.res;
  }

  private async sendFollowing(method: 'GET' | 'HEAD', start: URL, headers: Record<string, string>, authorization: string | null, follow: boolean): Promise<Sent> {
    let url = start;
    for (let hop = 0; ; hop++) {
      // Credentials are for the upstream's origin only, never for where it redirects (a CDN).
      const withAuth = authorization && url.origin === this.base.origin ? { ...headers, Authorization: authorization } : headers;
      const sent = await this.send(method, url, withAuth);
      const status = sent.res.statusCode ?? 0;
      const location = header(sent.res, 'location');
      if (!follow || ![301, 302, 303, 307, 308].includes(status) || !location) return sent;
      sent.res.resume();
      if (hop >= MAX_REDIRECTS) throw new UpstreamError(this.upstream.name, 'invalid', `${this.upstream.name} redirected more than ${MAX_REDIRECTS} times`, status);
      url = new URL(location, url);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamError(this.upstream.name, 'invalid', `${this.upstream.name} redirected to ${url.protocol}`, status);
    }
  }

  /** One HTTP exchange, resolved with the response's headers (within the timeout). */
  private send(method: string, url: URL, headers: Record<string, string>): Promise<Sent> {
    const name = this.upstream.name;
    const timeoutMs = this.upstream.timeoutMs;
    const sameOrigin = url.origin === this.base.origin;
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<Sent>((resolve, reject) => {
      const req = transport.request(url, {
        method,
        headers: { 'User-Agent': 'berth-mirror', ...headers },
        ...(sameOrigin ? { agent: this.agent } : {}),
      });
      const timer = setTimeout(() => {
        req.destroy(new UpstreamError(name, 'timeout', `${name} did not answer within ${formatSeconds(timeoutMs)}`));
      }, timeoutMs);
      req.once('response', (res) => {
        clearTimeout(timer);
        const remaining = header(res, 'ratelimit-remaining');
        if (remaining !== null) {
          const n = Number.parseInt(remaining, 10);
          if (Number.isFinite(n)) this.deps.onRateLimit(n);
        }
        resolve({ res, url });
      });
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof UpstreamError ? err : unreachable(name, err));
      });
      req.end();
    });
  }

  /** Turns a non-2xx answer into an UpstreamError naming the status and the upstream's message. */
  private async expectOk(res: http.IncomingMessage, what: string, head = false): Promise<void> {
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return;
    const name = this.upstream.name;
    let code: string | null = null;
    let message = '';
    if (!head) {
      try {
        const body = JSON.parse((await readBody(res, 64 * 1024, name, what, this.upstream.timeoutMs)).toString('utf8')) as { errors?: { code?: string; message?: string }[] };
        code = body.errors?.[0]?.code ?? null;
        message = body.errors?.[0]?.message ?? '';
      } catch {
        // not the error envelope: the status says it
      }
    }
    res.resume();
    const said = `${code ? `${code}` : `HTTP ${status}`}${message ? `: ${message.slice(0, 200)}` : ''}`;
    if (status === 404) throw new UpstreamError(name, 'not-found', `${name} has no ${what} (${said})`, status, { upstreamCode: code });
    if (status === 429) {
      const retryAfter = header(res, 'retry-after');
      throw new UpstreamError(name, 'rate-limited', `${name} refused ${what}: too many requests (429${retryAfter ? `, retry after ${retryAfter} s` : ''})`, status, { retryAfter });
    }
    if (status === 401 || status === 403) throw new UpstreamError(name, 'unauthorized', `${name} refused access to ${what} (${said}); if it needs a login, set the upstream's credentials in the Mirrors page`, status, { upstreamCode: code });
    if (status >= 500) throw new UpstreamError(name, 'server-error', `${name} failed to serve ${what} (${said})`, status);
    throw new UpstreamError(name, 'invalid', `${name} answered ${what} with ${said}`, status);
  }
}

function header(res: http.IncomingMessage, name: string): string | null {
  const value = res.headers[name];
  return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
}

function mediaTypeOf(res: http.IncomingMessage): string | null {
  const type = header(res, 'content-type');
  return type ? type.split(';', 1)[0]!.trim().toLowerCase() : null;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Destroys `res` with `error()` when no bytes arrive for `ms`. */
function watchIdle(res: http.IncomingMessage, ms: number, error: () => Error): void {
  const timer = setTimeout(() => res.destroy(error()), ms);
  res.on('data', () => timer.refresh());
  res.once('close', () => clearTimeout(timer));
  res.once('end', () => clearTimeout(timer));
}

/** A whole (small) body, at most `max` bytes; a truncated or oversized one is an UpstreamError. */
function readBody(res: http.IncomingMessage, max: number, upstream: string, what: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    watchIdle(res, timeoutMs, () => new UpstreamError(upstream, 'timeout', `${upstream} stopped sending the ${what} for ${formatSeconds(timeoutMs)}`));
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        res.destroy(new UpstreamError(upstream, 'invalid', `${upstream} sent a ${what} larger than ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.once('end', () => resolve(Buffer.concat(chunks)));
    res.once('error', (err) => reject(err instanceof UpstreamError ? err : new UpstreamError(upstream, 'invalid', `${upstream} broke off the ${what} (${err.message})`)));
    res.once('close', () => {
      if (!res.complete) reject(new UpstreamError(upstream, 'invalid', `${upstream} broke off the ${what} before its end`));
    });
  });
}
