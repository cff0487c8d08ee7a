/**
 * Makes sure a data directory can be used, and says exactly why not when it cannot. Two traps make the
 * obvious code lie: Node's recursive mkdir reports ENOENT for a folder it cannot create on a read-only
 * file system (the EROFS is lost), and fs.access(W_OK) answers yes to root whatever the mode bits or
 * the mount say. So missing folders are created one level at a time (each mkdir reports its own errno)
 * and writability is checked by really creating (and removing) an empty file. The file is empty so
 * that a full disk does not fail the check: Berth can still serve pulls and free space then.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errnoCode, storageFailureKind } from './failures.ts';

export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

/**
 * Creates `root` (and its parents) and the `folders` inside it as needed, then checks that files can be
 * created there. Throws DataDirError with one line naming the cause.
 */
export async function prepareDataDir(root: string, folders: readonly string[]): Promise<void> {
  const fail = (why: string) => new DataDirError(`cannot use data directory ${root}: ${why}`);
  const notADir = (where: string) => (where === path.resolve(root) ? 'it is a file, not a directory' : `${where} is a file, not a directory`);
  await createDir(root, fail, notADir);
  for (const folder of folders) await createDir(folder, fail, notADir);
  try {
    await probeWritable(root);
  } catch (err) {
    throw fail(reason(err, root));
  }
}

/** Creates and removes an empty file in `dir`: rejects with the errno error when files cannot be made there. */
export async function probeWritable(dir: string): Promise<void> {
  const probe = path.join(dir, `.write-test-${process.pid}`);
  try {
    await (await fs.open(probe, 'wx')).close();
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
  await fs.rm(probe, { force: true });
}

/** mkdir -p, one level at a time from the deepest folder that exists, so every error is the real one. */
async function createDir(dir: string, fail: (why: string) => DataDirError, notADir: (where: string) => string): Promise<void> {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let current = target; ; current = path.dirname(current)) {
    const st = await fs.stat(current).catch((err: unknown) => {
      const code = errnoCode(err);
      if (code === 'ENOENT') return null;
      if (code === 'ENOTDIR') return 'not-a-directory' as const;
      throw fail(reason(err, current));
    });
    if (st === 'not-a-directory') {
      missing.unshift(current);
      continue;
    }
    if (st === null) {
      if (path.dirname(current) === current) throw fail(`${current} does not exist`);
      missing.unshift(current);
      continue;
    }
    if (!st.isDirectory()) throw fail(notADir(current));
    break;
  }
  for (const folder of missing) {
    try {
      await fs.mkdir(folder);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') {
        // Made meanwhile by someone else: fine if it is a folder.
        const st = await fs.stat(folder).catch(() => null);
        if (st?.isDirectory()) continue;
        throw fail(notADir(folder));
      }
      throw fail(reason(err, folder));
    }
  }
}

function reason(err: unknown, where: string): string {
  switch (storageFailureKind(err)) {
    case 'read-only':
      return 'it is on a read-only file system; remount it read-write or choose another data directory (--data)';
    case 'permission':
      return `permission denied: user ${userName()} may not write ${where}; change its owner or mode, or choose another data directory (--data)`;
    case 'full':
      return 'the disk holding it is full; free some space and start again';
    case 'io':
      return `the disk reported an I/O error (EIO) at ${where}; it may be failing: check it (dmesg, fsck) before storing images there`;
    default:
      if (errnoCode(err) === 'ENOTDIR') return `a part of ${where} is a file, not a directory`;
      // mkdir's ENOENT under a parent that exists: a file system that takes no new folders (/proc, /sys).
      if (errnoCode(err) === 'ENOENT') return `${where} cannot be created: ${path.dirname(where)} takes no new folders; choose another data directory (--data)`;
      return (err as Error).message;
  }
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'this user');
  }
}
