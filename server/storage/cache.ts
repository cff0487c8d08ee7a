/**
 * Caches in front of the files. lru-cache preallocates storage for `max` entries up front (tens of
 * megabytes for the counts we allow), so the bound is expressed as a size of one per entry instead:
 * memory then grows with what is actually cached.
 */
import { LRUCache } from 'lru-cache';

/** What the stores use of a cache. */
export interface EntryCache<V> {
  has(key: string): boolean;
  get(key: string): V | undefined;
  set(key: string, value: V): unknown;
  delete(key: string): boolean;
  keys(): IterableIterator<string>;
}

/**
 * `ttlMs`: an entry is trusted that long, then looked up again. For a store other processes change
 * (the replicas of a cluster, issue 16): another replica may move a tag or collect a link or a blob,
 * and this one must not go on answering from what it saw. Writers that check what exists under their
 * locks ask the store itself (`fresh`), so a stale entry can only delay what a reader sees by ttlMs.
 */
export function entryCache<V extends {}>(entries: number, ttlMs?: number): EntryCache<V> {
  return new LRUCache<string, V>({ maxSize: entries, sizeCalculation: () => 1, ...(ttlMs !== undefined ? { ttl: ttlMs } : {}) });
}
