/**
 * One Berth per data directory: the nedb index must have a single owner, and the caches in front of
 * the files assume no other writer. The lock is a file holding the owner's pid (and, once listening,
 * its URL, so the CLI can find the server); a lock whose pid is gone was left by a crash and is taken over.
 */
import fs from 'node:fs/promises';
import { isNotFound } from './files.ts';

export interface LockInfo {
  pid: number;
  startedAt: string;
  /** Where the owning server listens, once it does. */
  url?: string;
}

export class DataDirLockedError extends Error {
  readonly holder: LockInfo;
  constructor(file: string, holder: LockInfo) {
    super(`the data directory is in use by another Berth (pid ${holder.pid}${holder.url ? `, ${holder.url}` : ''}); lock file ${file}`);
    this.name = 'DataDirLockedError';
    this.holder = holder;
  }
}

export class DataDirLock {
  private readonly file: string;
  private info: LockInfo;
  private released = false;

  private constructor(file: string, info: LockInfo) {
    this.file = file;
    this.info = info;
  }

  static async acquire(file: string): Promise<DataDirLock> {
    const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await fs.writeFile(file, JSON.stringify(info), { flag: 'wx' });
        return new DataDirLock(file, info);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readLock(file);
      if (holder && holder.pid !== process.pid && isAlive(holder.pid)) throw new DataDirLockedError(file, holder);
      // Stale: its owner is gone. Remove it and race for it again.
      await fs.rm(file, { force: true });
    }
    throw new Error(`could not take the lock ${file}`);
  }

  async update(fields: Partial<LockInfo>): Promise<void> {
    this.info = { ...this.info, ...fields };
    await fs.writeFile(this.file, JSON.stringify(this.info));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const holder = await readLock(this.file);
    if (holder?.pid === process.pid) await fs.rm(this.file, { force: true });
  }
}

/** The current holder of a lock file, or null when there is none (or it is unreadable). */
export async function readLock(file: string): Promise<LockInfo | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockInfo>;
    return typeof parsed.pid === 'number' ? (parsed as LockInfo) : null;
  } catch (err) {
    if (isNotFound(err) || err instanceof SyntaxError) return null;
    throw err;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
