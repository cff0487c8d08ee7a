/**
 * Maintenance runs: garbage collection, scrub, upload purging, index rebuild and retention, started
 * from the management API, the CLI or the scheduler. One run at a time, in the order asked for (a
 * collection and a scrub must not both be removing files); every run is recorded with its progress and
 * result (metadata/maintenance-db.ts) and announced as a `maintenance` event for the UI.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { LifecycleStore, RunDoc, RunKind, RunProgress, RunTrigger } from '../metadata/maintenance-store.ts';
import type { MaintenanceResults, MaintenanceRun } from './api-types.ts';
import { RegistryError } from './errors.ts';
import type { RegistryEvents } from './events.ts';
import type { GarbageCollector } from './gc.ts';
import type { PurgeOptions, PurgeReport } from './purge-uploads.ts';
import type { RebuildStats } from './reindex.ts';
import type { RetentionService } from './retention.ts';
import type { Scrubber } from './scrub.ts';
import type { StoreChanges } from '../storage/cache.ts';

/** What each kind of run is asked to do. */
export interface RunOptions {
  gc: { dryRun: boolean; untagged: boolean; graceSeconds: number };
  scrub: Record<string, never>;
  'purge-uploads': { dryRun: boolean; olderThanSeconds: number };
  reindex: Record<string, never>;
  retention: { dryRun: boolean };
}

/** What each kind of run reports (the UI reads it too). */
export type RunResults = MaintenanceResults;

export type RunRequest = { [K in RunKind]: { kind: K; options: RunOptions[K] } }[RunKind];

/** A run as the API shows it (api-types.ts; the run's store types must fit it, toJson checks). */
export type RunJson = MaintenanceRun;

export const RUN_KINDS: readonly RunKind[] = ['gc', 'scrub', 'purge-uploads', 'reindex', 'retention'];

export interface MaintenanceDeps {
  store: LifecycleStore;
  gc: GarbageCollector;
  scrubber: Scrubber;
  retention: RetentionService;
  purgeUploads(options: PurgeOptions): Promise<PurgeReport>;
  reindex(): Promise<RebuildStats>;
  events: RegistryEvents;
  log: Logger;
  now?: () => Date;
  /**
   * A cluster: runs `work` once no other replica runs maintenance (one collection at a time across
   * the cluster); the wait ends, rejected, when `signal` aborts. Absent for one server.
   */
  exclusive?: <T>(signal: AbortSignal, work: () => Promise<T>) => Promise<T>;
  /** A cluster: a run is reported finished once no replica serves from its cache what it removed. */
  changes?: StoreChanges;
}

/** Progress events go out at most this often (and at every change of phase). */
const PROGRESS_EVENT_MS = 250;

interface LiveRun {
  doc: RunDoc;
  request: RunRequest;
  finished: Promise<RunDoc>;
}

export class MaintenanceService {
  private readonly deps: MaintenanceDeps;
  /** Runs queued or running in this process. */
  private readonly live = new Map<string, LiveRun>();
  private tail: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(deps: MaintenanceDeps) {
    this.deps = deps;
  }

  /** Queues a run; it starts when the ones before it have finished. */
  async start(request: RunRequest, trigger: RunTrigger): Promise<RunJson> {
    if (this.abort.signal.aborted) throw new RegistryError('UNAVAILABLE', { message: 'Berth is stopping; try again once it has restarted' });
    const doc: RunDoc = {
      _id: randomUUID(),
      kind: request.kind,
      trigger,
      state: 'queued',
      options: request.options,
      queuedAt: this.now(),
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      progress: null,
      result: null,
      error: null,
    };
    await this.deps.store.saveRun(doc);
    const finished = this.tail.then(() => this.execute(doc, request));
    // The queue goes on whatever happens to one run.
    this.tail = finished.catch(() => undefined);
    this.live.set(doc._id, { doc, request, finished });
    this.announce(doc);
    return toJson(doc);
  }

  /** Resolves with the run once it has finished (succeeded, failed or interrupted). */
  async wait(id: string): Promise<RunJson> {
    const live = this.live.get(id);
    if (live) return toJson(await live.finished);
    const stored = await this.deps.store.run(id);
    if (!stored) throw unknownRun(id);
    return toJson(stored);
  }

  /** Starts a run and waits for it (the CLI without a server, the scheduler). */
  async run(request: RunRequest, trigger: RunTrigger): Promise<RunJson> {
    return this.wait((await this.start(request, trigger)).id);
  }

  async get(id: string): Promise<RunJson> {
    const live = this.live.get(id);
    if (live) return toJson(live.doc);
    const stored = await this.deps.store.run(id);
    if (!stored) throw unknownRun(id);
    return toJson(stored);
  }

  /** Newest first; runs in progress show their live progress. */
  async list(filter: { kind?: RunKind; limit: number }): Promise<RunJson[]> {
    const docs = await this.deps.store.listRuns(filter);
    return docs.map((doc) => toJson(this.live.get(doc._id)?.doc ?? doc));
  }

  /** The run in progress, if any. */
  current(): RunJson | null {
    for (const { doc } of this.live.values()) if (doc.state === 'running') return toJson(doc);
    return null;
  }

  /**
   * Stops taking runs, asks the one in progress to stop at its next safe point (every step of a
   * collection or scrub leaves the registry consistent), and waits for the queue to settle.
   */
  async close(): Promise<void> {
    this.abort.abort();
    await this.tail.catch(() => undefined);
  }

  // ---- internals ------------------------------------------------------------------------------

  private async execute(doc: RunDoc, request: RunRequest): Promise<RunDoc> {
    if (this.abort.signal.aborted) return this.finish(doc, 'interrupted', null, 'Berth stopped before the run started');
    const { exclusive, log } = this.deps;
    if (!exclusive) return this.executeNow(doc, request);
    try {
      // Queued until the run another replica is doing has finished.
      return await exclusive(this.abort.signal, () => this.executeNow(doc, request));
    } catch (err) {
      if (this.abort.signal.aborted) return this.finish(doc, 'interrupted', null, 'Berth stopped before the run started');
      log.error({ err, run: doc._id, kind: doc.kind }, 'maintenance run could not start');
      return this.finish(doc, 'failed', null, (err as Error).message);
    }
  }

  private async executeNow(doc: RunDoc, request: RunRequest): Promise<RunDoc> {
    const { store, log } = this.deps;
    doc.state = 'running';
    doc.startedAt = this.now();
    doc.progress = { phase: 'starting', done: 0, total: 0 };
    this.announce(doc);
    let lastEvent = 0;
    const onProgress = (progress: RunProgress) => {
      const phaseChanged = progress.phase !== doc.progress?.phase;
      doc.progress = progress;
      const now = Date.now();
      if (phaseChanged || now - lastEvent >= PROGRESS_EVENT_MS) {
        lastEvent = now;
        this.announce(doc);
      }
    };
    try {
      await store.saveRun(doc);
      const since = this.deps.changes?.now() ?? 0;
      const result = await this.perform(request, onProgress);
      await this.deps.changes?.settled(since);
      return await this.finish(doc, 'succeeded', result, null);
    } catch (err) {
      if (this.abort.signal.aborted) return this.finish(doc, 'interrupted', null, 'Berth stopped during the run; it left the registry consistent');
      log.error({ err, run: doc._id, kind: doc.kind }, 'maintenance run failed');
      return this.finish(doc, 'failed', null, (err as Error).message);
    }
  }

  private async perform(request: RunRequest, onProgress: (p: RunProgress) => void): Promise<object> {
    const { signal } = this.abort;
    switch (request.kind) {
      case 'gc': {
        const { dryRun, untagged, graceSeconds } = request.options;
        return this.deps.gc.collect({ dryRun, untagged, graceMs: graceSeconds * 1000 }, onProgress, signal);
      }
      case 'scrub':
        return this.deps.scrubber.scrub(onProgress, signal);
      case 'purge-uploads':
        return this.deps.purgeUploads({ dryRun: request.options.dryRun, olderThanMs: request.options.olderThanSeconds * 1000 });
      case 'reindex':
        return this.deps.reindex();
      case 'retention':
        return this.deps.retention.apply({ dryRun: request.options.dryRun });
    }
  }

  private async finish(doc: RunDoc, state: RunDoc['state'], result: object | null, error: string | null): Promise<RunDoc> {
    doc.state = state;
    doc.finishedAt = this.now();
    doc.durationMs = doc.startedAt ? doc.finishedAt.getTime() - doc.startedAt.getTime() : 0;
    doc.progress = null;
    doc.result = result;
    doc.error = error;
    try {
      await this.deps.store.saveRun(doc);
    } catch (err) {
      this.deps.log.error({ err, run: doc._id }, 'could not record a maintenance run');
    }
    this.announce(doc);
    // Kept in memory only until it is in the store.
    setImmediate(() => this.live.delete(doc._id));
    return doc;
  }

  private announce(doc: RunDoc): void {
    this.deps.events.emit('maintenance', { id: doc._id, kind: doc.kind, state: doc.state, progress: doc.progress });
  }

  private now(): Date {
    return this.deps.now ? this.deps.now() : new Date();
  }
}

function toJson(doc: RunDoc): RunJson {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: doc._id,
    kind: doc.kind,
    trigger: doc.trigger,
    state: doc.state,
    options: doc.options,
    queuedAt: iso(doc.queuedAt)!,
    startedAt: iso(doc.startedAt),
    finishedAt: iso(doc.finishedAt),
    durationMs: doc.durationMs,
    progress: doc.progress,
    result: doc.result,
    error: doc.error,
  };
}

function unknownRun(id: string): RegistryError {
  return new RegistryError('NOT_FOUND', { message: `no maintenance run with id "${id.slice(0, 100)}"` });
}
