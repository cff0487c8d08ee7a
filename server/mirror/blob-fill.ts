/**
 * The blob fill: how a blob gets from an upstream into the cache, in this one module.
 *
 *   1. One fill per digest, however many clients ask at once: the first request starts it (one upstream
 *      GET), every other request for the digest joins it while it runs.
 *   2. The upstream body is spooled to a temp file under the data directory (<data>/tmp/, cleared at
 *      start), hashed as it arrives. Every client reads that file as it grows, from its own position
 *      (a Range request starts where it asks): it is streamed to all of them while it is written.
 *   3. The last byte is held back from every reader until the digest (and the announced length) is
 *      verified: no client ever receives a complete wrong blob. A truncated, reset or wrong body fails
 *      the fill: the spool file is deleted, nothing is committed, and readers are cut off (their
 *      connection is destroyed: the length they were promised cannot be kept).
 *   4. Once verified, the file is committed through BlobStore.adoptFile (fsync, rename into the store)
 *      and linked into the cache repositories that asked for it, under the digest's lock like an upload
 *      (registry/link-guard.ts), so garbage collection cannot fall in between.
 * The fill does not depend on any client: one that hangs up leaves it running to the end.
 * A reader whose fill already committed reads the stored blob (a renamed spool file keeps its bytes).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { BlobStore, ByteRange, OpenBlob } from '../storage/blob-store.ts';
import { BufferPool } from '../storage/buffer-pool.ts';
import { storageFailureKind } from '../storage/failures.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import { digestFromHash, newHash } from '../registry/digester.ts';
import type { LinkGuard } from '../registry/link-guard.ts';
import type { Digest } from '../registry/reference.ts';
import { RegistryError } from '../registry/errors.ts';
import { SpoolSink } from './spool-sink.ts';
import { UpstreamError } from './upstream-errors.ts';

export interface FillSource {
  /** The length the upstream announced (Content-Length), or null. */
  size: number | null;
  body: Readable;
}

export interface BlobFillDeps {
  blobs: BlobStore;
  repositories: RepositoryStore;
  guard: LinkGuard;
  /** Where spool files go: a folder of the data directory that is emptied at start. */
  spoolDir: string;
  log: Logger;
}

export interface FillOutcome {
  upstream: string;
  digest: string;
  /** Bytes received from the upstream. */
  bytes: number;
  ok: boolean;
  /**
   * The upstream answered with the blob (a failure after that is the body's: readers are cut off). A
   * failure before it reached every caller of open() already, as its rejection.
   */
  answered: boolean;
  error: Error | null;
}

type FillState = 'starting' | 'filling' | 'verified' | 'committed' | 'linked' | 'failed';

/** Reads of a spool file: 1 MiB each, pooled, as the blob store sends (storage/blob-store.ts SEND_CHUNK). */
const READ_CHUNK = 1024 * 1024;
const readBuffers = new BufferPool(READ_CHUNK, 16);
/** The spool's write buffers (spool-sink.ts): two per fill, reused. */
const spoolBuffers = new BufferPool(READ_CHUNK, 16);

class Fill {
  readonly digest: Digest;
  readonly upstream: string;
  readonly spool: string;
  /** The cache repositories that asked for it: linked once committed. */
  readonly repositories = new Set<string>();
  size: number | null = null;
  written = 0;
  state: FillState = 'starting';
  error: Error | null = null;
  source: Readable | null = null;
  readonly ready: Promise<void>;
  readonly finished: Promise<void>;
  resolveReady!: () => void;
  rejectReady!: (err: Error) => void;
  resolveFinished!: () => void;
  rejectFinished!: (err: Error) => void;
  private change = deferred();

  constructor(digest: Digest, upstream: string, spool: string) {
    this.digest = digest;
    this.upstream = upstream;
    this.spool = spool;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.finished = new Promise((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    // Observed by whoever awaits them; a fill nobody waits for must not become an unhandled rejection.
    this.ready.catch(() => undefined);
    this.finished.catch(() => undefined);
  }

  /** Bytes readers may have now: all of them once verified, else all but the last one (see 3. above). */
  readableEnd(): number {
    if (this.state === 'verified' || this.state === 'committed' || this.state === 'linked') return this.written;
    return this.size === null ? 0 : Math.min(this.written, this.size - 1);
  }

  /** Resolves at the next change (bytes written, verified, failed). */
  changed(): Promise<void> {
    return this.change.promise;
  }

  notify(): void {
    const previous = this.change;
    this.change = deferred();
    previous.resolve();
  }
}

export class BlobFills {
  private readonly deps: BlobFillDeps;
  private readonly active = new Map<string, Fill>();
  /**
   * Fills and the links they write afterwards, by upstream, until done: clearing an upstream's cache
   * waits for them (settled()), or a fill that committed as the cache was cleared would link its blob
   * into a repository just removed, and a collection would then keep the blob for that lone link.
   */
  private readonly running = new Map<Promise<unknown>, string>();
  private closed = false;

  constructor(deps: BlobFillDeps) {
    this.deps = deps;
  }

  /** The fill of this digest in progress, if any (its size once the upstream answered). */
  filling(digest: string): { size: number | null } | undefined {
    const fill = this.active.get(digest);
    return fill && fill.state !== 'failed' ? { size: fill.size } : undefined;
  }

  /** How many fills run (and how many bytes they received so far), for the UI. */
  inProgress(): { upstream: string; digest: string; size: number | null; received: number }[] {
    return [...this.active.values()].map((f) => ({ upstream: f.upstream, digest: f.digest.value, size: f.size, received: f.written }));
  }

  /**
   * The blob `digest` for the cache repository `repo`: read from the fill in progress, or from a new one
   * started with `fetch` (one upstream GET). Resolves once the upstream answered with a length; rejects
   * with the upstream's failure. `started`: this call started the fill (a cache miss). `done` is told
   * how the fill ended, once, by the call that started it.
   */
  async open(repo: string, digest: Digest, upstream: string, fetch: () => Promise<FillSource>, done: (outcome: FillOutcome) => void): Promise<{ blob: OpenBlob; started: boolean }> {
    if (this.closed) throw new UpstreamError(upstream, 'unreachable', 'Berth is stopping');
    let fill = this.active.get(digest.value);
    let started = false;
    if (!fill || fill.state === 'failed') {
      fill = new Fill(digest, upstream, path.join(this.deps.spoolDir, `fill-${digest.hex.slice(0, 16)}-${randomUUID()}`));
      this.active.set(digest.value, fill);
      started = true;
      const current = fill;
      this.track(upstream, this.run(current, repo, fetch).then((outcome) => {
        if (this.active.get(digest.value) === current) this.active.delete(digest.value);
        done(outcome);
      }));
    }
    fill.repositories.add(repo);
    // A repository that joined after the commit linked the others is linked here.
    this.track(fill.upstream, fill.finished.then(() => this.link(repo, digest), () => undefined).catch((err) => this.deps.log.error({ err, digest: digest.value }, 'mirror: linking a filled blob failed')));
    await fill.ready;
    // Without an announced length a reader cannot be promised one: it waits for the whole blob.
    if (fill.size === null) await fill.finished;
    return { blob: await this.reader(fill), started };
  }

  /** Resolves once every fill of `upstream` running now, and the links it writes, is done (either way). */
  async settled(upstream: string): Promise<void> {
    await Promise.allSettled([...this.running].filter(([, name]) => name === upstream).map(([work]) => work));
  }

  private track(upstream: string, work: Promise<unknown>): void {
    const tracked = work
      .catch((err: unknown) => this.deps.log.error({ err }, 'mirror: a fill ended in an unexpected error'))
      .finally(() => this.running.delete(tracked));
    this.running.set(tracked, upstream);
  }

  /** Stops every fill (Berth is stopping): their spool files go, nothing half-written is committed. */
  async close(): Promise<void> {
    this.closed = true;
    const fills = [...this.active.values()];
    for (const fill of fills) fill.source?.destroy(new UpstreamError(fill.upstream, 'unreachable', 'Berth is stopping'));
    await Promise.allSettled(fills.map((f) => f.finished));
  }

  // ---- the fill -------------------------------------------------------------------------------

  private async run(fill: Fill, repo: string, fetch: () => Promise<FillSource>): Promise<FillOutcome> {
    const { blobs, repositories, guard, log } = this.deps;
    const digest = fill.digest;
    let answered = false;
    const outcome = (ok: boolean, error: Error | null): FillOutcome => ({ upstream: fill.upstream, digest: digest.value, bytes: fill.written, ok, answered, error });
    let handle: fs.FileHandle | null = null;
    try {
      // A fill that committed just before this one started (its request checked the repository a moment
      // too early): nothing to fetch.
      if ((await repositories.hasLayer(repo, digest)) && (await blobs.stat(digest)) !== null) {
        fill.state = 'linked';
        fill.size = await blobs.stat(digest);
        fill.resolveReady();
        fill.resolveFinished();
        fill.notify();
        return outcome(true, null);
      }
      const source = await fetch();
      answered = true;
      fill.source = source.body;
      fill.size = source.size;
      handle = await fs.open(fill.spool, 'wx');
      fill.state = 'filling';
      fill.resolveReady();
      const hash = newHash(digest.algorithm);
      const sink = new SpoolSink(handle, spoolBuffers, {
        taken: (chunk) => hash.update(chunk),
        landed: (n) => {
          fill.written += n;
          fill.notify();
        },
      });
      try {
        await pipeline(source.body, sink);
      } catch (err) {
        // The disk's failure (full, read-only) is the storage's to report, not the upstream's.
        if (err instanceof UpstreamError || storageFailureKind(err)) throw err;
        throw new UpstreamError(fill.upstream, 'invalid', `${fill.upstream} broke off blob ${digest.value} after ${fill.written} of ${fill.size ?? '?'} bytes (${(err as Error).message})`);
      }
      if (fill.size !== null && fill.written !== fill.size) {
        throw new UpstreamError(fill.upstream, 'invalid', `${fill.upstream} sent ${fill.written} bytes of blob ${digest.value}, announced ${fill.size}`);
      }
      const actual = digestFromHash(digest.algorithm, hash);
      if (actual.value !== digest.value) {
        throw new UpstreamError(fill.upstream, 'invalid', `${fill.upstream} sent bytes with digest ${actual.value} for blob ${digest.value}: discarded`);
      }
      await handle.close();
      handle = null;
      // Readers may have the last byte now; the commit (fsync, rename) need not delay them.
      fill.size = fill.written;
      fill.state = 'verified';
      fill.notify();
      await guard.withDigests([digest.value], async () => {
        await blobs.adoptFile(digest, fill.spool);
        fill.state = 'committed';
        for (const name of fill.repositories) await guard.withRepository(name, () => repositories.linkLayer(name, digest));
      });
      fill.state = 'linked';
      fill.resolveFinished();
      return outcome(true, null);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const committed = fill.state === 'committed';
      if (!committed) fill.state = 'failed';
      fill.error = error;
      fill.rejectReady(error);
      fill.rejectFinished(error);
      fill.notify();
      await handle?.close().catch(() => undefined);
      if (!committed) await fs.rm(fill.spool, { force: true }).catch(() => undefined);
      if (!(err instanceof UpstreamError)) log.error({ err, digest: digest.value }, 'mirror: filling a blob failed');
      return outcome(committed, error);
    }
  }

  private async link(repo: string, digest: Digest): Promise<void> {
    const { repositories, guard, blobs } = this.deps;
    if (await repositories.hasLayer(repo, digest)) return;
    await guard.withDigests([digest.value], async () => {
      if ((await blobs.stat(digest)) === null) return;
      await guard.withRepository(repo, () => repositories.linkLayer(repo, digest));
    });
  }

  /** An OpenBlob that follows the spool file as it grows (or the stored blob once the fill committed). */
  private async reader(fill: Fill): Promise<OpenBlob> {
    const fromStore = async () => {
      const stored = await this.deps.blobs.open(fill.digest);
      if (!stored) throw fill.error ?? new UpstreamError(fill.upstream, 'invalid', `blob ${fill.digest.value} vanished after its fill`);
      return stored;
    };
    if (fill.state === 'linked' || fill.state === 'committed') return fromStore();
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(fill.spool, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Renamed into the store meanwhile (or removed, when the fill failed).
      if (fill.state === 'failed') throw readerError(fill);
      return fromStore();
    }
    const size = fill.size!;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    return {
      size,
      async sendTo(dest, range?: ByteRange) {
        try {
          await follow(handle, fill, dest, range?.start ?? 0, range ? range.end + 1 : size);
        } finally {
          await close();
        }
      },
      close,
    };
  }
}

/**
 * Sends bytes [start, end) of the spool file to `dest`, waiting for the fill where it has not got to
 * yet. Like the blob store's sends (storage/blob-store.ts): pooled 1 MiB buffers, two in flight (one
 * read while the other is written to the socket), respecting the socket's backpressure.
 */
async function follow(handle: fs.FileHandle, fill: Fill, dest: Writable, start: number, end: number): Promise<void> {
  let onClose!: () => void;
  const closedEarly = new Promise<never>((_, reject) => {
    onClose = () => reject(Object.assign(new Error('the client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  });
  closedEarly.catch(() => undefined);
  dest.once('close', onClose);
  const held: Buffer[] = [];
  const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  try {
    let position = start;
    for (let turn = 0; position < end; ) {
      const limit = Math.min(fill.readableEnd(), end);
      if (position >= limit) {
        if (fill.state === 'failed') throw readerError(fill);
        await Promise.race([fill.changed(), closedEarly]);
        continue;
      }
      const slot = turn++ % 2;
      await Promise.race([writes[slot], closedEarly]);
      const buffer = held[slot] ?? (held[slot] = readBuffers.acquire());
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, limit - position), position);
      if (bytesRead === 0) throw new Error(`spool file of ${fill.digest.value} ended at byte ${position}`);
      position += bytesRead;
      const write = new Promise<void>((resolve, reject) => dest.write(buffer.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve())));
      // Observed through the races; a write failing after we stopped waiting (a reset) must not go unhandled.
      write.catch(() => undefined);
      writes[slot] = write;
    }
    await Promise.race([Promise.all(writes), closedEarly]);
    for (const buffer of held) readBuffers.release(buffer);
  } finally {
    // Buffers of a failed send may still be referenced by the socket: they are left to the GC.
    dest.off('close', onClose);
  }
}

/** What a reader of a failed fill is told (its connection is cut: the length it was promised cannot be kept). */
function readerError(fill: Fill): RegistryError {
  return new RegistryError('UNAVAILABLE', { message: `fetching blob ${fill.digest.value} from ${fill.upstream} failed: ${fill.error?.message ?? 'unknown error'}` });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
