/** Blobs of a repository (OCI Distribution Spec v1.1, "Pulling blobs", "Deleting blobs"). */
import type { BlobStore, OpenBlob } from '../storage/blob-store.ts';

export type { ByteRange } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import { RegistryError } from './errors.ts';
import type { EventOrigin, RegistryEvents } from './events.ts';
import type { LinkGuard } from './link-guard.ts';
import type { Digest } from './reference.ts';

/**
 * How long a redirect URL stays valid: long enough for a slow client to start its download (the
 * transfer itself may run longer), short enough that a leaked URL soon stops working. Distribution
 * uses 20 minutes too.
 */
const REDIRECT_SECONDS = 20 * 60;

export interface BlobServiceDeps {
  blobs: BlobStore;
  /** Answer blob GETs with a redirect to the store (config storage.redirect). */
  redirect?: boolean;
  repositories: RepositoryStore;
  events: RegistryEvents;
  guard: LinkGuard;
}

export class BlobService {
  private readonly deps: BlobServiceDeps;

  constructor(deps: BlobServiceDeps) {
    this.deps = deps;
  }

  /** Size of a blob the repository holds. Manifests are blobs too, and can be fetched as such. */
  async stat(repo: string, digest: Digest): Promise<number> {
    // Clients HEAD a blob to decide whether to upload it, then reference it in a manifest: garbage
    // collection spares a blob asked about recently (link-guard.ts).
    this.deps.guard.touch(digest.value);
    await this.ensureLinked(repo, digest);
    const size = await this.deps.blobs.stat(digest);
    if (size === null) throw unknownBlob(repo, digest);
    return size;
  }

  /** `pull`: a client fetches the blob (GET): announced as blob-pulled. */
  async open(repo: string, digest: Digest, { pull = false, origin }: { pull?: boolean; origin?: EventOrigin } = {}): Promise<OpenBlob> {
    await this.ensureLinked(repo, digest);
    const blob = await this.deps.blobs.open(digest);
    if (!blob) throw unknownBlob(repo, digest);
    if (pull) this.deps.events.emit('blob-pulled', { repository: repo, digest: digest.value, size: blob.size, ...(origin ? { origin } : {}) });
    return blob;
  }

  /**
   * Where the client may fetch the blob itself (a presigned URL of the bucket), when redirects are on
   * and the store has such URLs; null: Berth streams it.
   */
  async redirect(repo: string, digest: Digest): Promise<string | null> {
    if (!this.deps.redirect) return null;
    await this.ensureLinked(repo, digest);
    if ((await this.deps.blobs.stat(digest)) === null) throw unknownBlob(repo, digest);
    return this.deps.blobs.urlFor(digest, REDIRECT_SECONDS);
  }

  /** Unlinks the blob from the repository; its bytes go with the next garbage collection. */
  async delete(repo: string, digest: Digest, origin?: EventOrigin): Promise<void> {
    if (!(await this.deps.repositories.unlinkLayer(repo, digest))) throw unknownBlob(repo, digest);
    this.deps.events.emit('blob-deleted', { repository: repo, digest: digest.value, ...(origin ? { origin } : {}) });
  }

  private async ensureLinked(repo: string, digest: Digest): Promise<void> {
    const { repositories } = this.deps;
    if (await repositories.hasLayer(repo, digest)) return;
    if ((await repositories.manifestMediaType(repo, digest)) !== null) return;
    throw unknownBlob(repo, digest);
  }
}

function unknownBlob(repo: string, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', { message: `blob ${digest.value} is not in repository ${repo}`, detail: { digest: digest.value } });
}
