/**
 * How the user and token commands reach the users: they open <data>/auth/ themselves, and only while
 * no Berth server owns the data directory. nedb allows one writer per file and keeps everything in
 * memory, so a second process writing users.db under a running server would be overwritten by it (or
 * corrupt it). The command takes the data directory lock the server takes (storage/lock.ts), so the
 * two can never overlap; while a server runs the command refuses and says how to proceed.
 */
import fs from 'node:fs/promises';
import { AuthService } from '../auth/service.ts';
import { loadConfig, type BerthConfig } from '../config.ts';
import { StartupError } from '../index.ts';
import { DataDirLock, DataDirLockedError } from '../storage/lock.ts';
import { StoragePaths } from '../storage/paths.ts';
import { printable, useDataDir } from './common.ts';

export const DATA_OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
} as const;

export const DATA_OPTIONS_USAGE = `  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file (for its data directory; env BERTH_CONFIG)`;

export function configFor(values: { data?: string; config?: string; host?: string; port?: string }): Promise<BerthConfig> {
  return loadConfig({
    flags: { data: values.data, host: values.host, port: values.port },
    ...(values.config !== undefined ? { configFile: values.config } : {}),
  });
}

export async function withAuthStore<T>(config: BerthConfig, work: (auth: AuthService) => Promise<T>): Promise<T> {
  const paths = new StoragePaths(config.dataDir);
  await useDataDir(paths.root);
  let lock: DataDirLock;
  try {
    lock = await DataDirLock.acquire(paths.lockFile);
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      throw new StartupError(
        `a Berth server is running on ${paths.root} (pid ${err.holder.pid}${err.holder.url ? `, ${err.holder.url}` : ''}); ` +
          'users and tokens can change only while it is stopped (one process may write them): stop it, run this command, then start it again',
      );
    }
    throw new StartupError(`cannot use data directory ${paths.root}: ${(err as Error).message}`);
  }
  const auth = new AuthService({ dir: paths.authDir, anonymousPull: config.anonymousPull });
  try {
    await auth.open();
    return await work(auth);
  } finally {
    await auth.close().catch(() => undefined);
    await lock.release();
  }
}

/** A password from stdin (`--password-stdin`, as docker login takes it): the first line. */
export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** A table with a header row, columns padded to their widest cell; every cell printable(). */
export function table(header: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
