/**
 * What the manifests of a cache repository reference: every blob (manifests, configs, layers, with the
 * sizes their descriptors give) and the platforms of its indexes. The index (metadata/) keeps a
 * manifest's config only; the rest is read from the stored manifests (kept in memory by the manifest
 * service's cache). A cache repository holds a handful of manifests.
 */
import type { MetadataIndex } from '../metadata/index-db.ts';
import type { ManifestService } from '../registry/manifests.ts';
import { tryParseDigest } from '../registry/reference.ts';

export interface CacheContents {
  /** digest -> size, for each manifest, config and layer. */
  blobs: Map<string, number>;
  /** Manifests listed by an index of the repository (its platforms). */
  platforms: Set<string>;
  /** digest -> the manifest's media type and total size, for each manifest. */
  manifests: Map<string, { mediaType: string; totalSize: number }>;
}

export async function cacheContents(index: MetadataIndex, service: ManifestService, repo: string): Promise<CacheContents> {
  const out: CacheContents = { blobs: new Map(), platforms: new Set(), manifests: new Map() };
  for (const doc of await index.manifestDocs(repo)) {
    out.manifests.set(doc.digest, { mediaType: doc.mediaType, totalSize: doc.totalSize });
    out.blobs.set(doc.digest, doc.size);
    if (doc.config) out.blobs.set(doc.config.digest, doc.config.size);
    const digest = tryParseDigest(doc.digest);
    if (!digest) continue;
    try {
      const { manifest } = await service.parseStored(repo, digest, doc.mediaType);
      for (const layer of manifest.layers) out.blobs.set(layer.digest.value, layer.size);
      for (const child of manifest.manifests) out.platforms.add(child.digest.value);
    } catch {
      // Unreadable: the scrub reports it; what it references is not counted here.
    }
  }
  return out;
}
