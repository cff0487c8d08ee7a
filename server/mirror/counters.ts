/**
 * Per-upstream counters of the pull-through cache: hits (answered from the cache, or from a fill another
 * request started), misses (fetched from the upstream), bytes served from the cache and fetched, stale
 * serves, upstream errors, and the last RateLimit-Remaining. Counted in memory on the request path and
 * written to the store (metadata/mirror-db.ts) every few seconds and on close, so they survive restarts.
 */
import { emptyCounters, type CounterTotals, type MirrorStore } from '../metadata/mirror-db.ts';

type NumericCounter = 'hits' | 'misses' | 'bytesFromCache' | 'bytesFetched' | 'staleServes' | 'upstreamErrors';

const FLUSH_MS = 10_000;

export class MirrorCounters {
  private readonly store: MirrorStore;
  private readonly now: () => number;
  private totals = new Map<string, CounterTotals>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(store: MirrorStore, now: () => number) {
    this.store = store;
    this.now = now;
  }

  async open(): Promise<void> {
    this.totals = await this.store.counters();
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  of(upstream: string): CounterTotals {
    let totals = this.totals.get(upstream);
    if (!totals) this.totals.set(upstream, (totals = emptyCounters()));
    return totals;
  }

  add(upstream: string, counter: NumericCounter, amount = 1): void {
    if (amount === 0) return;
    this.of(upstream)[counter] += amount;
    this.dirty.add(upstream);
  }

  rateLimit(upstream: string, remaining: number): void {
    const totals = this.of(upstream);
    totals.rateLimitRemaining = remaining;
    totals.rateLimitAt = new Date(this.now());
    this.dirty.add(upstream);
  }

  /** Every upstream's totals (a copy). */
  snapshot(): Map<string, CounterTotals> {
    return new Map([...this.totals].map(([name, t]) => [name, { ...t }]));
  }

  /** Forgets an upstream that was removed. */
  async forget(upstream: string): Promise<void> {
    this.totals.delete(upstream);
    this.dirty.delete(upstream);
    await this.store.removeCounters(upstream);
  }

  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const names = [...this.dirty];
      this.dirty.clear();
      for (const name of names) {
        const totals = this.totals.get(name);
        if (totals) await this.store.saveCounters(name, { ...totals });
      }
    }).catch(() => undefined);
    return this.writing;
  }
}
