/**
 * Caches in front of the files. lru-cache preallocates storage for `max` entries up front (tens of
 * megabytes for the counts we allow), so the bound is expressed as a size of one per entry instead:
 * memory then grows with what is actually cached.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';

/** What the stores use of a cache. */
export interface EntryCache<V> {
  has(key: string): boolean;
  get(key: string): V | undefined;
  /** `seenAt` (cacheClock()): when the store was asked, before the answer came (entries with a ttl age from then). */
  set(key: string, value: V, seenAt?: number): unknown;
  delete(key: string): boolean;
  keys(): IterableIterator<string>;
}

/** The clock of entries' ages and of StoreChanges: monotonic, in milliseconds. */
export const cacheClock = (): number => performance.now();

/**
 * `ttlMs`: an entry is trusted that long from when the store was asked, then looked up again. For a
 * store other processes change (the replicas of a cluster, issue 16): another replica may move a tag or
 * collect a link or a blob, and this one must not go on answering from what it saw. Writers that check
 * what exists under their locks ask the store itself (`fresh`); a replica that removes or moves
 * something answers only once every entry cached before has expired (StoreChanges).
 */
export function entryCache<V extends {}>(entries: number, ttlMs?: number): EntryCache<V> {
  if (ttlMs === undefined) {
    const lru = new LRUCache<string, V>({ maxSize: entries, sizeCalculation: () => 1 });
    return { has: (k) => lru.has(k), get: (k) => lru.get(k), set: (k, v) => lru.set(k, v), delete: (k) => lru.delete(k), keys: () => lru.keys() };
  }
  const lru = new LRUCache<string, { value: V; until: number }>({ maxSize: entries, sizeCalculation: () => 1 });
  const get = (key: string): V | undefined => {
    const entry = lru.get(key);
    if (!entry) return undefined;
    if (cacheClock() < entry.until) return entry.value;
    lru.delete(key);
    return undefined;
  };
  return {
    has: (key) => get(key) !== undefined,
    get,
    set(key, value, seenAt = cacheClock()) {
      const until = seenAt + ttlMs;
      if (until > cacheClock()) lru.set(key, { value, until });
    },
    delete: (key) => lru.delete(key),
    keys: () => lru.keys(),
  };
}

/**
 * Read-your-writes across the replicas of a cluster: each replica trusts what it saw of the shared
 * store for `ttlMs` (entryCache), so after this one removed a link, a blob or a tag, or moved a tag,
 * another one may still answer from its cache until then. A request that changed the store is
 * answered only after that (the HTTP layer awaits settled()), so once a client has the answer to its
 * DELETE or its tag move, no replica serves what was there before. Costs a write that removes or moves
 * up to ttlMs; adds, the common case (pushes), change nothing a cache holds and never wait.
 */
export class StoreChanges {
  private last = -Infinity;
  constructor(private readonly ttlMs: number) {}

  now(): number {
    return cacheClock();
  }

  /** Something another replica may hold in its cache is no longer true (called once the store took it). */
  changed(): void {
    this.last = cacheClock();
  }

  /** Resolves once what any replica cached before the changes made since `since` has expired. */
  async settled(since: number): Promise<void> {
    if (this.last < since) return;
    const wait = this.last + this.ttlMs - cacheClock();
    if (wait > 0) await sleep(wait);
  }
}
