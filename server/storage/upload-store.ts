/**
 * Upload sessions on disk (layout: paths.ts): uploads/<uuid>/data holds the bytes received so far,
 * info.json the repository and start time. A session survives a restart and a client that hangs up:
 * its data file is exactly the bytes that reached the disk, and the session can be resumed from there.
 */
import { randomUUID, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { AppendSink } from './append-sink.ts';
import { isNotFound, makeDir, readDirOrEmpty, writeFileAtomic } from './files.ts';
import type { StoragePaths } from './paths.ts';

/** We only hand out lower-case v4 UUIDs; anything else in a URL is not one of our sessions. */
const UPLOAD_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isUploadId(value: string): boolean {
  return UPLOAD_ID_RE.test(value);
}

export interface UploadInfo {
  id: string;
  repository: string;
  startedAt: Date;
}

export interface StoredUpload extends UploadInfo {
  /** Bytes on disk. */
  size: number;
  /** Last time bytes were written (for purging idle sessions). */
  updatedAt: Date;
}

/** A folder under uploads/, complete session or not (a crash can leave one without info.json). */
export interface UploadEntry {
  id: string;
  /** Bytes of its data file (0 when it has none). */
  size: number;
  /** The latest change to the folder or its files: when the session last received bytes. */
  updatedAt: Date;
}

export interface UploadStore {
  create(repository: string): Promise<UploadInfo>;
  get(id: string): Promise<StoredUpload | null>;
  /**
   * A sink that writes at `offset` of the session's data file (dropping anything beyond it) and hands
   * each byte to `onWritten` once it is on disk.
   */
  appendStream(id: string, offset: number, onWritten?: (bytes: Buffer) => void): Promise<AppendSink>;
  /** Drops bytes past `size` (rolls a failed chunk back). */
  truncate(id: string, size: number): Promise<void>;
  /** Path of the data file, for adoption into the blob store. */
  dataFile(id: string): string;
  /** Feeds the session's bytes on disk through `hash` (when no incremental hash state is at hand). */
  hashData(id: string, hash: Hash): Promise<void>;
  remove(id: string): Promise<void>;
  list(): Promise<StoredUpload[]>;
  /** Every folder under uploads/ named like a session, for purging idle and broken ones. */
  entries(): Promise<UploadEntry[]>;
}

export class FsUploadStore implements UploadStore {
  private readonly paths: StoragePaths;

  constructor(paths: StoragePaths) {
    this.paths = paths;
  }

  async create(repository: string): Promise<UploadInfo> {
    const id = randomUUID();
    const startedAt = new Date();
    await makeDir(this.paths.upload(id));
    try {
      await (await fs.open(this.paths.uploadData(id), 'wx')).close();
      await writeFileAtomic(
        this.paths.tmpDir,
        this.paths.uploadInfo(id),
        JSON.stringify({ repository, startedAt: startedAt.toISOString() }),
      );
    } catch (err) {
      // A disk that refused the session's files (full, failing) must not keep half a session.
      await fs.rm(this.paths.upload(id), { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    return { id, repository, startedAt };
  }

  async get(id: string): Promise<StoredUpload | null> {
    if (!isUploadId(id)) return null;
    try {
      const [info, st] = await Promise.all([
        fs.readFile(this.paths.uploadInfo(id), 'utf8'),
        fs.stat(this.paths.uploadData(id)),
      ]);
      const parsed = JSON.parse(info) as { repository?: unknown; startedAt?: unknown };
      if (typeof parsed.repository !== 'string' || typeof parsed.startedAt !== 'string') return null;
      return { id, repository: parsed.repository, startedAt: new Date(parsed.startedAt), size: st.size, updatedAt: st.mtime };
    } catch (err) {
      if (isNotFound(err) || err instanceof SyntaxError) return null;
      throw err;
    }
  }

  async appendStream(id: string, offset: number, onWritten?: (bytes: Buffer) => void): Promise<AppendSink> {
    const handle = await fs.open(this.paths.uploadData(id), 'r+');
    try {
      await handle.truncate(offset);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return new AppendSink(handle, offset, onWritten);
  }

  async truncate(id: string, size: number): Promise<void> {
    await fs.truncate(this.paths.uploadData(id), size);
  }

  dataFile(id: string): string {
    return this.paths.uploadData(id);
  }

  async hashData(id: string, hash: Hash): Promise<void> {
    for await (const chunk of createReadStream(this.paths.uploadData(id), { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
    }
  }

  async remove(id: string): Promise<void> {
    if (!isUploadId(id)) return;
    await fs.rm(this.paths.upload(id), { recursive: true, force: true });
  }

  async entries(): Promise<UploadEntry[]> {
    const entries: UploadEntry[] = [];
    for (const id of await readDirOrEmpty(this.paths.uploadsDir)) {
      if (!isUploadId(id)) continue;
      let size = 0;
      let updatedAt = 0;
      for (const file of [this.paths.upload(id), this.paths.uploadData(id), this.paths.uploadInfo(id)]) {
        const st = await fs.stat(file).catch((err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        });
        if (!st) continue;
        updatedAt = Math.max(updatedAt, st.mtimeMs);
        if (file === this.paths.uploadData(id)) size = st.size;
      }
      if (updatedAt > 0) entries.push({ id, size, updatedAt: new Date(updatedAt) });
    }
    return entries;
  }

  async list(): Promise<StoredUpload[]> {
    const sessions: StoredUpload[] = [];
    for (const id of await readDirOrEmpty(this.paths.uploadsDir)) {
      const session = await this.get(id);
      if (session) sessions.push(session);
    }
    return sessions;
  }
}
