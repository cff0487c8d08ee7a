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
 * `enabled` false: a cache that keeps nothing. For a store that other processes change (the replicas
 * of a cluster, issue 16): one replica cannot know that another moved a tag or that its collection
 * removed a link or a blob, so every lookup asks the store.
 */
export function entryCache<V extends {}>(entries: number, enabled = true): EntryCache<V> {
  if (!enabled) return NO_CACHE as EntryCache<V>;
  return new LRUCache<string, V>({ maxSize: entries, sizeCalculation: () => 1 });
}

const NO_CACHE: EntryCache<never> = {
  has: () => false,
  get: () => undefined,
  set: () => undefined,
  delete: () => false,
  keys: () => [][Symbol.iterator](),
};
