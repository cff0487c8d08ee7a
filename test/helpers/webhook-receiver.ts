/**
 * A webhook receiver on loopback, as a CI system would write one: it verifies the Standard Webhooks
 * signature with the `standardwebhooks` package (Webhook.verify) and the GitHub-style
 * X-Hub-Signature-256 with crypto.timingSafeEqual, records every request, and answers what the test
 * scripts (a status per request, a delay, or no answer at all).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  at: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
  /** Both signatures checked out (null: no secret to check against). */
  standardOk: boolean | null;
  hubOk: boolean | null;
  /** What we answered. */
  status: number;
}

export interface ReceiverOptions {
  /** The secrets the receiver holds (any may verify; rotation). */
  secrets?: string[];
  /** The status for the n-th request (0-based); default 200. */
  status?: (n: number, request: Omit<Received, 'status'>) => number;
  /** Delay before answering, ms (default 0). */
  delayMs?: number;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  options: ReceiverOptions;
  /** Resolves once `predicate` holds for what was received (checked on every request). */
  until(predicate: (received: Received[]) => boolean, timeoutMs?: number): Promise<Received[]>;
  /** Requests that arrived but were never answered (hang mode). */
  hang(on: boolean): void;
  close(): Promise<void>;
}

export function verifyHub(secret: string, body: string, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function verifyStandard(secret: string, body: string, headers: http.IncomingHttpHeaders): boolean {
  try {
    const webhook = secret.startsWith('whsec_') ? new Webhook(secret) : new Webhook(secret, { format: 'raw' });
    webhook.verify(body, {
      'webhook-id': String(headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(headers['webhook-signature'] ?? ''),
    });
    return true;
  } catch {
    return false;
  }
}

export async function startReceiver(options: ReceiverOptions = {}, port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  let hanging = false;
  const hung: http.ServerResponse[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const secrets = options.secrets ?? [];
      const entry = {
        at: Date.now(),
        path: req.url ?? '',
        headers: req.headers,
        body,
        json: safeJson(body),
        standardOk: secrets.length ? secrets.some((s) => verifyStandard(s, body, req.headers)) : null,
        hubOk: secrets.length ? secrets.some((s) => verifyHub(s, body, req.headers['x-hub-signature-256'] as string | undefined)) : null,
      };
      if (hanging) {
        hung.push(res);
        return;
      }
      const status = options.status ? options.status(n++, entry) : 200;
      const answer = () => {
        received.push({ ...entry, status });
        res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status < 300 ? 'ok' : `nope ${status}`);
        for (const w of waiters) w();
      };
      if (options.delayMs) setTimeout(answer, options.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/hook`,
    port: actual,
    received,
    options,
    until(predicate, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(received)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(received);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the receiver did not get what the test waits for within ${timeoutMs} ms; it got ${received.length} requests:\n${received.map((r) => r.body).join('\n').slice(0, 3000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    hang(on) {
      hanging = on;
      if (!on) for (const res of hung.splice(0)) res.destroy();
    },
    async close() {
      for (const res of hung.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** An event of Distribution's envelope, as receivers read it. */
export interface EnvelopeEvent {
  id: string;
  timestamp: string;
  action: string;
  target: { mediaType?: string; size?: number; digest?: string; length?: number; repository?: string; fromRepository?: string; url?: string; tag?: string };
  request: { id?: string; addr?: string; host?: string; method?: string; useragent?: string };
  actor: { name?: string };
  source: { addr?: string; instanceID?: string };
  berth?: Record<string, unknown>;
}

/** The events of Distribution envelopes received, in order. */
export function envelopeEvents(received: Received[]): EnvelopeEvent[] {
  return received.flatMap((r) => (r.json as { events?: EnvelopeEvent[] } | null)?.events ?? []);
}
