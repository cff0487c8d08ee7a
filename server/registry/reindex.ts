/**
 * Rebuilds the metadata index from the files on disk (the truth): every repository, its manifests
 * (summarised exactly as a push would) and its tags. Summaries of manifests the old index still holds
 * are reused: a manifest never changes under its digest.
 */
import type { Logger } from 'pino';
import type { ManifestDoc, IndexStore, RepositoryDoc, TagDoc } from '../metadata/index-store.ts';
import { manifestId, tagId } from '../metadata/index-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { RebuildStats } from './api-types.ts';
import type { ManifestService } from './manifests.ts';
import { isIndexMediaType } from './media-types.ts';

// Part of the management API (the UI shows it): it lives in api-types.ts.
export type { RebuildStats } from './api-types.ts';

export interface ReindexDeps {
  repositories: RepositoryStore;
  manifests: ManifestService;
  index: IndexStore;
  log: Logger;
}

export async function rebuildIndex({ repositories, manifests, index, log }: ReindexDeps): Promise<RebuildStats> {
  const started = Date.now();
  const previous = await index.allManifests().catch(() => new Map<string, ManifestDoc>());
  const repositoryDocs: RepositoryDoc[] = [];
  const tagDocs: TagDoc[] = [];
  const manifestDocs = new Map<string, ManifestDoc>();
  let skipped = 0;

  for (const repo of await repositories.listRepositories()) {
    const revisions = await repositories.listManifests(repo);
    // Images before indexes, so an index's total can use its children's.
    revisions.sort((a, b) => Number(isIndexMediaType(a.mediaType)) - Number(isIndexMediaType(b.mediaType)));
    for (const revision of revisions) {
      const id = manifestId(repo, revision.digest.value);
      const known = previous.get(id);
      if (known && known.mediaType === revision.mediaType) {
        manifestDocs.set(id, { ...known, pushedAt: revision.pushedAt });
        continue;
      }
      try {
        const { manifest, bytes } = await manifests.parseStored(repo, revision.digest, revision.mediaType);
        const summary = await manifests.summarize(manifest, bytes.length, async (child) => manifestDocs.get(manifestId(repo, child)));
        manifestDocs.set(id, { ...summary, _id: id, repo, digest: revision.digest.value, pushedAt: revision.pushedAt });
      } catch (err) {
        skipped += 1;
        log.warn({ repo, digest: revision.digest.value, err: (err as Error).message }, 'reindex: manifest skipped');
      }
    }
    let lastPushAt: Date | null = null;
    let createdAt: Date | null = null;
    const consider = (d: Date) => {
      if (!lastPushAt || d > lastPushAt) lastPushAt = d;
      if (!createdAt || d < createdAt) createdAt = d;
    };
    for (const revision of revisions) consider(revision.pushedAt);
    const linked = new Set(revisions.map((r) => r.digest.value));
    for (const tag of await repositories.listTags(repo)) {
      const id = manifestId(repo, tag.digest.value);
      if (!linked.has(tag.digest.value)) {
        // A push cut short by a crash can leave its tag without its revision link (commitTagged);
        // its manifest and the blobs it needs were durable before either moved: the link is put back.
        linked.add(tag.digest.value);
        try {
          const { manifest, bytes } = await manifests.parseStored(repo, tag.digest, undefined);
          const pushedAt = await repositories.linkManifest(repo, tag.digest, manifest.mediaType);
          const summary = await manifests.summarize(manifest, bytes.length, async (child) => manifestDocs.get(manifestId(repo, child)));
          manifestDocs.set(id, { ...summary, _id: id, repo, digest: tag.digest.value, pushedAt });
          consider(pushedAt);
          log.warn({ repo, tag: tag.tag, digest: tag.digest.value }, 'reindex: the link of a tagged manifest was missing (a push cut short); put back');
        } catch (err) {
          log.warn({ repo, tag: tag.tag, digest: tag.digest.value, err: (err as Error).message }, 'reindex: the manifest a tag names cannot be linked back');
        }
      }
      if (!manifestDocs.has(id)) {
        skipped += 1;
        log.warn({ repo, tag: tag.tag, digest: tag.digest.value }, 'reindex: tag points to a manifest the repository does not hold');
        continue;
      }
      tagDocs.push({ _id: tagId(repo, tag.tag), repo, tag: tag.tag, digest: tag.digest.value, pushedAt: tag.pushedAt });
      consider(tag.pushedAt);
    }
    repositoryDocs.push({ _id: repo, name: repo, createdAt: createdAt ?? new Date(), lastPushAt });
  }

  await index.replaceAll({ repositories: repositoryDocs, tags: tagDocs, manifests: [...manifestDocs.values()] });
  return {
    repositories: repositoryDocs.length,
    manifests: manifestDocs.size,
    tags: tagDocs.length,
    skipped,
    ms: Date.now() - started,
  };
}
