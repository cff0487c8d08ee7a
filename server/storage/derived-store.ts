/**
 * Derived state kept next to the data (paths.ts, derived/): values computed from immutable blobs, so
 * they are valid for as long as the blob exists. Local files whatever driver stores the blobs; each is
 * written atomically and may be deleted at any time (it is computed again when needed).
 *
 * A layer listing is gzip'd text, one JSON value a line, written as it is produced and read back a
 * line at a time: a listing of any size passes through memory in small pieces, never whole.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import type { Digest } from '../registry/reference.ts';
import { makeDir, openIfExists, removeFile, renameDurable, syncFile } from './files.ts';
import type { StoragePaths } from './paths.ts';

/** A listing being written: nothing is visible until commit(). */
export interface ListingWriter {
  /** Appends bytes (UTF-8 lines); resolves when they may be given more (backpressure). */
  write(bytes: Uint8Array): Promise<void>;
  /** Makes what was written the digest's listing, atomically and durably. */
  commit(): Promise<void>;
  /** Drops what was written. */
  abort(): Promise<void>;
}

export interface LayerListingStore {
  /**
   * The stored listing (uncompressed bytes), or null when there is none. A damaged file fails while
   * it is read (and is then removed, to be computed again).
   */
  bytes(digest: Digest): Promise<AsyncIterable<Buffer> | null>;
  /** The same, a line at a time (without the newline; empty lines left out). */
  lines(digest: Digest): Promise<AsyncIterable<string> | null>;
  create(digest: Digest): Promise<ListingWriter>;
  remove(digest: Digest): Promise<void>;
}

/**
 * gzip level 1: a listing compresses ~6x at level 1 and ~7x at 6, and level 1 costs a third of the
 * CPU; the file is a cache, not an archive.
 */
const GZIP_LEVEL = 1;

export class FsLayerListingStore implements LayerListingStore {
  private readonly paths: StoragePaths;

  constructor(paths: StoragePaths) {
    this.paths = paths;
  }

  async bytes(digest: Digest): Promise<AsyncIterable<Buffer> | null> {
    const handle = await openIfExists(this.paths.layerListing(digest));
    if (!handle) return null;
    const remove = () => this.remove(digest);
    return (async function* read(): AsyncGenerator<Buffer> {
      const source = createReadStream('', { fd: handle, highWaterMark: 64 * 1024 });
      const gunzip = zlib.createGunzip();
      source.on('error', (err) => gunzip.destroy(err));
      source.pipe(gunzip);
      try {
        for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk;
      } catch (err) {
        // Damaged (a crash cannot leave half a file, a disk can): computed again next time.
        await remove().catch(() => undefined);
        throw err;
      } finally {
        source.destroy();
        gunzip.destroy();
      }
    })();
  }

  async lines(digest: Digest): Promise<AsyncIterable<string> | null> {
    const bytes = await this.bytes(digest);
    return bytes && splitLines(bytes);
  }

  async create(digest: Digest): Promise<ListingWriter> {
    const target = this.paths.layerListing(digest);
    await makeDir(this.paths.tmpDir);
    const tmp = path.join(this.paths.tmpDir, randomUUID());
    const input = new PassThrough({ highWaterMark: 256 * 1024 });
    const gzip = zlib.createGzip({ level: GZIP_LEVEL });
    const out = createWriteStream(tmp, { flags: 'wx' });
    const written = pipeline(input, gzip, out);
    written.catch(() => undefined);
    let ended = false;
    return {
      async write(bytes) {
        if (!input.write(bytes)) {
          await Promise.race([new Promise((resolve) => input.once('drain', resolve)), written]);
        }
      },
      async commit() {
        ended = true;
        input.end();
        try {
          await written;
          await syncFile(tmp);
        } catch (err) {
          // A listing cut short by a full disk must not hold the space.
          await fs.rm(tmp, { force: true }).catch(() => undefined);
          throw err;
        }
        await renameDurable(tmp, target);
      },
      async abort() {
        if (!ended) input.destroy();
        ended = true;
        await written.catch(() => undefined);
        await fs.rm(tmp, { force: true });
      },
    };
  }

  async remove(digest: Digest): Promise<void> {
    await removeFile(this.paths.layerListing(digest));
  }
}

/** UTF-8 text in chunks -> its lines (a line may span chunks; a character too). */
export async function* splitLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  for await (const chunk of chunks) {
    const lines = (partial + decoder.write(chunk as Buffer)).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line) yield line;
  }
  const last = partial + decoder.end();
  if (last) yield last;
}
