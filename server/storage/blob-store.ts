/**
 * Content-addressed blob storage over the storage driver (layout: paths.ts), the same for every driver.
 * Blobs and manifest bodies are immutable objects named by digest; they appear only whole and verified
 * (the driver's atomic put, commit or move), so a reader never sees a partial blob.
 */
import type { Hash } from 'node:crypto';
import fs from 'node:fs/promises';
import { tryParseDigest, type Digest } from '../registry/reference.ts';
import { cacheClock, entryCache, type EntryCache, type StoreChanges } from './cache.ts';
import type { ObjectReader, ObjectWriter, StagedContent, StorageDriver } from './driver/driver.ts';
import { keys } from './paths.ts';

export type { ByteRange } from './driver/driver.ts';
/** A blob opened for sending: its size, then its bytes (or a range) to a response. */
export type OpenBlob = ObjectReader;

/** `fresh`: the answer comes from the store itself, not a cache (storage/cache.ts). */
export interface Freshness {
  fresh?: boolean;
}

export interface BlobStatter {
  /**
   * Size in bytes, or null when the blob is not stored. `fresh`: ask the store, not the cache (a
   * writer's check under its locks, which another replica's collection may have made stale).
   */
  stat(digest: Digest, options?: Freshness): Promise<number | null>;
}

export interface BlobReader {
  open(digest: Digest): Promise<OpenBlob | null>;
  /** Whole blob in memory, for manifests and configs only: null when absent or larger than maxBytes. */
  read(digest: Digest, maxBytes: number): Promise<Buffer | null>;
  /** A presigned URL of the blob in the store, or null where the store has none (a local disk). */
  urlFor(digest: Digest, expiresInSeconds: number): Promise<string | null>;
}

export interface BlobWriter {
  /** Stores bytes already verified to have this digest (manifests). */
  putBytes(digest: Digest, bytes: Uint8Array): Promise<void>;
  /**
   * putBytes in two steps (the driver's stageContent): written now, out of sight (durably on disk),
   * and the blob at commit(). Null when the blob is stored already.
   */
  stageBytes(digest: Digest, bytes: Uint8Array): Promise<StagedContent | null>;
  /** Moves a complete, verified local file into the store; the file is consumed either way. */
  adoptFile(digest: Digest, file: string): Promise<void>;
  /**
   * Makes an upload's verified bytes the blob (the driver's commit: a rename on disk, a server-side copy
   * in a bucket, never a download); when the blob is stored already, the upload's bytes are dropped.
   */
  adoptUpload(digest: Digest, writer: ObjectWriter): Promise<void>;
  /** Moves a verified object of the same store (a finished upload) to the blob's place. */
  adoptObject(digest: Digest, key: string): Promise<void>;
}

export interface BlobRemover {
  remove(digest: Digest): Promise<boolean>;
}

/** A blob object as it is stored, for the storage lifecycle (garbage collection, scrub, disk usage). */
export interface BlobFile {
  digest: Digest;
  size: number;
  /** When the file was written (an upload's last byte, or a manifest's store): the GC grace window. */
  modifiedAt: Date;
}

export interface BlobLister {
  /** Every blob file in the store (files whose name is not a digest we store are not blobs, and left out). */
  list(): Promise<BlobFile[]>;
  /** The object of one blob, read from the store (never from a cache), or null when it is not stored. */
  file(digest: Digest): Promise<BlobFile | null>;
  /**
   * Feeds the blob file's bytes, whatever they are now, through `hash` (the scrub); false when the file
   * is gone. Unlike open(), it trusts no cached size: the file may have changed behind our back.
   */
  hashFile(digest: Digest, hash: Hash): Promise<boolean>;
}

export interface BlobQuarantine {
  /** Moves a blob out of blobs/ into quarantine/; returns where it went (a path, a URL), or null when it was not stored. */
  quarantine(digest: Digest, at: Date): Promise<string | null>;
}

export type BlobStore = BlobStatter & BlobReader & BlobWriter & BlobRemover & BlobLister & BlobQuarantine;

export class DriverBlobStore implements BlobStore {
  private readonly driver: StorageDriver;
  /**
   * Sizes of blobs known to exist; HEAD requests are answered from here. Blobs are immutable, so an entry
   * stays true until the blob is removed: by this process (remove() drops it) or, on a store shared with
   * other processes, by another one's garbage collection (issue 16 coordinates that through the shared
   * index; a stale entry can only make a HEAD say 200 for a blob collected elsewhere).
   */
  private readonly sizes: EntryCache<number>;
  /**
   * Bumped after every removal. A stat() that started before a removal may see the object and would
   * otherwise cache its size after remove() dropped it, so HEAD would answer 200 for a deleted blob:
   * a lookup caches only when no removal finished while it was in the store.
   */
  private removals = 0;

  /** `cacheTtlMs`: how long what was seen is trusted (storage/cache.ts); forever by default. */
  private readonly changes: StoreChanges | null;

  /** `changes`: told of every removal (storage/cache.ts: StoreChanges). */
  constructor(driver: StorageDriver, { cacheTtlMs, changes }: { cacheTtlMs?: number; changes?: StoreChanges } = {}) {
    this.driver = driver;
    this.changes = changes ?? null;
    this.sizes = entryCache<number>(200_000, cacheTtlMs);
  }

  async stat(digest: Digest, { fresh = false }: Freshness = {}): Promise<number | null> {
    const cached = fresh ? undefined : this.sizes.get(digest.value);
    if (cached !== undefined) return cached;
    const generation = this.removals;
    const seenAt = cacheClock();
    const info = await this.driver.stat(keys.blob(digest));
    if (!info) return null;
    if (generation === this.removals) this.sizes.set(digest.value, info.size, seenAt);
    return info.size;
  }

  async open(digest: Digest): Promise<OpenBlob | null> {
    const generation = this.removals;
    const seenAt = cacheClock();
    const reader = await this.driver.reader(keys.blob(digest), this.sizes.get(digest.value));
    if (reader && generation === this.removals) this.sizes.set(digest.value, reader.size, seenAt);
    return reader;
  }

  async read(digest: Digest, maxBytes: number): Promise<Buffer | null> {
    const size = await this.stat(digest);
    if (size === null || size > maxBytes) return null;
    return (await this.driver.getContent(keys.blob(digest), maxBytes))?.bytes ?? null;
  }

  async urlFor(digest: Digest, expiresInSeconds: number): Promise<string | null> {
    return this.driver.urlFor ? this.driver.urlFor(keys.blob(digest), expiresInSeconds) : null;
  }

  async putBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    await (await this.stageBytes(digest, bytes))?.commit();
  }

  async stageBytes(digest: Digest, bytes: Uint8Array): Promise<StagedContent | null> {
    if ((await this.stat(digest)) !== null) return null;
    const staged = await this.driver.stageContent(keys.blob(digest), bytes);
    return {
      commit: async () => {
        await staged.commit();
        this.sizes.set(digest.value, bytes.byteLength);
      },
      discard: () => staged.discard(),
    };
  }

  async adoptFile(digest: Digest, file: string): Promise<void> {
    if ((await this.stat(digest)) !== null) {
      // Stored once: a second upload of the same content is dropped.
      await fs.rm(file, { force: true });
      return;
    }
    const { size } = await fs.stat(file);
    await this.driver.putFile(keys.blob(digest), file);
    this.sizes.set(digest.value, size);
  }

  async adoptUpload(digest: Digest, writer: ObjectWriter): Promise<void> {
    if ((await this.stat(digest)) !== null) {
      await writer.discard();
      return;
    }
    const size = writer.offset + (await writer.settled);
    await writer.commit(keys.blob(digest));
    this.sizes.set(digest.value, size);
  }

  async adoptObject(digest: Digest, key: string): Promise<void> {
    if ((await this.stat(digest)) !== null) {
      await this.driver.delete(key);
      return;
    }
    const info = await this.driver.stat(key);
    await this.driver.move(key, keys.blob(digest));
    if (info) this.sizes.set(digest.value, info.size);
  }

  async remove(digest: Digest): Promise<boolean> {
    const removed = await this.driver.delete(keys.blob(digest));
    this.forget(digest);
    return removed;
  }

  async list(): Promise<BlobFile[]> {
    const files: BlobFile[] = [];
    for await (const object of this.driver.walk(keys.blobs)) {
      const file = blobFileOf(object.path, object.size, object.modifiedAt);
      if (file) files.push(file);
    }
    return files;
  }

  async file(digest: Digest): Promise<BlobFile | null> {
    const info = await this.driver.stat(keys.blob(digest));
    return info ? { digest, size: info.size, modifiedAt: info.modifiedAt } : null;
  }

  async hashFile(digest: Digest, hash: Hash): Promise<boolean> {
    const stream = await this.driver.readStream(keys.blob(digest));
    if (!stream) return false;
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return true;
  }

  async quarantine(digest: Digest, at: Date): Promise<string | null> {
    const target = keys.quarantined(digest, at);
    try {
      if (!(await this.driver.stat(keys.blob(digest)))) return null;
      await this.driver.move(keys.blob(digest), target);
    } finally {
      this.forget(digest);
    }
    return this.driver.describe(target);
  }

  /** Drops a removed blob from the cache, after its object is gone (see `removals`). */
  private forget(digest: Digest): void {
    this.removals += 1;
    this.changes?.changed();
    this.sizes.delete(digest.value);
  }
}

/** The blob a key under blobs/ names, or null for anything that is not one (a stray object). */
function blobFileOf(key: string, size: number, modifiedAt: Date): BlobFile | null {
  const [root, algorithm, prefix, hex, ...rest] = key.split('/');
  if (root !== keys.blobs || rest.length > 0 || !algorithm || !prefix || !hex) return null;
  const digest = tryParseDigest(`${algorithm}:${hex}`);
  if (!digest || digest.hex.slice(0, 2) !== prefix) return null;
  return { digest, size, modifiedAt };
}
