/**
 * Layer listings by blob digest: read once by a worker (worker-pool.ts), streamed as they are parsed
 * into derived state (storage/derived-store.ts), kept for as long as the blob exists; blobs are
 * immutable, so a listing never goes stale. Garbage collection announces the blobs it frees
 * ('blob-freed') and their listings go too.
 *
 * No listing is ever held whole in memory: the worker hands entries over in batches that go straight
 * to the file, and readers get them back a line at a time. Memory holds only summaries (counts,
 * DiffID, a few hundred bytes each).
 *
 * Concurrent requests for the same layer share one read. A layer that cannot be read (corrupt,
 * truncated, too large) is remembered in memory only, for a while, so a page that asks again does not
 * read a gigabyte again, and a fixed Berth (or a re-pushed blob) reads it afresh after a restart.
 *
 * The stored file: one LayerEntry as JSON a line, in archive order, then a last line
 * {"v":FORMAT,"summary":LayerSummary}. A file without that line (or of another FORMAT) is read again.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { LayerListingStore } from '../../storage/derived-store.ts';
import type { RegistryEvents } from '../events.ts';
import type { LayerEntry, LayerSummary } from '../inspect-types.ts';
import { tryParseDigest, type Digest } from '../reference.ts';
import { LayerReadError } from './archive.ts';
import type { LayerWorkers } from './worker-pool.ts';

/** Bumped when the stored shape changes: older files are read again. 2: JSON lines and a summary line. */
const FORMAT = 2;
/** Summaries kept in memory (a few hundred bytes each). */
const SUMMARIES = 20_000;
/** How long a failed read is remembered. */
const FAILURE_TTL_MS = 10 * 60_000;
/** A summary line starts so; an entry line starts with {"path": (JSON.stringify keeps key order). */
const SUMMARY_PREFIX = '{"v":';
const SUMMARY_BYTES = Buffer.from(SUMMARY_PREFIX);
const NEWLINE = 0x0a;
const COMMA = 0x2c;

interface SummaryLine {
  v: number;
  summary: LayerSummary;
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
  private readonly summaries = new LRUCache<string, LayerSummary>({ max: SUMMARIES });
  private readonly failures = new LRUCache<string, LayerReadError>({ max: 1000, ttl: FAILURE_TTL_MS });
  private readonly reading = new Map<string, Promise<LayerSummary>>();
  private readonly off: () => void;

  constructor(deps: LayerIndexDeps) {
    this.deps = deps;
    this.off = deps.events.on('blob-freed', ({ digest }) => {
      const parsed = tryParseDigest(digest);
      if (parsed) void this.forget(parsed);
    });
  }

  /** A layer's summary, listing it first when needed; throws LayerReadError when it cannot be read. */
  async summary(digest: Digest): Promise<LayerSummary> {
    const key = digest.value;
    const cached = this.summaries.get(key);
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

  /** A layer's entries in archive order, read from its stored listing a line at a time. */
  async *entries(digest: Digest): AsyncGenerator<LayerEntry> {
    for await (const line of await this.entryLines(digest)) {
      yield JSON.parse(line) as LayerEntry;
    }
  }

  /**
   * The listing as JSON in pieces (GET .../-/layers/<digest>): the summary's fields, then the stored
   * entry lines as they are read, passed on as bytes (newlines made commas, the summary line left
   * out), never parsed. Fails before the first piece when the layer cannot be listed.
   */
  async listingJson(digest: Digest): Promise<AsyncIterable<Uint8Array>> {
    const summary = await this.summary(digest);
    const bytes = await this.entryBytes(digest);
    return (async function* json(): AsyncGenerator<Uint8Array> {
      yield Buffer.from(`${JSON.stringify(summary).slice(0, -1)},"entries":[`);
      yield* linesAsJsonArray(bytes, (line) => !line.subarray(0, SUMMARY_PREFIX.length).equals(SUMMARY_BYTES));
      yield Buffer.from(']}');
    })();
  }

  /** Drops a blob's listing (its blob was freed). */
  async forget(digest: Digest): Promise<void> {
    this.summaries.delete(digest.value);
    this.failures.delete(digest.value);
    await this.deps.store.remove(digest).catch((err) => this.deps.log.warn({ err, digest: digest.value }, 'removing a layer listing failed'));
  }

  close(): void {
    this.off();
  }

  /**
   * A stored listing, listing the layer first when there is none. A file removed meanwhile (by hand:
   * the derived folder is always safe to delete) is listed again, once.
   */
  private async stored<T>(digest: Digest, open: (digest: Digest) => Promise<T | null>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.summary(digest);
      const found = await open(digest);
      if (found) return found;
      this.summaries.delete(digest.value);
      if (attempt === 1) throw new LayerReadError('NOT_FOUND', `the listing of ${digest.value} could not be kept`);
    }
  }

  private async entryLines(digest: Digest): Promise<AsyncIterable<string>> {
    return entriesOnly(await this.stored(digest, (d) => this.deps.store.lines(d)));
  }

  private entryBytes(digest: Digest): Promise<AsyncIterable<Buffer>> {
    return this.stored(digest, (d) => this.deps.store.bytes(d));
  }

  private async load(digest: Digest): Promise<LayerSummary> {
    const { store, workers, log } = this.deps;
    const stored = await this.storedSummary(digest);
    if (stored) {
      this.summaries.set(digest.value, stored);
      return stored;
    }
    const started = Date.now();
    const writer = await store.create(digest);
    try {
      const listed = await workers.list(digest, (bytes) => writer.write(bytes));
      const summary: LayerSummary = {
        digest: digest.value,
        compression: listed.compression,
        compressedSize: (await this.deps.sizeOf(digest)) ?? 0,
        uncompressedSize: listed.uncompressedSize,
        diffId: listed.diffId,
        entryCount: listed.entryCount,
        addedBytes: listed.addedBytes,
        whiteouts: listed.whiteouts,
        rejected: listed.rejected,
        rejectedCount: listed.rejectedCount,
      };
      const line: SummaryLine = { v: FORMAT, summary };
      await writer.write(new TextEncoder().encode(`${JSON.stringify(line)}\n`));
      await writer.commit();
      this.summaries.set(digest.value, summary);
      log.info({ digest: digest.value, entries: summary.entryCount, ms: Date.now() - started }, 'layer listed');
      return summary;
    } catch (err) {
      await writer.abort();
      // A disk that could not take the listing (full, failing) is not a fact about the layer: its
      // error goes up as it is, for the error responder to name (storage-health.ts).
      if (!(err instanceof LayerReadError)) throw err;
      // Nor are cancelled reads and missing blobs.
      if (err.code !== 'ABORTED' && err.code !== 'NOT_FOUND') this.failures.set(digest.value, err);
      throw err;
    }
  }

  /** The summary line of a stored listing of this FORMAT, or null (none, old, damaged). */
  private async storedSummary(digest: Digest): Promise<LayerSummary | null> {
    const lines = await this.deps.store.lines(digest);
    if (!lines) return null;
    let last: string | null = null;
    try {
      for await (const line of lines) {
        if (line.startsWith(SUMMARY_PREFIX)) last = line;
      }
      if (!last) return null;
      const parsed = JSON.parse(last) as SummaryLine;
      return parsed.v === FORMAT && parsed.summary?.digest === digest.value ? parsed.summary : null;
    } catch (err) {
      this.deps.log.warn({ err, digest: digest.value }, 'a stored layer listing was unreadable; listing the layer again');
      return null;
    }
  }
}

async function* entriesOnly(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) {
    if (!line.startsWith(SUMMARY_PREFIX)) yield line;
  }
}

/**
 * Newline-separated lines -> the same lines separated by commas (the inside of a JSON array), minus
 * the lines `keep` refuses. Bytes are passed on as they come; only the last line of what has arrived
 * is held back (it may be the summary, or cut in two).
 */
export async function* linesAsJsonArray(chunks: AsyncIterable<Buffer>, keep: (line: Buffer) => boolean): AsyncGenerator<Uint8Array> {
  let held: Buffer = Buffer.alloc(0);
  let first = true;
  const emit = function* (lines: Buffer): Generator<Uint8Array> {
    // Each line is checked (the summary line must not pass); kept ones are joined with commas.
    let start = 0;
    const out: Buffer[] = [];
    while (start < lines.length) {
      let end = lines.indexOf(NEWLINE, start);
      if (end < 0) end = lines.length;
      const line = lines.subarray(start, end);
      if (line.length > 0 && keep(line)) {
        if (!first) out.push(Buffer.from([COMMA]));
        out.push(line);
        first = false;
      }
      start = end + 1;
    }
    if (out.length > 0) yield Buffer.concat(out);
  };
  for await (const chunk of chunks) {
    held = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
    const last = held.lastIndexOf(NEWLINE);
    if (last < 0) continue;
    yield* emit(held.subarray(0, last));
    held = held.subarray(last + 1);
  }
  yield* emit(held);
}
