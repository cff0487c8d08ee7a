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
import path from 'node:path';
import ms from 'ms';
import { pino } from 'pino';
import prettyBytes from 'pretty-bytes';
import { loadConfig, type BerthConfig } from '../config.ts';
import { createRegistry, StartupError } from '../index.ts';
import type { RunJson, RunRequest } from '../registry/maintenance.ts';
import { isAlive, readLock, type LockInfo } from '../storage/lock.ts';
import { StoragePaths } from '../storage/paths.ts';
import { CLIENT_HEADER } from '../http/api/guard.ts';

export const MAINTENANCE_OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const MAINTENANCE_OPTIONS_USAGE = `  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file (env BERTH_CONFIG), for the data directory and defaults
  --json             print the run record as JSON instead of a summary`;

export const WHERE_IT_RUNS = `When a Berth server holds the data directory, it does the work (through its management API);
otherwise the command works on the directory directly and holds its lock until done.`;

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
  if (holder?.url) return { run: await runOnServer(serverUrl(holder.url), endpoint, body), server: holder.url };
  if (holder) {
    throw new StartupError(`the data directory ${paths.root} is in use by another berth command (pid ${holder.pid}); try again when it is done`);
  }
  try {
    await fs.access(paths.blobsDir);
  } catch {
    throw new StartupError(`no Berth data directory at ${paths.root} (it has no blobs/ folder): pass the one your server uses with --data`);
  }
  return { run: await runLocally(config, request), server: null };
}

/** The live holder of the lock; a starting server is given a moment to write its URL. */
async function lockHolder(lockFile: string): Promise<LockInfo | null> {
  const deadline = Date.now() + LOCK_URL_WAIT_MS;
  for (;;) {
    const holder = await readLock(lockFile);
    if (!holder || !isAlive(holder.pid)) return null;
    if (holder.url || Date.now() > deadline) return holder;
    await sleep(POLL_MS);
  }
}

/** A server bound to every interface is asked on loopback (the management API serves this machine). */
function serverUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  if (parsed.hostname === '[::]') parsed.hostname = '[::1]';
  return parsed.origin;
}

async function runOnServer(base: string, endpoint: string, body: Record<string, unknown>): Promise<RunJson> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', [CLIENT_HEADER]: 'berth-cli' };
  // The desktop app guards its management API with a per-launch token; it may be handed to the CLI.
  if (process.env.BERTH_MANAGEMENT_TOKEN) headers.Authorization = `Bearer ${process.env.BERTH_MANAGEMENT_TOKEN}`;
  let run = await request<RunJson>(base, endpoint, { method: 'POST', headers, body: JSON.stringify(body) });
  const progress = progressLine();
  while (run.state === 'queued' || run.state === 'running') {
    progress.show(run);
    await sleep(POLL_MS);
    run = await request<RunJson>(base, `/api/runs/${run.id}`, { headers });
  }
  progress.clear();
  return run;
}

async function request<T>(base: string, endpoint: string, init: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${endpoint}`, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new StartupError(`the Berth server holding the data directory (${base}) did not answer: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { errors: { message: string }[] }).errors[0]!.message;
    } catch {
      // not our error envelope: show the start of what came back
    }
    const hint = res.status === 401 ? ' (the desktop app guards its API with a token: set BERTH_MANAGEMENT_TOKEN, or use the app)' : '';
    throw new StartupError(`the Berth server at ${base} refused: ${message}${hint}`);
  }
  return JSON.parse(text) as T;
}

async function runLocally(config: BerthConfig, request: RunRequest): Promise<RunJson> {
  // Logs go to stderr (warnings only): stdout is the command's output.
  const log = pino({ level: 'warn', base: { app: 'berth' } }, pino.destination(2));
  const registry = createRegistry({ ...config, logLevel: 'warn' }, { log });
  await registry.open();
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
