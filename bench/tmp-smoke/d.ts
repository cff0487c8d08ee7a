import { createReadStream } from 'node:fs';
import { listLayer } from '../../server/registry/layers/archive.ts';
const t = performance.now();
const r = await listLayer(createReadStream(process.argv[2]!, { highWaterMark: 1 << 20 }));
console.log(r.compression, r.entries.length, (performance.now() - t).toFixed(0), 'ms', (process.memoryUsage().rss/1e6).toFixed(0), (process.memoryUsage().heapUsed/1e6).toFixed(0));
