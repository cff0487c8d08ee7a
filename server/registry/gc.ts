/**
 * Online garbage collection: mark and sweep over the files (storage/paths.ts), safe while pushes run.
 *
 * Mark, per repository:
 *   roots   every tagged manifest; every other manifest too, unless untagged manifests are being
 *           removed; and always any manifest pushed within the grace window.
 *   closure from each kept manifest: an index's child manifests, an image's config and layers, and every
 *           manifest whose `subject` is kept (referrers: signatures, SBOMs — OCI Distribution Spec v1.1,
 *           "Listing Referrers"), repeated until nothing new is kept. So removing untagged manifests
 *           never removes the children of a tagged index (a multi-arch image keeps all its platforms),
 *           nor the referrers of anything kept.
 * Sweep, in an order that keeps the registry consistent if it is killed at any point:
 *   1. manifest links (revisions) that are not kept: untagged manifests, only when asked for;
 *   2. layer links no kept manifest of the repository uses and no push touched within the grace window
 *      (blobs uploaded but never referenced, layers of deleted manifests), made durable before step 3;
 *   3. blob files no remaining link names and no kept manifest references, older than the grace window;
 *   4. repositories left with nothing at all (folder and index entry).
 * A blob is deleted only after every link to it is gone, and a tag's manifest is never unlinked, so a
 * crash between any two steps leaves at worst garbage for the next run — never a reference to
 * something deleted. Every removal takes the digest's lock and re-checks it is not in use
 * (link-guard.ts): a push that links a blob between mark and sweep keeps it.
 * Open upload sessions are never swept: their bytes live under uploads/ (upload purging's business,
 * purge-uploads.ts), and completing one adopts the file into blobs/ and links it under the digest's
 * lock, so the collector cannot fall between the two.
 *
 * The dry run computes the same plan and stops there: it reports exactly what the real run on the same
 * state removes, down to the byte.
 */
import type { Logger } from 'pino';
import type { IndexStore } from '../metadata/index-store.ts';
import type { RunProgress } from '../metadata/maintenance-db.ts';
import type { GcBlobRef, GcManifestRef, GcReport, GcSkipped } from './api-types.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { RegistryEvents } from './events.ts';
import type { Collection, LinkGuard } from './link-guard.ts';
import type { ParsedManifest } from './manifest.ts';
import type { ManifestService } from './manifests.ts';
import { tryParseDigest, type Digest } from './reference.ts';

export interface GcOptions {
  dryRun: boolean;
  /** Also remove manifests no tag reaches (never children of a kept index, nor referrers of kept manifests). */
  untagged: boolean;
  /** Blobs, links and manifests younger than this are kept: pushes in progress (default 1 h). */
  graceMs: number;
}

// The report's shapes are part of the management API (the UI shows them): they live in api-types.ts.
export type { GcBlobRef, GcManifestRef, GcReport, GcSkipped } from './api-types.ts';

/** Each list in a report holds at most this many entries (the counts are always exact). */
export const LIST_LIMIT = 10_000;

interface Plan {
  manifests: GcManifestRef[];
  layerLinks: GcManifestRef[];
  blobs: GcBlobRef[];
  repositories: string[];
  scanned: GcReport['scanned'];
  kept: GcReport['kept'];
  protected: GcReport['protected'];
  warnings: string[];
}

export interface GarbageCollectorDeps {
  blobs: BlobStore;
  repositories: RepositoryStore;
  index: IndexStore;
  manifests: ManifestService;
  guard: LinkGuard;
  events: RegistryEvents;
  log: Logger;
}

/**
 * Told the progress between steps. It may return a promise: the run then waits there, which is how a
 * test steps in between the mark and a removal to play a push that races the collector.
 */
export type ProgressListener = (progress: RunProgress) => void | Promise<void>;

export class GarbageCollector {
  private readonly deps: GarbageCollectorDeps;

  constructor(deps: GarbageCollectorDeps) {
    this.deps = deps;
  }

  /**
   * `signal` stops the run between two steps (Berth is stopping); every step leaves the registry
   * consistent, so stopping anywhere is safe.
   */
  async collect(options: GcOptions, onProgress: ProgressListener = () => undefined, signal?: AbortSignal): Promise<GcReport> {
    const collection = await this.deps.guard.beginCollection();
    const progress: ProgressListener = async (p) => {
      signal?.throwIfAborted();
      await onProgress(p);
    };
    try {
      const plan = await this.plan(options, collection, progress);
      if (options.dryRun) return report(options, plan, plan, plan.blobs.reduce((sum, b) => sum + b.size, 0), []);
      return await this.sweep(options, plan, collection, progress, signal);
    } finally {
      await collection.end();
    }
  }

  // ---- mark -----------------------------------------------------------------------------------

  private async plan(options: GcOptions, collection: Collection, onProgress: ProgressListener): Promise<Plan> {
    const { repositories, blobs, manifests: manifestService } = this.deps;
    const cutoff = collection.startedAt - options.graceMs;
    const plan: Plan = {
      manifests: [],
      layerLinks: [],
      blobs: [],
      repositories: [],
      scanned: { repositories: 0, manifests: 0, blobs: 0, bytes: 0 },
      kept: { blobs: 0, bytes: 0 },
      protected: { blobs: 0, bytes: 0 },
      warnings: [],
    };
    /** Digests kept manifests use (as manifests, configs or layers): kept whatever their age. */
    const referenced = new Set<string>();
    /** Digests whose only remaining links are younger than the grace window: pushes in progress. */
    const recentlyLinked = new Set<string>();

    const names = await repositories.listRepositories();
    plan.scanned.repositories = names.length;
    for (const [i, repo] of names.entries()) {
      await onProgress({ phase: 'marking repositories', done: i, total: names.length });
      const [tags, revisions, links] = await Promise.all([
        repositories.listTags(repo),
        repositories.listManifests(repo),
        repositories.listLayerLinks(repo),
      ]);
      plan.scanned.manifests += revisions.length;

      // Two passes over the manifests, so a repository's parsed manifests are never all held at
      // once (one can list tens of thousands of descriptors): the first learns which manifests
      // exist, are readable, and which refer to which subject; the second walks from the roots,
      // reading each kept manifest again (the body cache makes that cheap) and keeping only digests.
      const readable = new Map<string, string>();
      const unreadable = new Set<string>();
      const referrersOf = new Map<string, string[]>();
      for (const revision of revisions) {
        try {
          const { manifest } = await manifestService.parseStored(repo, revision.digest, revision.mediaType);
          readable.set(revision.digest.value, revision.mediaType);
          if (manifest.subject) {
            const list = referrersOf.get(manifest.subject.digest.value) ?? [];
            list.push(revision.digest.value);
            referrersOf.set(manifest.subject.digest.value, list);
          }
        } catch {
          unreadable.add(revision.digest.value);
        }
      }
      // A tag whose revision link a crash cut off (commitTagged) keeps its manifest, which the index
      // rebuild links back: read as the media type it names.
      const unlinked = new Set<string>();
      for (const tag of tags) {
        const digest = tag.digest.value;
        if (readable.has(digest) || unreadable.has(digest) || unlinked.has(digest)) continue;
        try {
          readable.set(digest, (await manifestService.parseStored(repo, tag.digest, undefined)).manifest.mediaType);
          unlinked.add(digest);
        } catch {
          // Its content is gone too: nothing to keep.
        }
      }
      const known = (digest: string) => readable.has(digest) || unreadable.has(digest);

      const roots = new Set<string>(tags.map((t) => t.digest.value));
      for (const revision of revisions) {
        const recent = revision.pushedAt.getTime() >= cutoff || (await collection.inUse(revision.digest.value, options.graceMs));
        if (!options.untagged || recent) roots.add(revision.digest.value);
      }
      const keptManifests = new Set<string>();
      const keptBlobs = new Set<string>();
      let unreadableKept = false;
      const queue = [...roots].filter(known);
      while (queue.length > 0) {
        const digest = queue.pop()!;
        if (keptManifests.has(digest)) continue;
        keptManifests.add(digest);
        let manifest: ParsedManifest | null = null;
        const mediaType = readable.get(digest);
        if (mediaType !== undefined) {
          try {
            manifest = (await manifestService.parseStored(repo, digestOf(digest), mediaType)).manifest;
          } catch {
            manifest = null; // gone since the first pass (scrub quarantined it): as unreadable
          }
        }
        for (const referrer of referrersOf.get(digest) ?? []) queue.push(referrer);
        if (manifest === null) {
          unreadableKept = true;
          continue;
        }
        for (const child of manifest.manifests) if (known(child.digest.value)) queue.push(child.digest.value);
        if (manifest.config) keptBlobs.add(manifest.config.digest.value);
        for (const layer of manifest.layers) keptBlobs.add(layer.digest.value);
      }
      if (unreadableKept) {
        // A kept manifest whose content cannot be read (missing or corrupt: see scrub) may use any
        // layer of its repository: keep them all rather than guess.
        plan.warnings.push(`${repo}: a kept manifest could not be read, so all of the repository's layers are kept (run "berth scrub")`);
        for (const link of links) keptBlobs.add(link.digest.value);
      }

      let remaining = tags.length;
      for (const revision of revisions) {
        if (keptManifests.has(revision.digest.value)) {
          referenced.add(revision.digest.value);
          remaining++;
        } else {
          plan.manifests.push({ repository: repo, digest: revision.digest.value });
        }
      }
      for (const digest of unlinked) referenced.add(digest);
      for (const digest of keptBlobs) referenced.add(digest);
      for (const link of links) {
        const inUse = link.linkedAt.getTime() >= cutoff || (await collection.inUse(link.digest.value, options.graceMs));
        if (keptBlobs.has(link.digest.value) || inUse) {
          if (!keptBlobs.has(link.digest.value)) recentlyLinked.add(link.digest.value);
          remaining++;
        } else {
          plan.layerLinks.push({ repository: repo, digest: link.digest.value });
        }
      }
      if (remaining === 0) plan.repositories.push(repo);
    }

    await onProgress({ phase: 'scanning blobs', done: 0, total: 0 });
    const files = await blobs.list();
    plan.scanned.blobs = files.length;
    for (const file of files) {
      plan.scanned.bytes += file.size;
      if (referenced.has(file.digest.value)) {
        plan.kept.blobs++;
        plan.kept.bytes += file.size;
      } else if (recentlyLinked.has(file.digest.value) || file.modifiedAt.getTime() >= cutoff || (await collection.inUse(file.digest.value, options.graceMs))) {
        plan.protected.blobs++;
        plan.protected.bytes += file.size;
      } else {
        plan.blobs.push({ digest: file.digest.value, size: file.size });
      }
    }
    sortPlan(plan);
    return plan;
  }

  // ---- sweep ----------------------------------------------------------------------------------

  private async sweep(options: GcOptions, plan: Plan, collection: Collection, onProgress: ProgressListener, signal?: AbortSignal): Promise<GcReport> {
    const { repositories, blobs, index, manifests, guard, events, log } = this.deps;
    const cutoff = collection.startedAt - options.graceMs;
    const done: Plan = { ...plan, manifests: [], layerLinks: [], blobs: [], repositories: [] };
    const skipped: GcSkipped[] = [];
    const inUse = (digest: string) => collection.inUse(digest, options.graceMs);
    let bytesFreed = 0;

    // 1. Untagged manifests: their links, then their index entries.
    for (const [i, ref] of plan.manifests.entries()) {
      await onProgress({ phase: 'removing untagged manifests', done: i, total: plan.manifests.length });
      await guard.removing(ref.digest, async () => {
        if (await inUse(ref.digest)) {
          skipped.push({ what: 'manifest', ...ref, reason: 'pushed again during the collection' });
          return;
        }
        await repositories.unlinkManifest(ref.repository, digestOf(ref.digest));
        await index.removeManifest(ref.repository, ref.digest);
        done.manifests.push(ref);
        events.emit('manifest-deleted', { repository: ref.repository, digest: ref.digest });
      });
    }

    // 2. Layer links nothing kept uses (unlinkLayer makes each removal durable before step 3).
    for (const [i, ref] of plan.layerLinks.entries()) {
      if (i % 100 === 0) await onProgress({ phase: 'removing unused layer links', done: i, total: plan.layerLinks.length });
      signal?.throwIfAborted();
      await guard.removing(ref.digest, async () => {
        if (await inUse(ref.digest)) {
          skipped.push({ what: 'layer-link', ...ref, reason: 'linked again during the collection' });
          return;
        }
        await repositories.unlinkLayer(ref.repository, digestOf(ref.digest));
        done.layerLinks.push(ref);
      });
    }

    // 3. Blob files: re-checked under the digest's lock right before each deletion.
    for (const [i, ref] of plan.blobs.entries()) {
      if (i % 100 === 0) await onProgress({ phase: 'deleting blobs', done: i, total: plan.blobs.length });
      signal?.throwIfAborted();
      await guard.removing(ref.digest, async () => {
        const digest = digestOf(ref.digest);
        if (await inUse(ref.digest)) {
          skipped.push({ what: 'blob', digest: ref.digest, reason: 'used by a push during the collection' });
          return;
        }
        const file = await blobs.file(digest);
        if (!file) {
          skipped.push({ what: 'blob', digest: ref.digest, reason: 'already gone' });
          return;
        }
        if (file.modifiedAt.getTime() >= cutoff) {
          skipped.push({ what: 'blob', digest: ref.digest, reason: 'written again during the collection' });
          return;
        }
        if (await blobs.remove(digest)) {
          manifests.evict(ref.digest);
          events.emit('blob-freed', { digest: ref.digest });
          bytesFreed += file.size;
          done.blobs.push({ digest: ref.digest, size: file.size });
        }
      });
    }

    // 4. Repositories with nothing left: checked again on disk under the repository's lock, which
    //    every push takes to write a link.
    for (const repo of plan.repositories) {
      await onProgress({ phase: 'removing empty repositories', done: done.repositories.length, total: plan.repositories.length });
      await guard.withRepository(repo, async () => {
        const [tags, revisions, links] = await Promise.all([
          repositories.listTags(repo),
          repositories.listManifests(repo),
          repositories.listLayers(repo),
        ]);
        if (tags.length + revisions.length + links.length > 0 || !(await repositories.removeIfEmpty(repo))) {
          skipped.push({ what: 'repository', repository: repo, reason: 'pushed to during the collection' });
          return;
        }
        await index.removeRepository(repo);
        done.repositories.push(repo);
      });
    }
    await onProgress({ phase: 'done', done: 1, total: 1 });
    if (skipped.length > 0) log.info({ skipped: skipped.length }, 'garbage collection: some removals were skipped because pushes used them');
    return report(options, plan, done, bytesFreed, skipped);
  }
}

/** Digests in a plan came from file names that passed tryParseDigest when listed. */
function digestOf(value: string): Digest {
  return tryParseDigest(value)!;
}

function sortPlan(plan: Plan): void {
  const byRepoDigest = (a: GcManifestRef, b: GcManifestRef) => (a.repository + '\0' + a.digest < b.repository + '\0' + b.digest ? -1 : 1);
  plan.manifests.sort(byRepoDigest);
  plan.layerLinks.sort(byRepoDigest);
  plan.blobs.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  plan.repositories.sort();
}

function report(options: GcOptions, plan: Plan, done: Pick<Plan, 'manifests' | 'layerLinks' | 'blobs' | 'repositories'>, bytesFreed: number, skipped: GcSkipped[]): GcReport {
  const truncated = [done.manifests, done.layerLinks, done.blobs, done.repositories].some((l) => l.length > LIST_LIMIT);
  return {
    dryRun: options.dryRun,
    untagged: options.untagged,
    graceSeconds: Math.round(options.graceMs / 1000),
    bytesFreed,
    removed: {
      manifests: done.manifests.slice(0, LIST_LIMIT),
      layerLinks: done.layerLinks.slice(0, LIST_LIMIT),
      blobs: done.blobs.slice(0, LIST_LIMIT),
      repositories: done.repositories.slice(0, LIST_LIMIT),
    },
    counts: {
      manifests: done.manifests.length,
      layerLinks: done.layerLinks.length,
      blobs: done.blobs.length,
      repositories: done.repositories.length,
    },
    truncated,
    scanned: plan.scanned,
    kept: plan.kept,
    protected: plan.protected,
    skipped: skipped.slice(0, LIST_LIMIT),
    warnings: plan.warnings,
  };
}
