/** File primitives every store shares: atomic writes (temp + fsync + rename + fsync dir). */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals renames itself.
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `target` so that readers see either the old file or the complete new one. */
export async function writeFileAtomic(tmpDir: string, target: string, data: string | Uint8Array): Promise<void> {
  await writeThenRename(path.join(tmpDir, randomUUID()), target, data);
}

/** temp file (created with `mode`), fsync, rename over `target`, fsync its folder. */
async function writeThenRename(tmp: string, target: string, data: string | Uint8Array, mode?: number): Promise<void> {
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(target));
}

/** Creates an empty marker file (a link) and makes its directory entry durable. */
export async function touchDurable(file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await (await fs.open(file, 'a')).close();
  await fsyncDir(path.dirname(file));
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
  await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  await writeThenRename(`${target}.${randomUUID()}.tmp`, target, data, 0o600);
}
