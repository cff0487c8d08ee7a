/**
 * Listings from the metadata index (OCI Distribution Spec v1.1, "Content discovery"): tags and the
 * catalog in lexical order with n/last pagination, and the referrers of a subject.
 */
import type { ManifestDoc, MetadataIndex } from '../metadata/index-db.ts';
import { RegistryError } from './errors.ts';
import { OCI_INDEX } from './media-types.ts';
import { tryParseDigest, type Digest } from './reference.ts';
import type { StoredManifests } from './usage.ts';

export interface Page {
  items: string[];
  /** Present when more items follow: the `last` value for the next page. */
  next?: string;
}

export interface PageRequest {
  /** Page size; undefined lists everything. */
  n?: number;
  /** List only items after this one. */
  last?: string;
}

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ListingServiceDeps {
  index: MetadataIndex;
  /** For a referrer whose annotations are too large for the index (index-db.ts): read from the manifest. */
  manifests: StoredManifests;
}

export class ListingService {
  private readonly deps: ListingServiceDeps;

  constructor(deps: ListingServiceDeps) {
    this.deps = deps;
  }

  async tags(repo: string, page: PageRequest): Promise<Page> {
    const { index } = this.deps;
    if (!(await index.hasRepository(repo))) {
      throw new RegistryError('NAME_UNKNOWN', { message: `repository ${repo} is not known to this registry`, detail: { name: repo } });
    }
    return paginate(await index.tagNames(repo), page);
  }

  async catalog(page: PageRequest): Promise<Page> {
    return paginate(await this.deps.index.repositoryNames(), page);
  }

  /**
   * Manifests in `repo` whose subject is `subject` (spec "Listing Referrers"): artifactType is the
   * manifest's, or for an image manifest without one its config's media type; annotations are the
   * manifest's own. An unknown subject has no referrers: an empty list, never 404.
   */
  async referrers(repo: string, subject: Digest, artifactType?: string): Promise<ReferrerDescriptor[]> {
    const docs = await this.deps.index.referrers(repo, subject.value);
    docs.sort((a, b) => a.pushedAt.getTime() - b.pushedAt.getTime() || (a.digest < b.digest ? -1 : 1));
    const descriptors = await Promise.all(docs.map((doc) => this.referrerDescriptor(doc)));
    return artifactType === undefined ? descriptors : descriptors.filter((d) => d.artifactType === artifactType);
  }

  private async referrerDescriptor(doc: ManifestDoc): Promise<ReferrerDescriptor> {
    const descriptor: ReferrerDescriptor = { mediaType: doc.mediaType, digest: doc.digest, size: doc.size };
    const artifactType = doc.artifactType ?? doc.config?.mediaType;
    if (artifactType) descriptor.artifactType = artifactType;
    const annotations = await annotationsOf(doc, this.deps.manifests);
    if (annotations) descriptor.annotations = annotations;
    return descriptor;
  }
}

export const REFERRERS_MEDIA_TYPE = OCI_INDEX;

async function annotationsOf(doc: ManifestDoc, manifests: StoredManifests): Promise<Record<string, string> | undefined> {
  if (doc.annotations) return JSON.parse(doc.annotations) as Record<string, string>;
  const digest = tryParseDigest(doc.digest);
  if (!doc.annotationsInManifest || !digest) return undefined;
  try {
    return (await manifests.parseStored(doc.repo, digest, doc.mediaType)).manifest.annotations;
  } catch {
    return undefined; // unreadable (see scrub): listed without its annotations
  }
}



/** Lexically sorted items after `last`, at most `n` of them. */
export function paginate(sorted: readonly string[], { n, last }: PageRequest): Page {
  let start = 0;
  if (last !== undefined) {
    // First index whose item sorts after `last` (binary search: the list is sorted).
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! <= last) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  if (n === undefined) return { items: sorted.slice(start) };
  const items = sorted.slice(start, start + n);
  return start + n < sorted.length && n > 0 ? { items, next: items[items.length - 1]! } : { items };
}
