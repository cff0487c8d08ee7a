/**
 * Where the user and token commands find the users. nedb allows one writer per file and keeps
 * everything in memory, so a second process writing users.db under a running server would be
 * overwritten by it (or corrupt it). So, like the maintenance commands:
 *   - when a Berth server holds the data directory (its lock names its URL), the command asks it through
 *     the management API (/api/users, /api/tokens): users and tokens change with no downtime;
 *   - otherwise the command opens <data>/auth/ itself, under the data directory lock the server takes
 *     (storage/lock.ts), so no server can start on it meanwhile.
 * Both ways offer the same UserDirectory (registry/user-admin.ts): the same checks, answers and words.
 */
import { AuthService } from '../auth/service.ts';
import { loadConfig, type BerthConfig } from '../config.ts';
import { StartupError } from '../index.ts';
import type { CreatedToken, CreatedUser, HtpasswdImport, PasswordChange, TokenList, UserList, UserView } from '../registry/api-types.ts';
import { UserAdmin, type UserDirectory } from '../registry/user-admin.ts';
import { DataDirLock, DataDirLockedError } from '../storage/lock.ts';
import { StoragePaths } from '../storage/paths.ts';
import { UsageError, printable, requireDataDir, useDataDir } from './common.ts';
import { serverHolding, type ManagementClient } from './management-client.ts';
import { pino } from 'pino';
import { createMetadataStores } from '../metadata/stores.ts';

export const DATA_OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
} as const;

export const DATA_OPTIONS_USAGE = `  --data DIR         data directory (default: per-user data directory; env BERTH_DATA)
  --config FILE      JSON config file (for its data directory; env BERTH_CONFIG)`;

export const WHERE_USERS_CHANGE = `When a Berth server holds the data directory, the command asks it (through its management API), so
users and tokens change while it runs; otherwise it changes <data>/auth/ directly, holding the data
directory's lock. A server with registry auth on wants an admin: set BERTH_USERNAME and
BERTH_PASSWORD (a password or access token).`;

export function configFor(values: { data?: string; config?: string; host?: string; port?: string }): Promise<BerthConfig> {
  return loadConfig({
    flags: { data: values.data, host: values.host, port: values.port },
    ...(values.config !== undefined ? { configFile: values.config } : {}),
  });
}

/**
 * Runs `work` on the users of the data directory of `config`, here or through the server holding it.
 * `create`: the data directory may be made (adding users before the first start); other commands
 * need an existing one, so a mistyped --data is an error and not an empty directory made by a list.
 */
export async function withUsers<T>(config: BerthConfig, work: (users: UserDirectory) => Promise<T>, create = false): Promise<T> {
  const paths = new StoragePaths(config.dataDir);
  const held = await serverHolding(paths);
  if (held) return work(new ServerUsers(held.client));
  if (config.metadata.driver === 'postgres') return withSharedUsers(config, paths, work);
  if (create) await useDataDir(paths.root);
  else await requireDataDir(paths.root);
  let lock: DataDirLock;
  try {
    lock = await DataDirLock.acquire(paths.lockFile);
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      // Taken since we looked: a server starting this moment. Ask again in a moment.
      throw new StartupError(`a Berth server is starting on ${paths.root} (pid ${err.holder.pid}); run the command again once it listens`);
    }
    throw new StartupError(`cannot use data directory ${paths.root}: ${(err as Error).message}`);
  }
  const auth = new AuthService({ dir: paths.authDir, anonymousPull: config.anonymousPull });
  try {
    await auth.open();
    return await work(new UserAdmin({ auth: async () => auth, authEnabled: config.auth === 'token' }));
  } finally {
    await auth.close().catch(() => undefined);
    await lock.release();
  }
}

/**
 * With the metadata in PostgreSQL the users live in the database every replica shares: the command
 * changes them there, while the replicas run (each sees the change at its next login).
 */
async function withSharedUsers<T>(config: BerthConfig, paths: StoragePaths, work: (users: UserDirectory) => Promise<T>): Promise<T> {
  const metadata = createMetadataStores(config.metadata, { paths, log: pino({ level: 'silent' }), onWriteFailure: () => undefined });
  try {
    await metadata.connect();
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  const auth = new AuthService({ dir: paths.authDir, anonymousPull: config.anonymousPull, store: metadata.users!, signingKey: metadata.signingKey! });
  try {
    await auth.open();
    return await work(new UserAdmin({ auth: async () => auth, authEnabled: config.auth === 'token' }));
  } finally {
    await auth.close().catch(() => undefined);
    await metadata.close();
  }
}

/** The users of a running server, through its management API (http/api/users.ts, tokens.ts). */
class ServerUsers implements UserDirectory {
  private readonly server: ManagementClient;

  constructor(server: ManagementClient) {
    this.server = server;
  }

  listUsers(): Promise<UserList> {
    return this.server.call('GET', '/api/users');
  }

  createUser(body: Record<string, unknown>): Promise<CreatedUser> {
    return this.server.call('POST', '/api/users', body);
  }

  updateUser(name: string, body: Record<string, unknown>): Promise<UserView> {
    return this.server.call('PUT', `/api/users/${encodeURIComponent(name)}`, body);
  }

  setPassword(name: string, body: Record<string, unknown>): Promise<PasswordChange> {
    return this.server.call('PUT', `/api/users/${encodeURIComponent(name)}/password`, body);
  }

  removeUser(name: string): Promise<void> {
    return this.server.call('DELETE', `/api/users/${encodeURIComponent(name)}`);
  }

  importHtpasswd(body: Record<string, unknown>): Promise<HtpasswdImport> {
    return this.server.call('POST', '/api/users/htpasswd', body);
  }

  listTokens(query: { user?: string }): Promise<TokenList> {
    return this.server.call('GET', `/api/tokens${query.user !== undefined ? `?${new URLSearchParams({ user: query.user })}` : ''}`);
  }

  createToken(body: Record<string, unknown>): Promise<CreatedToken> {
    return this.server.call('POST', '/api/tokens', body);
  }

  revokeToken(id: string): Promise<void> {
    return this.server.call('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
  }
}

/**
 * A password from stdin (`--password-stdin`, as docker login takes it): the first line. Nothing there
 * (an empty pipe, a variable that was not set) is a usage error naming `option`, before anything is
 * created, not a password rule's complaint about an empty one.
 */
export async function readPasswordFromStdin(option = '--password-stdin'): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (line.trim() === '') throw new UsageError(`${option}: standard input is empty; pipe the ${option === '--secret-stdin' ? 'secret' : 'password'} into it (printf '%s\\n' "$VALUE" | berth ...)`);
  return line;
}

/** A table with a header row, columns padded to their widest cell; every cell printable(). */
export function table(header: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
