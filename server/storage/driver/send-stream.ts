/**
 * Sends an object store's response body to a client: the bytes arrive in socket-sized pieces (16-64 KiB)
 * and go out in 1 MiB writes, which costs the registry far less CPU per GB than writing each piece as it
 * comes (the same reason the filesystem driver reads 1 MiB at a time: filesystem.ts SEND_CHUNK). At most
 * two buffers per download are held: one being written, one filling.
 */
import type { Readable, Writable } from 'node:stream';
import { BufferPool } from '../buffer-pool.ts';

const WRITE_BYTES = 1024 * 1024;
const buffers = new BufferPool(WRITE_BYTES, 16);

/**
 * A promise that rejects when `dest` closes (the client hung up): a destination that closes early may
 * never call back pending writes, so every wait on one races this. `stop()` stops listening.
 */
export function closedEarly(dest: Writable): { promise: Promise<never>; stop(): void } {
  let onClose!: () => void;
  const promise = new Promise<never>((_, reject) => {
    onClose = () => reject(Object.assign(new Error('the client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  });
  promise.catch(() => undefined);
  dest.once('close', onClose);
  return { promise, stop: () => dest.off('close', onClose) };
}

/** Copies `body` to `dest` (which the caller ends); rejects when either side fails or the client goes away. */
export async function sendStream(body: Readable, dest: Writable): Promise<void> {
  const early = closedEarly(dest);
  const closed = early.promise;
  const held: Buffer[] = [];
  const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  let slot = 0;
  let buffer: Buffer | null = null;
  let filled = 0;
  const flush = async () => {
    if (!buffer || filled === 0) return;
    const out = buffer;
    const length = filled;
    const write = new Promise<void>((resolve, reject) => dest.write(out.subarray(0, length), (err) => (err ? reject(err) : resolve())));
    write.catch(() => undefined);
    writes[slot] = write;
    slot = 1 - slot;
    // The other buffer may still be on its way to the socket: wait for it before filling it again.
    await Promise.race([writes[slot], closed]);
    buffer = held[slot] ?? (held[slot] = buffers.acquire());
    filled = 0;
  };
  try {
    buffer = held[slot] = buffers.acquire();
    for await (const chunk of body as AsyncIterable<Buffer>) {
      let position = 0;
      while (position < chunk.length) {
        const n = Math.min(chunk.length - position, WRITE_BYTES - filled);
        chunk.copy(buffer!, filled, position, position + n);
        filled += n;
        position += n;
        if (filled === WRITE_BYTES) await flush();
      }
    }
    await flush();
    await Promise.race([Promise.all(writes), closed]);
    for (const b of held) buffers.release(b);
  } catch (err) {
    body.destroy();
    throw err;
  } finally {
    // Buffers of a failed send may still be referenced by the socket: they are left to the GC.
    early.stop();
  }
}
