/**
 * The storage lifecycle's records: the history of maintenance runs (garbage collections, scrubs, upload
 * purges, reindexes, retention runs) and the retention rules. Primary data, unlike the index: a rebuild
 * never touches it. Two implementations: maintenance-db.ts (nedb files in <data>/maintenance/) and
 * postgres/lifecycle-store.ts (tables shared by a cluster).
 */
import type { SetAsideStore } from './nedb-file.ts';

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


export interface LifecycleStore {
  /**
   * Loads (or connects to) the store. Runs left queued or running by a process that is gone are
   * recorded as interrupted; a damaged nedb file is set aside and reported.
   */
  open(): Promise<{ setAside: SetAsideStore[] }>;
  close(): Promise<void>;
  /** Records a run; false when the disk refused it (it is then kept in memory: see maintenance-db.ts). */
  saveRun(run: RunDoc): Promise<boolean>;
  run(id: string): Promise<RunDoc | null>;
  /** Newest first. */
  listRuns(filter: { kind?: RunKind; limit: number }): Promise<RunDoc[]>;
  /** When a real (not dry) run of this kind last finished, succeeded or failed: for the scheduler. */
  lastFinished(kind: RunKind): Promise<Date | null>;
  listRules(): Promise<RetentionRuleDoc[]>;
  rule(id: string): Promise<RetentionRuleDoc | null>;
  saveRule(rule: RetentionRuleDoc): Promise<void>;
  removeRule(id: string): Promise<boolean>;
}
