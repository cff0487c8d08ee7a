/**
 * Runs layer reads in worker threads (layer-worker.ts), fed from the BlobStore's streaming read:
 * open(digest) -> sendTo(a Writable that hands each chunk to the worker), so any storage driver behind
 * BlobReader works. A blob that is a local file (ObjectReader.fd) is read by the worker itself from the
 * open descriptor, never by path: no copy and no message per chunk through the registry's thread.
 *
 * One worker per read, at most `concurrency` at once (the rest wait in line): a worker that dies
 * (out of memory, a bug) fails its read and nothing else, and decompressing never runs on the thread
 * that answers registry requests. Backpressure both ways: at most INPUT_WINDOW chunks travel to a
 * worker unacknowledged, and an extracted file flows only as fast as its receiver takes it.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { BlobReader } from '../../storage/blob-store.ts';
import { releaseTransient } from '../../storage/transient-memory.ts';
import type { LayerEntry } from '../inspect-types.ts';
import type { Digest } from '../reference.ts';
import { DEFAULT_LIMITS, LayerReadError, type LayerErrorCode, type LayerLimits, type ListSummary } from './archive.ts';
import type { FromWorker, ToWorker, WorkerInit, WorkerTask } from './layer-worker.ts';

/** The built bundles say where the worker's file is (scripts/build.js); from source it sits beside this file. */
declare const BERTH_LAYER_WORKER: string | undefined;

function startWorker(init: WorkerInit): Worker {
  const resourceLimits = { maxOldGenerationSizeMb: WORKER_HEAP_MB };
  const transferList = init.digestPort ? [init.digestPort] : [];
  if (typeof BERTH_LAYER_WORKER === 'string') return new Worker(new URL(BERTH_LAYER_WORKER, import.meta.url), { workerData: init, resourceLimits, transferList });
  // From source (tests, `tsx`): the worker registers tsx's loader before importing the TypeScript file.
  const source = new URL('./layer-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(boot, { eval: true, workerData: init, resourceLimits, transferList });
}

/**
 * Compressed size from which a listing hashes its DiffID on a thread of its own (layer-worker.ts):
 * below it, starting a second thread (~30 ms) costs more than the hash it takes off the reader.
 */
const DIGEST_THREAD_MIN_BYTES = 8 * 1024 * 1024;

/**
 * Whether listings use the DiffID thread: only where a core is free for it. A zstd listing already
 * keeps two cores busy (the zstd program, the reading thread; gzip: zlib's threads and the reader);
 * on a 2-core machine a third busy thread only adds its cost (the copies, the messages, a second
 * isolate: ~0.4 s of CPU per GB, measured) and the listing takes longer, not shorter
 * (docs/benchmarks.md, issue 15). BERTH_LAYER_DIGEST_THREAD=1 or 0 overrides it (benchmarks).
 */
export function defaultDigestThreadMinBytes(cores = availableParallelism(), env = process.env.BERTH_LAYER_DIGEST_THREAD): number {
  if (env === '1') return DIGEST_THREAD_MIN_BYTES;
  if (env === '0') return Infinity;
  return cores > 2 ? DIGEST_THREAD_MIN_BYTES : Infinity;
}

/** Chunks (1 MiB each: the BlobStore's read size) in flight to a worker. */
const INPUT_WINDOW = 4;
/**
 * A worker's heap. A listing streams out as it is parsed (layer-worker.ts), so a worker needs a few
 * MB whatever the layer (tar-stream's buffers, one batch of lines, the decoder's window: fzstd's is
 * outside the heap); 128 MB is room to spare, and a worker past it dies alone.
 */
const WORKER_HEAP_MB = 128;

/** The first executable `name` on PATH, or null (Windows: with .exe). */
export function findExecutable(name: string, envPath = process.env.PATH ?? ''): string | null {
  const names = process.platform === 'win32' ? [`${name}.exe`] : [name];
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    for (const file of names) {
      const full = path.join(dir, file);
      try {
        accessSync(full, fsConstants.X_OK);
        return full;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export interface LayerWorkersOptions {
  blobs: BlobReader;
  limits?: LayerLimits;
  /** Reads at once; default: one less than the cores (at least one), so one core stays with the registry. */
  concurrency?: number;
  /**
   * The `zstd` program for zstd layers where Node's zlib has no zstd (archive.ts); default: `zstd` on
   * PATH. null: the pure-JavaScript decoder (fzstd) only.
   */
  zstdCommand?: string | null;
  /** Compressed size from which a listing's DiffID is hashed on a second thread; default: defaultDigestThreadMinBytes(). */
  digestThreadMinBytes?: number;
  /** Tests only: layer-worker.ts WorkerInit.digestExitAfter. */
  digestExitAfter?: number;
}

export class LayerWorkers {
  private readonly blobs: BlobReader;
  readonly limits: LayerLimits;
  private readonly concurrency: number;
  readonly zstdCommand: string | null;
  private readonly digestThreadMinBytes: number;
  private readonly digestExitAfter: number | undefined;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly live = new Set<Worker>();
  private closed = false;

  constructor(options: LayerWorkersOptions) {
    this.blobs = options.blobs;
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.concurrency = options.concurrency ?? Math.max(1, availableParallelism() - 1);
    this.zstdCommand = options.zstdCommand === undefined ? findExecutable('zstd') : options.zstdCommand;
    this.digestThreadMinBytes = options.digestThreadMinBytes ?? defaultDigestThreadMinBytes();
    this.digestExitAfter = options.digestExitAfter;
  }

  /** Worker threads running now (a listing of a large layer has two). */
  get threads(): number {
    return this.live.size;
  }

  /**
   * Lists a layer: its entries go to `onLines` as they are parsed (UTF-8 JSON lines, one entry a line,
   * a batch at a time, each taken before the next is sent); resolves to the summary.
   */
  async list(digest: Digest, onLines: (bytes: Uint8Array) => Promise<void>, signal?: AbortSignal): Promise<ListSummary> {
    const text = await this.run(digest, { op: 'list' }, onLines, signal);
    return JSON.parse(text) as ListSummary;
  }

  /** Streams the regular file at `path` of a layer to `onData`; resolves to its entry. */
  async extract(digest: Digest, path: string, onData: (chunk: Uint8Array) => Promise<void>, signal?: AbortSignal): Promise<LayerEntry> {
    const text = await this.run(digest, { op: 'extract', path }, onData, signal);
    return JSON.parse(text) as LayerEntry;
  }

  /** Stops every worker (the server is closing). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live].map((w) => w.terminate()));
    for (const wake of this.waiting.splice(0)) wake();
  }

  private async slot<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    while (this.running >= this.concurrency) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      if (this.closed) throw new LayerReadError('ABORTED', 'Berth is stopping');
      signal?.throwIfAborted();
    }
    this.running += 1;
    try {
      return await work();
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  private run(digest: Digest, task: WorkerTask, onData: ((chunk: Uint8Array) => Promise<void>) | null, signal?: AbortSignal): Promise<string> {
    return this.slot(async () => {
      if (this.closed) throw new LayerReadError('ABORTED', 'Berth is stopping');
      const blob = await this.blobs.open(digest);
      if (!blob) throw new LayerReadError('NOT_FOUND', `blob ${digest.value} is not in storage`);
      const init: WorkerInit = { task, limits: this.limits, zstdCommand: this.zstdCommand };
      // A local file is read by the worker itself (and a zstd one by the zstd program): no chunk here.
      const fd = process.platform === 'win32' ? undefined : blob.fd;
      if (fd !== undefined) init.file = { fd, size: blob.size };
      // A large listing's DiffID thread, joined to the lister by a channel of their own.
      let digester: Worker | null = null;
      if (task.op === 'list' && blob.size >= this.digestThreadMinBytes) {
        const channel = new MessageChannel();
        init.digestPort = channel.port1;
        digester = startWorker({ task: { op: 'digest' }, limits: this.limits, zstdCommand: null, digestPort: channel.port2, ...(this.digestExitAfter === undefined ? {} : { digestExitAfter: this.digestExitAfter }) });
        this.live.add(digester);
      }
      let worker: Worker;
      try {
        worker = startWorker(init);
      } catch (err) {
        if (digester) this.live.delete(digester);
        await digester?.terminate();
        throw err;
      }
      this.live.add(worker);
      let inFlight = 0;
      // Data is handed on in order, one chunk at a time; the result waits for the last of it.
      let handing = Promise.resolve();
      let resumeInput: (() => void) | null = null;
      let settled = false;
      const post = (message: ToWorker, transfer: ArrayBuffer[] = []) => {
        if (!settled) worker.postMessage(message, transfer);
      };
      const sink = new Writable({
        highWaterMark: 0,
        write(chunk: Buffer, _encoding, callback) {
          // The store's send buffers are pooled and reused once this callback runs: copy before transferring.
          const copy = new Uint8Array(chunk.byteLength);
          copy.set(chunk);
          post({ t: 'chunk', b: copy.buffer }, [copy.buffer]);
          // The copies (and the batches below) are garbage V8 notices late (transient-memory.ts):
          // freed while young, the process peak while listing a 1 GB layer is ~25 MB lower.
          releaseTransient(chunk.byteLength);
          inFlight += 1;
          if (inFlight < INPUT_WINDOW) callback();
          else resumeInput = () => callback();
        },
      });
      try {
        return await new Promise<string>((resolve, reject) => {
          const finish = (err: Error | null, result?: string) => {
            if (settled) return;
            settled = true;
            signal?.removeEventListener('abort', onAbort);
            sink.destroy();
            if (err) reject(err);
            else resolve(result!);
          };
          const onAbort = () => finish(new LayerReadError('ABORTED', 'the read was cancelled'));
          signal?.addEventListener('abort', onAbort, { once: true });
          if (signal?.aborted) onAbort();
          worker.on('message', (message: FromWorker) => {
            if (message.t === 'ack') {
              inFlight -= 1;
              const resume = resumeInput;
              resumeInput = null;
              resume?.();
            } else if (message.t === 'data') {
              const bytes = new Uint8Array(message.b);
              handing = handing.then(() => onData!(bytes)).then(() => {
                releaseTransient(bytes.byteLength);
                post({ t: 'more' });
              });
              handing.catch((err: Error) => finish(err));
            } else if (message.t === 'done') {
              const result = message.r;
              handing.then(() => finish(null, result), () => undefined);
            } else {
              finish(new LayerReadError(message.code as LayerErrorCode, message.message));
            }
          });
          worker.on('error', (err: Error & { code?: string }) => {
            finish(err.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? new LayerReadError('TOO_LARGE', `reading the layer needed more than ${WORKER_HEAP_MB} MB of memory`)
              : new LayerReadError('CORRUPT', `the layer reader failed: ${err.message}`));
          });
          worker.on('exit', () => finish(new LayerReadError('ABORTED', 'the layer reader stopped')));
          // The DiffID thread ends only when stopped: its exit or error fails the read (nothing is
          // listed without its DiffID). Not the layer's fault, so ABORTED: not remembered, tried again.
          digester?.on('error', (err: Error) => finish(new LayerReadError('ABORTED', `the thread hashing the layer failed: ${err.message}`)));
          digester?.on('exit', (code) => finish(new LayerReadError('ABORTED', `the thread hashing the layer stopped (exit code ${code})`)));
          if (fd === undefined) {
            blob.sendTo(sink).then(
              () => post({ t: 'end' }),
              (err: Error) => {
                // The worker finished early (a file was found, or an error) and closed the sink: not a failure.
                if (!settled) finish(new LayerReadError('CORRUPT', `reading blob ${digest.value} from storage failed: ${err.message}`));
              },
            );
          }
        });
      } finally {
        settled = true;
        await blob.close().catch(() => undefined);
        this.live.delete(worker);
        if (digester) this.live.delete(digester);
        await Promise.all([worker.terminate(), digester?.terminate()]);
      }
    }, signal);
  }
}
