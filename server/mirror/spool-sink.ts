/**
 * The write end of a fill's spool file (blob-fill.ts). Every chunk of the upstream body is copied at once
 * into one of two pooled buffers and let go; a buffer is written to the file while the other fills.
 *
 * Why not queue the chunks themselves until the disk takes them (what a plain Writable does): Node's
 * HTTP client hands each chunk over as a fresh Buffer, and a chunk still queued at two minor garbage
 * collections is promoted to the old generation, where only a full collection frees it; with the
 * server's tight heap growth (transient-memory.ts tuneHeap) the fills of a cold pull then ran a full
 * mark-compact every ~60 ms. Copied on arrival, the chunks die young (releaseTransient, asked every
 * 2 MiB: FILL_RELEASE_EVERY) and the two buffers are reused for the whole fill. Measured on a 210 MB cold
 * pull (docs/benchmarks.md, pull-through cache): 19 -> 12 mark-compacts and 1.49 -> 1.20 s of the
 * mirror's CPU with the copy; then, with little queued before _write and a scavenge every 2 MiB,
 * 11.5 -> 2 (both at start-up) and 1.26 -> 0.95 s (medians of 8 interleaved rounds).
 *
 * Bytes reach readers soon whatever the upstream's pace: a buffer is written as soon as no write is in
 * flight (a slow upstream's bytes go out chunk by chunk), and only while a write is in flight does the
 * other buffer fill up (a fast one's go out 1 MiB at a time). `landed` is told of bytes only once
 * they are in the file, in order; readers follow the file up to there.
 */
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { BufferPool } from '../storage/buffer-pool.ts';
import { FILL_RELEASE_EVERY, releaseTransient } from '../storage/transient-memory.ts';

export interface SpoolHooks {
  /** Each chunk as it is taken, in order (the fill hashes it); borrowed for the call only. */
  taken(chunk: Buffer): void;
  /** `bytes` more reached the file. */
  landed(bytes: number): void;
}

export class SpoolSink extends Writable {
  private readonly handle: FileHandle;
  private readonly pool: BufferPool;
  private readonly hooks: SpoolHooks;
  private buffers: [Buffer, Buffer] | null;
  /** The buffer filling (0 or 1) and how much it holds. */
  private filling = 0;
  private used = 0;
  /** The write in flight (of the other buffer), if any; it never rejects (a failure sets `failure`). */
  private writing: Promise<void> | null = null;
  private position = 0;
  private failure: Error | null = null;

  constructor(handle: FileHandle, pool: BufferPool, hooks: SpoolHooks) {
    // Little queues before _write: a chunk waiting there outlives scavenges (the backpressure is the
    // two buffers, held by _write until the disk takes one).
    super({ highWaterMark: 64 * 1024 });
    this.handle = handle;
    this.pool = pool;
    this.hooks = hooks;
    this.buffers = [pool.acquire(), pool.acquire()];
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hooks.taken(chunk);
    let from = 0;
    const take = (): void => {
      while (from < chunk.length) {
        if (this.failure || !this.buffers) return callback(this.failure ?? new Error('the spool file was closed'));
        const buffer = this.buffers[this.filling]!;
        const n = chunk.copy(buffer, this.used, from);
        from += n;
        this.used += n;
        if (this.used === buffer.length) {
          // Both buffers full: the chunk's rest waits for the disk (the stream's backpressure).
          if (this.writing) return void this.writing.then(take);
          this.flush();
        }
      }
      releaseTransient(chunk.length, FILL_RELEASE_EVERY);
      if (!this.writing && this.used > 0) this.flush();
      callback();
    };
    take();
  }

  override _final(callback: (error?: Error | null) => void): void {
    const drain = (): void => {
      if (this.failure) return callback(this.failure);
      if (this.writing) return void this.writing.then(drain);
      if (this.used > 0) {
        this.flush();
        return drain();
      }
      callback();
    };
    drain();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The buffers go back to the pool only once no write reads them any more.
    void (this.writing ?? Promise.resolve()).then(() => {
      const buffers = this.buffers;
      this.buffers = null;
      if (buffers) for (const buffer of buffers) this.pool.release(buffer);
      callback(error);
    });
  }

  /** Writes the filling buffer's bytes at the file's end and switches to the other buffer. */
  private flush(): void {
    const buffer = this.buffers![this.filling]!;
    const length = this.used;
    const position = this.position;
    this.filling ^= 1;
    this.used = 0;
    this.position += length;
    this.writing = writeFully(this.handle, buffer, length, position).then(
      () => {
        this.writing = null;
        this.hooks.landed(length);
        // What arrived meanwhile goes out now, not with the next chunk (which may be long in coming).
        if (this.used > 0 && this.buffers && !this.failure) this.flush();
      },
      (err: Error) => {
        this.writing = null;
        this.failure = err;
      },
    );
  }
}

/** Writes `length` bytes of `buffer` at `position` (a short write is continued). */
async function writeFully(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, position + done);
    if (bytesWritten === 0) throw new Error('the disk accepted no bytes');
    done += bytesWritten;
  }
}
