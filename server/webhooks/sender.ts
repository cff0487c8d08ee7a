/**
 * One HTTP attempt of a delivery: a POST with a bounded body, within the endpoint's timeout.
 *   - Redirects are never followed (a 3xx is a failure naming its Location): a receiver that moved is
 *     told by its owner, not by whoever answers at the old address, and the signed body never goes
 *     to a host nobody configured.
 *   - TLS is verified against the system's CAs plus the endpoint's own CA when it has one.
 *   - Of the response only RESPONSE_EXCERPT characters are kept (for the delivery log), read from at
 *     most RESPONSE_READ bytes; the rest is not read.
 * Connections are kept alive per endpoint (one agent each; its CA is part of the agent).
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { VERSION } from '../version.ts';

export const RESPONSE_EXCERPT = 512;
const RESPONSE_READ = 4096;
export const USER_AGENT = `Berth-Webhooks/${VERSION}`;

export interface Outgoing {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
}

export interface AttemptOutcome {
  ok: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
  response: string | null;
}

export class Sender {
  private readonly agents = new Map<string, { ca: string | null; agent: http.Agent }>();
  /** Agents of changed or removed endpoints: an attempt on the wire finishes; their idle sockets time out. */
  private readonly retired = new Set<http.Agent>();

  /** New attempts of the endpoint use new connections (it was changed or removed). */
  forget(endpointId: string): void {
    for (const key of [`${endpointId}:s`, `${endpointId}:p`]) {
      const known = this.agents.get(key);
      if (known) this.retire(known.agent);
      this.agents.delete(key);
    }
  }

  /** An attempt lasts at most the longest timeout (60 s): then the old agent goes, sockets and all. */
  private retire(agent: http.Agent): void {
    this.retired.add(agent);
    setTimeout(() => {
      agent.destroy();
      this.retired.delete(agent);
    }, 61_000).unref();
  }

  /** Cuts every connection, attempts on the wire included (shutdown). */
  close(): void {
    for (const { agent } of this.agents.values()) agent.destroy();
    for (const agent of this.retired) agent.destroy();
    this.agents.clear();
    this.retired.clear();
  }

  post(endpointId: string, ca: string | null, out: Outgoing): Promise<AttemptOutcome> {
    const started = process.hrtime.bigint();
    const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);
    const target = new URL(out.url);
    const secure = target.protocol === 'https:';
    const agent = this.agent(endpointId, secure, ca);
    const headers = { ...out.headers, 'User-Agent': USER_AGENT, 'Content-Length': String(out.body.length) };
    return new Promise<AttemptOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: Omit<AttemptOutcome, 'durationMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...outcome, durationMs: elapsed() });
      };
      const request = (secure ? https : http).request(target, { method: 'POST', headers, agent });
      const timer = setTimeout(() => {
        finish({ ok: false, status: null, error: `no answer within ${out.timeoutMs / 1000} s`, response: null });
        request.destroy();
      }, out.timeoutMs);
      request.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, status: null, error: describe(err, target), response: null }));
      request.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let length = 0;
        const done = () => {
          const response = excerpt(Buffer.concat(chunks));
          if (status >= 200 && status < 300) finish({ ok: true, status, error: null, response });
          else if (status >= 300 && status < 400) {
            const location = String(res.headers.location ?? '').slice(0, 200);
            finish({ ok: false, status, error: `redirected${location ? ` to ${location}` : ''}; webhooks never follow redirects: change the endpoint's URL`, response });
          } else finish({ ok: false, status, error: `the receiver answered ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, response });
        };
        res.on('data', (chunk: Buffer) => {
          if (length >= RESPONSE_READ) return;
          chunks.push(chunk);
          length += chunk.length;
          if (length >= RESPONSE_READ) {
            // Enough for the log: the rest is not read, and the connection is not reused.
            done();
            res.destroy();
          }
        });
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
      });
      request.end(out.body);
    });
  }

  private agent(endpointId: string, secure: boolean, ca: string | null): http.Agent {
    const key = `${endpointId}:${secure ? 's' : 'p'}`;
    const known = this.agents.get(key);
    if (known && known.ca === ca) return known.agent;
    if (known) this.retire(known.agent);
    const options = { keepAlive: true, maxSockets: 2, timeout: 60_000 };
    const agent = secure ? new https.Agent({ ...options, ...(ca ? { ca: [...tls.rootCertificates, ca] } : {}) }) : new http.Agent(options);
    this.agents.set(key, { ca, agent });
    return agent;
  }
}

/** The start of a response body, as text. */
function excerpt(bytes: Buffer): string | null {
  if (bytes.length === 0) return null;
  const text = bytes.toString('utf8').replace(/\uFFFD+$/, '');
  return text.length > RESPONSE_EXCERPT ? `${text.slice(0, RESPONSE_EXCERPT)}…` : text;
}

/** A network or TLS failure in words. */
function describe(err: NodeJS.ErrnoException, target: URL): string {
  const where = target.host;
  switch (err.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${target.hostname} does not resolve`;
    case 'ECONNRESET':
      return `${where} closed the connection`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} is unreachable`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `the TLS certificate of ${where} is not trusted (${err.code}); give the endpoint its CA ("ca")`;
    case 'CERT_HAS_EXPIRED':
      return `the TLS certificate of ${where} has expired`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the TLS certificate of ${where} is not for ${target.hostname}`;
    default:
      return `${err.code ? `${err.code}: ` : ''}${err.message}`.slice(0, 300);
  }
}
