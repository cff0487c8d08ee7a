/**
 * The storage lifecycle's own small nedb store (layout: storage/paths.ts, maintenance/): the history of
 * maintenance runs (garbage collections, scrubs, upload purges, reindexes, retention runs) and the
 * retention rules.
 *
 * Kept apart from the metadata index (index-db.ts) on purpose: the index is derived from the files and
 * is wiped and rebuilt whenever it is in doubt, while retention rules are settings the user typed and
 * the run history cannot be derived from anything. A rebuild of the index never touches this store.
 * One owner at a time, like the index: the process that holds berth.lock.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type Datastore from 'nedb-promises';
import { compact, isDiskError, openNedb, openOrSetAside, type NedbOptions, type SetAsideStore } from './nedb-file.ts';

export type RunKind = 'gc' | 'scrub' | 'purge-uploads' | 'reindex' | 'retention';
export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted';
export type RunTrigger = 'ui' | 'api' | 'schedule' | 'cli';

export interface RunProgress {
  /** What the run is doing now, in words ("scanning repositories", "deleting blobs"). */
  phase: string;
  done: number;
  total: number;
}

/** One maintenance run; `options` and `result` are the JSON of the run's kind (registry/maintenance.ts). */
export interface RunDoc {
  _id: string;
  kind: RunKind;
  trigger: RunTrigger;
  state: RunState;
  options: object;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  progress: RunProgress | null;
  result: object | null;
  error: string | null;
}

export interface RetentionRuleDoc {
  _id: string;
  /** Glob over repository names ("team/*", "**"). */
  repositories: string;
  /** Keep the newest N tags by push time. */
  keepLast: number | null;
  /** Keep tags pushed within this many days. */
  keepDays: number | null;
  /** Glob over tag names that are always kept ("latest", "v*"). */
  keepTags: string | null;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** How many runs the history keeps; older ones are dropped as new ones finish. */
export const RUN_HISTORY_LIMIT = 200;

export type { SetAsideStore } from './nedb-file.ts';

export class MaintenanceStore {
  private readonly dir: string;
  private readonly options: NedbOptions;
  private runs!: Datastore<RunDoc>;
  private rules!: Datastore<RetentionRuleDoc>;
  private opened = false;

  /** `onWriteFailure` hears of every write the disk refused (see nedb-file.ts). */
  constructor(dir: string, onWriteFailure?: (err: Error, file: string) => void) {
    this.dir = dir;
    this.options = onWriteFailure ? { onWriteFailure } : {};
  }

  /**
   * Loads both collections. A run still marked queued or running was cut short by a crash or a kill:
   * it is recorded as interrupted. A collection whose contents cannot be read is moved aside (and
   * reported) and the documents that still parse are kept, so a damaged history never keeps the
   * registry from starting; a file the disk cannot read (EIO, EACCES) stops the start instead
   * (StoreReadError), and is left where it is. On a full disk nothing here needs space: what cannot be
   * written now stays in memory and is written by a later compaction.
   */
  async open(): Promise<{ setAside: SetAsideStore[] }> {
    await fs.mkdir(this.dir, { recursive: true });
    const setAside: SetAsideStore[] = [];
    this.runs = await this.load<RunDoc>('runs', setAside);
    this.rules = await this.load<RetentionRuleDoc>('retention', setAside);
    await unlessDiskFull(this.runs.ensureIndex({ fieldName: 'queuedAt' }));
    await unlessDiskFull(this.runs.update(
      { state: { $in: ['queued', 'running'] } },
      { $set: { state: 'interrupted', error: 'Berth stopped before the run finished', progress: null } },
      { multi: true },
    ));
    this.opened = true;
    return { setAside };
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    await Promise.all([compact(this.runs), compact(this.rules)]);
  }

  // ---- runs -----------------------------------------------------------------------------------

  /**
   * Records a run. The history is a record, not a reason to stop: a run that frees space (a collection,
   * an upload purge) must run on a full disk. So a write the disk refuses stays in memory (the run is
   * still listed) and is saved by the next compaction; returns false then.
   */
  async saveRun(run: RunDoc): Promise<boolean> {
    try {
      await this.runs.update({ _id: run._id }, run, { upsert: true });
      if (run.state === 'succeeded' || run.state === 'failed') await this.prune();
      return true;
    } catch (err) {
      if (!isDiskError(err)) throw err;
      return false;
    }
  }

  async run(id: string): Promise<RunDoc | null> {
    return this.runs.findOne<RunDoc>({ _id: id });
  }

  /** Newest first. */
  async listRuns(filter: { kind?: RunKind; limit: number }): Promise<RunDoc[]> {
    const query = filter.kind ? { kind: filter.kind } : {};
    return this.runs.find<RunDoc>(query).sort({ queuedAt: -1 }).limit(filter.limit);
  }

  /** When a real (not dry) run of this kind last finished, succeeded or failed: for the scheduler. */
  async lastFinished(kind: RunKind): Promise<Date | null> {
    const [last] = await this.runs
      .find<RunDoc>({ kind, state: { $in: ['succeeded', 'failed'] }, 'options.dryRun': { $ne: true } })
      .sort({ finishedAt: -1 })
      .limit(1);
    return last?.finishedAt ?? null;
  }

  private async prune(): Promise<void> {
    const old = await this.runs.find<RunDoc>({}).sort({ queuedAt: -1 }).skip(RUN_HISTORY_LIMIT).project({ _id: 1 });
    if (old.length > 0) await this.runs.remove({ _id: { $in: old.map((d: Pick<RunDoc, '_id'>) => d._id) } }, { multi: true });
  }

  // ---- retention rules ------------------------------------------------------------------------

  async listRules(): Promise<RetentionRuleDoc[]> {
    return this.rules.find<RetentionRuleDoc>({}).sort({ createdAt: 1 });
  }

  async rule(id: string): Promise<RetentionRuleDoc | null> {
    return this.rules.findOne<RetentionRuleDoc>({ _id: id });
  }

  async saveRule(rule: RetentionRuleDoc): Promise<void> {
    await this.changeRules(() => this.rules.update({ _id: rule._id }, rule, { upsert: true }));
  }

  async removeRule(id: string): Promise<boolean> {
    return (await this.changeRules(() => this.rules.remove({ _id: id }, { multi: false }))) > 0;
  }

  /**
   * A change of the rules is saved or it did not happen: when the disk refuses it, memory (which nedb
   * changes first) is read back from the file, which still holds the rules as they were, and the
   * error goes to the caller.
   */
  private async changeRules<R>(change: () => Promise<R>): Promise<R> {
    try {
      const result = await change();
      await compact(this.rules);
      return result;
    } catch (err) {
      if (isDiskError(err)) this.rules = await openNedb<RetentionRuleDoc>(path.join(this.dir, 'retention.db'), this.options);
      throw err;
    }
  }

  // ---- files ----------------------------------------------------------------------------------

  private load<T>(name: string, setAsideStores: SetAsideStore[]): Promise<Datastore<T>> {
    return openOrSetAside<T>(path.join(this.dir, `${name}.db`), this.options, setAsideStores);
  }
}

/** A write made on opening that may wait: refused by a full disk, it stays in memory (see nedb-file.ts). */
async function unlessDiskFull(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (!isDiskError(err)) throw err;
  }
}
