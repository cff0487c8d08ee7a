/**
 * The write end of an upload: appends to a file at a position, and hands every byte to `onWritten` (the
 * upload's hash) only after it reached the file. The hash therefore always covers exactly the bytes on
 * disk — also when the client hangs up mid-chunk — so a resumed upload completes without re-reading
 * what it already has.
 *
 * Two ways to the file:
 * - buffered: the received chunks go out with positional writev, through the page cache;
 * - direct (O_DIRECT, when the driver hands a second handle opened so and aligned staging buffers): the
 *   chunks are copied into 1 MiB page-aligned buffers, each written straight to the device while the
 *   next one fills; the tail that does not fill a buffer is written buffered at the end. Measured on a
 *   1 GiB push (docs/benchmarks.md, "Direct writes"): copying the bytes into the page cache was 42% of
 *   the registry's CPU (on a VM every page the cache takes is a fresh host page), a direct write costs a
 *   tenth of that. The upload is fsynced before it becomes a blob anyway (filesystem.ts putFile), so
 *   the bytes had to reach the disk before the PUT answers either way: direct writes send them there
 *   while the body still streams instead of all at the end.
 */
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { DIRECT_ALIGNMENT, type StagingPair } from './aligned-buffers.ts';
import type { WriterOptions } from './driver/driver.ts';
import { releaseTransient } from './transient-memory.ts';

/** Up to this much is queued before the request stream is paused; consecutive chunks go out in one writev. */
const HIGH_WATER_MARK = 1024 * 1024;

export interface DirectWrites {
  /** The file opened with O_DIRECT (write only); the sink closes it. */
  handle: FileHandle;
  /** Page-aligned staging buffers of a length that is a multiple of DIRECT_ALIGNMENT. */
  buffers: StagingPair;
  /** Called once the sink is done with the buffers. */
  release(): void;
}

export class AppendSink extends Writable {
  private readonly handle: FileHandle;
  private readonly onWritten: ((bytes: Buffer) => void) | undefined;
  private readonly onTaken: ((count: number) => void) | undefined;
  private position: number;
  private written = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private resolveSettled!: (written: number) => void;
  /** Resolves once the file is closed, with the number of bytes that reached it. */
  readonly settled: Promise<number>;
  private direct: DirectWrites | null;
  /** Direct mode: the buffer filling, how much it holds, and the write of the other one. */
  private staging: Buffer | null = null;
  private staged = 0;
  private flushing: Promise<void> = Promise.resolve();
  /** A write failed: nothing after it may reach the file (it would land at the wrong position). */
  private failed = false;
  /** The file refused a direct write (EINVAL): the rest goes through the page cache. */
  private directRefused = false;

  constructor(handle: FileHandle, position: number, options: WriterOptions = {}, direct?: DirectWrites | null) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.handle = handle;
    this.position = position;
    this.onWritten = options.onWritten;
    this.onTaken = options.onTaken;
    this.direct = direct && position % DIRECT_ALIGNMENT === 0 ? direct : null;
    if (direct && !this.direct) void direct.handle.close().catch(() => undefined).finally(() => direct.release());
    if (this.direct) this.staging = this.direct.buffers[0];
    this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.track(this.staging ? this.stage([chunk]) : this.writeAll([chunk]), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    this.track(this.staging ? this.stage(buffers) : this.writeAll(buffers), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.track(this.flushStaged(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Close only after the writes in flight have landed (and been hashed), so `settled` is exact; bytes
    // accepted into staging are written too (a client that hangs up keeps what it sent).
    this.inFlight
      .catch(() => undefined)
      .then(() => this.flushStaged())
      .catch(() => undefined)
      .then(() => this.closeAll())
      .then(
        () => callback(error),
        (closeError: Error) => callback(error ?? closeError),
      )
      .finally(() => this.resolveSettled(this.written));
  }

  private async closeAll(): Promise<void> {
    const direct = this.direct;
    this.direct = null;
    this.staging = null;
    try {
      await this.handle.close();
    } finally {
      if (direct) await direct.handle.close().catch(() => undefined).finally(() => direct.release());
    }
  }

  private track(work: Promise<void>, callback: (error?: Error | null) => void): void {
    this.inFlight = work;
    work.then(() => callback(), (err: Error) => callback(err));
  }

  /** Copies chunks into the staging buffer; a full buffer is written directly once the previous one landed. */
  private async stage(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      let from = 0;
      while (from < chunk.length) {
        const staging = this.staging!;
        const n = chunk.copy(staging, this.staged, from);
        from += n;
        this.staged += n;
        if (this.staged === staging.length) {
          await this.flushing;
          const full = staging;
          this.flushing = this.writeDirect(full);
          // Observed by the next wait (or flushStaged); never an unhandled rejection meanwhile.
          this.flushing.catch(() => undefined);
          const [a, b] = this.direct!.buffers;
          this.staging = full === a ? b : a;
          this.staged = 0;
        }
      }
      this.onTaken?.(chunk.length);
      releaseTransient(chunk.length);
    }
  }

  private async writeDirect(buffer: Buffer): Promise<void> {
    if (this.failed) throw new Error('an earlier write to the upload failed');
    const direct = this.directRefused ? null : this.direct!.handle;
    const { bytesWritten } = direct
      ? await direct.write(buffer, 0, buffer.length, this.position).catch((err: NodeJS.ErrnoException) => {
          // EINVAL: the file system or the buffer does not suit direct I/O after all; write buffered.
          if (err.code !== 'EINVAL') {
            this.failed = true;
            throw err;
          }
          this.directRefused = true;
          return { bytesWritten: 0 };
        })
      : { bytesWritten: 0 };
    if (bytesWritten > 0) this.landed(buffer.subarray(0, bytesWritten));
    if (bytesWritten < buffer.length) {
      // Rare (EINVAL above, or a device that wrote less): the rest goes through the page cache.
      await this.writeAll([buffer.subarray(bytesWritten)]);
    }
  }

  /** Waits for the direct write in flight, then writes what staging holds (buffered: any length). */
  private async flushStaged(): Promise<void> {
    if (!this.staging) return;
    await this.flushing;
    const rest = this.staging.subarray(0, this.staged);
    this.staged = 0;
    if (rest.length > 0) await this.writeAll([rest]);
  }

  private landed(bytes: Buffer): void {
    this.position += bytes.length;
    this.written += bytes.length;
    this.onWritten?.(bytes);
    // Staged bytes were counted as taken when staged.
    if (!this.staging) this.onTaken?.(bytes.length);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    if (this.failed) throw new Error('an earlier write to the upload failed');
    let pending = buffers;
    while (pending.length > 0) {
      let bytesWritten: number;
      try {
        ({ bytesWritten } = await this.handle.writev(pending, this.position));
      } catch (err) {
        this.failed = true;
        throw err;
      }
      const rest: Buffer[] = [];
      for (const buffer of pending) {
        if (bytesWritten >= buffer.length) {
          this.landed(buffer);
          if (!this.staging) releaseTransient(buffer.length);
          bytesWritten -= buffer.length;
        } else {
          // A short write (rare on files): account for what landed, retry the rest.
          if (bytesWritten > 0) this.landed(buffer.subarray(0, bytesWritten));
          rest.push(buffer.subarray(bytesWritten));
          bytesWritten = 0;
        }
      }
      pending = rest;
    }
  }
}
