/**
 * Page-aligned staging buffers for direct I/O (append-sink.ts). O_DIRECT needs the buffer's address,
 * its length and the file position aligned to the device's block size; Node's Buffers are malloc'ed
 * (16-byte aligned) and their addresses cannot be read from JavaScript. A WebAssembly.Memory is
 * mapped from whole pages (V8 allocates it with its page allocator), so views at multiples of
 * DIRECT_ALIGNMENT into it are aligned. Should that ever not hold, the write fails with EINVAL and the
 * sink falls back to ordinary writes (append-sink.ts), so alignment is an optimisation, not an
 * assumption the data depends on.
 */

/** Alignment of direct I/O positions and lengths: the largest logical block size of common disks. */
export const DIRECT_ALIGNMENT = 4096;
/** One staging buffer: 1 MiB direct writes cost ~0.1 s of system CPU per GB here (4 MiB: ~0.07). */
export const STAGING_BYTES = 1024 * 1024;
const WASM_PAGE = 64 * 1024;
/** The runtime's WebAssembly.Memory (the server's TypeScript lib has no WebAssembly values). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (pages: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;

/** Two staging buffers of one upload: one filling while the other is written. */
export type StagingPair = [Buffer, Buffer];

/**
 * Reuses pairs (a push of many layers opens a sink per layer), keeping at most `maxIdle` idle; a pair
 * in use is owned by one sink until it gives it back.
 */
export class StagingPool {
  private readonly idle: StagingPair[] = [];
  private readonly maxIdle: number;
  private failed = false;

  constructor(maxIdle: number) {
    this.maxIdle = maxIdle;
  }

  /** A pair, or null where aligned memory cannot be had (the caller writes without O_DIRECT). */
  acquire(): StagingPair | null {
    const pair = this.idle.pop();
    if (pair) return pair;
    if (this.failed) return null;
    try {
      const pages = (2 * STAGING_BYTES) / WASM_PAGE;
      const memory = Buffer.from(new WasmMemory({ initial: pages, maximum: pages }).buffer);
      return [memory.subarray(0, STAGING_BYTES), memory.subarray(STAGING_BYTES)];
    } catch {
      // An address-space limit (ulimit -v) can refuse the reservation: stay with buffered writes.
      this.failed = true;
      return null;
    }
  }

  release(pair: StagingPair): void {
    if (this.idle.length < this.maxIdle) this.idle.push(pair);
  }
}
