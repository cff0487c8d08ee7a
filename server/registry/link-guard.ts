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
 * Lock order is always digests (sorted) before repository before tag, and the collector holds one
 * lock at a time, so no two parties can wait on each other in a cycle.
 *
 * One server keeps all of this in its memory (the data directory has a single owner, storage/lock.ts).
 * Replicas of a cluster (issue 16) take the same locks in PostgreSQL (metadata/postgres/cluster-locks.ts)
 * and share their uses (metadata/postgres/blob-uses.ts): a writer records the digests it used before it
 * releases their locks, so a collector on another replica that takes a lock after it sees the use; a
 * client's question about a blob is written behind, within a second, and a collection waits that long
 * after announcing itself, so what replicas noted before it began is seen too.
 */
import { LRUCache } from 'lru-cache';
import { LocalLocks, type Locks, type SharedUses } from '../metadata/locks.ts';

/** How many recently used digests are remembered across collections (one number each). */
const RECENT_USES = 100_000;

export interface Collection {
  /** When the collection started (its clock). */
  readonly startedAt: number;
  /**
   * Whether a writer holds this digest now, or a writer or a client used it since the collection
   * started or within `graceMs` before: such a digest may be about to be referenced and must not be removed.
   */
  inUse(digest: string, graceMs: number): Promise<boolean>;
  end(): Promise<void>;
}

export interface LinkGuardOptions {
  /** The locks (default: this process's); a cluster's are shared by every replica. */
  locks?: Locks;
  /** The uses of the other replicas of a cluster; absent for one server. */
  shared?: SharedUses | null;
}

export class LinkGuard {
  private readonly locks: Locks;
  private readonly shared: SharedUses | null;
  private readonly now: () => number;
  /** Digest -> last use time: best effort (bounded), protects uses from just before a collection. */
  // A size bound of one per entry: lru-cache preallocates for `max`, which would hold memory from the start.
  private readonly recent = new LRUCache<string, number>({ maxSize: RECENT_USES, sizeCalculation: () => 1 });
  /** Every digest used while a collection runs: unbounded, so no use during one is ever forgotten. */
  private readonly usedDuring = new Set<string>();
  /** Digests writers hold or wait for now, with how many writers do. */
  private readonly held = new Map<string, number>();
  private collections = 0;

  constructor(now: () => number = Date.now, options: LinkGuardOptions = {}) {
    this.now = now;
    this.locks = options.locks ?? new LocalLocks();
    this.shared = options.shared ?? null;
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
      return await this.locks.withLocks(unique.map((d) => `digest:${d}`), async () => {
        for (const digest of unique) this.touchLocally(digest);
        try {
          return await work();
        } finally {
          // Before the locks go: a collector on another replica that takes one next sees this use.
          await this.shared?.record(unique);
        }
      });
    } finally {
      for (const digest of unique) {
        const writers = this.held.get(digest)! - 1;
        if (writers === 0) this.held.delete(digest);
        else this.held.set(digest, writers);
        this.touchLocally(digest);
      }
    }
  }

  /** The collector's side: runs `work` holding one digest's lock, without counting it as a use. */
  async removing<T>(digest: string, work: () => Promise<T>): Promise<T> {
    return this.locks.withLocks([`digest:${digest}`], work);
  }

  /** Runs `work` holding the lock of one repository (link writes, folder removal). */
  async withRepository<T>(repo: string, work: () => Promise<T>): Promise<T> {
    return this.locks.withLocks([`repository:${repo}`], work);
  }

  /** Runs `work` holding the lock of one tag: writes to a tag reach storage and the index in one order. */
  async withTag<T>(repo: string, tag: string, work: () => Promise<T>): Promise<T> {
    return this.locks.withLocks([`tag:${repo}:${tag}`], work);
  }

  /** Notes that a client asked about this digest: it may reference it soon. */
  touch(digest: string): void {
    this.touchLocally(digest);
    this.shared?.note(digest);
  }

  private touchLocally(digest: string): void {
    this.recent.set(digest, this.now());
    if (this.collections > 0) this.usedDuring.add(digest);
  }

  async beginCollection(): Promise<Collection> {
    const announced = await this.shared?.beginCollection();
    this.collections += 1;
    const startedAt = this.now();
    let ended = false;
    const shared = this.shared;
    return {
      startedAt,
      inUse: async (digest, graceMs) =>
        this.held.has(digest) || this.usedDuring.has(digest) || (this.recent.get(digest) ?? -Infinity) >= startedAt - graceMs ||
        (shared !== null && (await shared.usedSince(digest, startedAt - graceMs))),
      end: async () => {
        if (ended) return;
        ended = true;
        this.collections -= 1;
        if (this.collections === 0) this.usedDuring.clear();
        await announced?.end();
      },
    };
  }
}
