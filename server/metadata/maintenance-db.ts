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
import Datastore from 'nedb-promises';
import { compact } from './index-db.ts';

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

export class MaintenanceStore {
  private readonly dir: string;
  private runs!: Datastore<RunDoc>;
  private rules!: Datastore<RetentionRuleDoc>;
  private opened = false;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Loads both collections. A run still marked queued or running was cut short by a crash or a kill:
   * it is recorded as interrupted. A collection nedb cannot read is moved aside (and reported), so a
   * damaged history never keeps the registry from starting.
   */
  async open(): Promise<{ setAside: string[] }> {
    await fs.mkdir(this.dir, { recursive: true });
    const setAside: string[] = [];
    this.runs = await this.load<RunDoc>('runs', setAside);
    this.rules = await this.load<RetentionRuleDoc>('retention', setAside);
    await this.runs.ensureIndex({ fieldName: 'queuedAt' });
    await this.runs.update(
      { state: { $in: ['queued', 'running'] } },
      { $set: { state: 'interrupted', error: 'Berth stopped before the run finished', progress: null } },
      { multi: true },
    );
    this.opened = true;
    return { setAside };
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    await Promise.all([compact(this.runs), compact(this.rules)]);
  }

  // ---- runs -----------------------------------------------------------------------------------

  async saveRun(run: RunDoc): Promise<void> {
    await this.runs.update({ _id: run._id }, run, { upsert: true });
    if (run.state === 'succeeded' || run.state === 'failed') await this.prune();
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
    await this.rules.update({ _id: rule._id }, rule, { upsert: true });
    await compact(this.rules);
  }

  async removeRule(id: string): Promise<boolean> {
    const removed = await this.rules.remove({ _id: id }, { multi: false });
    await compact(this.rules);
    return removed > 0;
  }

  // ---- files ----------------------------------------------------------------------------------

  private async load<T>(name: string, setAside: string[]): Promise<Datastore<T>> {
    const filename = path.join(this.dir, `${name}.db`);
    const store = Datastore.create({ filename, autoload: false }) as unknown as Datastore<T>;
    try {
      await store.load();
      return store;
    } catch {
      const aside = `${filename}.unreadable-${Date.now()}`;
      await fs.rename(filename, aside);
      setAside.push(aside);
      const fresh = Datastore.create({ filename, autoload: false }) as unknown as Datastore<T>;
      await fresh.load();
      return fresh;
    }
  }
}
