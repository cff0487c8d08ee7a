/**
 * Frees the buffers a push leaves behind while it runs.
 *
 * Node's HTTP parser hands every request-body chunk to JavaScript as a fresh Buffer (up to 64 KiB of
 * external memory each). Once hashed and written they are garbage, but V8 only notices external memory
 * when ~40 MB of it has piled up, and then pays with a full mark-compact. Measured on a 1 GiB push
 * (docs/benchmarks.md): RSS grew by 40 MB and kept the pages. A minor GC every few MiB of received bytes
 * frees the chunks while they are still young: growth 11 MB, and 15-20% less registry CPU, because a
 * scavenge of a nearly empty young generation costs well under a millisecond.
 *
 * It needs the runtime's `gc` function: bin/berth.js runs Node with --expose-gc, and the desktop app,
 * which cannot pass flags to its main process once installed, calls tuneHeap() at start-up. Without it
 * (a plain `node` running the server) this does nothing.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How many received bytes may become garbage before a minor GC is asked for. */
const RELEASE_EVERY = 4 * 1024 * 1024;

type GcFunction = (options: { type: 'minor' }) => void;
let pending = 0;

/**
 * Makes `globalThis.gc` available in a process started without --expose-gc: with the flag set, every
 * new context gets the function, and one is created to fetch it.
 */
export function exposeGc(): void {
  if (typeof globalThis.gc === 'function') return;
  setFlagsFromString('--expose-gc');
  globalThis.gc = runInNewContext('gc') as typeof globalThis.gc;
}

/**
 * How much the old generation may grow past what the last full collection kept before the next one,
 * in percent. Left to itself, V8 lets a small heap grow up to 4x its live size: under 32 connections of
 * manifest GETs, request objects promoted while in flight took it from 18 to 73 MB of mostly garbage,
 * the registry's peak memory. At 20% the same load peaks at 92 instead of 112-135 MB, at the same CPU per
 * request and catalog populate rate (docs/benchmarks.md, issue 17).
 */
const HEAP_GROWING_PERCENT = 20;

/**
 * The heap settings the server runs with, for processes whose flags it does not choose: the desktop's
 * main process and `berth serve` under a plain `node`. V8 reads the growing factor at every full
 * collection, so setting it at start-up is as good as the command-line flag.
 */
export function tuneHeap(): void {
  exposeGc();
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/**
 * How often a mirror's fill asks for one (server/mirror/spool-sink.ts). V8 counts the external memory
 * allocated since the last full collection towards the old generation's limit, and on the server's small,
 * tightly grown heap (tuneHeap) the margin is a few MB. A push stays inside it at 4 MiB (one mark-compact
 * in a 210 MB push), but a fill, whose process also serves the same bytes to the client as they land, does
 * not: on a 210 MB cold pull, 4-8 mark-compacts at 4 MiB, none past start-up at 2 MiB (and no fewer, for
 * twice the scavenges, at 1 MiB). Measured with bench/mirror.ts --compare (docs/benchmarks.md).
 */
export const FILL_RELEASE_EVERY = 2 * 1024 * 1024;

/**
 * Called with the size of every received chunk once nothing refers to it any more; asks for a minor GC
 * once `every` bytes have been let go since the last.
 */
export function releaseTransient(bytes: number, every = RELEASE_EVERY): void {
  pending += bytes;
  if (pending < every) return;
  pending = 0;
  (globalThis as { gc?: GcFunction }).gc?.({ type: 'minor' });
}
