/**
 * Integrity scrub: re-hashes every blob file (manifests are blobs too) and checks that every tag,
 * manifest and link points to content that is there. A file whose bytes do not match its digest is
 * moved to quarantine/ (storage/paths.ts) under the digest's lock, so from then on the registry answers
 * 404 for it (and a client can push it again) instead of serving wrong bytes; everything else keeps
 * serving throughout, since files are only read.
 */
import type { BlobStore } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { RunProgress } from '../metadata/maintenance-db.ts';
import type { CorruptBlob, ScrubReport } from './api-types.ts';
import { digestFromHash, newHash } from './digester.ts';
import type { LinkGuard } from './link-guard.ts';
import type { ManifestService } from './manifests.ts';
import type { Digest } from './reference.ts';

// The report's shapes are part of the management API (the UI shows them): they live in api-types.ts.
export type { CorruptBlob, MissingContent, ScrubReport } from './api-types.ts';

export interface ScrubberDeps {
  blobs: BlobStore;
  repositories: RepositoryStore;
  manifests: ManifestService;
  guard: LinkGuard;
  now?: () => Date;
  /**
   * Repositories whose content arrives when a client asks for it (the pull-through cache's, mirror/):
   * blobs and platforms their manifests name but nobody pulled yet are not missing.
   */
  fetchedOnDemand?: (repository: string) => boolean;
}

/** Reported problems per list, at most (a badly damaged store would otherwise make a huge report). */
const REPORT_LIMIT = 10_000;

export class Scrubber {
  private readonly deps: ScrubberDeps;

  constructor(deps: ScrubberDeps) {
    this.deps = deps;
  }

  /** `signal` stops the scrub between two files (Berth is stopping). */
  async scrub(onProgress: (progress: RunProgress) => void = () => undefined, signal?: AbortSignal): Promise<ScrubReport> {
    const { blobs, guard, manifests } = this.deps;
    const now = this.deps.now ?? (() => new Date());
    const report: ScrubReport = {
      checked: { blobs: 0, bytes: 0, repositories: 0, manifests: 0, tags: 0 },
      corrupt: [],
      missing: [],
      clean: true,
    };

    const files = await blobs.list();
    const total = files.reduce((sum, f) => sum + f.size, 0);
    let hashed = 0;
    for (const file of files) {
      signal?.throwIfAborted();
      onProgress({ phase: 'verifying blobs', done: hashed, total });
      const actual = await this.hash(file.digest);
      hashed += file.size;
      if (actual === null) continue; // deleted meanwhile: nothing to check
      report.checked.blobs++;
      report.checked.bytes += file.size;
      if (actual === file.digest.value) continue;
      const quarantinedTo = await guard.removing(file.digest.value, () => blobs.quarantine(file.digest, now()));
      manifests.evict(file.digest.value);
      report.corrupt.push({ digest: file.digest.value, size: file.size, actual, quarantinedTo, usedBy: [] });
    }

    onProgress({ phase: 'checking references', done: 0, total: 0 });
    const usedBy = await this.checkReferences(report);
    for (const corrupt of report.corrupt) corrupt.usedBy = usedBy.get(corrupt.digest) ?? [];
    report.corrupt = report.corrupt.slice(0, REPORT_LIMIT);
    report.missing = report.missing.slice(0, REPORT_LIMIT);
    report.clean = report.corrupt.length === 0 && report.missing.length === 0;
    onProgress({ phase: 'done', done: 1, total: 1 });
    return report;
  }

  /** The digest of the file's bytes, or null when the file is gone. */
  private async hash(digest: Digest): Promise<string | null> {
    const hash = newHash(digest.algorithm);
    if (!(await this.deps.blobs.hashFile(digest, hash))) return null;
    return digestFromHash(digest.algorithm, hash).value;
  }

  /**
   * Every tag names a manifest the repository holds; every manifest's content is stored and readable;
   * its config and layers are stored and linked in the repository; an index's children are held;
   * every layer link names a stored blob. Returns who uses each digest.
   */
  private async checkReferences(report: ScrubReport): Promise<Map<string, CorruptBlob['usedBy']>> {
    const { repositories, blobs, manifests } = this.deps;
    const usedBy = new Map<string, CorruptBlob['usedBy']>();
    const use = (digest: string, repository: string, as: 'manifest' | 'layer') => {
      const list = usedBy.get(digest) ?? [];
      if (!list.some((u) => u.repository === repository && u.as === as)) list.push({ repository, as });
      usedBy.set(digest, list);
    };
    const missing = (repository: string, reference: string, digest: string, problem: string) =>
      report.missing.push({ repository, reference, digest, problem });
    // From the disk, not the caches: the scrub is there to find what the caches cannot know.
    const stored = async (digest: Digest) => (await blobs.file(digest)) !== null;

    for (const repo of await repositories.listRepositories()) {
      report.checked.repositories++;
      const lazy = this.deps.fetchedOnDemand?.(repo) ?? false;
      const revisions = await repositories.listManifests(repo);
      const held = new Set(revisions.map((r) => r.digest.value));
      for (const tag of await repositories.listTags(repo)) {
        report.checked.tags++;
        if (!held.has(tag.digest.value)) missing(repo, tag.tag, tag.digest.value, 'the tag names a manifest the repository does not hold');
      }
      for (const revision of revisions) {
        report.checked.manifests++;
        const reference = revision.digest.value;
        use(reference, repo, 'manifest');
        if (!(await stored(revision.digest))) {
          missing(repo, reference, reference, 'the manifest content is missing');
          continue;
        }
        let parsed;
        try {
          parsed = (await manifests.parseStored(repo, revision.digest, revision.mediaType)).manifest;
        } catch {
          missing(repo, reference, reference, 'the manifest content cannot be read');
          continue;
        }
        for (const d of [...(parsed.config ? [parsed.config] : []), ...parsed.layers]) {
          use(d.digest.value, repo, 'layer');
          if (d.urls || lazy) continue; // non-distributable, or cached on demand: need not be here
          if (!(await stored(d.digest))) missing(repo, reference, d.digest.value, 'a blob of the manifest is missing');
          else if (!(await repositories.hasLayer(repo, d.digest))) missing(repo, reference, d.digest.value, 'a blob of the manifest is not linked in the repository');
        }
        for (const child of parsed.manifests) {
          if (!lazy && !held.has(child.digest.value)) missing(repo, reference, child.digest.value, 'a child manifest of the index is not in the repository');
        }
      }
      for (const digest of await repositories.listLayers(repo)) {
        use(digest.value, repo, 'layer');
        if (!(await stored(digest))) missing(repo, digest.value, digest.value, 'a layer link names a blob that is not stored');
      }
    }
    return usedBy;
  }
}
