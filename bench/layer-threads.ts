/**
 * One listing of a layer file through LayerWorkers in this process (real worker threads, the blob
 * read from disk as the store reads it), with the DiffID thread on (SPLIT=1) or off: wall time, CPU of
 * all threads (the `zstd` program not included: it is a child) and each thread's CPU from
 * /proc/self/task, busiest first. Interleave runs of both to compare them on a shared machine:
 *   for i in 1 2 3; do SPLIT=1 node --import tsx bench/layer-threads.ts L.tar.zst; node --import tsx bench/layer-threads.ts L.tar.zst; done
 * Add --cpu-prof --cpu-prof-dir=DIR for a profile per thread (docs/benchmarks.md, issue 15).
 */
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LayerWorkers } from '../server/registry/layers/worker-pool.ts';
import { parseDigest } from '../server/registry/reference.ts';
import type { BlobReader } from '../server/storage/blob-store.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: bench/layer-threads.ts LAYER-FILE');
const split = process.env.SPLIT === '1';
// FD=0: the blob streamed through this thread, as from a bucket; by default a local file's descriptor, as the filesystem driver gives.
const byFd = process.env.FD !== '0';
const blobs: BlobReader = {
  async open() {
    const handle = byFd ? await fs.open(file, 'r') : null;
    return {
      size: statSync(file).size,
      sendTo: (dest: Writable) => pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), dest),
      async close() { await handle?.close(); },
      ...(handle ? { fd: handle.fd } : {}),
    };
  },
  async read() { return null; },
  async urlFor() { return null; },
};
const workers = new LayerWorkers({ blobs, digestThreadMinBytes: split ? 0 : Infinity });

/** CPU seconds of each thread of this process (utime + stime, proc(5)). */
function threadTimes(): Map<string, number> {
  const times = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      times.set(tid, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // the thread ended
    }
  }
  return times;
}

const before = threadTimes();
const last = new Map(before);
const sample = () => { for (const [tid, t] of threadTimes()) last.set(tid, t); };
const timer = setInterval(sample, 50);
const cpu0 = process.cpuUsage();
const started = performance.now();
const summary = await workers.list(parseDigest(`sha256:${'0'.repeat(64)}`), async () => undefined);
clearInterval(timer);
sample();
const cpu = process.cpuUsage(cpu0);
const threads = [...last].map(([tid, t]) => t - (before.get(tid) ?? 0)).filter((s) => s >= 0.05).sort((a, b) => b - a);
console.log(`${split ? 'DiffID thread' : 'one thread   '}${byFd ? ' fd' : ' stream'}  wall ${((performance.now() - started) / 1000).toFixed(2)} s  CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s  threads ${threads.map((s) => s.toFixed(2)).join(' ')}  ${summary.entryCount} entries`);
await workers.close();
