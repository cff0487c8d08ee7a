/**
 * Layer listings by blob digest: read once by a worker (worker-pool.ts), then kept as derived state
 * (storage/derived-store.ts) for as long as the blob exists; blobs are immutable, so a listing never
 * goes stale. Garbage collection announces the blobs it frees ('blob-freed') and their listings go too.
 *
 * Concurrent requests for the same layer share one read. A layer that cannot be read (corrupt,
 * truncated, too large) is remembered in memory only, for a while, so a page that asks again does not
 * read a gigabyte again, and a fixed Berth (or a re-pushed blob) reads it afresh after a restart.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { LayerListingStore } from '../../storage/derived-store.ts';
import type { RegistryEvents } from '../events.ts';
import type { LayerEntry, LayerListingView } from '../inspect-types.ts';
import { tryParseDigest, type Digest } from '../reference.ts';
import { LayerReadError } from './archive.ts';
import type { LayerWorkers } from './worker-pool.ts';

/** Bumped when the stored shape changes: older files are read again. */
const FORMAT = 1;
/** Listings held parsed in memory, counted in entries (a few hundred bytes each). */
const MEMORY_ENTRIES = 1_000_000;
/** How long a failed read is remembered. */
const FAILURE_TTL_MS = 10 * 60_000;

interface Stored extends LayerListingView {
  v: number;
}

export interface LayerIndexDeps {
  workers: LayerWorkers;
  store: LayerListingStore;
  events: RegistryEvents;
  log: Logger;
  /** A blob's stored size (BlobStatter.stat). */
  sizeOf(digest: Digest): Promise<number | null>;
}

export class LayerIndex {
  private readonly deps: LayerIndexDeps;
  private readonly memory = new LRUCache<string, LayerListingView>({ maxSize: MEMORY_ENTRIES, sizeCalculation: (l) => Math.max(1, l.entries.length) });
  private readonly failures = new LRUCache<string, LayerReadError>({ max: 1000, ttl: FAILURE_TTL_MS });
  private readonly reading = new Map<string, Promise<LayerListingView>>();
  private readonly off: () => void;

  constructor(deps: LayerIndexDeps) {
    this.deps = deps;
    this.off = deps.events.on('blob-freed', ({ digest }) => {
      const parsed = tryParseDigest(digest);
      if (parsed) void this.forget(parsed);
    });
  }

  /** The listing of a layer blob; throws LayerReadError when it cannot be read. */
  async listing(digest: Digest): Promise<LayerListingView> {
    const key = digest.value;
    const cached = this.memory.get(key);
    if (cached) return cached;
    const failed = this.failures.get(key);
    if (failed) throw failed;
    let pending = this.reading.get(key);
    if (!pending) {
      pending = this.load(digest).finally(() => this.reading.delete(key));
      this.reading.set(key, pending);
    }
    return pending;
  }

  /** Drops a blob's listing (its blob was freed). */
  async forget(digest: Digest): Promise<void> {
    this.memory.delete(digest.value);
    this.failures.delete(digest.value);
    await this.deps.store.remove(digest).catch((err) => this.deps.log.warn({ err, digest: digest.value }, 'removing a layer listing failed'));
  }

  close(): void {
    this.off();
  }

  private async load(digest: Digest): Promise<LayerListingView> {
    const { store, workers, log } = this.deps;
    const text = await store.get(digest);
    if (text) {
      try {
        const stored = JSON.parse(text) as Stored;
        if (stored.v === FORMAT && stored.digest === digest.value) {
          const { v: _v, ...view } = stored;
          this.memory.set(digest.value, view);
          return view;
        }
      } catch {
        // unreadable: listed again below
      }
    }
    const started = Date.now();
    try {
      const listed = await workers.list(digest);
      const view: LayerListingView = {
        digest: digest.value,
        compression: listed.compression,
        compressedSize: 0,
        uncompressedSize: listed.uncompressedSize,
        diffId: listed.diffId,
        entries: listed.entries,
        rejected: listed.rejected,
      };
      view.compressedSize = (await this.deps.sizeOf(digest)) ?? 0;
      this.memory.set(digest.value, view);
      const stored: Stored = { v: FORMAT, ...view };
      await store.put(digest, JSON.stringify(stored)).catch((err) => log.warn({ err, digest: digest.value }, 'could not keep a layer listing'));
      log.info({ digest: digest.value, entries: view.entries.length, ms: Date.now() - started }, 'layer listed');
      return view;
    } catch (err) {
      const failure = err instanceof LayerReadError ? err : new LayerReadError('CORRUPT', (err as Error).message);
      // Cancelled reads and missing blobs are not facts about the layer's bytes.
      if (failure.code !== 'ABORTED' && failure.code !== 'NOT_FOUND') this.failures.set(digest.value, failure);
      throw failure;
    }
  }
}

/** Regular files (not hard links: they share another entry's bytes) a listing adds, in bytes. */
export function addedBytes(entries: readonly LayerEntry[]): number {
  let sum = 0;
  for (const e of entries) if (e.type === 'file') sum += e.size;
  return sum;
}
