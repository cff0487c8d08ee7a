/**
 * Ways to spread a zstd layer listing over threads (issue 15), measured side by side on one layer file
 * against `zstd -dc | tar -tv`. Each does the work a Berth listing does: decode, the DiffID (sha256 of
 * the decoded stream), tar-stream's parse, the sha256 of every file, the entries as JSON lines sent
 * to this thread in 256 KiB batches; none has Berth's checks, limits or errors (archive.ts). They are
 * the designs, stripped to what costs CPU:
 *   one       one worker thread decodes, hashes and parses (Berth's layer-worker.ts)
 *   decoder   a decoder thread decodes and hashes the DiffID, and sends the decoded bytes (copied
 *             into 1 MiB buffers, transferred) to a parser thread, which parses and hashes each file
 *   hashes    the decoder thread also hashes each file: it keeps the bytes it sent until the parser
 *             has reported where each file lies in the stream (tar-stream's header.byteOffset) and
 *             answers with the files' sha256; the parser only parses and writes the lines
 * Decoding is by zlib where this Node has zstd in it (22.15+), else by the `zstd` program
 * (DECODER=program chooses it on any Node). Printed per run: wall time, the CPU of the whole process
 * with the zstd program (a child it waited for), and each thread's own CPU, busiest first (read from
 * /proc/thread-self/stat as it ends: on an idle machine with a core per thread, the busiest thread
 * bounds the wall time).
 * Run: node --import tsx bench/layer-designs.ts LAYER.tar.zst [ROUNDS]   (MODES=one,decoder,hashes)
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, openSync, readFileSync } from 'node:fs';
import { MessageChannel, Worker, isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { ZSTD_CHUNK } from '../server/registry/layers/archive.ts';

type Mode = 'one' | 'decoder' | 'hashes';
/** The two-thread designs: which thread hashes the files follows from the design, for both threads. */
type Split = Exclude<Mode, 'one'>;
type Role = { role: 'one' } | { role: 'decoder' | 'parser'; port: MessagePort; design: Split };
interface Setup { file: string; program: boolean }
/** What a thread reports as it ends; its CPU counts from the main thread's go (not its start-up: tsx compiles this file in each). */
type Report = { t: 'end'; name: string; cpu: number; diffId?: string; entries?: number };
let cpuAtGo = 0;

const CHUNK = 1024 * 1024;
/**
 * Decoded 1 MiB buffers between the threads: the decoder design's unacknowledged ones, or those the
 * hashes design's decoder keeps (the parser has copies of all of them).
 */
const KEPT = 16;
const zstdInZlib = (zlib as unknown as { createZstdDecompress?: (o: { chunkSize: number }) => NodeJS.ReadWriteStream }).createZstdDecompress;

/** The sum of the given fields of a proc(5) stat file, clock ticks (100 a second) to seconds. */
function statSeconds(file: string, fields: number[]): number {
  const stat = readFileSync(file, 'utf8');
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.reduce((sum, i) => sum + Number(after[i]), 0) / 100;
}

/** CPU seconds of the calling thread: utime + stime. */
const threadCpu = () => statSeconds('/proc/thread-self/stat', [11, 12]);
/** CPU seconds of this process and of the children it waited for (the zstd program): utime, stime, cutime, cstime. */
const processCpu = () => statSeconds('/proc/self/stat', [11, 12, 13, 14]);

/** The decoded layer, as archive.ts decodes it (zlib's zstd in its chunks, or `zstd -dcq` reading the file). */
async function* decoded({ file, program }: Setup): AsyncGenerator<Uint8Array> {
  if (zstdInZlib && !program) {
    const zstd = zstdInZlib({ chunkSize: ZSTD_CHUNK });
    createReadStream(file, { highWaterMark: CHUNK }).pipe(zstd);
    yield* zstd as unknown as AsyncIterable<Uint8Array>;
    return;
  }
  const child = spawn('zstd', ['-dcq'], { stdio: [openSync(file, 'r'), 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  yield* child.stdout as AsyncIterable<Uint8Array>;
  if ((await exited) !== 0) throw new Error('zstd failed');
}

/** Entries as JSON lines to the main thread, 256 KiB at a time (layer-worker.ts). */
function lineSender(): { add(line: string): void; flush(): void } {
  const encoder = new TextEncoder();
  let lines: string[] = [];
  let size = 0;
  const flush = () => {
    if (lines.length === 0) return;
    const bytes = encoder.encode(`${lines.join('\n')}\n`);
    parentPort!.postMessage({ t: 'lines', b: bytes.buffer }, [bytes.buffer as ArrayBuffer]);
    lines = [];
    size = 0;
  };
  return {
    add(line) {
      lines.push(line);
      size += line.length;
      if (size >= 256 * 1024) flush();
    },
    flush,
  };
}

interface Pending { entry: Record<string, unknown>; id: number | null }

/**
 * tar-stream's parse of `source`. With `hashFiles` each file's sha256 is computed here; without, each
 * file's place in the stream goes to `ranges` and its entry waits for `hashOf` to know its hash.
 */
async function parse(source: AsyncIterable<Uint8Array>, options: { hashFiles: boolean; ranges?(id: number, start: number, end: number): void; hashOf?(id: number): string | undefined; moreHashes?(): Promise<void>; fed?(bytes: number): void }): Promise<number> {
  const lines = lineSender();
  const pending: Pending[] = [];
  let entries = 0;
  let ids = 0;
  const release = () => {
    while (pending.length > 0) {
      const head = pending[0]!;
      if (head.id !== null) {
        const hex = options.hashOf!(head.id);
        if (hex === undefined) return;
        head.entry.sha256 = hex;
      }
      pending.shift();
      lines.add(JSON.stringify(head.entry));
    }
  };
  const extract = tar.extract();
  const finished = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.on('entry', (header, stream, next) => {
    entries += 1;
    const entry: Record<string, unknown> = { path: header.name, type: header.type, mode: header.mode, uid: header.uid, gid: header.gid, size: header.size, mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000) };
    const isFile = header.type === 'file' && (header.size ?? 0) > 0;
    let hash: Hash | null = null;
    if (isFile && options.hashFiles) {
      hash = createHash('sha256');
      stream.on('data', (chunk: unknown) => void hash!.update(chunk as Uint8Array));
    }
    let id: number | null = null;
    if (isFile && !options.hashFiles) {
      id = ids++;
      const start = (header as unknown as { byteOffset: number }).byteOffset;
      options.ranges!(id, start, start + header.size!);
    }
    stream.on('end', () => {
      if (hash) entry.sha256 = hash.digest('hex');
      pending.push({ entry, id });
      release();
      next();
    });
    stream.resume();
  });
  let fed = 0;
  for await (const chunk of source) {
    fed += chunk.byteLength;
    // Once drained, tar-stream has parsed every header in what it was fed (a write it took without
    // waiting may not be parsed yet: then the parser's place is told with a later one, or at the end).
    if (!extract.write(chunk)) {
      await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
      options.fed?.(fed);
    }
    release();
  }
  extract.end(undefined);
  await finished;
  options.fed?.(Infinity);
  for (release(); pending.length > 0; release()) await options.moreHashes!();
  lines.flush();
  return entries;
}

/** Messages between the decoder and the parser thread. */
type ToParser = { t: 'bytes'; b: ArrayBuffer; n: number } | { t: 'end' } | { t: 'hashes'; h: (number | string)[] };
type ToDecoder = { t: 'taken' } | { t: 'ranges'; r: number[]; through: number };

async function decoderThread(setup: Setup, port: MessagePort, design: Split): Promise<Report> {
  const fileHashes = design === 'hashes';
  const diff = createHash('sha256');
  let credit = KEPT;
  let wake: (() => void) | null = null;
  // The hashes design: the decoded bytes kept, the files' places, how far the parser has read.
  const kept: { start: number; bytes: Uint8Array }[] = [];
  const ranges: number[] = [];
  let through = 0;
  let position = 0;
  let current: { id: number; end: number; hash: Hash } | null = null;
  const hashFiles = (): void => {
    const answered: (number | string)[] = [];
    while (kept.length > 0) {
      const { start, bytes } = kept[0]!;
      const end = start + bytes.byteLength;
      while (position < end) {
        if (!current) {
          if (ranges.length > 0 && ranges[1]! < end) {
            const [id, from, to] = ranges.splice(0, 3) as [number, number, number];
            position = Math.max(position, from);
            current = { id, end: to, hash: createHash('sha256') };
            continue;
          }
          // No file starts in the rest of this buffer once the parser has read past it.
          if (through < end) break;
          position = end;
          break;
        }
        const to = Math.min(current.end, end);
        current.hash.update(bytes.subarray(position - start, to - start));
        position = to;
        if (to === current.end) {
          answered.push(current.id, current.hash.digest('hex'));
          current = null;
        }
      }
      if (position < end) break;
      kept.shift();
    }
    if (answered.length > 0) port.postMessage({ t: 'hashes', h: answered } satisfies ToParser);
  };
  port.on('message', (message: ToDecoder) => {
    if (message.t === 'taken') credit += 1;
    else {
      ranges.push(...message.r);
      through = message.through;
      hashFiles();
    }
    wake?.();
    wake = null;
  });
  let buffer = new Uint8Array(CHUNK);
  let used = 0;
  let sent = 0;
  const ship = async () => {
    const copy = fileHashes ? new Uint8Array(used) : buffer;
    if (fileHashes) {
      copy.set(buffer.subarray(0, used));
      kept.push({ start: sent, bytes: buffer.subarray(0, used) });
    }
    sent += used;
    port.postMessage({ t: 'bytes', b: copy.buffer as ArrayBuffer, n: used } satisfies ToParser, [copy.buffer as ArrayBuffer]);
    buffer = new Uint8Array(CHUNK);
    used = 0;
    if (fileHashes) {
      while (kept.length > KEPT) await new Promise<void>((resolve) => (wake = resolve));
    } else {
      credit -= 1;
      while (credit <= 0) await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  for await (const chunk of decoded(setup)) {
    diff.update(chunk);
    for (let at = 0; at < chunk.byteLength;) {
      const n = Math.min(chunk.byteLength - at, CHUNK - used);
      buffer.set(chunk.subarray(at, at + n), used);
      used += n;
      at += n;
      if (used === CHUNK) await ship();
    }
  }
  if (used > 0) await ship();
  port.postMessage({ t: 'end' } satisfies ToParser);
  if (fileHashes) while (kept.length > 0 || current) await new Promise<void>((resolve) => (wake = resolve));
  return { t: 'end', name: 'decoder', cpu: threadCpu() - cpuAtGo, diffId: diff.digest('hex') };
}

async function parserThread(port: MessagePort, design: Split): Promise<Report> {
  const fileHashes = design === 'decoder';
  const queue: Uint8Array[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  const hashes = new Map<number, string>();
  let ranges: number[] = [];
  port.on('message', (message: ToParser) => {
    if (message.t === 'bytes') queue.push(new Uint8Array(message.b, 0, message.n));
    else if (message.t === 'end') ended = true;
    else for (let i = 0; i < message.h.length; i += 2) hashes.set(message.h[i] as number, message.h[i + 1] as string);
    wake?.();
    wake = null;
  });
  async function* source(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        if (fileHashes) port.postMessage({ t: 'taken' } satisfies ToDecoder);
        yield chunk;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  const entries = await parse(source(), fileHashes ? { hashFiles: true } : {
    hashFiles: false,
    ranges: (id, start, end) => void ranges.push(id, start, end),
    fed: (through) => {
      port.postMessage({ t: 'ranges', r: ranges, through } satisfies ToDecoder);
      ranges = [];
    },
    hashOf: (id) => {
      const hex = hashes.get(id);
      if (hex !== undefined) hashes.delete(id);
      return hex;
    },
    moreHashes: () => new Promise<void>((resolve) => (wake = resolve)),
  });
  return { t: 'end', name: 'parser', cpu: threadCpu() - cpuAtGo, entries };
}

async function oneThread(setup: Setup): Promise<Report> {
  const diff = createHash('sha256');
  const source = async function* () {
    for await (const chunk of decoded(setup)) {
      diff.update(chunk);
      yield chunk;
    }
  };
  const entries = await parse(source(), { hashFiles: true });
  return { t: 'end', name: 'one', cpu: threadCpu() - cpuAtGo, diffId: diff.digest('hex'), entries };
}

/** Workers load this file through tsx, as worker-pool.ts does from source. */
function startWorker(data: Setup & Role, transferList: MessagePort[] = []): Worker {
  const source = JSON.stringify(import.meta.url);
  return new Worker(`import('tsx/esm/api').then((api) => { api.register(); return import(${source}); });`, { eval: true, workerData: data, transferList });
}

async function run(mode: Mode, setup: Setup): Promise<{ wall: number; cpu: number; threads: Report[]; lineBytes: number; lines: string }> {
  const workers: Worker[] = [];
  if (mode === 'one') workers.push(startWorker({ ...setup, role: 'one' }));
  else {
    const { port1, port2 } = new MessageChannel();
    workers.push(startWorker({ ...setup, role: 'decoder', port: port1, design: mode }, [port1]));
    workers.push(startWorker({ ...setup, role: 'parser', port: port2, design: mode }, [port2]));
  }
  let lineBytes = 0;
  // Every design must write the same lines (entries and their files' sha256), in the same order.
  const lines = createHash('sha256');
  const ready = workers.map((worker) => new Promise<void>((resolve) => worker.once('message', () => resolve())));
  const ended = workers.map((worker) => new Promise<Report>((resolve, reject) => {
    worker.on('message', (message: Report | { t: 'lines'; b: ArrayBuffer } | { t: 'ready' }) => {
      if (message.t === 'lines') {
        lineBytes += message.b.byteLength;
        lines.update(new Uint8Array(message.b));
      } else if (message.t === 'end') resolve(message);
    });
    worker.on('error', reject);
  }));
  await Promise.all(ready);
  const started = performance.now();
  const cpu0 = processCpu();
  for (const worker of workers) worker.postMessage('go');
  const threads = await Promise.all(ended);
  const wall = (performance.now() - started) / 1000;
  await Promise.all(workers.map((worker) => worker.terminate()));
  return { wall, cpu: processCpu() - cpu0, threads, lineBytes, lines: lines.digest('hex') };
}

if (isMainThread) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: bench/layer-designs.ts LAYER.tar.zst [ROUNDS]');
  const rounds = Number(process.argv[3] ?? 3);
  const modes = (process.env.MODES?.split(',') ?? ['one', 'decoder', 'hashes']) as Mode[];
  const setup: Setup = { file, program: process.env.DECODER === 'program' || !zstdInZlib };
  console.log(`Node ${process.version}, decoding with ${setup.program ? 'the zstd program' : "zlib's zstd"}; ${rounds} rounds, modes interleaved`);
  let diffId: string | undefined;
  let lines: string | undefined;
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const shell = spawnSync('sh', ['-c', `zstd -dc '${file}' | tar -tv >/dev/null`], { stdio: 'inherit' });
    if (shell.status !== 0) throw new Error('zstd -dc | tar -tv failed');
    const tar = (performance.now() - started) / 1000;
    console.log(`round ${round}  zstd -dc | tar -tv   wall ${tar.toFixed(2)} s`);
    for (const mode of modes) {
      const r = await run(mode, setup);
      const found = r.threads.find((t) => t.diffId)?.diffId;
      if (diffId && found !== diffId) throw new Error(`${mode}: DiffID ${found} differs from ${diffId}`);
      diffId = found;
      if (lines && r.lines !== lines) throw new Error(`${mode}: its JSON lines differ from the first design's`);
      lines = r.lines;
      const entries = r.threads.find((t) => t.entries !== undefined)?.entries;
      const busiest = [...r.threads].sort((a, b) => b.cpu - a.cpu).map((t) => `${t.name} ${t.cpu.toFixed(2)}`).join(', ');
      console.log(`round ${round}  ${mode.padEnd(8)} wall ${r.wall.toFixed(2)} s (${(r.wall / tar).toFixed(2)}x tar)  CPU ${r.cpu.toFixed(2)} s  threads: ${busiest}  ${entries} entries, ${(r.lineBytes / 1e6).toFixed(1)} MB of lines`);
    }
  }
} else {
  const data = workerData as Setup & Role;
  await new Promise<void>((resolve) => {
    parentPort!.once('message', () => resolve());
    parentPort!.postMessage({ t: 'ready' });
  });
  cpuAtGo = threadCpu();
  const report = data.role === 'one' ? await oneThread(data)
    : data.role === 'decoder' ? await decoderThread(data, data.port, data.design)
    : await parserThread(data.port, data.design);
  parentPort!.postMessage(report);
}
