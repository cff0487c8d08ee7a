/**
 * What a zstd layer listing costs in Node before any of Berth's own work (issue 15): the `zstd`
 * program decoding the layer file into a child-process pipe (on a Node whose zlib has zstd, 22.15+:
 * zlib decoding it on libuv's threads, as Berth does there), read on one thread, then step by step
 * what a listing adds on that thread. Each step's CPU (this process: main thread and V8's helpers) is
 * measured alone, so the floor of the reading thread, and of a listing's wall time on 2 cores, can be
 * set beside `zstd -dc | tar -tv`:
 *   read       the decoded stream read and dropped
 *   diffid     + sha256 of the stream (the DiffID)
 *   parse      read + tar-stream's parse, no hashing
 *   listing    read + DiffID + parse + sha256 of every file: the work a Berth listing does, without
 *              its path checks, JSON lines and messages
 *   archive.ts Berth's own walk (listLayer, the zstd program reading the file's descriptor, as a
 *              listing of a local blob does), entries dropped: what its checks add to `listing`
 *   worker     the listing as the server runs it (LayerWorkers: a worker thread, the JSON lines and
 *              the messages back to this thread), lines dropped; from source, the worker loads tsx
 * A listing in the server adds to `worker` the write of the stored listing and the HTTP answer
 * (bench/layers.ts measures all of it).
 * Run: node --import tsx bench/layer-floor.ts LAYER.tar.zst [ROUNDS]   (modes interleaved per round; MODES=a,b)
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { listLayer, NATIVE_ZSTD, ZSTD_CHUNK } from '../server/registry/layers/archive.ts';
import { defaultDigestThreadMinBytes, findExecutable, LayerWorkers } from '../server/registry/layers/worker-pool.ts';
import { parseDigest } from '../server/registry/reference.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: bench/layer-floor.ts LAYER.tar.zst [ROUNDS]');
const rounds = Number(process.argv[3] ?? 3);
type Mode = 'read' | 'diffid' | 'parse' | 'listing' | 'archive.ts' | 'worker';
const ALL: Mode[] = ['read', 'diffid', 'parse', 'listing', 'archive.ts', 'worker'];
// MODES=archive.ts,worker runs only those (comma-separated).
const MODES = process.env.MODES ? ALL.filter((m) => process.env.MODES!.split(',').includes(m)) : ALL;

async function once(mode: Mode): Promise<{ wall: number; cpu: number; entries: number }> {
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const measured = (entries: number) => {
    const cpu = process.cpuUsage(cpu0);
    return { wall: (performance.now() - started) / 1000, cpu: (cpu.user + cpu.system) / 1e6, entries };
  };
  if (mode === 'worker') {
    const handle = await fs.open(file!, 'r');
    const size = (await handle.stat()).size;
    const workers = new LayerWorkers({
      blobs: {
        open: async () => ({ size, fd: handle.fd, sendTo: async () => undefined, close: () => handle.close() }),
        read: async () => null,
        urlFor: async () => null,
      },
      digestThreadMinBytes: defaultDigestThreadMinBytes(),
    });
    try {
      const summary = await workers.list(parseDigest(`sha256:${'0'.repeat(64)}`), async () => undefined);
      return measured(summary.entryCount);
    } finally {
      await workers.close();
    }
  }
  if (mode === 'archive.ts') {
    const handle = await fs.open(file!, 'r');
    try {
      const head = async function* () {
        const buffer = Buffer.alloc(64 * 1024);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        yield buffer.subarray(0, bytesRead);
      };
      // Where zlib decodes (NATIVE_ZSTD) it reads the whole file from the source, as layer-worker.ts gives it.
      const source = NATIVE_ZSTD ? handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 1024 * 1024 }) : head();
      const summary = await listLayer(source, () => undefined, { zstdCommand: findExecutable('zstd'), zstdStdin: handle.fd });
      return measured(summary.entryCount);
    } finally {
      await handle.close();
    }
  }
  const { decoded, exited } = decode();
  const diff = mode === 'diffid' || mode === 'listing' ? createHash('sha256') : null;
  let entries = 0;
  if (mode === 'read' || mode === 'diffid') {
    for await (const chunk of decoded) diff?.update(chunk);
  } else {
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      entries += 1;
      const hash = mode === 'listing' && header.type === 'file' && (header.size ?? 0) > 0 ? createHash('sha256') : null;
      if (hash) stream.on('data', (chunk: unknown) => void hash.update(chunk as Buffer));
      stream.on('end', () => {
        hash?.digest('hex');
        next();
      });
      stream.resume();
    });
    const done = new Promise<void>((resolve, reject) => {
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    for await (const chunk of decoded) {
      diff?.update(chunk);
      if (!extract.write(chunk)) await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
    }
    extract.end(undefined);
    await done;
  }
  diff?.digest('hex');
  await exited;
  return measured(entries);
}

/**
 * The layer decoded as Berth decodes it on this Node: by zlib where it has zstd (Node 22.15+, on libuv's
 * threads, in the chunks archive.ts asks for, ZSTD_CHUNK), else by the `zstd` program into a pipe.
 */
function decode(): { decoded: AsyncIterable<Buffer>; exited: Promise<void> } {
  if (NATIVE_ZSTD) {
    const zstd = (zlib as unknown as { createZstdDecompress: (o: { chunkSize: number }) => NodeJS.ReadWriteStream }).createZstdDecompress({ chunkSize: ZSTD_CHUNK });
    const decoded = createReadStream(file!, { highWaterMark: 1024 * 1024 }).pipe(zstd) as unknown as AsyncIterable<Buffer>;
    return { decoded, exited: Promise.resolve() };
  }
  const child = spawn('zstd', ['-d', '-c', '-q', file!], { stdio: ['ignore', 'pipe', 'inherit'] });
  return { decoded: child.stdout as AsyncIterable<Buffer>, exited: new Promise<void>((resolve) => child.once('close', () => resolve())) };
}

console.log(`Node ${process.version}: the steps decode with ${NATIVE_ZSTD ? "zlib's zstd" : 'the zstd program'}`);
const results = new Map<string, { wall: number[]; cpu: number[] }>();
for (let round = 1; round <= rounds; round++) {
  const shell = spawnTime(`zstd -dc '${file}' | tar -tv >/dev/null`);
  record('`zstd -dc` piped to `tar -tv`', shell.wall, shell.cpu);
  for (const mode of MODES) {
    const r = await once(mode);
    record(mode, r.wall, r.cpu);
    console.log(`round ${round} ${mode.padEnd(8)} wall ${r.wall.toFixed(2)} s  CPU of this process ${r.cpu.toFixed(2)} s${r.entries ? `  ${r.entries} entries` : ''}`);
  }
  console.log(`round ${round} zstd -dc | tar -tv  wall ${shell.wall.toFixed(2)} s  CPU (both) ${shell.cpu.toFixed(2)} s`);
}

function record(name: string, wall: number, cpu: number): void {
  const r = results.get(name) ?? { wall: [], cpu: [] };
  r.wall.push(wall);
  r.cpu.push(cpu);
  results.set(name, r);
}

/** `bash -c CMD` timed by bash's own `time`: wall, and user + system of the pipeline's processes. */
function spawnTime(command: string): { wall: number; cpu: number } {
  const out = spawnSync('bash', ['-c', `TIMEFORMAT='%R %U %S'; time (${command})`], { encoding: 'utf8' });
  const [wall, user, system] = out.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall: wall!, cpu: user! + system! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log('\n| step | wall s (median) | CPU s (median): the reading process; for the shell, both |\n| --- | --- | --- |');
for (const [name, r] of results) console.log(`| ${name} | ${median(r.wall).toFixed(2)} | ${median(r.cpu).toFixed(2)} |`);
