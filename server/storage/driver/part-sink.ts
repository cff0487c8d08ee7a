/**
 * The write end of an upload on an object store (s3.ts, azure.ts): gathers the request's bytes into
 * parts of a fixed size and hands each full part to `sendPart` (an S3 UploadPart, an Azure stageBlock)
 * while the next one fills. At most two parts are in memory per upload — one being sent, one filling —
 * so a push's memory is bounded by the part size, never by the blob's. What is left when the request
 * ends (less than a part) is returned by finish(): the driver stores it as it must (a last part, a
 * small pending object, a block).
 */
import { Writable } from 'node:stream';
import { BufferPool } from '../buffer-pool.ts';
import { releaseTransient } from '../transient-memory.ts';
import type { WriterOptions } from './driver.ts';

/** Stream buffering in front of the parts: consecutive request chunks are copied in one go. */
const HIGH_WATER_MARK = 1024 * 1024;

/** Part buffers are reused across uploads (allocating tens of MiB per push would churn the heap). */
const pools = new Map<number, BufferPool>();
function pool(size: number): BufferPool {
  let p = pools.get(size);
  if (!p) pools.set(size, (p = new BufferPool(size, 4)));
  return p;
}

export class PartSink {
  readonly sink: Writable;
  /** Resolves once the sink is finished or destroyed, with the bytes it accepted. */
  readonly settled: Promise<number>;
  private readonly partBytes: number;
  private readonly sendPart: (bytes: Buffer) => Promise<void>;
  private readonly onWritten: ((bytes: Buffer) => void) | undefined;
  private readonly onTaken: ((count: number) => void) | undefined;
  private current: Buffer | null = null;
  private spare: Buffer | null = null;
  private filled = 0;
  private accepted = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  /** `initial`: bytes stored earlier but not yet in a part (a pending tail), put first in the buffer. */
  constructor(partBytes: number, initial: Buffer | null, sendPart: (bytes: Buffer) => Promise<void>, options: WriterOptions = {}) {
    this.partBytes = partBytes;
    this.sendPart = sendPart;
    this.onWritten = options.onWritten;
    this.onTaken = options.onTaken;
    if (initial && initial.length > 0) {
      this.current = pool(partBytes).acquire();
      initial.copy(this.current, 0);
      this.filled = initial.length;
    }
    const take = (chunks: Buffer[], callback: (error?: Error | null) => void) => {
      this.take(chunks).then(() => callback(), (err: Error) => callback(err));
    };
    this.sink = new Writable({
      highWaterMark: HIGH_WATER_MARK,
      write: (chunk: Buffer, _encoding, callback) => take([chunk], callback),
      writev: (chunks, callback) => take(chunks.map((c) => c.chunk as Buffer), callback),
    });
    this.settled = new Promise((resolve) => this.sink.once('close', () => resolve(this.accepted)));
  }

  /**
   * Ends the sink (when the request did not), waits for the part in flight and returns the bytes not
   * sent yet (valid until release()). Throws the first failure of a send.
   */
  async finish(): Promise<Buffer> {
    await this.end();
    await this.inFlight;
    if (this.failure) throw this.failure;
    return this.current ? this.current.subarray(0, this.filled) : Buffer.alloc(0);
  }

  /** Ends the sink and waits for the part in flight, ignoring its outcome (a discarded writer). */
  async abandon(): Promise<void> {
    await this.end();
    await this.inFlight.catch(() => undefined);
    this.release();
  }

  /** Returns the buffers to the pool. */
  release(): void {
    for (const buffer of [this.current, this.spare]) if (buffer) pool(this.partBytes).release(buffer);
    this.current = this.spare = null;
    this.filled = 0;
  }

  private async end(): Promise<void> {
    if (!this.sink.destroyed && !this.sink.writableEnded) this.sink.end();
    await this.settled;
  }

  private async take(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      let position = 0;
      while (position < chunk.length) {
        if (!this.current) this.current = pool(this.partBytes).acquire();
        const n = Math.min(chunk.length - position, this.partBytes - this.filled);
        chunk.copy(this.current, this.filled, position, position + n);
        this.filled += n;
        position += n;
        if (this.filled === this.partBytes) await this.sendFull();
      }
      this.accepted += chunk.length;
      this.onWritten?.(chunk);
      this.onTaken?.(chunk.length);
      releaseTransient(chunk.length);
    }
  }

  /** Sends the full buffer while the next one fills; waits first for the part before it (two in memory). */
  private async sendFull(): Promise<void> {
    await this.inFlight;
    if (this.failure) throw this.failure;
    const full = this.current!;
    this.current = this.spare;
    this.spare = null;
    this.filled = 0;
    this.inFlight = this.sendPart(full).then(
      () => {
        this.spare = full;
      },
      (err: Error) => {
        this.failure = err;
      },
    );
  }
}
