/**
 * The activity log's interface: recent pushes, pulls and deletes, newest first (registry/activity.ts
 * records them). Two implementations: activity-db.ts (one nedb file, one server) and
 * postgres/activity-store.ts (a table every replica of a cluster writes and reads).
 */
import type { ActivityEntry, ActivityKind } from '../registry/api-types.ts';
import type { SetAsideStore } from './nedb-file.ts';

/** An entry as the API shows it (registry/api-types.ts), stored with its id and real dates. */
export type ActivityDoc = Omit<ActivityEntry, 'id' | 'firstAt' | 'at'> & { _id: string; firstAt: Date; at: Date };

export type NewActivity = Omit<ActivityDoc, '_id'>;

/** Where a page of the log ends: the next page starts strictly after this entry. */
export interface ActivityCursor {
  at: Date;
  id: string;
}

export interface ActivityStore {
  /**
   * Whether other processes write the log too (a cluster): then an entry to fold an event into is
   * looked up in the store, not only among the ones this process wrote.
   */
  readonly shared: boolean;
  /** Loads the log; reports a file it had to set aside (nedb), or null. */
  open(): Promise<{ setAside: SetAsideStore | null }>;
  insert(entry: NewActivity): Promise<ActivityDoc>;
  update(doc: ActivityDoc): Promise<void>;
  /** Newest first, `limit` entries, after `before` when given. */
  recent(limit: number, before?: ActivityCursor): Promise<ActivityDoc[]>;
  /** The newest entry of this repository, of one of these kinds, at or after `since`, or null. */
  latest(repository: string, kinds: readonly ActivityKind[], since: Date): Promise<ActivityDoc | null>;
  close(): Promise<void>;
}
