/**
 * Repositories as the UI sees them: the list with sizes (searched and sorted here, so ten thousand
 * repositories never travel to the browser at once), one repository with its tags, and deleting a
 * repository, a tag or a manifest. Sizes come from the metadata index; the per-repository usage is
 * computed once and kept until an event changes what repositories hold.
 */
import type { ManifestDoc, MetadataIndex, RepositoryDoc } from '../metadata/index-db.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type {
  DeleteResult,
  ManifestKind,
  ManifestRow,
  RepositoryDetail,
  RepositoryList,
  RepositorySort,
  RepositorySummary,
  TagRow,
} from './api-types.ts';
import { RegistryError } from './errors.ts';
import type { RegistryEventName, RegistryEvents } from './events.ts';
import type { ManifestService } from './manifests.ts';
import type { DeletedRepository } from './repository-delete.ts';
import { isImageConfigMediaType, isIndexMediaType } from './media-types.ts';
import { isValidTag, parseDigest, parseName, truncate, tryParseDigest } from './reference.ts';
import { blobsByRepository, sharing, type StoredManifests } from './usage.ts';
import type { RepositoryUsage } from './api-types.ts';

export interface RepositoryQuery {
  /** Case-insensitive substring of the name. */
  q?: string;
  sort: RepositorySort;
  order: 'asc' | 'desc';
  limit: number;
  offset: number;
}

/** What blobs are removed by garbage collection, not by deletes: said with every delete. */
export const DELETE_NOTE = 'tags and manifest links are removed; the blobs stay on disk until garbage collection frees those no image uses';

/** Events after which the cached counts and usage no longer hold. */
const STATS_EVENTS: RegistryEventName[] = ['manifest-pushed', 'manifest-deleted', 'tag-deleted', 'repository-deleted'];

interface Stats {
  usage: Map<string, RepositoryUsage>;
  tagCounts: Map<string, number>;
  manifestCounts: Map<string, number>;
}

export interface RepositoryServiceDeps {
  index: MetadataIndex;
  repositories: RepositoryStore;
  manifests: ManifestService;
  events: RegistryEvents;
  /** The one repository delete, shared with the storage lifecycle (registry/repository-delete.ts). */
  deleteRepository(name: string): Promise<DeletedRepository>;
}

export class RepositoryService {
  private readonly deps: RepositoryServiceDeps;
  private stats: Promise<Stats> | null = null;

  constructor(deps: RepositoryServiceDeps) {
    this.deps = deps;
    for (const name of STATS_EVENTS) deps.events.on(name, () => (this.stats = null));
  }

  async list(query: RepositoryQuery): Promise<RepositoryList> {
    const [docs, { tagCounts, manifestCounts, usage }] = await Promise.all([this.deps.index.repositoryDocs(), this.repositoryStats()]);
    const needle = query.q?.trim().toLowerCase();
    const matching = needle ? docs.filter((d) => d.name.includes(needle)) : docs;
    const rows = matching.map((doc) => summary(doc, tagCounts.get(doc.name) ?? 0, manifestCounts.get(doc.name) ?? 0, usage.get(doc.name)));
    rows.sort(comparator(query.sort, query.order));
    return { matched: rows.length, total: docs.length, repositories: rows.slice(query.offset, query.offset + query.limit) };
  }

  async get(name: string): Promise<RepositoryDetail> {
    const { index } = this.deps;
    const [doc] = await index.repositoryDocs(parseName(name));
    if (!doc) throw unknownRepository(name);
    const [tags, manifests, { usage }] = await Promise.all([index.tagDocs(name), index.manifestDocs(name), this.repositoryStats()]);
    const byDigest = new Map(manifests.map((m) => [m.digest, m]));
    const tagRows: TagRow[] = [];
    for (const tag of tags) {
      const manifest = byDigest.get(tag.digest);
      if (manifest) tagRows.push({ ...manifestRow(manifest), tag: tag.tag, taggedAt: tag.pushedAt.toISOString() });
    }
    tagRows.sort((a, b) => b.taggedAt.localeCompare(a.taggedAt) || (a.tag < b.tag ? -1 : 1));
    const tagged = new Set(tags.map((t) => t.digest));
    const children = await childDigests(manifests, this.deps.manifests);
    const untagged = manifests
      .filter((m) => !tagged.has(m.digest) && !children.has(m.digest) && !m.subject)
      .map(manifestRow)
      .sort((a, b) => b.pushedAt.localeCompare(a.pushedAt));
    return { ...summary(doc, tags.length, manifests.length, usage.get(name)), tags: tagRows, untagged };
  }

  /** Removes every tag, manifest link and layer link of the repository (registry/repository-delete.ts). */
  async delete(name: string): Promise<DeleteResult> {
    return { ...(await this.deps.deleteRepository(name)), note: DELETE_NOTE };
  }

  /** Untags: the manifest stays (listed as untagged) until deleted itself. */
  async deleteTag(name: string, tag: string): Promise<DeleteResult> {
    parseName(name);
    if (!isValidTag(tag)) {
      throw new RegistryError('TAG_INVALID', { message: `"${truncate(tag, 150)}" is not a valid tag`, detail: { tag: truncate(tag, 150) } });
    }
    await this.deps.manifests.delete(name, tag);
    return { repository: name, tags: [tag], manifests: 0, layers: 0, note: DELETE_NOTE };
  }

  /** Deletes a manifest by digest with every tag pointing to it. */
  async deleteManifest(name: string, digest: string): Promise<DeleteResult> {
    parseName(name);
    const parsed = parseDigest(digest);
    const tags = (await this.deps.index.tagDocs(name, parsed.value)).map((t) => t.tag).sort();
    await this.deps.manifests.delete(name, parsed.value);
    return { repository: name, tags, manifests: 1, layers: 0, note: DELETE_NOTE };
  }

  // ---- internals ------------------------------------------------------------------------------

  private repositoryStats(): Promise<Stats> {
    if (!this.stats) {
      const { index } = this.deps;
      const computing = Promise.all([index.manifestDocs(), index.tagDocs()]).then(async ([manifests, tags]) => ({
        usage: sharing(await blobsByRepository(manifests, this.deps.manifests), (_, size) => size).repositories,
        tagCounts: countBy(tags, (t) => t.repo),
        manifestCounts: countBy(manifests, (m) => m.repo),
      }));
      computing.catch(() => {
        if (this.stats === computing) this.stats = null;
      });
      this.stats = computing;
    }
    return this.stats;
  }
}

/** An index, an image (its config is an image config), or an artifact (anything else). */
export function manifestKind(mediaType: string, artifactType: string | undefined, configMediaType: string | undefined): ManifestKind {
  if (isIndexMediaType(mediaType)) return artifactType ? 'artifact' : 'index';
  if (artifactType || (configMediaType !== undefined && !isImageConfigMediaType(configMediaType))) return 'artifact';
  return 'image';
}

/** Platforms an image or index runs on; attestations (unknown/unknown) are not platforms. */
export function manifestPlatforms(doc: Pick<ManifestDoc, 'platform' | 'platforms'>): string[] {
  const all = doc.platform ? [doc.platform] : (doc.platforms ?? []);
  return [...new Set(all.filter((p) => p !== 'unknown/unknown'))];
}

/**
 * The digests the indexes among `docs` list as children, read from the indexes themselves (the
 * metadata index does not hold them: see index-db.ts). An index that cannot be read lists none.
 */
export async function childDigests(docs: readonly ManifestDoc[], manifests: StoredManifests): Promise<Set<string>> {
  const children = new Set<string>();
  for (const doc of docs) {
    const digest = tryParseDigest(doc.digest);
    if (!isIndexMediaType(doc.mediaType) || doc.descriptorCount === 0 || !digest) continue;
    try {
      for (const child of (await manifests.parseStored(doc.repo, digest, doc.mediaType)).manifest.manifests) children.add(child.digest.value);
    } catch {
      // Unreadable (scrub says so): its children show as untagged rather than not at all.
    }
  }
  return children;
}

function manifestRow(doc: ManifestDoc): ManifestRow {
  return {
    digest: doc.digest,
    mediaType: doc.mediaType,
    kind: manifestKind(doc.mediaType, doc.artifactType, doc.config?.mediaType),
    artifactType: doc.artifactType ?? null,
    size: doc.totalSize,
    platforms: manifestPlatforms(doc),
    created: doc.created ?? null,
    pushedAt: doc.pushedAt.toISOString(),
  };
}

function summary(doc: RepositoryDoc, tagCount: number, manifestCount: number, usage: RepositoryUsage | undefined): RepositorySummary {
  return {
    name: doc.name,
    tagCount,
    manifestCount,
    totalSize: usage?.totalBytes ?? 0,
    uniqueSize: usage?.uniqueBytes ?? 0,
    sharedSize: usage?.sharedBytes ?? 0,
    createdAt: doc.createdAt.toISOString(),
    lastPushAt: doc.lastPushAt ? doc.lastPushAt.toISOString() : null,
  };
}

function comparator(sort: RepositorySort, order: 'asc' | 'desc'): (a: RepositorySummary, b: RepositorySummary) => number {
  const byName = (a: RepositorySummary, b: RepositorySummary) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const key = sort === 'size'
    ? (a: RepositorySummary, b: RepositorySummary) => a.totalSize - b.totalSize
    : sort === 'pushed'
      // Never pushed sorts as the oldest.
      ? (a: RepositorySummary, b: RepositorySummary) => (a.lastPushAt ?? '').localeCompare(b.lastPushAt ?? '')
      : byName;
  const sign = order === 'desc' ? -1 : 1;
  return (a, b) => sign * key(a, b) || byName(a, b);
}

function countBy<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function unknownRepository(name: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', { message: `repository ${name} is not known to this registry`, detail: { name } });
}

