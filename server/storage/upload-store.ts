/**
 * Upload sessions over the storage driver (layout: paths.ts), the same for every driver:
 * uploads/<uuid>/data holds the bytes received so far (an unfinished object: a growing file on disk, a
 * multipart upload or staged blocks in a bucket), info.json the repository and start time. Everything
 * about a session is in the store, so it survives a restart, a client that hangs up, and (on a bucket)
 * being continued by another Berth process: its data is exactly the bytes persisted, and the session can
 * be resumed from there.
 */
import { randomUUID } from 'node:crypto';
import type { ObjectWriter, StorageDriver, WriterOptions } from './driver/driver.ts';
import { keys } from './paths.ts';

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
  /** Bytes stored. */
  size: number;
  /** Last time bytes were written (for purging idle sessions). */
  updatedAt: Date;
}

/** A session under uploads/, complete or not (a crash can leave one without info.json). */
export interface UploadEntry {
  id: string;
  /** Bytes of its data (0 when it has none). */
  size: number;
  /** The latest change to any of its objects: when the session last received bytes. */
  updatedAt: Date;
}

export interface UploadStore {
  /**
   * Whether other processes may continue this process's sessions (a shared bucket): then the upload's
   * hash state is saved with its bytes (saveHashState) instead of living only in this process.
   */
  readonly shared: boolean;
  create(repository: string): Promise<UploadInfo>;
  get(id: string): Promise<StoredUpload | null>;
  /**
   * Opens the session's data for appending at its current size; each byte goes to `onWritten` once
   * accepted (the upload's hash), `onTaken` counts progress. End it with persist(), discard() or the
   * blob store's adoptUpload().
   */
  writer(id: string, options?: WriterOptions): Promise<ObjectWriter>;
  /** Saves the hash state after `size` bytes (before the writer persists them: see uploads.ts). */
  saveHashState(id: string, algorithm: string, size: number, state: Uint8Array): Promise<void>;
  /** The hash state saved after exactly `size` bytes, or null. */
  loadHashState(id: string, algorithm: string, size: number): Promise<Uint8Array | null>;
  /**
   * The session's bytes as a stream, for hashing when no hash state is at hand; null where the store
   * cannot read an unfinished object back (object stores: see uploads.ts for what happens instead).
   */
  readData(id: string): Promise<NodeJS.ReadableStream | null>;
  /**
   * Finishes the session's data as an ordinary object under the session (uploads/<id>/complete) and
   * returns its key: on a shared store, how an upload is verified when no hash state is at hand.
   */
  finish(id: string, writer: ObjectWriter): Promise<string>;
  /** The bytes of a session finished by finish(), or null. */
  readFinished(id: string): Promise<NodeJS.ReadableStream | null>;
  remove(id: string): Promise<void>;
  list(): Promise<StoredUpload[]>;
  /** Every session folder (complete or not), for purging idle and broken ones. */
  entries(): Promise<UploadEntry[]>;
}

export class DriverUploadStore implements UploadStore {
  private readonly driver: StorageDriver;
  readonly shared: boolean;

  constructor(driver: StorageDriver) {
    this.driver = driver;
    this.shared = driver.shared;
  }

  async create(repository: string): Promise<UploadInfo> {
    const id = randomUUID();
    const startedAt = new Date();
    await this.driver.putContent(keys.uploadInfo(id), JSON.stringify({ repository, startedAt: startedAt.toISOString() }));
    return { id, repository, startedAt };
  }

  async get(id: string): Promise<StoredUpload | null> {
    if (!isUploadId(id)) return null;
    const [info, data] = await Promise.all([this.driver.getContent(keys.uploadInfo(id), 64 * 1024), this.driver.writerStat(keys.uploadData(id))]);
    if (!info) return null;
    let parsed: { repository?: unknown; startedAt?: unknown };
    try {
      parsed = JSON.parse(info.bytes.toString('utf8')) as typeof parsed;
    } catch {
      return null;
    }
    if (typeof parsed.repository !== 'string' || typeof parsed.startedAt !== 'string') return null;
    const startedAt = new Date(parsed.startedAt);
    return { id, repository: parsed.repository, startedAt, size: data?.size ?? 0, updatedAt: data?.modifiedAt ?? info.modifiedAt };
  }

  async writer(id: string, options: WriterOptions = {}): Promise<ObjectWriter> {
    return this.driver.writer(keys.uploadData(id), options);
  }

  async saveHashState(id: string, algorithm: string, size: number, state: Uint8Array): Promise<void> {
    await this.driver.putContent(keys.uploadHashState(id, algorithm, size), state);
  }

  async loadHashState(id: string, algorithm: string, size: number): Promise<Uint8Array | null> {
    return (await this.driver.getContent(keys.uploadHashState(id, algorithm, size), 64 * 1024))?.bytes ?? null;
  }

  async readData(id: string): Promise<NodeJS.ReadableStream | null> {
    if (this.driver.shared) return null;
    return this.driver.readStream(keys.uploadData(id));
  }

  async finish(id: string, writer: ObjectWriter): Promise<string> {
    const key = keys.uploadComplete(id);
    await writer.commit(key);
    return key;
  }

  async readFinished(id: string): Promise<NodeJS.ReadableStream | null> {
    return this.driver.readStream(keys.uploadComplete(id));
  }

  async remove(id: string): Promise<void> {
    if (!isUploadId(id)) return;
    await this.driver.abortWriter(keys.uploadData(id));
    await this.driver.deleteAll(keys.upload(id));
  }

  async entries(): Promise<UploadEntry[]> {
    const entries: UploadEntry[] = [];
    for (const id of await this.driver.list(keys.uploads)) {
      if (!isUploadId(id)) continue;
      let updatedAt = 0;
      for await (const object of this.driver.walk(keys.upload(id))) updatedAt = Math.max(updatedAt, object.modifiedAt.getTime());
      const data = await this.driver.writerStat(keys.uploadData(id));
      if (data) updatedAt = Math.max(updatedAt, data.modifiedAt.getTime());
      if (updatedAt > 0) entries.push({ id, size: data?.size ?? 0, updatedAt: new Date(updatedAt) });
    }
    return entries;
  }

  async list(): Promise<StoredUpload[]> {
    const sessions: StoredUpload[] = [];
    for (const id of await this.driver.list(keys.uploads)) {
      const session = await this.get(id);
      if (session) sessions.push(session);
    }
    return sessions;
  }
}
