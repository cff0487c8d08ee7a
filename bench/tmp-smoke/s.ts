import fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { FsBlobStore } from '../../server/storage/blob-store.ts';
import { StoragePaths } from '../../server/storage/paths.ts';
import { LayerWorkers } from '../../server/registry/layers/worker-pool.ts';
import { parseDigest } from '../../server/registry/reference.ts';
const paths = new StoragePaths('/tmp/smoke/data');
const store = new FsBlobStore(paths);
const pool = new LayerWorkers({ blobs: store });
for (const f of process.argv.slice(2)) {
  const hex = createHash('sha256').update(await fs.readFile(f)).digest('hex');
  const d = parseDigest(`sha256:${hex}`);
  await fs.mkdir(paths.tmpDir, { recursive: true });
  if ((await store.stat(d)) === null) { await fs.copyFile(f, `${paths.tmpDir}/x`); await store.adoptFile(d, `${paths.tmpDir}/x`); }
  const t = performance.now();
  try {
    const r = await pool.list(d);
    console.log(f, r.compression, r.entries.length, r.diffId.slice(0, 20), r.uncompressedSize, (performance.now() - t).toFixed(0), 'ms', (process.memoryUsage().rss/1e6).toFixed(0));
  } catch (e) { console.log(f, 'ERR', (e as any).code, (e as Error).message); }
}
await pool.close();
