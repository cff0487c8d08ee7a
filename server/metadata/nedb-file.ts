/**
 * Opening and writing nedb files so that a full or failing disk never costs data, and a file is set
 * aside only when its bytes really cannot be read.
 *
 * nedb appends every change as a JSON line and rewrites the whole file ("compaction": file~, fsync,
 * rename) at load and when asked. On a full disk both fail, and out of the box a failed load leaves
 * the store unusable and a failed append leaves half a line that, joined to the next append, corrupts
 * a good line. So every store Berth opens goes through here:
 *   - a compaction the disk refuses (at load or later) is put off: the file is still the complete old
 *     one (only file~ was being written, and it is removed), and memory holds everything;
 *   - an append the disk refuses is cut back off the file (truncate to the size before it), so the file
 *     stays whole; memory keeps the change ("unsaved") and the next compaction that succeeds writes it.
 *     A derived store (the index) takes that as success; any other store passes the error on;
 *   - a load that fails for an I/O reason (EIO, EACCES...) is a StoreReadError: never a reason to move
 *     the file; one that fails because lines do not parse is a StoreCorruptError, except for one cut-off
 *     last line (a crash in the middle of an append), which is dropped.
 * nedb-promises forwards to @seald-io/nedb, whose Persistence methods are replaced per instance below
 * (its typings omit them).
 */
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import Datastore from 'nedb-promises';
import { errnoCode } from '../storage/failures.ts';

export interface NedbOptions {
  /** Derived data (the index, rebuilt from the files): a write the disk refuses stays in memory and is not an error. */
  derived?: boolean;
  /** Told of every write the disk refused (a full disk is reported by the registry's storage health). */
  onWriteFailure?: (err: Error, file: string) => void;
  /** Permissions of the file (every rewrite too) and its folder, for stores that hold secrets (nedb's option). */
  modes?: { fileMode: number; dirMode: number };
}

/** The file could not be read (EIO, EACCES, ...): nothing was changed, nothing must be moved. */
export class StoreReadError extends Error {
  readonly file: string;
  readonly code: string;
  constructor(file: string, cause: unknown) {
    const code = errnoCode(cause) ?? 'EIO';
    super(`cannot read ${file}: ${(cause as Error).message}`);
    this.name = 'StoreReadError';
    this.file = file;
    this.code = code;
  }
}

/** The file's contents cannot be used: lines that do not parse, or documents that contradict each other. */
export class StoreCorruptError extends Error {
  readonly file: string;
  readonly badLines: number;
  readonly lines: number;
  constructor(file: string, badLines: number, lines: number, reason: string) {
    super(`${file} is damaged: ${badLines > 0 ? `${badLines} of its ${lines} lines cannot be read` : reason}`);
    this.name = 'StoreCorruptError';
    this.file = file;
    this.badLines = badLines;
    this.lines = lines;
  }
}

interface FileState {
  file: string;
  /** Memory holds changes the file does not have yet. */
  unsaved: boolean;
}

interface NedbPersistence {
  modes: { fileMode: number };
  persistCachedDatabaseAsync(): Promise<void>;
  persistNewStateAsync(docs: unknown[]): Promise<void>;
  treatRawStreamAsync(stream: NodeJS.ReadableStream): Promise<unknown>;
  corruptAlertThreshold: number;
}

const states = new WeakMap<object, FileState>();

/** Opens (creating if needed) the nedb file `file`; see the top of this file for what can be thrown. */
export async function openNedb<T>(file: string, options: NedbOptions = {}): Promise<Datastore<T>> {
  try {
    return await load<T>(file, options, false);
  } catch (err) {
    if (errnoCode(err)) throw new StoreReadError(file, err);
    const lines = await inspect(file);
    if (lines.tornTail) return load<T>(file, options, true);
    throw new StoreCorruptError(file, lines.bad, lines.total, (err as Error).message);
  }
}

/**
 * Rewrites the file as one line per document (nedb's crash-safe write: temp file, fsync, rename).
 * Resolves true when the file now holds exactly what memory does; false when the disk refused (the
 * file is then unchanged and complete, and memory keeps everything).
 */
export async function compact<T>(db: Datastore<T>): Promise<boolean> {
  await (db as unknown as { compactDatafileAsync(): Promise<void> }).compactDatafileAsync();
  return !unsaved(db);
}

/** Whether memory holds changes the file does not (a refused write). */
export function unsaved<T>(db: Datastore<T>): boolean {
  return states.get(persistenceOf(db))?.unsaved ?? false;
}

/** A write to a store that failed because of the disk, not because of the data. */
export function isDiskError(err: unknown): boolean {
  return errnoCode(err) !== null;
}

/**
 * Moves a damaged file aside as `<file>.unreadable-<time>` (never deleting it) and opens a fresh store
 * in its place holding every document of it that still parses. Returns where it went and how many
 * documents were kept.
 */
export async function setAside<T>(file: string, options: NedbOptions = {}, now = new Date()): Promise<{ db: Datastore<T>; keptAs: string; salvaged: number }> {
  const keptAs = `${file}${SET_ASIDE_MARK}${now.toISOString().replace(/[:.]/g, '-')}`;
  await fs.rename(file, keptAs);
  const db = await load<T>(file, options, false);
  const docs = salvage(await fs.readFile(keptAs, 'utf8'));
  if (docs.length > 0) {
    try {
      await db.insert(docs as T[]);
    } catch (err) {
      // Refused by the disk: the documents are in memory and the next compaction writes them.
      if (!isDiskError(err)) throw err;
    }
  }
  return { db, keptAs, salvaged: docs.length };
}

/** A store file that could not be read and was moved aside; the documents that still parsed were kept. */
export interface SetAsideStore {
  file: string;
  keptAs: string;
  /** Lines of the file that could not be read, of all its lines (0 of 0 when documents contradicted each other). */
  badLines: number;
  lines: number;
  /** Documents read from it and kept in the new file. */
  salvaged: number;
}

/**
 * Opens a store of primary data: a damaged file is set aside (reported in `setAsideStores`) and a new
 * one holds what still parsed; a file that cannot be read at all (StoreReadError) is never moved.
 */
export async function openOrSetAside<T>(file: string, options: NedbOptions, setAsideStores: SetAsideStore[]): Promise<Datastore<T>> {
  try {
    return await openNedb<T>(file, options);
  } catch (err) {
    if (!(err instanceof StoreCorruptError)) throw err;
    const { db, keptAs, salvaged } = await setAside<T>(file, options);
    setAsideStores.push({ file, keptAs, badLines: err.badLines, lines: err.lines, salvaged });
    return db;
  }
}

/** The infix of a set-aside file's name (`retention.db.unreadable-2026-01-01T00-00-00-000Z`). */
export const SET_ASIDE_MARK = '.unreadable-';

export interface SetAsideFile {
  /** The store file as it is used (`<data>/maintenance/retention.db`). */
  file: string;
  /** Where the damaged file was moved. */
  keptAs: string;
  /** When it was set aside (from its name). */
  at: string;
}

/** Every set-aside store file in `dirs`, oldest first. */
export async function findSetAside(dirs: readonly string[]): Promise<SetAsideFile[]> {
  const found: SetAsideFile[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const mark = name.indexOf(SET_ASIDE_MARK);
      if (mark <= 0) continue;
      const stamp = /^(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z$/.exec(name.slice(mark + SET_ASIDE_MARK.length));
      if (!stamp) continue;
      found.push({
        file: path.join(dir, name.slice(0, mark)),
        keptAs: path.join(dir, name),
        at: `${stamp[1]}T${stamp[2]}:${stamp[3]}:${stamp[4]}.${stamp[5]}Z`,
      });
    }
  }
  return found.sort((a, b) => (a.at < b.at ? -1 : 1));
}

// ---- internals ------------------------------------------------------------------------------------

/**
 * Appends `text` to a store file with synchronous calls: an index append is a line of a few hundred
 * bytes into the page cache (no fsync: nedb does not sync appends, and the index is rebuilt from the
 * files), where fs.promises.appendFile plus the stat that guarded it were four hops to the thread pool
 * and back (docs/benchmarks.md, catalog populate). An append the disk refuses is cut back off the file,
 * so the file stays whole. nedb runs one operation at a time per store, so appends never interleave.
 */
function appendNow(file: string, text: string, mode: number): void {
  if (text.length === 0) return;
  const bytes = Buffer.from(text);
  const fd = fsSync.openSync(file, 'a', mode);
  try {
    const before = fsSync.fstatSync(fd).size;
    try {
      for (let done = 0; done < bytes.length; ) done += fsSync.writeSync(fd, bytes, done);
    } catch (err) {
      // A partial line joined to the next append would corrupt a good line: cut it back off.
      try {
        fsSync.ftruncateSync(fd, before);
      } catch {
        // The file keeps a torn last line, which the next load drops (openNedb).
      }
      throw err;
    }
  } finally {
    fsSync.closeSync(fd);
  }
}

/** A document as nedb writes it: JSON, dates as {"$$date": milliseconds} (nedb's model.serialize). */
function serialize(doc: unknown): string {
  return JSON.stringify(doc, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    return raw instanceof Date ? { $$date: raw.getTime() } : value;
  });
}

function persistenceOf<T>(db: Datastore<T>): object {
  return (db as unknown as { persistence: object }).persistence;
}

async function load<T>(file: string, options: NedbOptions, dropBadLines: boolean): Promise<Datastore<T>> {
  const db = Datastore.create({ filename: file, autoload: false, ...(options.modes ? { modes: options.modes } : {}) } as Parameters<typeof Datastore.create>[0]) as unknown as Datastore<T>;
  const persistence = persistenceOf(db) as NedbPersistence;
  // nedb's default refuses a file with more than 10% of bad lines; a torn last line is dropped instead.
  if (dropBadLines) persistence.corruptAlertThreshold = 1;
  const state: FileState = { file, unsaved: false };
  states.set(persistence, state);

  // nedb reads the file through a line splitter that does not pass on the file stream's errors: an
  // EIO while reading would be an unhandled 'error' event and end the process. It rejects the load instead.
  const readLines = persistence.treatRawStreamAsync.bind(persistence);
  persistence.treatRawStreamAsync = (stream) =>
    new Promise((resolve, reject) => {
      stream.once('error', reject);
      readLines(stream).then(resolve, reject);
    });
  const rewrite = persistence.persistCachedDatabaseAsync.bind(persistence);
  persistence.persistCachedDatabaseAsync = async () => {
    try {
      await rewrite();
      state.unsaved = false;
    } catch (err) {
      if (!isDiskError(err)) throw err;
      // Only file~ was being written: the file itself is whole. Drop the partial copy, keep its space.
      await fs.rm(`${file}~`, { force: true }).catch(() => undefined);
      options.onWriteFailure?.(err as Error, file);
    }
  };
  persistence.persistNewStateAsync = async (docs: unknown[]) => {
    try {
      appendNow(file, docs.map((doc) => `${serialize(doc)}\n`).join(''), persistence.modes.fileMode);
    } catch (err) {
      state.unsaved = true;
      options.onWriteFailure?.(err as Error, file);
      if (options.derived && isDiskError(err)) return;
      throw err;
    }
  };
  await db.load();
  return db;
}

/** Which lines of a file nedb refused do not parse, and whether only a cut-off last line is bad. */
async function inspect(file: string): Promise<{ total: number; bad: number; tornTail: boolean }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new StoreReadError(file, err);
  }
  const lines = text.split('\n');
  const terminated = lines[lines.length - 1] === '';
  if (terminated) lines.pop();
  const badAt: number[] = [];
  lines.forEach((line, i) => {
    if (line !== '' && parse(line) === undefined) badAt.push(i);
  });
  const tornTail = !terminated && badAt.length === 1 && badAt[0] === lines.length - 1;
  return { total: lines.length, bad: badAt.length, tornTail };
}

/** The documents of an nedb file that still parse, replayed as nedb does (later lines win, $$deleted removes). */
function salvage(text: string): object[] {
  const byId = new Map<string, object>();
  for (const line of text.split('\n')) {
    const doc = line === '' ? undefined : parse(line);
    if (!doc || typeof doc._id !== 'string') continue;
    if (doc.$$deleted === true) byId.delete(doc._id);
    else byId.set(doc._id, doc);
  }
  return [...byId.values()];
}

/** One line as nedb's model.deserialize reads it (dates are {"$$date": ms}), or undefined. */
function parse(line: string): ({ _id?: unknown; $$deleted?: unknown } & Record<string, unknown>) | undefined {
  try {
    const doc: unknown = JSON.parse(line, (key, value: unknown) => {
      if (key === '$$date') return new Date(value as number);
      if (value && typeof value === 'object' && '$$date' in value) return (value as { $$date: unknown }).$$date;
      return value;
    });
    return doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
