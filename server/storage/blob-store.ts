/**
 * Content-addressed blob storage on the local file system (layout: paths.ts). Blobs and manifest
 * bodies are immutable files named by digest; they appear only by rename of a complete, verified,
 * fsynced file, so a reader never sees a partial blob.
 */
import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { tryParseDigest, type Digest } from '../registry/reference.ts';
import { BufferPool } from './buffer-pool.ts';
import { fsyncDir, isNotFound, makeDir, readDirOrEmpty, removeFile, writeFileAtomic } from './files.ts';
import { entryCache } from './cache.ts';
import type { StoragePaths } from './paths.ts';

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface OpenBlob {
  readonly size: number;
  /**
   * Writes the blob (or a range of it) to `dest`, respecting its backpressure, and closes the file.
   * Rejects when `dest` closes early (the client went away) or the file cannot be read.
   */
  sendTo(dest: Writable, range?: ByteRange): Promise<void>;
  /** Closes the file without sending (HEAD, 304, errors before sending). */
  close(): Promise<void>;
}

export interface BlobStatter {
  /** Size in bytes, or null when the blob is not stored. */
  stat(digest: Digest): Promise<number | null>;
}

export interface BlobReader {
  open(digest: Digest): Promise<OpenBlob | null>;
  /** Whole blob in memory, for manifests and configs only: null when absent or larger than maxBytes. */
  read(digest: Digest, maxBytes: number): Promise<Buffer | null>;
}

export interface BlobWriter {
  /** Stores bytes already verified to have this digest (manifests). */
  putBytes(digest: Digest, bytes: Uint8Array): Promise<void>;
  /** Moves a complete, verified file into the store; the file is consumed either way. */
  adoptFile(digest: Digest, file: string): Promise<void>;
}

export interface BlobRemover {
  remove(digest: Digest): Promise<boolean>;
}

/** A blob file as it is on disk, for the storage lifecycle (garbage collection, scrub, disk usage). */
export interface BlobFile {
  digest: Digest;
  size: number;
  /** When the file was written (an upload's last byte, or a manifest's store): the GC grace window. */
  modifiedAt: Date;
}

export interface BlobLister {
  /** Every blob file in the store (files whose name is not a digest we store are not blobs, and left out). */
  list(): Promise<BlobFile[]>;
  /** The file of one blob, read from disk (never from a cache), or null when it is not stored. */
  file(digest: Digest): Promise<BlobFile | null>;
  /**
   * Feeds the blob file's bytes, whatever they are now, through `hash` (the scrub); false when the file
   * is gone. Unlike open(), it trusts no cached size: the file may have changed behind our back.
   */
  hashFile(digest: Digest, hash: Hash): Promise<boolean>;
}

export interface BlobQuarantine {
  /** Moves a blob file out of the store into quarantine/; returns where it went, or null when it was not stored. */
  quarantine(digest: Digest, at: Date): Promise<string | null>;
}

export type BlobStore = BlobStatter & BlobReader & BlobWriter & BlobRemover & BlobLister & BlobQuarantine;

/**
 * Blobs are sent in 1 MiB reads, two in flight per response (one being read while the other is being
 * written to the socket): a 1 GB pull is a thousand reads and writes. Measured on this project's
 * 2-core machine: 1 MiB reads cost half the CPU per GB of 64 KiB ones.
 */
const SEND_CHUNK = 1024 * 1024;
const sendBuffers = new BufferPool(SEND_CHUNK, 16);

export class FsBlobStore implements BlobStore {
  private readonly paths: StoragePaths;
  /**
   * Sizes of blobs known to exist. This server is the only writer of the data directory (berth.lock),
   * so entries stay true until remove() drops them; HEAD requests are answered from here.
   */
  private readonly sizes = entryCache<number>(200_000);
  /**
   * Bumped after every removal. A stat() that started before a removal may see the file and would
   * otherwise cache its size after remove() dropped it, so HEAD would answer 200 for a deleted blob:
   * a lookup caches only when no removal finished while it was on disk.
   */
  private removals = 0;

  constructor(paths: StoragePaths) {
    this.paths = paths;
  }

  async stat(digest: Digest): Promise<number | null> {
    const cached = this.sizes.get(digest.value);
    if (cached !== undefined) return cached;
    const generation = this.removals;
    try {
      const st = await fs.stat(this.paths.blob(digest));
      if (generation === this.removals) this.sizes.set(digest.value, st.size);
      return st.size;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async open(digest: Digest): Promise<OpenBlob | null> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.paths.blob(digest), 'r');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    // The size comes from the open file: a concurrent garbage collection can unlink the name, never
    // the bytes this handle reads.
    let size = this.sizes.get(digest.value);
    if (size === undefined) {
      const generation = this.removals;
      try {
        size = (await handle.stat()).size;
      } catch (err) {
        await handle.close();
        throw err;
      }
      if (generation === this.removals) this.sizes.set(digest.value, size);
    }
    const blobSize = size;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    return {
      size: blobSize,
      async sendTo(dest: Writable, range?: ByteRange): Promise<void> {
        try {
          await sendFile(handle, dest, range?.start ?? 0, range ? range.end + 1 : blobSize);
        } finally {
          await close();
        }
      },
      close,
    };
  }

  async read(digest: Digest, maxBytes: number): Promise<Buffer | null> {
    const size = await this.stat(digest);
    if (size === null || size > maxBytes) return null;
    try {
      return await fs.readFile(this.paths.blob(digest));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async putBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    if ((await this.stat(digest)) !== null) return;
    await writeFileAtomic(this.paths.tmpDir, this.paths.blob(digest), bytes);
    this.sizes.set(digest.value, bytes.byteLength);
  }

  async adoptFile(digest: Digest, file: string): Promise<void> {
    const target = this.paths.blob(digest);
    if ((await this.stat(digest)) !== null) {
      // Stored once: a second upload of the same content is dropped.
      await removeFile(file);
      return;
    }
    const handle = await fs.open(file, 'r+');
    let size: number;
    try {
      await handle.sync();
      size = (await handle.stat()).size;
    } finally {
      await handle.close();
    }
    await makeDir(path.dirname(target));
    await fs.rename(file, target);
    await fsyncDir(path.dirname(target));
    this.sizes.set(digest.value, size);
  }

  async remove(digest: Digest): Promise<boolean> {
    const removed = await removeFile(this.paths.blob(digest));
    this.forget(digest);
    return removed;
  }

  async list(): Promise<BlobFile[]> {
    const files: BlobFile[] = [];
    for (const algorithm of await readDirOrEmpty(this.paths.blobsDir)) {
      const algorithmDir = path.join(this.paths.blobsDir, algorithm);
      for (const prefix of await readDirOrEmpty(algorithmDir)) {
        for (const hex of await readDirOrEmpty(path.join(algorithmDir, prefix))) {
          const digest = tryParseDigest(`${algorithm}:${hex}`);
          if (!digest || digest.hex.slice(0, 2) !== prefix) continue;
          const file = await this.file(digest);
          if (file) files.push(file);
        }
      }
    }
    return files;
  }

  async file(digest: Digest): Promise<BlobFile | null> {
    try {
      const st = await fs.lstat(this.paths.blob(digest));
      return st.isFile() ? { digest, size: st.size, modifiedAt: st.mtime } : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async hashFile(digest: Digest, hash: Hash): Promise<boolean> {
    try {
      for await (const chunk of createReadStream(this.paths.blob(digest), { highWaterMark: SEND_CHUNK })) hash.update(chunk as Buffer);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async quarantine(digest: Digest, at: Date): Promise<string | null> {
    const target = this.paths.quarantined(digest, at);
    await makeDir(path.dirname(target));
    try {
      await fs.rename(this.paths.blob(digest), target);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    } finally {
      this.forget(digest);
    }
    await fsyncDir(path.dirname(this.paths.blob(digest)));
    return target;
  }

  /** Drops a removed blob from the cache, after its file is gone (see `removals`). */
  private forget(digest: Digest): void {
    this.removals += 1;
    this.sizes.delete(digest.value);
  }

}

/** Bytes [start, end) of the file to `dest`, double-buffered with pooled buffers (see SEND_CHUNK). */
async function sendFile(handle: fs.FileHandle, dest: Writable, start: number, end: number): Promise<void> {
  // A destination that closes early (the client hung up) may never call back pending writes.
  let onClose!: () => void;
  const closedEarly = new Promise<never>((_, reject) => {
    onClose = () => reject(Object.assign(new Error('the client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  });
  closedEarly.catch(() => undefined);
  dest.once('close', onClose);
  const held: Buffer[] = [];
  const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  try {
    let position = start;
    for (let turn = 0; position < end; turn++) {
      const slot = turn % 2;
      await Promise.race([writes[slot], closedEarly]);
      const buffer = held[slot] ?? (held[slot] = sendBuffers.acquire());
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
      if (bytesRead === 0) throw new Error(`blob file ended at byte ${position} of ${end}`);
      position += bytesRead;
      const write = new Promise<void>((resolve, reject) => {
        dest.write(buffer.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
      });
      // Observed through the races above and below; a write that fails after we stopped waiting for
      // it (the client reset the connection) must not become an unhandled rejection.
      write.catch(() => undefined);
      writes[slot] = write;
    }
    await Promise.race([Promise.all(writes), closedEarly]);
    for (const buffer of held) sendBuffers.release(buffer);
  } finally {
    // Buffers of a failed send may still be referenced by the socket: they are left to the GC.
    dest.off('close', onClose);
  }
}
