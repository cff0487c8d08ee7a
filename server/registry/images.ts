/**
 * One manifest as the UI shows it: an image (config, layers, what the config says), an index (each
 * platform), or an artifact; with its tags, the indexes that list it, its referrers (signatures,
 * SBOMs) and the exact stored bytes. Read from storage, the truth; the index adds push times and totals.
 */
import type { ManifestDoc, MetadataIndex } from '../metadata/index-db.ts';
import type { BlobReader } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { DescriptorView, ImageDetail, PlatformView } from './api-types.ts';
import { imageConfigView } from './image-config.ts';
import type { ListingService } from './listings.ts';
import type { Descriptor } from './manifest.ts';
import { platformLabel } from './manifest.ts';
import { readableReference, type ManifestService } from './manifests.ts';
import { isImageConfigMediaType } from './media-types.ts';
import { parseName } from './reference.ts';
import { childDigests, manifestKind } from './repositories.ts';

/**
 * Configs are read whole to be shown. Real ones are a few KiB (history grows them); 8 MiB leaves room
 * for the largest seen while bounding what one request can make us hold.
 */
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export interface ImageServiceDeps {
  manifests: ManifestService;
  blobs: BlobReader;
  repositories: RepositoryStore;
  index: MetadataIndex;
  listings: ListingService;
}

export class ImageService {
  private readonly deps: ImageServiceDeps;

  constructor(deps: ImageServiceDeps) {
    this.deps = deps;
  }

  async get(repo: string, reference: string): Promise<ImageDetail> {
    const { manifests, index, listings } = this.deps;
    parseName(repo);
    const { digest, mediaType } = await manifests.resolve(repo, readableReference(reference));
    const { manifest, bytes } = await manifests.parseStored(repo, digest, mediaType);
    const [doc, tags, siblings, referrers] = await Promise.all([
      index.manifest(repo, digest.value),
      index.tagDocs(repo, digest.value),
      index.manifestDocs(repo),
      listings.referrers(repo, digest),
    ]);
    const config = manifest.config ?? null;
    const detail: ImageDetail = {
      repository: repo,
      digest: digest.value,
      mediaType,
      kind: manifestKind(mediaType, manifest.artifactType, config?.mediaType),
      artifactType: manifest.artifactType ?? null,
      manifestSize: bytes.length,
      totalSize: doc?.totalSize ?? (config ? config.size + manifest.layers.reduce((sum, d) => sum + d.size, 0) : 0),
      pushedAt: doc ? doc.pushedAt.toISOString() : null,
      tags: tags.map((t) => t.tag).sort(),
      annotations: manifest.annotations ?? {},
      subject: manifest.subject ? view(manifest.subject) : null,
      parents: await this.parents(siblings, digest.value),
      platforms: await Promise.all(manifest.manifests.map((d) => this.platform(repo, d))),
      config: config ? view(config) : null,
      layers: manifest.layers.map(view),
      image: config ? await this.imageConfig(config) : null,
      created: doc?.created ?? null,
      referrers,
      raw: bytes.toString('utf8'),
    };
    return detail;
  }

  /** The indexes of the repository that list `digest` as a child, read from the indexes themselves. */
  private async parents(siblings: readonly ManifestDoc[], digest: string): Promise<string[]> {
    const parents: string[] = [];
    for (const doc of siblings) {
      if ((await childDigests([doc], this.deps.manifests)).has(digest)) parents.push(doc.digest);
    }
    return parents;
  }

  private async platform(repo: string, d: Descriptor): Promise<PlatformView> {
    const present = (await this.deps.repositories.manifestMediaType(repo, d.digest)) !== null;
    const label = d.platform ? platformLabel(d.platform) : null;
    return {
      ...view(d),
      platform: label,
      // buildx lists provenance and SBOM manifests as unknown/unknown with this annotation.
      attestation: label === 'unknown/unknown' || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest',
      present,
      totalSize: present ? ((await this.deps.index.manifest(repo, d.digest.value))?.totalSize ?? null) : null,
    };
  }

  private async imageConfig(config: Descriptor): Promise<ImageDetail['image']> {
    if (!isImageConfigMediaType(config.mediaType)) return null;
    const bytes = await this.deps.blobs.read(config.digest, MAX_CONFIG_BYTES);
    if (!bytes) return null;
    try {
      return imageConfigView(JSON.parse(bytes.toString('utf8')));
    } catch {
      return null; // not JSON: shown as a config blob without details
    }
  }
}

function view(d: Descriptor): DescriptorView {
  return {
    digest: d.digest.value,
    mediaType: d.mediaType,
    size: d.size,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
    ...(d.urls ? { urls: d.urls } : {}),
  };
}
