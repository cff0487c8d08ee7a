/**
 * Keeps online garbage collection and repository deletion safe while pushes run.
 *
 * The writers that create references to blobs — completing an upload, mounting a blob, pushing a
 * manifest — and the lifecycle code that removes them — garbage collection, repository delete — meet
 * here:
 *
 *   - Per-digest locks. A writer holds the lock of every digest it is about to reference (the blob it
 *     links, a manifest's config, layers and child manifests, the manifest itself) from its check that
 *     they exist until its links are on disk. The collector takes the same lock around each single
 *     removal and re-checks under it. So either the collector removed the blob first and the writer's
 *     own check then fails cleanly (MANIFEST_BLOB_UNKNOWN, or a fresh upload), or the writer linked it
 *     first and the collector sees that and keeps it: a blob linked again between mark and sweep is
 *     never deleted.
 *   - Per-repository locks, taken by a writer only around its link writes and by whoever removes a
 *     whole repository folder, so a push never writes a link into a folder being removed.
 *   - A record of use. Every digest a writer locks, and every blob a client asks about (HEAD before a
 *     push), is noted with its time. A collection treats a digest used since it started — or within
 *     its grace window before — as in use, which carries the mark-time picture forward to the moment
 *     of each removal.
 *   - Writers in flight. A digest counts as in use from the moment a writer asks for its lock until
 *     the writer is done, and the writer's release is a use again. A push that took its locks before
 *     a collection began and writes its links after the mark (so the mark never saw them) therefore
 *     keeps everything it references even with a grace of 0: while it runs its digests are held, and
 *     when it ends the collection sees them used since it started.
 *
 * Lock order is always digests (sorted) before repository, and the collector holds one lock at a
 * time, so no two parties can wait on each other in a cycle. Everything is in-process: the data
 * directory has a single owner (storage/lock.ts), and the CLI works through that owner when it runs.
 */
import AsyncLock from 'async-lock';
import { LRUCache } from 'lru-cache';

/** How many recently used digests are remembered across collections (one number each). */
const RECENT_USES = 100_000;

export interface Collection {
  /** When the collection started (its clock). */
  readonly startedAt: number;
  /**
   * Whether a writer holds this digest now, or a writer or a client used it since the collection
   * started or within `graceMs` before: such a digest may be about to be referenced and must not be removed.
   */
  inUse(digest: string, graceMs: number): boolean;
  end(): void;
}

export class LinkGuard {
  private readonly locks = new AsyncLock({ maxPending: Infinity });
  private readonly now: () => number;
  /** Digest -> last use time: best effort (bounded), protects uses from just before a collection. */
  // A size bound of one per entry: lru-cache preallocates for `max`, which would hold memory from the start.
  private readonly recent = new LRUCache<string, number>({ maxSize: RECENT_USES, sizeCalculation: () => 1 });
  /** Every digest used while a collection runs: unbounded, so no use during one is ever forgotten. */
  private readonly usedDuring = new Set<string>();
  /** Digests writers hold or wait for now, with how many writers do. */
  private readonly held = new Map<string, number>();
  private collections = 0;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /**
   * Runs `work` holding the locks of these digests. They are in use from this call on (while waiting
   * for the locks too) until `work` is done, and used again at its end (see the top).
   */
  async withDigests<T>(digests: Iterable<string>, work: () => Promise<T>): Promise<T> {
    const unique = [...new Set(digests)].sort();
    if (unique.length === 0) return work();
    for (const digest of unique) this.held.set(digest, (this.held.get(digest) ?? 0) + 1);
    try {
      return await this.locks.acquire(unique.map((d) => `digest:${d}`), async () => {
        for (const digest of unique) this.touch(digest);
        return work();
      });
    } finally {
      for (const digest of unique) {
        const writers = this.held.get(digest)! - 1;
        if (writers === 0) this.held.delete(digest);
        else this.held.set(digest, writers);
        this.touch(digest);
      }
    }
  }

  /** The collector's side: runs `work` holding one digest's lock, without counting it as a use. */
  async removing<T>(digest: string, work: () => Promise<T>): Promise<T> {
    return this.locks.acquire(`digest:${digest}`, work);
  }

  /** Runs `work` holding the lock of one repository (link writes, folder removal). */
  async withRepository<T>(repo: string, work: () => Promise<T>): Promise<T> {
    return this.locks.acquire(`repository:${repo}`, work);
  }

  /** Notes that a client asked about this digest: it may reference it soon. */
  touch(digest: string): void {
    this.recent.set(digest, this.now());
    if (this.collections > 0) this.usedDuring.add(digest);
  }

  beginCollection(): Collection {
    this.collections += 1;
    const startedAt = this.now();
    let ended = false;
    return {
      startedAt,
      inUse: (digest, graceMs) =>
        this.held.has(digest) || this.usedDuring.has(digest) || (this.recent.get(digest) ?? -Infinity) >= startedAt - graceMs,
      end: () => {
        if (ended) return;
        ended = true;
        this.collections -= 1;
        if (this.collections === 0) this.usedDuring.clear();
      },
    };
  }
}
