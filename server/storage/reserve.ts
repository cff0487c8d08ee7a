/**
 * A little disk space held back for Berth's own bookkeeping (layout: paths.ts, `reserve`). On a disk
 * that is full to the last block, creating the lock file, the index's state.json or a line of the run
 * history fails, and with it the start that would let the user free space (`berth gc`,
 * `berth purge-uploads`, the UI). So while there is room Berth keeps this file of RESERVE_BYTES, and
 * gives back RELEASE_STEP of it each time it starts on a disk with less than that free (four starts'
 * worth, should something else take the space back each time); it is written again at a later start
 * once there is ample room. The bytes are random so that a compressing file system stores them all.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type { VolumeSpace } from './volume.ts';

/** Four starts' worth of RELEASE_STEP. */
export const RESERVE_BYTES = 64 * 1024;
/** Enough for one start: the lock, state.json and appends to the nedb files (a 4 KiB block each). */
export const RELEASE_STEP = 16 * 1024;

export class SpaceReserve {
  private readonly file: string;
  private readonly bytes: number;

  constructor(file: string, bytes = RESERVE_BYTES) {
    this.file = file;
    this.bytes = bytes;
  }

  /** Gives back RELEASE_STEP of the reserve when the volume has less than that free; true when it did. */
  async releaseIfLow(space: VolumeSpace | null): Promise<boolean> {
    if (!space || space.freeBytes >= RELEASE_STEP) return false;
    try {
      const { size } = await fs.stat(this.file);
      if (size <= RELEASE_STEP) await fs.unlink(this.file);
      else await fs.truncate(this.file, size - RELEASE_STEP);
      return true;
    } catch {
      return false;
    }
  }

  /** Writes the reserve again when it is missing or partly given back and the volume has ample room (8 times it). */
  async restore(space: VolumeSpace | null): Promise<void> {
    if (!space || space.freeBytes < this.bytes * 8) return;
    const size = await fs.stat(this.file).then((st) => st.size, () => null);
    if (size === this.bytes) return;
    if (size !== null) await fs.rm(this.file, { force: true });
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.file, 'wx', 0o600);
    } catch {
      return;
    }
    try {
      await handle.writeFile(randomBytes(this.bytes));
      await handle.sync();
      await handle.close();
    } catch {
      // No room after all: a partial reserve would only hold space for nothing.
      await handle.close().catch(() => undefined);
      await fs.rm(this.file, { force: true }).catch(() => undefined);
    }
  }
}
