/**
 * Derived state kept next to the data (paths.ts, derived/): values computed from immutable blobs, so
 * they are valid for as long as the blob exists. Local files whatever driver stores the blobs; each is
 * written atomically and may be deleted at any time (it is computed again when needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Digest } from '../registry/reference.ts';
import { isNotFound, removeFile, writeFileAtomic } from './files.ts';
import type { StoragePaths } from './paths.ts';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export interface LayerListingStore {
  /** The stored listing (JSON text), or null when there is none or it cannot be read. */
  get(digest: Digest): Promise<string | null>;
  put(digest: Digest, json: string): Promise<void>;
  remove(digest: Digest): Promise<void>;
}

export class FsLayerListingStore implements LayerListingStore {
  private readonly paths: StoragePaths;

  constructor(paths: StoragePaths) {
    this.paths = paths;
  }

  async get(digest: Digest): Promise<string | null> {
    try {
      return (await gunzip(await fs.readFile(this.paths.layerListing(digest)))).toString('utf8');
    } catch (err) {
      // Missing, or damaged (a crash cannot leave half a file, a disk can): computed again.
      if (!isNotFound(err)) await this.remove(digest).catch(() => undefined);
      return null;
    }
  }

  async put(digest: Digest, json: string): Promise<void> {
    const file = this.paths.layerListing(digest);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.mkdir(this.paths.tmpDir, { recursive: true });
    await writeFileAtomic(this.paths.tmpDir, file, await gzip(json));
  }

  async remove(digest: Digest): Promise<void> {
    await removeFile(this.paths.layerListing(digest));
  }
}
