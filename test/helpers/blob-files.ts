/** What the server's files hold: every blob file under <data>/blobs, measured independently of Berth. */
import fs from 'node:fs/promises';
import path from 'node:path';

export async function blobFiles(dataDir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const root = path.join(dataDir, 'blobs');
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
