/**
 * What `berth files` and `berth diff` share: where the work happens. Like the maintenance commands
 * (maintenance.ts), a server holding the data directory is asked through its management API; otherwise
 * the command opens the directory itself (under its lock) and asks the same services directly.
 */
import { pino } from 'pino';
import type { BerthConfig } from '../config.ts';
import { createRegistry, StartupError, type Registry } from '../index.ts';
import { StoragePaths } from '../storage/paths.ts';
import { ManagementClient, lockHolder, trustedCas } from './management-client.ts';
import { selfUrl } from '../self-url.ts';
import { UsageError, requireBlobsDir } from './common.ts';

export const INSPECT_OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  platform: { type: 'string' },
} as const;

export const INSPECT_OPTIONS_USAGE = `  --platform P       os/arch[/variant] of a multi-platform image (needed when it has more than one)
  --json             print JSON instead of text
  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file (env BERTH_CONFIG)

REF is repository:tag or repository@sha256:<hex> (a bare repository means :latest). When a Berth
server holds the data directory it answers (with registry auth on, set BERTH_USERNAME and
BERTH_PASSWORD of an admin); otherwise the command reads the directory directly.`;

/** "repository:tag", "repository@digest" or "repository" (":latest"). */
export function parseRef(text: string): { repo: string; reference: string } {
  const at = text.indexOf('@');
  if (at > 0) return { repo: text.slice(0, at), reference: text.slice(at + 1) };
  const colon = text.lastIndexOf(':');
  if (colon > text.lastIndexOf('/') && colon > 0) return { repo: text.slice(0, colon), reference: text.slice(colon + 1) };
  if (!text || text.startsWith('-')) throw new UsageError(`"${text}" is not an image reference: use repository:tag or repository@digest`);
  return { repo: text, reference: 'latest' };
}

export function checkPlatform(platform: string | undefined): void {
  if (platform !== undefined && !/^[a-z0-9._-]+\/[a-z0-9._-]+(\/[a-z0-9._-]+)?$/i.test(platform)) {
    throw new UsageError(`--platform must be os/arch or os/arch/variant, like linux/arm64, not "${platform}"`);
  }
}

/**
 * Runs `remote` against the server holding the data directory, or `local` on the directory itself.
 * Errors of the local services (RegistryError) become one-line messages.
 */
export async function onServerOrLocally<T>(config: BerthConfig, remote: (server: ManagementClient) => Promise<T>, local: (registry: Registry) => Promise<T>): Promise<T> {
  const paths = new StoragePaths(config.dataDir);
  const holder = await lockHolder(paths.lockFile);
  if (holder?.url) return remote(new ManagementClient(selfUrl(holder.url), await trustedCas(paths)));
  if (holder) throw new StartupError(`the data directory ${paths.root} is in use by another berth command (pid ${holder.pid}); try again when it is done`);
  if (config.storage.driver === 'filesystem') await requireBlobsDir(paths.root);
  const log = pino({ level: 'warn', base: { app: 'berth' } }, pino.destination(2));
  const registry = createRegistry({ ...config, logLevel: 'warn' }, { log });
  await registry.open();
  try {
    return await local(registry);
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'RegistryError') throw new StartupError(e.message ?? String(err));
    throw err;
  } finally {
    await registry.close();
  }
}

export function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, v);
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** "rwxr-xr-x" with the type letter, like ls -l. */
export function modeString(type: string, mode: number): string {
  const letter = { dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', hardlink: 'h' }[type] ?? '-';
  let bits = '';
  for (let shift = 6; shift >= 0; shift -= 3) {
    const part = (mode >> shift) & 7;
    bits += (part & 4 ? 'r' : '-') + (part & 2 ? 'w' : '-') + (part & 1 ? 'x' : '-');
  }
  const chars = bits.split('');
  if (mode & 0o4000) chars[2] = chars[2] === 'x' ? 's' : 'S';
  if (mode & 0o2000) chars[5] = chars[5] === 'x' ? 's' : 'S';
  if (mode & 0o1000) chars[8] = chars[8] === 'x' ? 't' : 'T';
  return letter + chars.join('');
}
