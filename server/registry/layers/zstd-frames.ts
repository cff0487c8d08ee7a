/**
 * Does a zstd stream end where a frame ends? zlib's zstd decoder in Node 22.15-22.23 ends without an
 * error on a stream cut off inside a frame (nodejs/node#64592; 24.x reports Z_BUF_ERROR), where gzip,
 * the `zstd` program and fzstd all fail. A layer cut at a block boundary that is also a tar entry
 * boundary would then list as a shorter, valid-looking layer. This follows the frames' structure (RFC
 * 8878 §3.1: frame header, then blocks that each state their size and whether they are the last, then
 * an optional 4-byte checksum; skippable frames state their size) without decoding anything: a few
 * header bytes per 128 KiB block, the rest skipped by length. Whether the bytes inside are valid is the
 * decoder's verdict; a structure it does not know (a reserved block type, another magic number) ends
 * the check and leaves the error to the decoder too.
 */

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MAGIC_HIGH = 0x184d2a5;

type State = 'magic' | 'descriptor' | 'header' | 'skippable' | 'block' | 'unknown';

export class ZstdFrameCheck {
  private state: State = 'magic';
  /** Header bytes the current state collects, and how many are here. */
  private want = 4;
  private have = 0;
  private readonly head = Buffer.alloc(14);
  /** Bytes to pass over before the next header (a block's content, a checksum, a skippable frame). */
  private skip = 0;
  private checksum = false;
  private frames = 0;

  update(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && this.state !== 'unknown') {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const n = Math.min(this.want - this.have, chunk.length - at);
      this.head.set(chunk.subarray(at, at + n), this.have);
      this.have += n;
      at += n;
      if (this.have === this.want) {
        this.have = 0;
        this.advance();
      }
    }
  }

  /** True when the stream so far ends between frames (after at least one zstd frame), or the check gave up. */
  complete(): boolean {
    if (this.state === 'unknown') return true;
    return this.state === 'magic' && this.have === 0 && this.skip === 0 && this.frames > 0;
  }

  private expect(state: State, bytes: number): void {
    this.state = state;
    this.want = bytes;
  }

  private advance(): void {
    const head = this.head;
    switch (this.state) {
      case 'magic': {
        const magic = head.readUInt32LE(0);
        if (magic === ZSTD_MAGIC) this.expect('descriptor', 1);
        else if (magic >>> 4 === SKIPPABLE_MAGIC_HIGH) this.expect('skippable', 4);
        else this.state = 'unknown';
        return;
      }
      case 'descriptor': {
        // Frame_Header_Descriptor (§3.1.1.1.1): FCS flag, single segment, checksum, dictionary ID flag.
        const d = head[0]!;
        const fcsFlag = d >>> 6;
        const singleSegment = (d >>> 5) & 1;
        this.checksum = ((d >>> 2) & 1) === 1;
        const rest = (singleSegment ? 0 : 1) + [0, 1, 2, 4][d & 3]! + (fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag]!);
        if (rest > 0) this.expect('header', rest);
        else this.expect('block', 3);
        return;
      }
      case 'header':
        this.expect('block', 3);
        return;
      case 'skippable':
        this.skip = head.readUInt32LE(0);
        this.expect('magic', 4);
        return;
      case 'block': {
        // Block_Header (§3.1.1.2): Last_Block, Block_Type (raw, RLE, compressed, reserved), Block_Size.
        const header = head[0]! | (head[1]! << 8) | (head[2]! << 16);
        const type = (header >>> 1) & 3;
        if (type === 3) {
          this.state = 'unknown';
          return;
        }
        this.skip = type === 1 ? 1 : header >>> 3;
        if ((header & 1) === 0) return this.expect('block', 3);
        if (this.checksum) this.skip += 4;
        this.frames++;
        this.expect('magic', 4);
        return;
      }
      case 'unknown':
        return;
    }
  }
}
