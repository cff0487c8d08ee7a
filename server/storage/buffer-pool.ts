/**
 * Reusable read buffers for serving blobs. Allocating a fresh buffer per read makes V8 account
 * gigabytes of short-lived external memory during a pull, which it answers with full garbage
 * collections; buffers returned here are reused instead, up to a bounded number kept idle.
 */
export class BufferPool {
  readonly size: number;
  private readonly maxIdle: number;
  private readonly idle: Buffer[] = [];

  constructor(size: number, maxIdle: number) {
    this.size = size;
    this.maxIdle = maxIdle;
  }

  acquire(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  release(buffer: Buffer): void {
    if (this.idle.length < this.maxIdle && buffer.length === this.size) this.idle.push(buffer);
  }
}
