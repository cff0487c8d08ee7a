/**
 * Caches in front of the files. lru-cache preallocates storage for `max` entries up front (tens of
 * megabytes for the counts we allow), so the bound is expressed as a size of one per entry instead:
 * memory then grows with what is actually cached.
 */
import { LRUCache } from 'lru-cache';

export function entryCache<V extends {}>(entries: number): LRUCache<string, V> {
  return new LRUCache<string, V>({ maxSize: entries, sizeCalculation: () => 1 });
}
