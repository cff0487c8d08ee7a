/**
 * Locks that keep the registry's writers and its lifecycle work apart (registry/link-guard.ts, tag
 * writes, maintenance runs). One server holds them in memory (LocalLocks); replicas of a cluster hold
 * them in PostgreSQL as advisory locks (postgres/cluster-locks.ts), so a push on one replica and a
 * collection or a repository delete on another exclude each other exactly as they do in one process.
 */
import AsyncLock from 'async-lock';

export interface Locks {
  /**
   * Runs `work` holding the locks of `keys` (each taken in one fixed order, so two callers never
   * wait on each other in a cycle). A caller holding locks may take more inside `work`, always of a
   * later kind: digests, then a repository, then a tag.
   */
  withLocks<T>(keys: readonly string[], work: () => Promise<T>): Promise<T>;
}

/** The locks of one process. */
export class LocalLocks implements Locks {
  private readonly locks = new AsyncLock({ maxPending: Infinity });

  withLocks<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    if (keys.length === 0) return work();
    return this.locks.acquire([...new Set(keys)].sort(), work);
  }
}

/**
 * What the replicas of a cluster tell each other about blob uses (postgres/blob-uses.ts), so that a
 * collection on one replica sees the pushes of all (link-guard.ts explains what a use is).
 */
export interface SharedUses {
  /** Records uses now: a writer does it before it releases its locks. */
  record(digests: readonly string[]): Promise<void>;
  /** Notes a use (a client asked about a blob), written behind within a second. */
  note(digest: string): void;
  /**
   * Announces a collection to every replica and returns once their uses noted before are recorded;
   * end() withdraws it.
   */
  beginCollection(): Promise<{ end(): Promise<void> }>;
  /** Whether any replica used this digest at or after `since` (ms since the epoch). */
  usedSince(digest: string, since: number): Promise<boolean>;
}
