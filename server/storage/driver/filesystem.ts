/**
 * The filesystem driver: objects are files under one root folder (the data directory), keys are
 * relative paths. It keeps the fast paths the local registry was tuned with (docs/benchmarks.md):
 * atomic writes by temp file + fsync + rename, blobs sent from pooled 1 MiB buffers two at a time, and
 * uploads appended with positional writev (append-sink.ts) — an unfinished object is simply a file
 * that grows, so persist() has nothing left to do and commit() is an fsync and a rename. Small objects
 * (links, tags, manifests) are read and written with synchronous metadata calls (files.ts).
 */
import { randomUUID } from 'node:crypto';
import fsSync, { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { DIRECT_ALIGNMENT, StagingPool } from '../aligned-buffers.ts';
import { AppendSink, type DirectWrites } from '../append-sink.ts';
import { BufferPool } from '../buffer-pool.ts';
import { createEmpty, fsyncDir, isNotFound, makeDir, makeDirNow, readDirOrEmpty, readSmallFile, removeEmptyDirs, removeEmptyTree, removeFile, removeQuietly, renameDurable, statOrNull, touchDurable, writeSynced } from '../files.ts';
import { keys } from '../paths.ts';
import { closedEarly } from './send-stream.ts';
import { StorageError, type ByteRange, type ObjectInfo, type ObjectReader, type ObjectWriter, type StagedContent, type StorageDriver, type StoredContent, type WriterOptions } from './driver.ts';

/**
 * Blobs are sent in 1 MiB reads, two in flight per response (one being read while the other is being
 * written to the socket): a 1 GB pull is a thousand reads and writes. Measured on this project's
 * 2-core machine: 1 MiB reads cost half the CPU per GB of 64 KiB ones.
 */
const SEND_CHUNK = 1024 * 1024;
const sendBuffers = new BufferPool(SEND_CHUNK, 16);
const TOP_FOLDERS = [keys.blobs, keys.repositories, keys.uploads];
/** Staging buffers of direct upload writes (append-sink.ts): 2 MiB a pair, a few kept for the next layers. */
const stagingPairs = new StagingPool(4);
/** How long a new entry made by touch(..., { soon: true }) may wait for its folder's fsync. */
const SOON_MS = 1000;

export class FilesystemDriver implements StorageDriver {
  readonly root: string;
  readonly shared = false;
  readonly exactTimes = true;
  readonly location;
  /** Temp files, renamed into place once complete and fsynced (emptied at start: nothing refers to them). */
  readonly tmpDir: string;
  /** Whether uploads are written with O_DIRECT (append-sink.ts); off once the file system refuses it. */
  private directWrites: boolean;
  /** Folders whose new entries (from touch with `soon`) are not yet known durable, with the fsync under way. */
  private readonly unsynced = new Map<string, Promise<void> | null>();
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(root: string, options: { directWrites?: boolean } = {}) {
    this.root = path.resolve(root);
    this.tmpDir = path.join(this.root, 'tmp');
    this.location = { driver: 'filesystem' as const, description: this.root };
    // O_DIRECT is Linux's (macOS has F_NOCACHE, Windows FILE_FLAG_NO_BUFFERING: not reachable from Node).
    this.directWrites = (options.directWrites ?? true) && process.platform === 'linux' && constants.O_DIRECT !== undefined;
  }

  /** The file behind a key. Keys come from paths.ts, built from validated names and digests. */
  file(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  describe(key: string): string {
    return this.file(key);
  }

  async getContent(key: string, maxBytes = Infinity): Promise<StoredContent | null> {
    return readSmallFile(this.file(key), maxBytes);
  }

  async putContent(key: string, content: string | Uint8Array): Promise<void> {
    await (await this.stageContent(key, content)).commit();
  }

  async stageContent(key: string, content: string | Uint8Array): Promise<StagedContent> {
    const tmp = path.join(this.tmpDir, randomUUID());
    try {
      await writeSynced(tmp, content);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // tmp/ is made at start (check()); a test or a fresh directory may not have it yet.
      makeDirNow(this.tmpDir);
      await writeSynced(tmp, content);
    }
    let done = false;
    return {
      commit: async () => {
        if (done) throw new Error(`${key}: staged content committed or discarded already`);
        done = true;
        await renameDurable(tmp, this.file(key));
      },
      discard: async () => {
        if (!done) removeQuietly(tmp);
        done = true;
      },
    };
  }

  async touch(key: string, options: { soon?: boolean } = {}): Promise<void> {
    const file = this.file(key);
    const now = new Date();
    try {
      fsSync.utimesSync(file, now, now);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (!options.soon) return touchDurable(file);
      // The folder's fsync is left to settle() or to the timer: a push's layer links are then synced
      // together, beside its manifest's own writes (manifests.ts), not one after another.
      createEmpty(file);
      this.unsynced.set(path.dirname(file), null);
      this.syncTimer ??= setTimeout(() => void this.syncUnsynced(), SOON_MS).unref();
    }
  }

  async settle(keys: readonly string[]): Promise<void> {
    if (this.unsynced.size === 0) return;
    await Promise.all([...new Set(keys.map((k) => path.dirname(this.file(k))))].map((dir) => this.syncDir(dir)));
  }

  /** fsyncs `dir` if it holds unsynced entries, sharing an fsync already under way that began after them. */
  private syncDir(dir: string): Promise<void> {
    const state = this.unsynced.get(dir);
    if (state !== null) return state ?? Promise.resolve();
    const sync: Promise<void> = fsyncDir(dir).then(
      () => void (this.unsynced.get(dir) === sync && this.unsynced.delete(dir)),
      (err: unknown) => {
        if (this.unsynced.get(dir) !== sync) throw err;
        // A folder removed since (its repository deleted) has nothing left to make durable.
        if (isNotFound(err)) return void this.unsynced.delete(dir);
        this.unsynced.set(dir, null);
        throw err;
      },
    );
    this.unsynced.set(dir, sync);
    return sync;
  }

  /** What no request settled within SOON_MS; a failed fsync is tried again a second later. */
  private async syncUnsynced(): Promise<void> {
    this.syncTimer = null;
    await Promise.allSettled([...this.unsynced.keys()].map((dir) => this.syncDir(dir)));
    if (this.unsynced.size > 0 && !this.closed) this.syncTimer ??= setTimeout(() => void this.syncUnsynced(), SOON_MS).unref();
  }

  /** Entries made with touch(..., { soon: true }) not yet known durable (tests). */
  get unsyncedFolders(): number {
    return this.unsynced.size;
  }

  async putFile(key: string, source: string): Promise<void> {
    const handle = await fs.open(source, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const target = this.file(key);
    await makeDir(path.dirname(target));
    try {
      await fs.rename(source, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // Another file system: copy into our tmp/ (same volume as the target), then rename.
      const tmp = path.join(this.tmpDir, randomUUID());
      await fs.copyFile(source, tmp);
      await (await fs.open(tmp, 'r+')).sync().catch(() => undefined);
      await fs.rename(tmp, target);
      await fs.rm(source, { force: true });
    }
    await fsyncDir(path.dirname(target));
  }

  async reader(key: string, knownSize?: number): Promise<ObjectReader | null> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.file(key), 'r');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    if (knownSize !== undefined) return openFileReader(handle, knownSize);
    // The size comes from the open file: a concurrent garbage collection can unlink the name, never
    // the bytes this handle reads.
    return openFileReader(handle, await sizeOrClose(handle));
  }

  async readStream(key: string): Promise<NodeJS.ReadableStream | null> {
    try {
      const handle = await fs.open(this.file(key), 'r');
      return handle.createReadStream({ highWaterMark: SEND_CHUNK });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const st = statOrNull(this.file(key));
    return st?.isFile() ? { path: key, size: st.size, modifiedAt: st.mtime } : null;
  }

  async list(dir: string): Promise<string[]> {
    return (await readDirOrEmpty(this.file(dir))).sort();
  }

  async *walk(dir: string): AsyncIterable<ObjectInfo> {
    for (const name of await this.list(dir)) {
      const key = `${dir}/${name}`;
      const st = await fs.lstat(this.file(key)).catch((err: unknown) => {
        if (isNotFound(err)) return null;
        throw err;
      });
      if (st?.isDirectory()) yield* this.walk(key);
      else if (st?.isFile()) yield { path: key, size: st.size, modifiedAt: st.mtime };
    }
  }

  async copy(from: string, to: string): Promise<void> {
    const tmp = path.join(this.tmpDir, randomUUID());
    try {
      await fs.copyFile(this.file(from), tmp);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await this.putFile(to, tmp);
  }

  async move(from: string, to: string): Promise<void> {
    const target = this.file(to);
    await makeDir(path.dirname(target));
    await fs.rename(this.file(from), target);
    await fsyncDir(path.dirname(target));
    await fsyncDir(path.dirname(this.file(from))).catch(() => undefined);
  }

  async delete(key: string): Promise<boolean> {
    const file = this.file(key);
    const removed = await removeFile(file);
    // Durable before anything that relies on the object being gone (garbage collection deletes a blob
    // only after its links are gone).
    if (removed) await fsyncDir(path.dirname(file));
    return removed;
  }

  async deleteAll(dir: string): Promise<void> {
    await fs.rm(this.file(dir), { recursive: true, force: true });
  }

  async pruneEmpty(dir: string, stopAt: string): Promise<void> {
    await removeEmptyTree(this.file(dir));
    await removeEmptyDirs(path.dirname(this.file(dir)), this.file(stopAt));
  }

  async writer(key: string, options: WriterOptions = {}): Promise<ObjectWriter> {
    const file = this.file(key);
    await makeDir(path.dirname(file));
    const handle = await fs.open(file, constants.O_RDWR | constants.O_CREAT);
    const offset = await sizeOrClose(handle);
    const sink = new AppendSink(handle, offset, options, await this.openDirect(file, offset));
    const settle = async (): Promise<number> => {
      // A writer ended without a pipeline (no body) still has its file open.
      if (!sink.destroyed && !sink.writableFinished) sink.destroy();
      return sink.settled;
    };
    return {
      offset,
      sink,
      settled: sink.settled,
      // Every accepted byte is already in the file (AppendSink hands bytes on only once written).
      persist: async () => offset + (await settle()),
      discard: async () => {
        await settle();
        await fs.truncate(file, offset);
      },
      commit: async (target: string) => {
        await settle();
        await this.putFile(target, file);
      },
    };
  }

  /** A second handle on the upload's file for direct writes, with its staging buffers; null when not to be had. */
  private async openDirect(file: string, offset: number): Promise<DirectWrites | null> {
    if (!this.directWrites || offset % DIRECT_ALIGNMENT !== 0) return null;
    const buffers = stagingPairs.acquire();
    if (!buffers) return null;
    try {
      const handle = await fs.open(file, constants.O_WRONLY | constants.O_DIRECT);
      return { handle, buffers, release: () => stagingPairs.release(buffers) };
    } catch (err) {
      stagingPairs.release(buffers);
      // EINVAL: a file system without direct I/O (tmpfs, some FUSE ones): ordinary writes from now on.
      if ((err as NodeJS.ErrnoException).code === 'EINVAL') this.directWrites = false;
      return null;
    }
  }

  async writerStat(key: string): Promise<ObjectInfo | null> {
    return this.stat(key);
  }

  async abortWriter(key: string): Promise<void> {
    await removeFile(this.file(key));
  }

  async check(): Promise<void> {
    try {
      // The top folders exist from the start: a data directory is recognisable (berth gc checks blobs/).
      for (const dir of [this.tmpDir, ...TOP_FOLDERS.map((f) => path.join(this.root, f))]) await makeDir(dir);
      await fs.access(this.root, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : code === 'ENOENT' ? 'it does not exist' : (err as Error).message;
      throw new StorageError(code === 'EACCES' || code === 'EPERM' ? 'denied' : 'failed', `cannot write to ${this.root}: ${why}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    await Promise.all([...this.unsynced.keys()].map((dir) => this.syncDir(dir)));
  }
}

/** The open file's size; the handle is closed when even that fails. */
async function sizeOrClose(handle: fs.FileHandle): Promise<number> {
  try {
    return (await handle.stat()).size;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function openFileReader(handle: fs.FileHandle, size: number): ObjectReader {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    size,
    fd: handle.fd,
    async sendTo(dest: Writable, range?: ByteRange): Promise<void> {
      try {
        await sendFile(handle, dest, range?.start ?? 0, range ? range.end + 1 : size);
      } finally {
        await close();
      }
    },
    close,
  };
}

/** Bytes [start, end) of the file to `dest`, double-buffered with pooled buffers (see SEND_CHUNK). */
async function sendFile(handle: fs.FileHandle, dest: Writable, start: number, end: number): Promise<void> {
  const early = closedEarly(dest);
  const closed = early.promise;
  const held: Buffer[] = [];
  const writes: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  try {
    let position = start;
    for (let turn = 0; position < end; turn++) {
      const slot = turn % 2;
      await Promise.race([writes[slot], closed]);
      const buffer = held[slot] ?? (held[slot] = sendBuffers.acquire());
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position), position);
      if (bytesRead === 0) throw new Error(`blob file ended at byte ${position} of ${end}`);
      position += bytesRead;
      const write = new Promise<void>((resolve, reject) => {
        dest.write(buffer.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
      });
      // Observed through the races above and below; a write that fails after we stopped waiting for
      // it (the client reset the connection) must not become an unhandled rejection.
      write.catch(() => undefined);
      writes[slot] = write;
    }
    await Promise.race([Promise.all(writes), closed]);
    for (const buffer of held) sendBuffers.release(buffer);
  } finally {
    // Buffers of a failed send may still be referenced by the socket: they are left to the GC.
    early.stop();
  }
}
