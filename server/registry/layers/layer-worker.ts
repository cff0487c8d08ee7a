/**
 * The worker thread that reads a layer (archive.ts) off the registry's event loop. Its protocol with
 * worker-pool.ts, over the worker's message port:
 *   in:  {t:'chunk', b}  compressed bytes (an ArrayBuffer, transferred), answered {t:'ack'} once consumed
 *        {t:'end'}       no more bytes
 *        {t:'more'}      (extract) the receiver took one data chunk: send on
 *   out: {t:'data', b}   (extract) the file's content, at most OUTPUT_WINDOW chunks unanswered
 *        {t:'done', r}   the result: a listing as JSON text (cheap to pass: a string is copied, not
 *                        structured-cloned entry by entry), or the extracted entry
 *        {t:'error', code, message}
 * Task and limits come in workerData.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { extractFile, LayerReadError, listLayer, type LayerLimits } from './archive.ts';

export type WorkerTask = { op: 'list' } | { op: 'extract'; path: string };
export interface WorkerInit {
  task: WorkerTask;
  limits: LayerLimits;
}
export type ToWorker = { t: 'chunk'; b: ArrayBuffer } | { t: 'end' } | { t: 'more' };
export type FromWorker =
  | { t: 'ack' }
  | { t: 'data'; b: ArrayBuffer }
  | { t: 'done'; r: string }
  | { t: 'error'; code: string; message: string };

/** Unanswered data chunks the worker may have out (extract). */
const OUTPUT_WINDOW = 4;

const port = parentPort!;
const { task, limits } = workerData as WorkerInit;
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

async function write(chunk: Uint8Array): Promise<void> {
  while (credit <= 0) await new Promise<void>((resolve) => (creditWake = resolve));
  credit -= 1;
  // The chunk may be a view into the parser's buffer: copy it into a buffer of its own to transfer.
  const copy = new Uint8Array(chunk.byteLength);
  copy.set(chunk);
  send({ t: 'data', b: copy.buffer }, [copy.buffer]);
}

async function main(): Promise<void> {
  try {
    if (task.op === 'list') {
      const listing = await listLayer(chunks(), limits);
      send({ t: 'done', r: JSON.stringify(listing) });
    } else {
      const entry = await extractFile(chunks(), task.path, write, limits);
      send({ t: 'done', r: JSON.stringify(entry) });
    }
  } catch (err) {
    const e = err instanceof LayerReadError ? err : new LayerReadError('CORRUPT', `the layer could not be read: ${(err as Error)?.message ?? String(err)}`);
    send({ t: 'error', code: e.code, message: e.message });
  }
}

void main();
