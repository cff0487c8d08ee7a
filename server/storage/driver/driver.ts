/**
 * The storage driver: the one small interface between Berth's stores (blob-store.ts, repository-store.ts,
 * upload-store.ts) and where bytes live. Modelled on CNCF Distribution's registry/storage/driver (small
 * objects by path, a streaming reader, a resumable writer, stat, list, move, delete, an optional redirect
 * URL), with the stores built once on top of it, so every driver gets the same semantics: what a path
 * means, when a blob becomes visible, what survives a crash, is decided above this line, never per driver.
 *
 * Paths are '/'-separated keys relative to the driver's root (layout: ../paths.ts), never starting or
 * ending with '/'. A "directory" is just a common prefix: object stores have no folders, so nothing here
 * depends on creating or removing one (the filesystem driver prunes empty folders on its own).
 *
 * Three drivers: filesystem.ts (a local data directory; the default), s3.ts (any S3-compatible
 * endpoint), azure.ts (Azure Blob Storage). All three pass one driver test suite
 * (test/storage/driver-suite.ts).
 *
 * What a driver guarantees:
 *   - putContent, commit and copy/move make an object appear whole or not at all (temp + fsync + rename
 *     on disk; a single PUT, a completed multipart upload or a server-side copy on object stores).
 *   - A writer's bytes survive the process once persist() returned: the next writer(path) continues at
 *     exactly that size, in this process or another one (the state of an unfinished object lives in
 *     the store, never only in memory: several Berth processes may share one bucket, issue 16).
 *   - Listings are paginated inside the driver: callers see every entry, memory grows with what they
 *     keep, not with a page.
 */
import type { Writable } from 'node:stream';

export const DRIVER_NAMES = ['filesystem', 's3', 'azure'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export interface ObjectInfo {
  /** The object's path (key), relative to the driver's root. */
  path: string;
  size: number;
  /** When the object was last written. Object stores keep whole seconds. */
  modifiedAt: Date;
}

export interface StoredContent {
  bytes: Buffer;
  modifiedAt: Date;
}

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** An object opened for reading: its size is known before any byte is sent (response headers). */
export interface ObjectReader {
  readonly size: number;
  /**
   * Writes the object (or a range of it) to `dest`, respecting its backpressure, then releases the
   * reader. Rejects when `dest` closes early (the client went away) or the store fails mid-way.
   */
  sendTo(dest: Writable, range?: ByteRange): Promise<void>;
  /** Releases the reader without sending (HEAD, 304, errors before sending). */
  close(): Promise<void>;
  /**
   * The object is a local file open on this descriptor (the filesystem driver): until close(), another
   * thread may read it by position, or a child process read it as its stdin, with no copy through this
   * process (worker-pool.ts hands it to the layer reader and to the `zstd` program). Its offset stays at
   * the start (this process reads by position only). A reader used so is closed, never sent. Absent
   * where the object is not a local file.
   */
  readonly fd?: number;
}

/**
 * Appends to an unfinished object (an upload's data). Bytes go into `sink`; then exactly one of
 * persist(), discard() or commit() ends the writer.
 */
export interface ObjectWriter {
  /** Size of the unfinished object when this writer was opened: the first byte written lands here. */
  readonly offset: number;
  /**
   * Where the bytes go. It hands each byte to `onWritten` (see writer()) once the byte is accepted:
   * on disk, or in the part buffer that persist() or commit() will store.
   */
  readonly sink: Writable;
  /** Resolves once the sink is finished or destroyed (end it when there is nothing to write), with the bytes it accepted. */
  readonly settled: Promise<number>;
  /**
   * Makes every accepted byte durable and ends the writer; a later writer(path), here or in another
   * process, continues at the returned size. On failure the object keeps its size at open.
   */
  persist(): Promise<number>;
  /** Drops the bytes this writer accepted and ends it: the object stays as it was at open. */
  discard(): Promise<void>;
  /**
   * Finishes the object with every accepted byte and makes it appear, whole, at `target` (an ordinary
   * object from then on); the unfinished object and its state are gone. Ends the writer.
   */
  commit(target: string): Promise<void>;
}

export interface WriterOptions {
  /** Called with each accepted byte, in order (the upload's digest is computed from these). */
  onWritten?: ((bytes: Buffer) => void) | undefined;
  /**
   * Called with the length of each chunk as the sink takes it (upload progress). A driver may take
   * bytes into a buffer of its own before they reach onWritten (the filesystem's direct writes stage
   * 1 MiB: append-sink.ts); taken bytes are stored when the writer is persisted, like accepted ones.
   */
  onTaken?: ((count: number) => void) | undefined;
}

/** Where the driver keeps its objects, for the disk usage page and log lines. */
export interface StorageLocation {
  driver: DriverName;
  /** Human-readable: a folder, "s3://bucket/prefix at https://endpoint", "azure://account/container". */
  description: string;
}

export interface StorageDriver {
  readonly location: StorageLocation;
  /**
   * Whether other processes may write the same store (object stores): then nothing correctness-critical
   * may live only in this process, and an upload's hash state is saved with its bytes.
   */
  readonly shared: boolean;
  /**
   * Whether an object's modified time is exact (to the millisecond) and is what the store keeps as its
   * time (files). Object stores keep whole seconds, and a copy gets a new time: the repository store
   * then writes push times into the objects themselves (paths.ts).
   */
  readonly exactTimes: boolean;

  /** Where an object is, for a person (a file path, an s3:// or azure:// URL): reports, never a request. */
  describe(path: string): string;

  /** The whole object (small objects: links, tags, manifests); null when absent or larger than maxBytes. */
  getContent(path: string, maxBytes?: number): Promise<StoredContent | null>;
  /** Stores a small object; readers see the old or the new content, never a part. */
  putContent(path: string, content: string | Uint8Array): Promise<void>;
  /**
   * Creates an empty object, or renews the modified time of an existing one (a layer link's time is
   * when a push last needed it: the garbage collector's grace window). With `soon`, a new object may
   * become durable up to a second later, or when settle() names it: on disk that spares the request a
   * directory fsync of its own (object stores' writes are durable when they return).
   */
  touch(path: string, options?: { soon?: boolean }): Promise<void>;
  /** Makes the objects that touch(path, { soon: true }) created at these paths durable now. */
  settle(paths: readonly string[]): Promise<void>;
  /**
   * putContent in two steps: the content is written where no reader sees it (on disk: a synced temp
   * file), so that several objects can be written at once and then made visible, each whole, in the order
   * the caller commits them. An uncommitted one is dropped with discard().
   */
  stageContent(path: string, content: string | Uint8Array): Promise<StagedContent>;
  /** Moves a complete local file into the store at `path` (whole or not at all); the file is consumed. */
  putFile(path: string, file: string): Promise<void>;
  /**
   * Opens an object for streaming, or null when absent. `knownSize` (the blob store caches sizes) spares
   * the driver a stat; a driver may then find the object gone only when sending.
   */
  reader(path: string, knownSize?: number): Promise<ObjectReader | null>;
  /** The object's bytes as a stream (hashing, copying between drivers), or null when absent. */
  readStream(path: string): Promise<NodeJS.ReadableStream | null>;
  stat(path: string): Promise<ObjectInfo | null>;
  /** Names directly under the directory `dir` (objects and sub-directories alike), sorted; [] when none. */
  list(dir: string): Promise<string[]>;
  /** Every object under the directory `dir`, at any depth, page by page. */
  walk(dir: string): AsyncIterable<ObjectInfo>;
  /** Server-side copy: the bytes never pass through Berth. */
  copy(from: string, to: string): Promise<void>;
  /** Copy then delete (a rename on disk). */
  move(from: string, to: string): Promise<void>;
  /** Deletes one object; false when it was not there. */
  delete(path: string): Promise<boolean>;
  /** Deletes every object under the directory `dir` (and, on disk, the folder). */
  deleteAll(dir: string): Promise<void>;
  /**
   * Removes directories under `dir` (deepest first) and then `dir` and its parents up to `stopAt`, as long
   * as they are empty. Object stores have no directories: nothing to do there.
   */
  pruneEmpty(dir: string, stopAt: string): Promise<void>;

  /** Opens the unfinished object at `path` for appending (creating it empty the first time). */
  writer(path: string, options?: WriterOptions): Promise<ObjectWriter>;
  /** Size and last write of an unfinished object, or null when there is none. */
  writerStat(path: string): Promise<ObjectInfo | null>;
  /** Drops an unfinished object with everything it holds in the store (an abandoned upload). */
  abortWriter(path: string): Promise<void>;

  /**
   * A URL a client can GET the object from directly for `expiresInSeconds` (presigned), or null when the
   * driver has none (filesystem). Range requests work on it as on Berth.
   */
  urlFor?(path: string, expiresInSeconds: number): Promise<string | null>;

  /**
   * Checks the store answers and its bucket/container exists (creating it when `create` and the
   * credentials allow); throws a StorageError whose message is one line for the user.
   */
  check(options?: { create?: boolean }): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** Content written by stageContent, not yet visible at its path. */
export interface StagedContent {
  /** Makes it visible at its path, whole (and durable); once. */
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** stageContent for stores whose one PUT is atomic and durable already: nothing is written before commit(). */
export function stageAsPut(driver: Pick<StorageDriver, 'putContent'>, path: string, content: string | Uint8Array): StagedContent {
  return { commit: () => driver.putContent(path, content), discard: async () => undefined };
}

/** Why a store could not be used, as a user would want it said. */
export type StorageErrorKind = 'unreachable' | 'missing' | 'denied' | 'throttled' | 'failed';

/**
 * A failure of the store itself (not a missing object): unreachable endpoint, refused credentials,
 * missing bucket. The registry answers it with UNAVAILABLE (503) and `berth serve` prints the message.
 */
export class StorageError extends Error {
  readonly kind: StorageErrorKind;
  constructor(kind: StorageErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.kind = kind;
  }
}

export function isStorageError(err: unknown): err is StorageError {
  return err instanceof StorageError;
}

/** Joins path segments with '/' (keys, never OS paths). */
export function joinKey(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}
