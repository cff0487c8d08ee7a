/** What the server's store holds: every blob under blobs/, measured independently of Berth's stores. */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { StorageDriver } from '../../server/storage/driver/driver.ts';

/** Digest -> size of every blob: from the files of a data directory, or listed through a driver (any store). */
export async function blobFiles(where: string | StorageDriver): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (typeof where !== 'string') {
    for await (const object of where.walk('blobs')) {
      const [, algorithm, , hex] = object.path.split('/');
      out.set(`${algorithm}:${hex}`, object.size);
    }
    return out;
  }
  const root = path.join(where, 'blobs');
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const algorithm = path.basename(path.dirname(path.dirname(file)));
    out.set(`${algorithm}:${entry.name}`, (await fs.stat(file)).size);
  }
  return out;
}

export function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/**
 * Waits until every object of the store is older than now. Swift's s3api rounds an object's time up to
 * the next second, so something written a moment ago can look younger than a collection that starts
 * now: kept even with a 0 s grace window by a dry run, and freed by the collection that follows it. A
 * test comparing the two waits here first; on a file system it returns at once.
 */
export async function storeTimesPast(driver: StorageDriver, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const dir of ['blobs', 'repositories']) {
    for await (const object of driver.walk(dir)) {
      while (object.modifiedAt.getTime() >= Date.now()) {
        if (Date.now() > deadline) throw new Error(`${object.path} is still dated in the future (${object.modifiedAt.toISOString()})`);
        await new Promise((resolve) => setTimeout(resolve, object.modifiedAt.getTime() - Date.now() + 1));
      }
    }
  }
}
