/**
 * Who uses which bytes: the blobs each repository's manifests reference (manifest bodies, configs,
 * layers), and which of them are unique to one repository or shared with others. A blob is stored
 * once however many repositories use it, so shared blobs count once in every total across
 * repositories. DiskUsageService adds what the files on disk and the volume say.
 */
import type { ManifestDoc, MetadataIndex } from '../metadata/index-db.ts';
import type { BlobLister } from '../storage/blob-store.ts';
import type { StorageLocation } from '../storage/driver/driver.ts';
import type { VolumeSpace } from '../storage/volume.ts';
import type { DiskUsage, RepositoryUsage } from './api-types.ts';
import type { ParsedManifest } from './manifest.ts';
import { isIndexMediaType } from './media-types.ts';
import { tryParseDigest, type Digest } from './reference.ts';

/** Reads a manifest as stored (ManifestService.parseStored). */
export interface StoredManifests {
  parseStored(repo: string, digest: Digest, mediaType: string): Promise<{ manifest: ParsedManifest }>;
}

/**
 * repository -> digest -> size the manifest declared, for every blob a manifest of it references.
 * The layers are read from each manifest in turn (the index does not hold them), so what this holds
 * is the distinct blobs of each repository, however many descriptors its manifests repeat. A
 * manifest that cannot be read (see scrub) counts with its config only.
 */
export async function blobsByRepository(docs: Iterable<ManifestDoc>, manifests: StoredManifests): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for (const doc of docs) {
    let blobs = out.get(doc.repo);
    if (!blobs) out.set(doc.repo, (blobs = new Map()));
    blobs.set(doc.digest, doc.size);
    if (doc.config) blobs.set(doc.config.digest, doc.config.size);
    const digest = tryParseDigest(doc.digest);
    if (isIndexMediaType(doc.mediaType) || doc.descriptorCount === 0 || !digest) continue;
    try {
      const { manifest } = await manifests.parseStored(doc.repo, digest, doc.mediaType);
      for (const layer of manifest.layers) blobs.set(layer.digest.value, layer.size);
    } catch {
      // Unreadable: scrub reports it; its layers are not counted here.
    }
  }
  return out;
}

export interface Sharing {
  repositories: Map<string, RepositoryUsage>;
  /** Every referenced blob once. */
  referencedBytes: number;
  /** Blobs used by two or more repositories, each once. */
  sharedBytes: number;
}

/**
 * Unique and shared bytes per repository. `sizeOf` gives a blob's size, or null to leave it out (a
 * blob not on disk: a foreign layer, or one a crash lost).
 */
export function sharing(byRepository: Map<string, Map<string, number>>, sizeOf: (digest: string, declared: number) => number | null): Sharing {
  const users = new Map<string, number>();
  for (const blobs of byRepository.values()) {
    for (const digest of blobs.keys()) users.set(digest, (users.get(digest) ?? 0) + 1);
  }
  const repositories = new Map<string, RepositoryUsage>();
  const counted = new Set<string>();
  let referencedBytes = 0;
  let sharedBytes = 0;
  for (const [name, blobs] of byRepository) {
    const usage: RepositoryUsage = { name, totalBytes: 0, uniqueBytes: 0, sharedBytes: 0, blobCount: 0 };
    for (const [digest, declared] of blobs) {
      const size = sizeOf(digest, declared);
      if (size === null) continue;
      const shared = users.get(digest)! > 1;
      usage.blobCount += 1;
      usage.totalBytes += size;
      if (shared) usage.sharedBytes += size;
      else usage.uniqueBytes += size;
      if (counted.has(digest)) continue;
      counted.add(digest);
      referencedBytes += size;
      if (shared) sharedBytes += size;
    }
    repositories.set(name, usage);
  }
  return { repositories, referencedBytes, sharedBytes };
}

export interface DiskUsageServiceDeps {
  blobs: BlobLister;
  index: MetadataIndex;
  manifests: StoredManifests;
  dataDir: string;
  /** The volume of the data directory, or null when the blobs are not on it (a bucket). */
  volume(dir: string): Promise<VolumeSpace | null>;
  storage: StorageLocation;
  /** Every object Berth keeps in the store, counted (a bucket listing, page by page). */
  countObjects(): Promise<{ objects: number; bytes: number }>;
  /**
   * What a garbage collection with the configured settings would free now (a dry run), and what it
   * would free once the grace window has passed (the dry run's freed plus protected bytes).
   */
  reclaimable(): Promise<{ nowBytes: number; afterGraceBytes: number; graceSeconds: number }>;
  /** Whether a repository is the pull-through cache's (mirror/): its bytes are counted apart. */
  cached?: (repository: string) => boolean;
}

export class DiskUsageService {
  private readonly deps: DiskUsageServiceDeps;

  constructor(deps: DiskUsageServiceDeps) {
    this.deps = deps;
  }

  /** Walks the blob store (sizes as the files hold them) and measures each repository against it. */
  async get(): Promise<DiskUsage> {
    const { blobs, index, dataDir, volume, storage } = this.deps;
    const onDisk = new Map<string, number>();
    let bytesOnDisk = 0;
    for (const blob of await blobs.list()) {
      onDisk.set(blob.digest.value, blob.size);
      bytesOnDisk += blob.size;
    }
    const reclaimable = await this.deps.reclaimable();
    const byRepository = await blobsByRepository(await index.manifestDocs(), this.deps.manifests);
    const used = sharing(byRepository, (digest) => onDisk.get(digest) ?? null);
    const repositories = [...used.repositories.values()].sort((a, b) => b.totalBytes - a.totalBytes || (a.name < b.name ? -1 : 1));
    const cached = this.deps.cached ?? (() => false);
    for (const repo of repositories) if (cached(repo.name)) repo.cached = true;
    return {
      dataDir,
      bytesOnDisk,
      blobCount: onDisk.size,
      referencedBytes: used.referencedBytes,
      unreferencedBytes: bytesOnDisk - used.referencedBytes,
      sharedBytes: used.sharedBytes,
      reclaimableByGcBytes: reclaimable.nowBytes,
      reclaimableAfterGraceBytes: reclaimable.afterGraceBytes,
      gcGraceSeconds: reclaimable.graceSeconds,
      cachedBytes: cachedOnly(byRepository, cached, (digest) => onDisk.get(digest) ?? null),
      volume: await volume(dataDir),
      storage: { driver: storage.driver, location: storage.description, ...(await this.deps.countObjects()) },
      repositories,
    };
  }
}

/** Bytes of the stored blobs that only cache repositories use (a blob a pushed image uses too is pushed). */
export function cachedOnly(byRepository: Map<string, Map<string, number>>, cached: (repository: string) => boolean, sizeOf: (digest: string) => number | null): number {
  const pushed = new Set<string>();
  const fromCache = new Set<string>();
  for (const [repo, blobs] of byRepository) {
    for (const digest of blobs.keys()) (cached(repo) ? fromCache : pushed).add(digest);
  }
  let bytes = 0;
  for (const digest of fromCache) if (!pushed.has(digest)) bytes += sizeOf(digest) ?? 0;
  return bytes;
}
