/**
 * What the maintenance commands (gc, scrub, reindex, purge-uploads) share: where the work happens and
 * how it is shown.
 *
 * The nedb index has one owner, the process holding berth.lock (storage/lock.ts). So when a Berth
 * server holds the data directory the command asks it to do the work through the management API
 * (the lock names its URL) and follows the run's progress; when nothing holds it the command opens the
 * directory itself, under the same lock, so no server can start on it meanwhile.
 */
import path from 'node:path';
import ms from 'ms';
import { pino } from 'pino';
import prettyBytes from 'pretty-bytes';
import { loadConfig, type BerthConfig } from '../config.ts';
import { createRegistry } from '../index.ts';
import type { RunJson, RunRequest } from '../registry/maintenance.ts';
import { StoragePaths } from '../storage/paths.ts';
import { requireBlobsDir, setAsideLine } from './common.ts';
import { ManagementClient, serverHolding } from './management-client.ts';

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

/** How often a run on a server is asked for its progress. */
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
  const held = await serverHolding(paths);
  if (held) return { run: await runOnServer(held.client, endpoint, body), server: held.url };
  if (config.storage.driver === 'filesystem') await requireBlobsDir(paths.root);
  return { run: await runLocally(config, request), server: null };
}

async function runOnServer(server: ManagementClient, endpoint: string, body: Record<string, unknown>): Promise<RunJson> {
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
