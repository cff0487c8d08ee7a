/**
 * The worker thread that reads a layer (archive.ts) off the registry's event loop. Its protocol with
 * worker-pool.ts, over the worker's message port:
 *   in:  {t:'chunk', b}  compressed bytes (an ArrayBuffer, transferred), answered {t:'ack'} once consumed
 *        {t:'end'}       no more bytes
 *        {t:'more'}      (extract) the receiver took one data chunk: send on
 *   out: {t:'data', b}   extract: the file's content; list: the entries as JSON lines, LIST_BATCH
 *                        characters at a time; either way at most OUTPUT_WINDOW chunks unanswered
 *        {t:'done', r}   the result as JSON text: the listing's summary (ListSummary), or the
 *                        extracted entry
 *        {t:'error', code, message}
 * Task, limits and the zstd program come in workerData. A listing streams out as it is parsed, so
 * neither thread holds it: the worker's memory stays flat whatever the number of entries.
 *
 * The same file is the DiffID thread of a listing ({op:'digest'}): sha256 of the uncompressed stream
 * costs as much CPU as zstd's whole decode, and the reading thread already has the tar parse and each
 * file's sha256, so a large layer's listing can hash its DiffID here, on another core (worker-pool.ts
 * does so where a core is free for it: docs/benchmarks.md, issue 15). The two threads talk over a MessageChannel of their own (`digestPort`):
 *   lister -> digest: {t:'chunk', b, n}  n uncompressed bytes in b, DIGEST_CHUNK at a time (copied:
 *                                        the tar parser keeps views into the decoder's buffers)
 *                     {t:'end'}          all given
 *   digest -> lister: {t:'ack', b}       b hashed, and handed back: at most DIGEST_WINDOW in flight
 *                     {t:'digest', hex}
 * The buffers go back and forth (transferred, never copied between the threads) and are reused: a new
 * 1 MiB buffer per message would leave a thread that allocates nothing else with ~60 MB of them
 * waiting for a garbage collection that comes late (measured: peak RSS +60 MB, and ~1 s more CPU).
 * The lister sends its result only after the digest came back, so a listing is never without its
 * DiffID; if the digest thread dies, worker-pool.ts fails the read and stops both threads.
 */
import { createHash } from 'node:crypto';
import { read as readCallback } from 'node:fs';
import { promisify } from 'node:util';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { LayerEntry } from '../inspect-types.ts';
import { extractFile, LayerReadError, listLayer, type LayerLimits, type StreamHasher } from './archive.ts';

export type WorkerTask = { op: 'list' } | { op: 'extract'; path: string } | { op: 'digest' };
export interface WorkerInit {
  task: WorkerTask;
  limits: LayerLimits;
  /** archive.ts ReadOptions.zstdCommand. */
  zstdCommand: string | null;
  /** list: where to send the uncompressed bytes to be hashed; digest: where they come from. */
  digestPort?: MessagePort;
  /** Tests only: the digest thread exits (as a crashed one would) once it was given this many bytes. */
  digestExitAfter?: number;
  /**
   * The blob is a local file open on this descriptor (ObjectReader.fd): the worker reads it itself, by
   * position, and no chunk messages come; a zstd layer goes straight from it to the `zstd` program.
   */
  file?: { fd: number; size: number };
}
export type ToDigest = { t: 'chunk'; b: ArrayBuffer; n: number } | { t: 'end' };
export type FromDigest = { t: 'ack'; b: ArrayBuffer } | { t: 'digest'; hex: string };

/** Bytes per message to the digest thread: ~900 messages for a 1 GB layer. */
const DIGEST_CHUNK = 1024 * 1024;
/** Chunks the digest thread may have unhashed: bounds the bytes between the threads to ~4 MiB. */
const DIGEST_WINDOW = 4;
export type ToWorker = { t: 'chunk'; b: ArrayBuffer } | { t: 'end' } | { t: 'more' };
export type FromWorker =
  | { t: 'ack' }
  | { t: 'data'; b: ArrayBuffer }
  | { t: 'done'; r: string }
  | { t: 'error'; code: string; message: string };

/** Unanswered data chunks the worker may have out (extract). */
const OUTPUT_WINDOW = 4;
/** Characters of JSON lines per listing message: ~1,500 entries, small enough to keep both heaps flat. */
const LIST_BATCH = 256 * 1024;

const read = promisify(readCallback);
const port = parentPort!;
const { task, limits, zstdCommand, digestPort, digestExitAfter, file } = workerData as WorkerInit;
const queue: Uint8Array[] = [];
let ended = false;
let wake: (() => void) | null = null;
let credit = OUTPUT_WINDOW;
let creditWake: (() => void) | null = null;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

port.on('message', (message: ToWorker) => {
  if (message.t === 'chunk') queue.push(new Uint8Array(message.b));
  else if (message.t === 'end') ended = true;
  else if (message.t === 'more') {
    credit += 1;
    creditWake?.();
    creditWake = null;
    return;
  }
  wake?.();
  wake = null;
});

async function* chunks(): AsyncGenerator<Uint8Array> {
  for (;;) {
    const chunk = queue.shift();
    if (chunk) {
      send({ t: 'ack' });
      yield chunk;
      continue;
    }
    if (ended) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

/** Bytes per read of a local blob file: the BlobStore's read size. */
const FILE_CHUNK = 1024 * 1024;

/**
 * The blob's bytes read from its file here, by position (the descriptor's offset stays at 0 for the
 * zstd program). A fresh buffer per read: the parsers keep views into what they were given.
 */
async function* fileChunks(fd: number, size: number): AsyncGenerator<Uint8Array> {
  for (let position = 0; position < size;) {
    const buffer = Buffer.allocUnsafeSlow(Math.min(FILE_CHUNK, size - position));
    let bytesRead: number;
    try {
      ({ bytesRead } = await read(fd, buffer, 0, buffer.byteLength, position));
    } catch (err) {
      // The disk's fault, not the layer's: ABORTED is not remembered as a bad layer.
      throw new LayerReadError('ABORTED', `reading the blob file failed: ${(err as Error).message}`);
    }
    if (bytesRead === 0) throw new LayerReadError('ABORTED', `the blob file ended at byte ${position} of ${size}`);
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Sends bytes the worker owns whole (transferred, not copied) once the receiver has room. */
async function sendOwned(bytes: Uint8Array): Promise<void> {
  while (credit <= 0) await new Promise<void>((resolve) => (creditWake = resolve));
  credit -= 1;
  send({ t: 'data', b: bytes.buffer as ArrayBuffer }, [bytes.buffer as ArrayBuffer]);
}

async function write(chunk: Uint8Array): Promise<void> {
  // The chunk may be a view into the parser's buffer: copy it into a buffer of its own to transfer.
  const copy = new Uint8Array(chunk.byteLength);
  copy.set(chunk);
  await sendOwned(copy);
}

/** Entries as JSON lines, sent in batches. */
function lineBatcher(): { add(entry: LayerEntry): Promise<void> | void; flush(): Promise<void> } {
  const encoder = new TextEncoder();
  let lines: string[] = [];
  let size = 0;
  const flush = async () => {
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    lines = [];
    size = 0;
    await sendOwned(encoder.encode(text));
  };
  return {
    add(entry) {
      const line = JSON.stringify(entry);
      lines.push(line);
      size += line.length;
      return size >= LIST_BATCH ? flush() : undefined;
    },
    flush,
  };
}

/** The lister's side of the DiffID thread: bytes gathered into DIGEST_CHUNK buffers and sent on. */
function remoteHasher(to: MessagePort): StreamHasher {
  const free: Uint8Array<ArrayBuffer>[] = [];
  let buffer = new Uint8Array(DIGEST_CHUNK);
  let used = 0;
  let credit = DIGEST_WINDOW;
  let creditWake: (() => void) | null = null;
  let resolveDigest: (hex: string) => void = () => undefined;
  const digest = new Promise<string>((resolve) => (resolveDigest = resolve));
  to.on('message', (message: FromDigest) => {
    if (message.t === 'ack') {
      free.push(new Uint8Array(message.b));
      credit += 1;
      creditWake?.();
      creditWake = null;
    } else resolveDigest(message.hex);
  });
  const post = (message: ToDigest, transfer: ArrayBuffer[] = []) => to.postMessage(message, transfer);
  const ship = () => {
    post({ t: 'chunk', b: buffer.buffer as ArrayBuffer, n: used }, [buffer.buffer as ArrayBuffer]);
    credit -= 1;
    buffer = free.pop() ?? new Uint8Array(DIGEST_CHUNK);
    used = 0;
  };
  return {
    update(chunk) {
      for (let at = 0; at < chunk.byteLength;) {
        const n = Math.min(chunk.byteLength - at, buffer.byteLength - used);
        buffer.set(chunk.subarray(at, at + n), used);
        used += n;
        at += n;
        if (used === buffer.byteLength) ship();
      }
      if (credit > 0) return undefined;
      return new Promise<void>((resolve) => (creditWake = resolve));
    },
    async digest() {
      if (used > 0) ship();
      post({ t: 'end' });
      return digest;
    },
  };
}

/** The digest thread: hashes what the lister sends, acknowledging each chunk once hashed. */
function digestThread(from: MessagePort): void {
  const hash = createHash('sha256');
  let given = 0;
  from.on('message', (message: ToDigest) => {
    if (message.t === 'chunk') {
      given += message.n;
      if (digestExitAfter !== undefined && given >= digestExitAfter) process.exit(1);
      hash.update(new Uint8Array(message.b, 0, message.n));
      from.postMessage({ t: 'ack', b: message.b } satisfies FromDigest, [message.b]);
    } else {
      // The thread then waits (parentPort's listener keeps it) for worker-pool.ts to stop it: an
      // exit of its own would read as a failure there.
      from.postMessage({ t: 'digest', hex: hash.digest('hex') } satisfies FromDigest);
    }
  });
}

const source = () => (file ? fileChunks(file.fd, file.size) : chunks());
const fromFile = file ? { zstdStdin: file.fd } : {};

async function main(): Promise<void> {
  try {
    if (task.op === 'list') {
      const batch = lineBatcher();
      const hasher = digestPort ? { hasher: remoteHasher(digestPort) } : {};
      const summary = await listLayer(source(), (entry) => batch.add(entry), { limits, zstdCommand, ...hasher, ...fromFile });
      await batch.flush();
      send({ t: 'done', r: JSON.stringify(summary) });
    } else if (task.op === 'extract') {
      const entry = await extractFile(source(), task.path, write, { limits, zstdCommand, ...fromFile });
      send({ t: 'done', r: JSON.stringify(entry) });
    }
  } catch (err) {
    const e = err instanceof LayerReadError ? err : new LayerReadError('CORRUPT', `the layer could not be read: ${(err as Error)?.message ?? String(err)}`);
    send({ t: 'error', code: e.code, message: e.message });
  }
}

if (task.op === 'digest') digestThread(digestPort!);
else void main();
