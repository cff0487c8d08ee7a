/**
 * The activity log: recent pushes, pulls and deletes, newest first, in one nedb collection
 * (<data>/activity.db, see storage/paths.ts). Unlike the index it is history, not derived from the
 * files: a log whose contents cannot be read is set aside (renamed, never deleted) and a new one
 * started with the entries that still parse, since the feed is worth less than a server that starts.
 * A log the disk cannot read (EIO) stops the start and stays where it is. At most MAX_ENTRIES are kept.
 */
import type Datastore from 'nedb-promises';
import type { ActivityKind } from '../registry/api-types.ts';
import type { ActivityCursor, ActivityDoc, ActivityStore, NewActivity } from './activity-store.ts';
import type { SetAsideStore } from './maintenance-db.ts';
import { compact, isDiskError, openNedb, setAside, StoreCorruptError, type NedbOptions } from './nedb-file.ts';

/** Enough for weeks of a busy laptop's history; nedb keeps every document in memory (~300 bytes each). */
export const MAX_ENTRIES = 10_000;
/** Pruning runs on open and after this many inserts. */
const PRUNE_EVERY = 500;

export type { ActivityCursor, ActivityDoc, NewActivity } from './activity-store.ts';

export class ActivityLog implements ActivityStore {
  /** One server writes the file. */
  readonly shared = false;
  private readonly file: string;
  private readonly max: number;
  private store!: Datastore<ActivityDoc>;
  private insertsSincePrune = 0;

  private readonly options: NedbOptions;

  /** `onWriteFailure` hears of every write the disk refused (see nedb-file.ts). */
  constructor(file: string, max = MAX_ENTRIES, onWriteFailure?: (err: Error, file: string) => void) {
    this.file = file;
    this.max = max;
    this.options = onWriteFailure ? { onWriteFailure } : {};
  }

  /** Loads the log; reports the file it had to set aside, or null. */
  async open(): Promise<{ setAside: SetAsideStore | null }> {
    let setAsideStore: SetAsideStore | null = null;
    try {
      this.store = await openNedb<ActivityDoc>(this.file, this.options);
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      const { db, keptAs, salvaged } = await setAside<ActivityDoc>(this.file, this.options);
      this.store = db;
      setAsideStore = { file: this.file, keptAs, badLines: err.badLines, lines: err.lines, salvaged };
    }
    try {
      await this.store.ensureIndex({ fieldName: 'at' });
      await this.prune();
    } catch (err) {
      // A full disk: the index and the pruning are in memory, and written by a later compaction.
      if (!isDiskError(err)) throw err;
    }
    return { setAside: setAsideStore };
  }

  async insert(entry: NewActivity): Promise<ActivityDoc> {
    const doc = await this.store.insert<NewActivity>(entry);
    if (++this.insertsSincePrune >= PRUNE_EVERY) await this.prune();
    return doc as ActivityDoc;
  }

  async update(doc: ActivityDoc): Promise<void> {
    await this.store.update({ _id: doc._id }, doc);
  }

  /** Newest first, `limit` entries, after `before` when given. */
  async recent(limit: number, before?: ActivityCursor): Promise<ActivityDoc[]> {
    const query = before
      ? { $or: [{ at: { $lt: before.at } }, { at: before.at, _id: { $lt: before.id } }] }
      : {};
    return this.store.find<ActivityDoc>(query).sort({ at: -1, _id: -1 }).limit(limit);
  }

  async latest(repository: string, kinds: readonly ActivityKind[], since: Date): Promise<ActivityDoc | null> {
    const [doc] = await this.store.find<ActivityDoc>({ repository, kind: { $in: [...kinds] }, at: { $gte: since } }).sort({ at: -1 }).limit(1);
    return doc ?? null;
  }

  async close(): Promise<void> {
    await compact(this.store);
  }

  /** Drops the oldest entries beyond the cap, then compacts the file (nedb appends every change). */
  private async prune(): Promise<void> {
    this.insertsSincePrune = 0;
    const excess = (await this.store.count({})) - this.max;
    if (excess <= 0) return;
    const oldest = await this.store.find<ActivityDoc>({}).sort({ at: 1 }).limit(excess).project({ _id: 1 });
    await this.store.remove({ _id: { $in: oldest.map((d) => d._id) } }, { multi: true });
    await compact(this.store);
  }
}
