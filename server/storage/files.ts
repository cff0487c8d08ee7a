/**
 * File primitives every store shares: atomic writes (temp + fsync + rename + fsync dir), links, small reads.
 *
 * Their metadata calls (stat, mkdir, open and close, rename) and reads and writes of up to SYNC_BYTES
 * are made synchronously on the registry's thread; fsync, and larger reads and writes, go to libuv's
 * thread pool. Each awaited fs.promises call is a hop to the thread pool and back: measured on this
 * project's 2-core machine (Node 20), an awaited stat costs ~30 µs of latency and ~34 µs of CPU,
 * statSync ~3.5 µs of both. A cross-repository mount and a manifest PUT make 15 to 40 such calls one
 * after the other, and the hops were a third of the registry's CPU in the catalog populate
 * (docs/benchmarks.md). A metadata call on a local disk does not wait for the disk (the kernel
 * journals it in memory); the waits are in fsync, which stays asynchronous, so the event loop is never
 * held for a disk flush. On a network file system (NFS, SMB) each of these calls is a round trip that
 * holds the event loop; a data directory there is not what Berth is built for (replicas share S3 or
 * Azure, docs/deploy.md).
 */
import { randomUUID } from 'node:crypto';
import fsSync, { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DataDirError } from './data-dir.ts';

/** Reads and writes up to this size (a link, a tag, most manifests) are made synchronously; larger ones are not. */
export const SYNC_BYTES = 64 * 1024;

const fsync = promisify(fsSync.fsync);
const write = promisify(fsSync.write);
const read = promisify(fsSync.read);

/**
 * A store's own folder (auth/, webhooks/), made with `mode` when missing. A file where the folder should
 * be is one line naming it (a DataDirError), not mkdir's EEXIST.
 */
export async function makeStoreDir(dir: string, mode: number): Promise<void> {
  try {
    await makeDir(dir, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
    const st = await fs.stat(dir).catch(() => null);
    if (st?.isDirectory()) return;
    throw new DataDirError(`${dir} is a file where Berth keeps a folder: move it away (or remove it), then run again`);
  }
}

/**
 * mkdir -p whose error is the real one: Node's recursive mkdir reports ENOENT for a folder it cannot
 * create on a read-only file system (EROFS is lost). On ENOENT the missing levels are made one at a
 * time, so the failing one reports its own errno. Synchronous, like every metadata call here (see the top).
 */
export function makeDirNow(dir: string, mode?: number): void {
  try {
    fsSync.mkdirSync(dir, { recursive: true, ...(mode !== undefined ? { mode } : {}) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const parent = path.dirname(dir);
    if (parent !== dir) makeDirNow(parent, mode);
    try {
      fsSync.mkdirSync(dir, mode);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}

/** makeDirNow for callers that await. */
export async function makeDir(dir: string, mode?: number): Promise<void> {
  makeDirNow(dir, mode);
}

/** fsyncs a folder, so that the entries made or renamed in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals renames itself.
  if (process.platform === 'win32') return;
  const fd = fsSync.openSync(dir, constants.O_RDONLY);
  try {
    await fsync(fd);
  } finally {
    fsSync.closeSync(fd);
  }
}

/** Writes `data` to `target` so that readers see either the old file or the complete new one. */
export async function writeFileAtomic(tmpDir: string, target: string, data: string | Uint8Array): Promise<void> {
  await writeThenRename(path.join(tmpDir, randomUUID()), target, data);
}

/** temp file (created with `mode`), fsync, rename over `target`, fsync its folder. */
async function writeThenRename(tmp: string, target: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await writeSynced(tmp, data, mode);
  await renameDurable(tmp, target);
}

/**
 * Writes `data` to the new file `tmp` (created with `mode`) and fsyncs it: the first half of an atomic
 * write, the second being renameDurable. Nothing is left at `tmp` when it fails.
 */
export async function writeSynced(tmp: string, data: string | Uint8Array, mode?: number): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const fd = fsSync.openSync(tmp, 'wx', mode);
  try {
    try {
      for (let done = 0; done < bytes.length; ) {
        done += bytes.length - done <= SYNC_BYTES ? fsSync.writeSync(fd, bytes, done) : (await write(fd, bytes, done)).bytesWritten;
      }
      await fsync(fd);
    } finally {
      fsSync.closeSync(fd);
    }
  } catch (err) {
    // A write cut short by a full disk must not leave its partial file behind, holding the space.
    removeQuietly(tmp);
    throw err;
  }
}

/**
 * Moves a complete, synced temp file over `target` (making its folder when missing) and makes the
 * rename durable; the temp file is removed if the move fails.
 */
export async function renameDurable(tmp: string, target: string): Promise<void> {
  try {
    try {
      fsSync.renameSync(tmp, target);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      makeDirNow(path.dirname(target));
      fsSync.renameSync(tmp, target);
    }
  } catch (err) {
    removeQuietly(tmp);
    throw err;
  }
  await fsyncDir(path.dirname(target));
}

/** Removes a temp file after a failed write; the write's error is the one to report, not this one's. */
export function removeQuietly(file: string): void {
  try {
    fsSync.rmSync(file, { force: true });
  } catch {
    // tmp/ is emptied at the next start.
  }
}

/** fsyncs a file written through a stream (which does not sync it). */
export async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Opens a file for reading, or null when there is none. */
export async function openIfExists(file: string): Promise<fs.FileHandle | null> {
  try {
    return await fs.open(file, 'r');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Creates an empty marker file (a link), its folders when missing, and makes its directory entry durable. */
export async function touchDurable(file: string): Promise<void> {
  createEmpty(file);
  await fsyncDir(path.dirname(file));
}

/** Creates `file` empty if missing (and its folder), leaving an existing one as it is; no fsync. */
export function createEmpty(file: string): void {
  let fd: number;
  try {
    fd = fsSync.openSync(file, 'a');
  } catch (err) {
    if (!isNotFound(err)) throw err;
    makeDirNow(path.dirname(file));
    fd = fsSync.openSync(file, 'a');
  }
  fsSync.closeSync(fd);
}

/** stat, or null when there is nothing at `file`. */
export function statOrNull(file: string): fsSync.Stats | null {
  try {
    return fsSync.statSync(file);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** A whole file of at most `maxBytes` and its modified time; null when it is missing, not a file or larger. */
export async function readSmallFile(file: string, maxBytes: number): Promise<{ bytes: Buffer; modifiedAt: Date } | null> {
  let fd: number;
  try {
    fd = fsSync.openSync(file, 'r');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  try {
    const st = fsSync.fstatSync(fd);
    if (!st.isFile() || st.size > maxBytes) return null;
    const bytes = Buffer.allocUnsafe(st.size);
    let done = 0;
    while (done < bytes.length) {
      const want = bytes.length - done;
      const n = want <= SYNC_BYTES ? fsSync.readSync(fd, bytes, done, want, done) : (await read(fd, bytes, done, want, done)).bytesRead;
      if (n === 0) break;
      done += n;
    }
    return { bytes: done === bytes.length ? bytes : bytes.subarray(0, done), modifiedAt: st.mtime };
  } finally {
    fsSync.closeSync(fd);
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Removes a file; a file that is already gone is not an error. Returns whether it existed. */
export async function removeFile(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Why a file a user named (a config file, a certificate, an htpasswd file) cannot be read, in a few
 * words: "not found", "is a directory, not a file", "permission denied", or the system's message.
 */
export function readProblem(err: unknown): string {
  switch ((err as NodeJS.ErrnoException | null)?.code) {
    case 'ENOENT':
      return 'not found';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'ENOTDIR':
      return 'a part of its path is a file, not a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EIO':
      return 'the disk reported an I/O error (EIO)';
    default:
      return (err as Error).message;
  }
}

export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Directory entries, or [] when the directory does not exist. */
export async function readDirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/**
 * Writes a secret (a private key, a password file) atomically, with mode 0600 from the moment the file
 * exists, so it is never readable by others even briefly; its folder is made 0700.
 */
export async function writePrivateFile(target: string, data: string | Uint8Array): Promise<void> {
  await makeDir(path.dirname(target), 0o700);
  await writeThenRename(`${target}.${randomUUID()}.tmp`, target, data, 0o600);
}

/** rmdir that reports whether the directory went: a directory that is not empty (or not there) stays. */
async function removeDirIfEmpty(dir: string): Promise<boolean> {
  try {
    await fs.rmdir(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Removes `dir` and then each parent, up to (not including) `stopAt`, as long as they are empty.
 * Only rmdir is used, so a file written meanwhile is never lost: its folder is simply kept.
 */
export async function removeEmptyDirs(dir: string, stopAt: string): Promise<void> {
  const stop = path.resolve(stopAt);
  let current = path.resolve(dir);
  while (current !== stop && current.startsWith(stop + path.sep)) {
    if (!(await removeDirIfEmpty(current))) {
      // A folder that is already gone may still have an empty parent left by an earlier, interrupted run.
      try {
        await fs.access(current);
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    current = path.dirname(current);
  }
}

/** Removes every empty folder under `dir` (deepest first), and `dir` itself when it ends up empty. */
export async function removeEmptyTree(dir: string): Promise<void> {
  for (const entry of await readDirOrEmpty(dir)) {
    const child = path.join(dir, entry);
    const st = await fs.lstat(child).catch(() => null);
    if (st?.isDirectory()) await removeEmptyTree(child);
  }
  await removeDirIfEmpty(dir);
}
