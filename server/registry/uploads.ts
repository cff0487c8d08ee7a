/**
 * Blob uploads (OCI Distribution Spec v1.1, "Pushing blobs"): sessions, streamed and chunked PATCHes,
 * the closing PUT, monolithic POST and cross-repository mounts. Bytes are hashed while they stream to
 * the store, so completing an upload costs no second read; a blob becomes visible only after its digest
 * has been verified (storage commits the upload's data to the blob's place: a rename on disk, a
 * server-side copy in a bucket).
 *
 * Where the hash lives (digester.ts, UploadHash): in this process while it serves the session; on a
 * shared store its state is also saved with each persisted chunk, before the chunk's bytes are
 * persisted, so the state for the session's stored size always exists, and another process (after a
 * restart, or a replica) loads it and goes on. On a local disk an interrupted session is re-hashed from
 * its file instead. A completion in another algorithm (sha512) re-hashes too: on a shared store by
 * finishing the data under the session and reading it back, the one case where the bytes are read again.
 */
import { finished, type Readable, type Writable } from 'node:stream';
import type { IndexStore } from '../metadata/index-store.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { storageFailureKind } from '../storage/failures.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { UploadStore } from '../storage/upload-store.ts';
import type { ObjectWriter } from '../storage/driver/driver.ts';
import { digestFromHash, localUploadHash, newHash, savableUploadHash, type UploadHash } from './digester.ts';
import { RegistryError } from './errors.ts';
import type { EventOrigin, RegistryEvents } from './events.ts';
import type { LinkGuard } from './link-guard.ts';
import type { Digest } from './reference.ts';
import type { StorageHealth } from './storage-health.ts';

export interface UploadState {
  id: string;
  repository: string;
  /** Bytes received so far. */
  size: number;
}

export interface ChunkOptions {
  /** Content-Range of a chunk (inclusive); absent for a streamed PATCH. */
  range?: { start: number; end: number };
  /** Content-Length, when the client sent one. */
  length?: number;
}

export interface ActiveUpload {
  id: string;
  repository: string;
  size: number;
  startedAt: Date;
  receiving: boolean;
}

interface LiveSession {
  repository: string;
  startedAt: Date;
  size: number;
  /** sha256 of exactly the bytes stored, or null when unknown (after a restart or a failed write). */
  hash: UploadHash | null;
  busy: boolean;
  /** Bytes of the request streaming now, not yet counted in size (upload progress). */
  inFlight: number;
}

export interface UploadServiceDeps {
  uploads: UploadStore;
  blobs: BlobStore;
  repositories: RepositoryStore;
  index: IndexStore;
  events: RegistryEvents;
  guard: LinkGuard;
  /**
   * Refuses bodies that cannot fit and words disk failures (storage-health.ts): for uploads kept on the
   * data directory's disk (the filesystem driver); absent in unit tests and for buckets.
   */
  storage?: Pick<StorageHealth, 'ensureRoom' | 'failed' | 'stored'> | undefined;
}

export class UploadService {
  private readonly deps: UploadServiceDeps;
  private readonly live = new Map<string, LiveSession>();

  constructor(deps: UploadServiceDeps) {
    this.deps = deps;
  }

  async start(repository: string): Promise<UploadState> {
    let info;
    try {
      info = await this.deps.uploads.create(repository);
    } catch (err) {
      throw (await this.deps.storage?.failed(err, { repository, what: 'a new upload' })) ?? err;
    }
    this.live.set(info.id, { repository, startedAt: info.startedAt, size: 0, hash: await this.freshHash(), busy: false, inFlight: 0 });
    return { id: info.id, repository, size: 0 };
  }

  async status(repository: string, id: string): Promise<UploadState> {
    const session = await this.session(repository, id);
    // On a shared store another replica may have appended since this one last did (a load balancer
    // spreads a client's PATCHes): the store's size is the truth, as open() follows it too.
    if (this.deps.uploads.shared && !session.busy) {
      const stored = await this.deps.uploads.get(id);
      if (!stored) {
        this.live.delete(id);
        return this.status(repository, id);
      }
      if (stored.size !== session.size) {
        session.size = stored.size;
        session.hash = null;
      }
    }
    return { id, repository, size: session.size };
  }

  async append(repository: string, id: string, body: Readable, options: ChunkOptions): Promise<UploadState> {
    const session = await this.session(repository, id);
    await this.exclusive(session, async () => {
      const writer = await this.open(id, session);
      await this.receive(id, session, writer, body, options);
      await this.persist(id, session, writer);
    });
    return { id, repository, size: session.size };
  }

  /** The closing PUT: an optional last chunk, then verification and commit. */
  async complete(repository: string, id: string, digest: Digest, body: Readable | null, options: ChunkOptions, origin?: EventOrigin): Promise<void> {
    const session = await this.session(repository, id);
    await this.exclusive(session, async () => {
      const writer = await this.open(id, session);
      const before = writer.offset;
      // A refused or cut-short chunk ends the writer in receive() (kept or rolled back there).
      if (body) await this.receive(id, session, writer, body, options);
      else writer.sink.end();
      const size = before + (await writer.settled);
      let actual = await this.digestOf(id, session, digest.algorithm);
      let finishedKey: string | null = null;
      if (!actual) {
        // A shared store and no hash state for this algorithm: finish the data under the session and
        // read it back (the session cannot take more bytes after this).
        finishedKey = await this.deps.uploads.finish(id, writer);
        actual = await this.hashStored(id, digest.algorithm);
      }
      if (actual.value !== digest.value) {
        if (finishedKey) {
          this.live.delete(id);
          await this.deps.uploads.remove(id);
          throw new RegistryError('DIGEST_INVALID', {
            message: `the uploaded bytes have digest ${actual.value}, not ${digest.value}; the upload was removed: start it again`,
            detail: { expected: digest.value, actual: actual.value, size },
          });
        }
        // Nothing is lost: the session goes back to what it held before this PUT, so the client can
        // check its data and complete again.
        await writer.discard();
        if (size !== before) session.hash = null;
        session.size = before;
        throw new RegistryError('DIGEST_INVALID', {
          message: `the uploaded bytes have digest ${actual.value}, not ${digest.value}; the upload keeps the ${session.size} bytes it had before this request`,
          detail: { expected: digest.value, actual: actual.value, size: session.size },
          headers: { Range: rangeHeader(session.size) },
        });
      }
      session.size = size;
      // Under the digest's lock (link-guard.ts): garbage collection cannot delete the blob between
      // its adoption (or finding it already stored) and the link that makes it this repository's.
      const { guard } = this.deps;
      await guard.withDigests([digest.value], async () => {
        if (finishedKey) await this.deps.blobs.adoptObject(digest, finishedKey);
        else await this.deps.blobs.adoptUpload(digest, writer);
        await guard.withRepository(repository, async () => {
          await this.deps.repositories.linkLayer(repository, digest);
          // A repository exists from its first pushed blob on (it shows in the catalog).
          await this.deps.index.touchRepository(repository, null);
        });
      });
      await this.deps.uploads.remove(id);
      this.live.delete(id);
    });
    this.deps.storage?.stored();
    this.deps.events.emit('blob-pushed', { repository, digest: digest.value, size: session.size, ...(origin ? { origin } : {}) });
  }

  /** POST with ?digest= and the whole blob as body. */
  async uploadWhole(repository: string, digest: Digest, body: Readable, options: ChunkOptions, origin?: EventOrigin): Promise<void> {
    // Refused before a session (or any byte) is written when it cannot fit.
    if (options.length !== undefined) await this.deps.storage?.ensureRoom(options.length, { repository, what: 'this blob' });
    const { id } = await this.start(repository);
    try {
      await this.complete(repository, id, digest, body, options, origin);
    } catch (err) {
      await this.cancel(repository, id).catch(() => undefined);
      throw err;
    }
  }

  async cancel(repository: string, id: string): Promise<void> {
    const session = await this.session(repository, id);
    if (session.busy) throw busy();
    this.live.delete(id);
    await this.deps.uploads.remove(id);
  }

  /** Links a blob of `from` into `repository`; false when `from` does not hold it. */
  async mount(repository: string, from: string, digest: Digest, origin?: EventOrigin): Promise<boolean> {
    const { guard, repositories, blobs, index } = this.deps;
    // The check that the blob exists and the new link are one step for garbage collection (link-guard.ts).
    const size = await guard.withDigests([digest.value], () =>
      guard.withRepository(repository, async () => {
        // Fresh: another replica's collection may have removed it since this one last looked.
        if (!(await repositories.hasLayer(from, digest, { fresh: true }))) return null;
        const stored = await blobs.stat(digest, { fresh: true });
        if (stored === null) return null;
        await repositories.linkLayer(repository, digest);
        await index.touchRepository(repository, null);
        return stored;
      }),
    );
    if (size !== null) this.deps.events.emit('blob-mounted', { repository, from, digest: digest.value, size, ...(origin ? { origin } : {}) });
    return size !== null;
  }

  /** Sessions this process knows of, with progress, for the activity view. */
  activeUploads(): ActiveUpload[] {
    return [...this.live.entries()].map(([id, s]) => ({
      id,
      repository: s.repository,
      size: s.size + s.inFlight,
      startedAt: s.startedAt,
      receiving: s.busy,
    }));
  }

  /** The sessions receiving bytes right now. */
  receivingUploads(): ActiveUpload[] {
    return this.activeUploads().filter((u) => u.receiving);
  }

  /** Forgets a session removed from disk by purging. */
  forget(id: string): void {
    this.live.delete(id);
  }

  /**
   * Removes an idle session (upload purging). A session a request is writing to right now is left
   * alone (false); one a request has looked up but not started writing to is marked busy first, so
   * that request is refused instead of writing into a removed folder.
   */
  async expire(id: string): Promise<boolean> {
    const live = this.live.get(id);
    if (live?.busy) return false;
    if (live) live.busy = true;
    try {
      await this.deps.uploads.remove(id);
    } finally {
      this.live.delete(id);
    }
    return true;
  }

  // ---- internals ------------------------------------------------------------------------------

  private async session(repository: string, id: string): Promise<LiveSession> {
    const live = this.live.get(id);
    if (live && live.repository === repository) return live;
    if (!live) {
      // A session from before a restart: its bytes are on disk, its hash state is not.
      const stored = await this.deps.uploads.get(id);
      if (stored && stored.repository === repository) {
        const session: LiveSession = { repository, startedAt: stored.startedAt, size: stored.size, hash: null, busy: false, inFlight: 0 };
        this.live.set(id, session);
        return session;
      }
    }
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', {
      message: `upload ${id} is unknown to repository ${repository}: it completed, was cancelled or expired`,
      detail: { id },
    });
  }

  private async exclusive(session: LiveSession, work: () => Promise<void>): Promise<void> {
    if (session.busy) throw busy();
    session.busy = true;
    try {
      await work();
    } finally {
      session.busy = false;
    }
  }

  /**
   * Opens the session's data for appending. The store's size is the truth: when it differs from what
   * this process knew (another process appended, or a write failed), the session follows the store and
   * its hash is taken from the saved state (shared store) or recomputed at completion (local disk).
   */
  private async open(id: string, session: LiveSession): Promise<ObjectWriter> {
    const writer = await this.deps.uploads.writer(id, {
      onWritten: (bytes) => session.hash?.update(bytes),
      onTaken: (count) => (session.inFlight += count),
    });
    if (writer.offset !== session.size) {
      session.size = writer.offset;
      session.hash = null;
    }
    if (!session.hash) {
      try {
        session.hash = await this.restoreHash(id, writer.offset);
      } catch (err) {
        await writer.discard();
        throw err;
      }
    }
    return writer;
  }

  /** A chunk's bytes into the writer, with the spec's checks; on failure the writer is ended. */
  private async receive(id: string, session: LiveSession, writer: ObjectWriter, body: Readable, options: ChunkOptions): Promise<void> {
    const { range, length } = options;
    const start = writer.offset;
    const refuse = async (error: RegistryError): Promise<never> => {
      await writer.discard();
      throw error;
    };
    if (range) {
      if (range.start !== start) {
        await refuse(new RegistryError('RANGE_INVALID', {
          message: `chunk starts at byte ${range.start} but the upload has ${start} bytes: send the chunk that starts at ${start}`,
          detail: { expectedStart: start, received: `${range.start}-${range.end}` },
          headers: { Range: rangeHeader(start) },
        }));
      }
      if (length !== undefined && length !== range.end - range.start + 1) {
        await refuse(new RegistryError('RANGE_INVALID', {
          message: `Content-Range ${range.start}-${range.end} is ${range.end - range.start + 1} bytes but Content-Length is ${length}`,
          headers: { Range: rangeHeader(start) },
        }));
      }
    }
    if (length !== undefined) {
      try {
        await this.deps.storage?.ensureRoom(length, { repository: session.repository, what: 'this chunk' });
      } catch (err) {
        await writer.discard();
        throw err;
      }
    }
    try {
      await pipeBody(body, writer.sink);
    } catch (err) {
      // The client hung up or the store failed: the session keeps exactly what arrived (made durable
      // now), and the hash covers exactly those bytes (the writer hands on only what it accepted).
      session.inFlight = 0;
      await this.persist(id, session, writer).catch(() => undefined);
      const failure = storageFailureKind(err) ? await this.dropAfterDiskFailure(id, err, session.repository) : null;
      throw failure ?? err;
    }
    session.inFlight = 0;
    const received = await writer.settled;
    if (range && received !== range.end - range.start + 1) {
      // Roll the chunk back: the session stays where it was before this request.
      session.hash = null;
      await refuse(new RegistryError('RANGE_INVALID', {
        message: `Content-Range announced ${range.end - range.start + 1} bytes but ${received} arrived`,
        headers: { Range: rangeHeader(start) },
      }));
    }
  }

  /**
   * Makes the writer's bytes durable. On a shared store the hash state is saved first, under the size it
   * belongs to: the state for whatever size the store ends up with always exists.
   */
  private async persist(id: string, session: LiveSession, writer: ObjectWriter): Promise<void> {
    try {
      const size = writer.offset + (await writer.settled);
      const state = session.hash?.save();
      if (state && this.deps.uploads.shared) await this.deps.uploads.saveHashState(id, 'sha256', size, state);
      session.size = await writer.persist();
    } catch (err) {
      // The store kept the size it had at open; the hash has seen bytes beyond it.
      session.size = writer.offset;
      session.hash = null;
      throw err;
    }
  }

  /**
   * The disk refused the session's bytes: its partial data would only hold the space a client needs
   * once some is freed, and no client resumes a push that failed, so the session goes (its folder
   * with it). Returns the error for the client.
   */
  private async dropAfterDiskFailure(id: string, err: unknown, repository: string): Promise<Error | null> {
    this.live.delete(id);
    await this.deps.uploads.remove(id).catch(() => undefined);
    return (await this.deps.storage?.failed(err, { repository, what: 'the blob', uploadRemoved: true })) ?? null;
  }

  private async freshHash(): Promise<UploadHash> {
    return this.deps.uploads.shared ? savableUploadHash('sha256') : localUploadHash('sha256');
  }

  /** The sha256 state after `size` stored bytes, or null (then completion re-hashes). */
  private async restoreHash(id: string, size: number): Promise<UploadHash | null> {
    if (size === 0) return this.freshHash();
    if (!this.deps.uploads.shared) return null;
    const state = await this.deps.uploads.loadHashState(id, 'sha256', size);
    return state ? savableUploadHash('sha256', state) : null;
  }

  /** The digest of the session's bytes, or null when only reading them back from a shared store can tell. */
  private async digestOf(id: string, session: LiveSession, algorithm: Digest['algorithm']): Promise<Digest | null> {
    if (algorithm === 'sha256' && session.hash) return session.hash.digest();
    const stream = await this.deps.uploads.readData(id);
    if (!stream) return null;
    const hash = newHash(algorithm);
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return digestFromHash(algorithm, hash);
  }

  /** Hashes the finished object of a session (see complete()). */
  private async hashStored(id: string, algorithm: Digest['algorithm']): Promise<Digest> {
    const stream = await this.deps.uploads.readFinished(id);
    const hash = newHash(algorithm);
    if (stream) for await (const chunk of stream) hash.update(chunk as Buffer);
    return digestFromHash(algorithm, hash);
  }
}

/**
 * Pipes a request body into the upload's writer. Unlike pipeline(), a failing writer does not destroy the
 * request: that would close the connection under the client, which would then see a reset instead of
 * the error response (and Koa's ctx.ip would throw). The rest of the body is drained instead, so the
 * connection stays in step and the client reads the answer. A client that hangs up destroys the sink,
 * which ends the writer's intake.
 */
function pipeBody(body: Readable, sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
    };
    finished(sink, (err) => {
      if (err && !body.destroyed) {
        body.unpipe(sink);
        body.resume();
      }
      settle(err);
    });
    finished(body, { writable: false }, (err) => {
      if (!err) return;
      sink.destroy(err);
      settle(err);
    });
    body.pipe(sink);
  });
}

/** The spec's Range response header: "0-<last byte>", no "bytes=" prefix; "0-0" for an empty upload. */
export function rangeHeader(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}

function busy(): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', {
    message: 'another request is writing to this upload; wait for it to finish, then query the upload status',
  });
}
