/**
 * What the maintenance commands (gc, scrub, reindex, purge-uploads) share: where the work happens and
 * how it is shown.
 *
 * The nedb index has one owner, the process holding berth.lock (storage/lock.ts). So when a Berth
 * server holds the data directory the command asks it to do the work through the management API
 * (the lock names its URL) and follows the run's progress; when nothing holds it the command opens the
 * directory itself, under the same lock, so no server can start on it meanwhile.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import ms from 'ms';
import { pino } from 'pino';
import prettyBytes from 'pretty-bytes';
import { loadConfig, type BerthConfig } from '../config.ts';
import { createRegistry, StartupError } from '../index.ts';
import type { RunJson, RunRequest } from '../registry/maintenance.ts';
import { liveHolder, type LockInfo } from '../storage/lock.ts';
import { keys, StoragePaths } from '../storage/paths.ts';
import { TlsFiles } from '../tls/store.ts';
import { CLIENT_HEADER } from '../http/api/guard.ts';
import { setAsideLine } from './common.ts';

export const MAINTENANCE_OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const MAINTENANCE_OPTIONS_USAGE = `  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file (env BERTH_CONFIG), for the data directory and defaults
  --json             print the run record as JSON instead of a summary`;

export const WHERE_IT_RUNS = `When a Berth server holds the data directory, it does the work (through its management API);
otherwise the command works on the directory directly and holds its lock until done. A server with
registry auth on wants an admin: set BERTH_USERNAME and BERTH_PASSWORD (a password or access token).`;

/** A maintenance run as the command sees it, and where it ran. */
export interface Outcome {
  run: RunJson;
  /** The server's URL, or null when the command worked on the directory itself. */
  server: string | null;
}

/** Waiting this long for a starting server to write its URL into the lock. */
const LOCK_URL_WAIT_MS = 5000;
const POLL_MS = 250;

export async function maintenanceConfig(values: { data?: string | undefined; config?: string | undefined }): Promise<BerthConfig> {
  return loadConfig({ flags: { data: values.data }, ...(values.config !== undefined ? { configFile: values.config } : {}) });
}

/**
 * Runs the maintenance work on the data directory of `config`; `body` is what the management API
 * endpoint `endpoint` takes for it (the same options, as the server would receive them).
 */
export async function runMaintenance(config: BerthConfig, request: RunRequest, endpoint: string, body: Record<string, unknown>): Promise<Outcome> {
  const paths = new StoragePaths(config.dataDir);
  const holder = await lockHolder(paths.lockFile);
  if (holder?.url) return { run: await runOnServer(serverUrl(holder.url), endpoint, body, paths), server: holder.url };
  if (holder) {
    throw new StartupError(`the data directory ${paths.root} is in use by another berth command (pid ${holder.pid}); try again when it is done`);
  }
  // On disk, a data directory without blobs/ is a wrong --data; a bucket's blobs are elsewhere.
  if (config.storage.driver === 'filesystem') {
    try {
      await fs.access(path.join(paths.root, keys.blobs));
    } catch {
      throw new StartupError(`no Berth data directory at ${paths.root} (it has no blobs/ folder): pass the one your server uses with --data`);
    }
  }
  return { run: await runLocally(config, request), server: null };
}

/**
 * A client of the management API of the server holding the data directory, or null when none does
 * (the command may then open the directory itself). Another berth command holding it is an error.
 */
export async function serverHolding(paths: StoragePaths): Promise<{ client: ManagementClient; url: string } | null> {
  const holder = await lockHolder(paths.lockFile);
  if (holder?.url) return { client: new ManagementClient(serverUrl(holder.url), await trustedCas(paths)), url: holder.url };
  if (holder) {
    throw new StartupError(`the data directory ${paths.root} is in use by another berth command (pid ${holder.pid}); try again when it is done`);
  }
  return null;
}

/** The live holder of the lock; a starting server is given a moment to write its URL. */
export async function lockHolder(lockFile: string): Promise<LockInfo | null> {
  const deadline = Date.now() + LOCK_URL_WAIT_MS;
  for (;;) {
    const holder = await liveHolder(lockFile);
    if (!holder) return null;
    if (holder.url || Date.now() > deadline) return holder;
    await sleep(POLL_MS);
  }
}

/** A server bound to every interface is asked on loopback (the management API serves this machine). */
export function serverUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  if (parsed.hostname === '[::]') parsed.hostname = '[::1]';
  return parsed.origin;
}

async function runOnServer(base: string, endpoint: string, body: Record<string, unknown>, paths: StoragePaths): Promise<RunJson> {
  const server = new ManagementClient(base, await trustedCas(paths));
  let run = await server.call<RunJson>('POST', endpoint, body);
  const progress = progressLine();
  while (run.state === 'queued' || run.state === 'running') {
    progress.show(run);
    await sleep(POLL_MS);
    run = await server.call<RunJson>('GET', `/api/runs/${run.id}`);
  }
  progress.clear();
  return run;
}

/** With TLS on, the server's certificate is signed by Berth's own CA in the data directory. */
export async function trustedCas(paths: StoragePaths): Promise<string[]> {
  const own = await fs.readFile(new TlsFiles(paths.tlsDir).caCert, 'utf8').catch(() => null);
  return own ? [...tls.rootCertificates, own] : [...tls.rootCertificates];
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * Calls the management API of the server holding the data directory, with the credentials it asks
 * for (api/guard.ts): the desktop app's per-launch token (BERTH_MANAGEMENT_TOKEN), or with registry
 * auth on an admin's JWT from /token, got with BERTH_USERNAME and BERTH_PASSWORD (a password or an
 * access token) and fetched again when it expires.
 */
export class ManagementClient {
  private bearer: string | null = process.env.BERTH_MANAGEMENT_TOKEN || null;
  private readonly base: string;
  private readonly ca: string[];

  constructor(base: string, ca: string[]) {
    this.base = base;
    this.ca = ca;
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', endpoint: string, body?: Record<string, unknown>): Promise<T> {
    const headers: Record<string, string> = { [CLIENT_HEADER]: 'berth-cli' };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    let answer = await this.send(method, `${this.base}${endpoint}`, headers, payload);
    const challenge = String(answer.headers['www-authenticate'] ?? '');
    if (answer.status === 401 && /^Bearer /i.test(challenge) && process.env.BERTH_USERNAME && process.env.BERTH_PASSWORD) {
      this.bearer = await this.adminToken(challenge);
      answer = await this.send(method, `${this.base}${endpoint}`, headers, payload);
    }
    if (answer.status >= 400) throw this.refusal(answer);
    return (answer.text === '' ? undefined : JSON.parse(answer.text)) as T;
  }

  /** OAuth2 password grant at the challenge's realm (docs/spec/auth/oauth.md), for the admin scope. */
  private async adminToken(challenge: string): Promise<string> {
    const param = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(challenge)?.[1];
    const realm = param('realm');
    if (!realm) throw new StartupError(`the Berth server at ${this.base} asked for credentials without saying where to get a token`);
    const form = new URLSearchParams({
      grant_type: 'password',
      username: process.env.BERTH_USERNAME!,
      password: process.env.BERTH_PASSWORD!,
      service: param('service') ?? 'berth',
      client_id: 'berth-cli',
      scope: 'registry:admin:*',
    });
    const answer = await this.send('POST', realm, { 'Content-Type': 'application/x-www-form-urlencoded' }, form.toString(), false);
    if (answer.status >= 400) throw this.refusal(answer);
    const token = JSON.parse(answer.text) as { access_token?: string; scope?: string };
    if (!token.access_token || !(token.scope ?? '').split(' ').includes('registry:admin:*')) {
      throw new StartupError(`user "${process.env.BERTH_USERNAME}" may not manage the registry at ${this.base} (needs *:admin)`);
    }
    return token.access_token;
  }

  private send(method: string, url: string, headers: Record<string, string>, body: string | undefined, authorize = true): Promise<Answer> {
    const target = new URL(url);
    const all = { ...headers, ...(authorize && this.bearer ? { Authorization: `Bearer ${this.bearer}` } : {}) };
    const options = { method, headers: { ...all, ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } };
    return new Promise((resolve, reject) => {
      const request = target.protocol === 'https:' ? https.request(target, { ...options, ca: this.ca }) : http.request(target, options);
      request.on('error', (err: NodeJS.ErrnoException) => {
        reject(new StartupError(`the Berth server holding the data directory (${this.base}) did not answer: ${err.code ?? err.message}`));
      });
      request.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      });
      request.end(body);
    });
  }

  private refusal(answer: Answer): StartupError {
    let message = answer.text.slice(0, 300);
    try {
      const parsed = JSON.parse(answer.text) as { errors?: { message: string }[]; error_description?: string; error?: string };
      message = parsed.errors?.[0]?.message ?? parsed.error_description ?? parsed.error ?? message;
    } catch {
      // not JSON: show the start of what came back
    }
    const hint = answer.status === 401
      ? process.env.BERTH_USERNAME
        ? ''
        : ' (the server needs credentials: set BERTH_USERNAME and BERTH_PASSWORD of an admin, or BERTH_MANAGEMENT_TOKEN for the desktop app)'
      : '';
    return new StartupError(`the Berth server at ${this.base} refused: ${message}${hint}`);
  }
}

async function runLocally(config: BerthConfig, request: RunRequest): Promise<RunJson> {
  // Logs go to stderr (warnings only): stdout is the command's output.
  const log = pino({ level: 'warn', base: { app: 'berth' } }, pino.destination(2));
  const registry = createRegistry({ ...config, logLevel: 'warn' }, { log });
  const { setAside } = await registry.open();
  for (const store of setAside) process.stderr.write(setAsideLine(store));
  const progress = progressLine();
  const off = registry.events.on('maintenance', (event) => {
    if (event.progress) progress.show({ progress: event.progress });
  });
  try {
    return await registry.services.lifecycle.maintenance.run(request, 'cli');
  } finally {
    off();
    progress.clear();
    await registry.close();
  }
}

/** One line of progress on stderr, rewritten in place, when stderr is a terminal. */
function progressLine() {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  return {
    show(run: Pick<RunJson, 'progress'>) {
      if (!tty || !run.progress) return;
      const { phase, done, total } = run.progress;
      const share = total > 0 ? ` ${Math.floor((done / total) * 100)}%` : '';
      process.stderr.write(`\r\x1b[K${phase}${share}`);
      shown = true;
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- output -------------------------------------------------------------------------------------

export function bytes(n: number): string {
  return prettyBytes(n);
}

export function seconds(ms: number | null): string {
  return `${((ms ?? 0) / 1000).toFixed(ms !== null && ms < 10_000 ? 2 : 1)} s`;
}

/** "1 hour", "30 minutes", "0 ms". */
export function duration(milliseconds: number): string {
  return ms(milliseconds, { long: true });
}

/** "3 blobs", "1 blob". */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function where(outcome: Outcome, dataDir: string): string {
  return outcome.server ? `(done by the Berth server at ${outcome.server})` : `(on ${path.resolve(dataDir)} directly)`;
}

/**
 * Prints the outcome: the run record as JSON, or the summary; a run that failed or was interrupted is
 * one line on stderr. Returns the exit code (0, or 1 when the run did not succeed).
 */
export function report(outcome: Outcome, json: boolean, summary: (run: RunJson) => string): number {
  const { run } = outcome;
  if (json) {
    process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    return run.state === 'succeeded' ? 0 : 1;
  }
  if (run.state !== 'succeeded') {
    process.stderr.write(`berth: the ${run.kind} run ${run.state}: ${run.error ?? 'no reason given'}\n`);
    return 1;
  }
  process.stdout.write(summary(run));
  return 0;
}
