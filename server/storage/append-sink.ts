/**
 * The write end of an upload: appends to a file at a position with positional writev, and hands every
 * byte to `onWritten` (the upload's hash) only after it reached the file. The hash therefore always
 * covers exactly the bytes on disk — also when the client hangs up mid-chunk — so a resumed upload
 * completes without re-reading what it already has.
 */
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { releaseTransient } from './transient-memory.ts';

/** Up to this much is queued before the request stream is paused; consecutive chunks go out in one writev. */
const HIGH_WATER_MARK = 1024 * 1024;

export class AppendSink extends Writable {
  private readonly handle: FileHandle;
  private readonly onWritten: ((bytes: Buffer) => void) | undefined;
  private position: number;
  private written = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private resolveSettled!: (written: number) => void;
  /** Resolves once the file is closed, with the number of bytes that reached it. */
  readonly settled: Promise<number>;

  constructor(handle: FileHandle, position: number, onWritten?: (bytes: Buffer) => void) {
    super({ highWaterMark: HIGH_WATER_MARK });
    this.handle = handle;
    this.position = position;
    this.onWritten = onWritten;
    this.settled = new Promise((resolve) => (this.resolveSettled = resolve));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.track(this.writeAll([chunk]), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.track(this.writeAll(chunks.map((c) => c.chunk)), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Close only after the write in flight has landed (and been hashed), so `settled` is exact.
    this.inFlight
      .catch(() => undefined)
      .then(() => this.handle.close())
      .then(
        () => callback(error),
        (closeError: Error) => callback(error ?? closeError),
      )
      .finally(() => this.resolveSettled(this.written));
  }

  private track(work: Promise<void>, callback: (error?: Error | null) => void): void {
    this.inFlight = work;
    work.then(() => callback(), (err: Error) => callback(err));
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    while (pending.length > 0) {
      let { bytesWritten } = await this.handle.writev(pending, this.position);
      this.position += bytesWritten;
      this.written += bytesWritten;
      const rest: Buffer[] = [];
      for (const buffer of pending) {
        if (bytesWritten >= buffer.length) {
          this.onWritten?.(buffer);
          releaseTransient(buffer.length);
          bytesWritten -= buffer.length;
        } else {
          // A short write (rare on files): account for what landed, retry the rest.
          if (bytesWritten > 0) this.onWritten?.(buffer.subarray(0, bytesWritten));
          rest.push(buffer.subarray(bytesWritten));
          bytesWritten = 0;
        }
      }
      pending = rest;
    }
  }
}
