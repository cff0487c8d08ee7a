/**
 * One Berth per data directory: the nedb index must have a single owner, and the caches in front of
 * the files assume no other writer.
 *
 * The lock is two things:
 *   - berth.lock, created exclusively (O_EXCL): who holds the directory (pid, start time, its URL once
 *     listening, so the CLI can find the server) and where its liveness socket listens;
 *   - that socket, listening for as long as the holder lives: berth.sock next to the lock file, or,
 *     where a socket cannot live there (a path too long for sun_path, a file system without sockets),
 *     an abstract socket on Linux, a socket in the temp folder elsewhere, a named pipe on Windows.
 * A lock is live while its socket accepts a connection. The kernel closes a process's sockets when it
 * dies, however it dies (kill -9 included, and before a zombie is reaped), so a lock never outlives its
 * process, and no pid check can be fooled by a pid reused after a reboot or by another pid namespace.
 * Node has no flock(), and a native module would need rebuilding for Electron; a listening socket is
 * what every platform Node runs on has. Unlike pid files it also works when two containers share the
 * directory (a socket file there reaches the same kernel's listener).
 *
 * The socket is looked for beside the lock file that was read, not at the path the lock records: a data
 * directory copied (cp -a, rsync, a backup restored) while its server ran carries a lock naming the
 * original's socket, which answers, and the copy would seem held by a server that serves another
 * directory (and commands would change that one). For the same reason every socket says which directory
 * it guards (device and inode) when connected to: one elsewhere (abstract, temp folder), or a socket file
 * hard-linked into a copy, guards the original.
 *
 * A lock whose socket refuses connections was left by a crash and is taken over: moved aside by
 * rename (atomic), checked to be the stale one that was judged (else put back), then created anew.
 * Lock files of older Berths (no socket) are judged by their pid, not counting a zombie or a process
 * that started after the lock was written (a reused pid).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isNotFound } from './files.ts';
import { selfUrl } from '../self-url.ts';

export interface LockInfo {
  pid: number;
  startedAt: string;
  /** Where the owning server listens, once it does. */
  url?: string;
  /** The holder's liveness socket (see the top); "@name" is a Linux abstract socket. */
  socket?: string;
  /** Tells this lock from any other written by the same pid. */
  nonce?: string;
}

/** A lock file that cannot be read at all (a folder, no permission, an I/O error): one line naming it. */
export class LockFileError extends Error {
  constructor(file: string, err: unknown) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EIO' ? 'I/O error (EIO)' : (err as Error).message;
    super(`cannot read the lock file ${file} (${why}): if no Berth uses this data directory, remove it`);
    this.name = 'LockFileError';
  }
}

/** A holder's URL as a client can use it; a damaged lock file's, which does not parse, as written. */
function connectable(url: string): string {
  try {
    return selfUrl(url);
  } catch {
    return url;
  }
}

export class DataDirLockedError extends Error {
  readonly holder: LockInfo;
  constructor(file: string, holder: LockInfo) {
    super(`the data directory is in use by another Berth (pid ${holder.pid}${holder.url ? `, ${connectable(holder.url)}` : ''}); lock file ${file}`);
    this.name = 'DataDirLockedError';
    this.holder = holder;
  }
}

/** How long a lock file may be empty (its creator is writing it) before it counts as left by a crash. */
const BEING_WRITTEN_MS = 2000;
/** Answer time of a live holder's socket (a stopped process still has the kernel accept for it). */
const CONNECT_TIMEOUT_MS = 2000;
/** sun_path is 104 bytes on macOS, 108 on Linux, with the terminating NUL. */
const MAX_SOCKET_PATH = 103;

export class DataDirLock {
  private readonly file: string;
  private info: LockInfo;
  private readonly server: net.Server;
  private released = false;

  private constructor(file: string, info: LockInfo, server: net.Server) {
    this.file = file;
    this.info = info;
    this.server = server;
  }

  static async acquire(file: string): Promise<DataDirLock> {
    // When a lock with no readable holder was first met: waited for at most BEING_WRITTEN_MS from then,
    // whatever its mtime says (one in the future, from a skewed clock, would otherwise be waited on forever).
    let unreadableSince: number | null = null;
    for (let attempt = 0; attempt < 10; attempt++) {
      const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString(), nonce: randomBytes(12).toString('hex') };
      let created = false;
      try {
        await fs.writeFile(file, JSON.stringify(info), { flag: 'wx', mode: 0o644 });
        created = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (created) {
        try {
          const { server, socket } = await listenSocket(file, info.nonce!);
          const lock = new DataDirLock(file, { ...info, socket }, server);
          await lock.write();
          return lock;
        } catch (err) {
          await fs.rm(file, { force: true });
          throw err;
        }
      }
      const holder = await readLock(file);
      if (holder === null) {
        // Empty or half-written: its creator is writing it right now, unless that was long ago. Waiting
        // for it to be that old (not polling a fixed number of times) tells a lock being written from one
        // left damaged, which is then taken over like any stale lock, unless a Berth still answers on its
        // socket beside it (a damaged lock of a live server).
        const age = await fs.stat(file).then((st) => Date.now() - st.mtimeMs, () => 0);
        unreadableSince ??= Date.now();
        if (age < BEING_WRITTEN_MS && Date.now() - unreadableSince < BEING_WRITTEN_MS) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          attempt--;
          continue;
        }
        if (process.platform !== 'win32' && (await socketAnswers(besideSocket(file), file))) {
          throw new Error(`the lock file ${file} is damaged, yet a Berth answers on its socket ${besideSocket(file)}: stop that Berth, then remove the lock file`);
        }
      } else if (await isLive(holder, file)) {
        throw new DataDirLockedError(file, holder);
      }
      await removeStale(file, holder);
    }
    throw new Error(`could not take the lock ${file}: other processes keep taking it`);
  }

  async update(fields: Partial<LockInfo>): Promise<void> {
    this.info = { ...this.info, ...fields };
    await this.write();
  }

  /** Replaces the lock file atomically, so a reader never sees it half-written. */
  private async write(): Promise<void> {
    const temp = `${this.file}.${this.info.nonce}.tmp`;
    await fs.writeFile(temp, JSON.stringify(this.info), { mode: 0o644 });
    await fs.rename(temp, this.file);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const holder = await readLock(this.file).catch(() => null);
    if (holder?.nonce === this.info.nonce) await fs.rm(this.file, { force: true });
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The current holder of a lock file, or null when there is none (or its contents are not a lock: being
 * written, or damaged). A file that cannot be read at all is a LockFileError.
 */
export async function readLock(file: string): Promise<LockInfo | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new LockFileError(file, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  return lockInfo(parsed);
}

/** `value` as a LockInfo when every field has its type (`null`, `5` or `{"socket": 1}` are not locks). */
function lockInfo(value: unknown): LockInfo | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0 || typeof v.startedAt !== 'string') return null;
  for (const key of ['url', 'socket', 'nonce'] as const) if (v[key] !== undefined && typeof v[key] !== 'string') return null;
  return v as unknown as LockInfo;
}

/** The holder of a live lock, or null when the directory is free (no lock, or one left by a crash). */
export async function liveHolder(file: string): Promise<LockInfo | null> {
  const holder = await readLock(file);
  return holder && (await isLive(holder, file)) ? holder : null;
}

/** Whether the process that wrote `holder` into `file` still holds it (see the top). */
export async function isLive(holder: LockInfo, file: string): Promise<boolean> {
  if (holder.socket) {
    // The socket of this directory, wherever the directory was when the lock was written (see the top).
    const beside = besideSocket(file);
    if (!isPathSocket(holder.socket) || path.basename(holder.socket) !== path.basename(beside)) return socketAnswers(holder.socket, file);
    return socketAnswers(beside, file);
  }
  return pidHolds(holder.pid, Date.parse(holder.startedAt));
}

function besideSocket(lockFile: string): string {
  return path.join(path.dirname(lockFile), 'berth.sock');
}

/** A socket file's path, as opposed to a Linux abstract socket ("@name") or a Windows named pipe. */
function isPathSocket(socket: string): boolean {
  return !socket.startsWith('@') && !socket.startsWith('\\\\');
}

/** Moves a stale lock aside; if what was moved is not the lock judged stale (a new holder's), puts it back. */
async function removeStale(file: string, judged: LockInfo | null): Promise<void> {
  const aside = `${file}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await fs.rename(file, aside);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  const moved = await readLock(aside).catch(() => null);
  const same = judged === null ? moved === null : moved?.nonce === judged.nonce && moved?.pid === judged.pid && moved?.startedAt === judged.startedAt;
  if (!same) {
    // Someone took the lock between our reading and our move: give it back (unless yet another
    // holder exists by now, which then is the one the next attempt meets).
    await fs.link(aside, file).catch(() => undefined);
  }
  await fs.rm(aside, { force: true });
}

/** Listens on the liveness socket; each connection is told the lock's nonce and closed. */
async function listenSocket(lockFile: string, nonce: string): Promise<{ server: net.Server; socket: string }> {
  const candidates: string[] = [];
  if (process.platform === 'win32') {
    candidates.push(`\\\\.\\pipe\\berth-${nonce}`);
  } else {
    const beside = besideSocket(lockFile);
    if (Buffer.byteLength(beside) <= MAX_SOCKET_PATH) candidates.push(beside);
    candidates.push(process.platform === 'linux' ? `@berth-${nonce}` : path.join(os.tmpdir(), `berth-${nonce}.sock`));
  }
  const identity = await directoryIdentity(lockFile);
  let lastError: unknown;
  for (const socket of candidates) {
    const server = net.createServer((connection) => {
      connection.on('error', () => undefined); // a checker that hangs up first is no concern of ours
      // The nonce, then which directory this socket guards (a reader of a copied lock tells it is not theirs).
      connection.end(`${nonce}\n${identity}\n`);
    });
    // Never keeps the process alive by itself: the lock lives as long as the process does.
    server.unref();
    try {
      if (isPathSocket(socket)) await fs.rm(socket, { force: true }); // a stale one: we hold the lock
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socket.startsWith('@') ? `\0${socket.slice(1)}` : socket, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return { server, socket };
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`cannot open the lock's socket: ${(lastError as Error).message}`);
}

/**
 * Whether something listens on `socket` for the lock `lockFile`. Refused or missing: no one (the holder
 * died). A listener that names another directory guards that one (this one is a copy). One that
 * accepts and says nothing in time (a stopped process: the kernel accepts for it) or names no directory
 * (an older Berth) is taken as the holder.
 */
function socketAnswers(socket: string, lockFile: string): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = net.connect(socket.startsWith('@') ? `\0${socket.slice(1)}` : socket);
    let said = '';
    let settled = false;
    const done = (live: boolean) => {
      if (settled) return;
      settled = true;
      connection.destroy();
      resolve(live);
    };
    connection.setTimeout(CONNECT_TIMEOUT_MS, () => done(true));
    connection.on('data', (chunk: Buffer) => (said += chunk.toString('utf8')));
    connection.once('end', () => {
      const guarded = said.split('\n')[1];
      if (!guarded) return done(true);
      void directoryIdentity(lockFile).then((ours) => done(ours === '' || ours === guarded));
    });
    connection.once('error', (err: NodeJS.ErrnoException) => done(!(err.code === 'ECONNREFUSED' || err.code === 'ENOENT')));
  });
}

/**
 * The lock file's directory as the file system knows it (device and inode), the same from any path
 * or mount namespace that reaches it (a symlink, another container's bind mount), different for a copy.
 * Empty when it cannot be told.
 */
async function directoryIdentity(lockFile: string): Promise<string> {
  const st = await fs.stat(path.dirname(lockFile), { bigint: true }).catch(() => null);
  return st ? `${st.dev}:${st.ino}` : '';
}

/** Lock files without a socket (older Berths): the pid, if alive, not a zombie, and started before the lock. */
function pidHolds(pid: number, lockedAt: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    // /proc/<pid>/stat: "pid (comm) state ... starttime" (field 22, in clock ticks after boot).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return false;
    const bootedAt = Date.now() - os.uptime() * 1000;
    const started = bootedAt + (Number(fields[19]) / 100) * 1000;
    return Number.isNaN(lockedAt) || started <= lockedAt + 5000;
  } catch {
    return true;
  }
}
