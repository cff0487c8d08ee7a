/**
 * Expiry of the pull-through cache: tags (and manifests pulled by digest) nobody pulled for the
 * upstream's keep period are dropped, with every manifest of the cache repository no kept reference
 * reaches (an index's platforms with it); a repository left with nothing is deleted. The bytes stay
 * until the next garbage collection, which frees the blobs and layer links nothing references any more
 * (registry/gc.ts), exactly as for a deleted tag of a pushed image.
 * A reference's last use is recorded by mirror/manifests.ts; one never recorded counts from its fetch.
 */
import type { MirrorStore } from '../metadata/mirror-db.ts';
import type { MirrorExpiryReport } from '../registry/api-types.ts';
import { isRegistryError } from '../registry/errors.ts';
import type { ManifestService } from '../registry/manifests.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { Upstream } from './upstreams.ts';

export interface ExpiryDeps {
  store: MirrorStore;
  repositories: RepositoryStore;
  manifests: ManifestService;
  deleteRepository(name: string): Promise<unknown>;
}

/** The cache repositories of an upstream (every repository under its name). */
export async function cacheRepositories(repositories: RepositoryStore, upstream: string): Promise<string[]> {
  return (await repositories.listRepositories()).filter((r) => r.startsWith(`${upstream}/`));
}

export async function expireUpstream(deps: ExpiryDeps, upstream: Upstream, now: number, report: MirrorExpiryReport): Promise<void> {
  const { store, repositories, manifests } = deps;
  const cutoff = now - upstream.keepMs;
  const refs = await store.cachedRefs(upstream.name);
  for (const repo of await cacheRepositories(repositories, upstream.name)) {
    const used = new Map(refs.filter((r) => r.repository === repo).map((r) => [r.reference, r.usedAt.getTime()]));
    const dropped: string[] = [];
    const roots = new Set<string>();
    for (const tag of await repositories.listTags(repo)) {
      if ((used.get(tag.tag) ?? tag.pushedAt.getTime()) >= cutoff) {
        roots.add(tag.digest.value);
        continue;
      }
      if (await manifests.untagIfAt(repo, tag.tag, tag.digest.value)) dropped.push(tag.tag);
    }
    const revisions = await repositories.listManifests(repo);
    for (const revision of revisions) {
      const lastUse = used.get(revision.digest.value) ?? revision.pushedAt.getTime();
      if (lastUse >= cutoff) roots.add(revision.digest.value);
    }
    // What the kept references reach: an index keeps its platforms.
    const kept = new Set<string>();
    const queue = [...roots];
    for (let digest = queue.pop(); digest !== undefined; digest = queue.pop()) {
      if (kept.has(digest)) continue;
      kept.add(digest);
      const revision = revisions.find((r) => r.digest.value === digest);
      if (!revision) continue;
      try {
        const { manifest } = await manifests.parseStored(repo, revision.digest, revision.mediaType);
        for (const child of manifest.manifests) queue.push(child.digest.value);
      } catch {
        // unreadable: kept as it is; the scrub reports it
      }
    }
    for (const revision of revisions) {
      if (!kept.has(revision.digest.value) && used.has(revision.digest.value)) dropped.push(revision.digest.value);
    }
    if (kept.size === 0 && revisions.length > 0) {
      await deps.deleteRepository(repo).catch((err: unknown) => {
        if (!isRegistryError(err) || err.code !== 'NAME_UNKNOWN') throw err;
      });
      report.repositories.push(repo);
      report.manifests += revisions.length;
    } else {
      for (const revision of revisions) {
        if (kept.has(revision.digest.value)) continue;
        try {
          await manifests.delete(repo, revision.digest.value);
          report.manifests += 1;
        } catch (err) {
          if (!isRegistryError(err) || (err.code !== 'MANIFEST_UNKNOWN' && err.code !== 'NAME_UNKNOWN')) throw err;
        }
      }
    }
    if (dropped.length > 0) {
      await store.removeCachedRefs({ repository: repo, references: dropped });
      for (const reference of dropped) report.dropped.push({ upstream: upstream.name, repository: repo, reference });
    }
  }
}
