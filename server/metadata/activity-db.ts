/**
 * The activity log: recent pushes, pulls and deletes, newest first, in one nedb collection
 * (<data>/activity.db, see storage/paths.ts). Unlike the index it is history, not derived from the
 * files: a corrupt log is set aside (renamed, never deleted) and a new one started, since the feed is
 * worth less than a server that starts. At most MAX_ENTRIES are kept.
 */
import fs from 'node:fs/promises';
import Datastore from 'nedb-promises';
import type { ActivityEntry } from '../registry/api-types.ts';
import { compact } from './index-db.ts';

/** Enough for weeks of a busy laptop's history; nedb keeps every document in memory (~300 bytes each). */
export const MAX_ENTRIES = 10_000;
/** Pruning runs on open and after this many inserts. */
const PRUNE_EVERY = 500;

/** An entry as the API shows it (registry/api-types.ts), stored with nedb's id and real dates. */
export type ActivityDoc = Omit<ActivityEntry, 'id' | 'firstAt' | 'at'> & { _id: string; firstAt: Date; at: Date };

export type NewActivity = Omit<ActivityDoc, '_id'>;

/** Where a page of the log ends: the next page starts strictly after this entry. */
export interface ActivityCursor {
  at: Date;
  id: string;
}

export class ActivityLog {
  private readonly file: string;
  private readonly max: number;
  private store!: Datastore<ActivityDoc>;
  private insertsSincePrune = 0;

  constructor(file: string, max = MAX_ENTRIES) {
    this.file = file;
    this.max = max;
  }

  /** Loads the log; returns why it had to be started anew, or null. */
  async open(): Promise<{ reset: string | null }> {
    let reset: string | null = null;
    this.store = this.create();
    try {
      await this.store.load();
    } catch (err) {
      reset = `the activity log was unreadable (${(err as Error).message}); it was kept as ${this.file}.corrupt`;
      await fs.rename(this.file, `${this.file}.corrupt`).catch(() => fs.rm(this.file, { force: true }));
      this.store = this.create();
      await this.store.load();
    }
    await this.store.ensureIndex({ fieldName: 'at' });
    await this.prune();
    return { reset };
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

  async close(): Promise<void> {
    await compact(this.store);
  }

  private create(): Datastore<ActivityDoc> {
    return Datastore.create({ filename: this.file, autoload: false }) as unknown as Datastore<ActivityDoc>;
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
