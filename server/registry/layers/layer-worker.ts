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
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LayerEntry } from '../inspect-types.ts';
import { extractFile, LayerReadError, listLayer, type LayerLimits } from './archive.ts';

export type WorkerTask = { op: 'list' } | { op: 'extract'; path: string };
export interface WorkerInit {
  task: WorkerTask;
  limits: LayerLimits;
  /** archive.ts ReadOptions.zstdCommand. */
  zstdCommand: string | null;
}
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

const port = parentPort!;
const { task, limits, zstdCommand } = workerData as WorkerInit;
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

async function main(): Promise<void> {
  try {
    if (task.op === 'list') {
      const batch = lineBatcher();
      const summary = await listLayer(chunks(), (entry) => batch.add(entry), { limits, zstdCommand });
      await batch.flush();
      send({ t: 'done', r: JSON.stringify(summary) });
    } else {
      const entry = await extractFile(chunks(), task.path, write, { limits, zstdCommand });
      send({ t: 'done', r: JSON.stringify(entry) });
    }
  } catch (err) {
    const e = err instanceof LayerReadError ? err : new LayerReadError('CORRUPT', `the layer could not be read: ${(err as Error)?.message ?? String(err)}`);
    send({ t: 'error', code: e.code, message: e.message });
  }
}

void main();
