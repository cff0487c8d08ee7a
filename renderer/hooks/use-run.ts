/**
 * Follows a maintenance run from queued to finished: its progress from the live `maintenance` events
 * (server/registry/maintenance.ts announces every change of phase and at most four updates a second),
 * its full record, with the result, from GET /api/runs/<id> once it ends. A slow poll covers events
 * missed while the live connection was down, or sent before the page knew the run's id.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { LiveEventName, MaintenanceEvent, MaintenanceKind, MaintenanceOverview, MaintenanceRun, MaintenanceState } from '../../server/registry/api-types.ts';
import { api, subscribe } from '../api.ts';

const POLL_MS = 2000;
const FINISHED: readonly MaintenanceState[] = ['succeeded', 'failed', 'interrupted'];

export function isFinished(run: Pick<MaintenanceRun, 'state'>): boolean {
  return FINISHED.includes(run.state);
}

/** A useResource refreshOn test: a run (of one of `kinds`) was queued or has finished. */
export function runQueuedOrFinished(kinds?: readonly MaintenanceKind[]): (name: LiveEventName, data: unknown) => boolean {
  return (name, data) => {
    if (name !== 'maintenance') return false;
    const event = data as MaintenanceEvent;
    return (event.state === 'queued' || isFinished(event)) && (!kinds || kinds.includes(event.kind));
  };
}

/** A useResource refreshOn test: a run (of one of `kinds`) has finished. */
export function runFinished(kinds?: readonly MaintenanceKind[]): (name: LiveEventName, data: unknown) => boolean {
  return (name, data) => name === 'maintenance' && isFinished(data as MaintenanceEvent) && (!kinds || kinds.includes((data as MaintenanceEvent).kind));
}

export interface FollowedRun {
  /** The run being followed (or the last one, finished). */
  run: MaintenanceRun | null;
  /** Queued or running. */
  active: boolean;
  /** Starts a run with `request` (an api.start… call) and follows it; a refused request rejects. */
  start(request: () => Promise<MaintenanceRun>): Promise<MaintenanceRun>;
  /** Follows a run started elsewhere (the schedule, the CLI, another window), or shows a finished one. */
  follow(run: MaintenanceRun): void;
}

/** `onFinished` is called once for each run that finishes while followed. */
export function useRun(onFinished?: (run: MaintenanceRun) => void): FollowedRun {
  const [run, setRun] = useState<MaintenanceRun | null>(null);
  const runRef = useRef(run);
  runRef.current = run;
  const finishedRef = useRef(onFinished);
  finishedRef.current = onFinished;
  /** Runs already finished when they were first seen: nothing to announce. */
  const reported = useRef(new Set<string>());

  const activeId = run && !isFinished(run) ? run.id : null;
  useEffect(() => {
    if (!activeId) return;
    let stopped = false;
    const refresh = async () => {
      try {
        const latest = await api.run(activeId);
        if (!stopped) setRun((current) => (current?.id === activeId ? latest : current));
      } catch {
        // The next event or poll asks again; the run itself goes on whatever this page sees.
      }
    };
    const offEvents = subscribe((name, data) => {
      if (name !== 'maintenance') return;
      const event = data as MaintenanceEvent;
      if (event.id !== activeId) return;
      if (isFinished(event)) void refresh();
      else setRun((current) => (current?.id === activeId ? { ...current, state: event.state, progress: event.progress } : current));
    });
    const timer = setInterval(refresh, POLL_MS);
    void refresh();
    return () => {
      stopped = true;
      offEvents();
      clearInterval(timer);
    };
  }, [activeId]);

  useEffect(() => {
    if (!run || !isFinished(run) || reported.current.has(run.id)) return;
    reported.current.add(run.id);
    finishedRef.current?.(run);
  }, [run]);

  const start = useCallback(async (request: () => Promise<MaintenanceRun>) => {
    const started = await request();
    setRun(started);
    return started;
  }, []);

  const follow = useCallback((other: MaintenanceRun) => {
    // Finished before this page saw it run: shown, not announced (unless it is the one being followed).
    if (isFinished(other) && runRef.current?.id !== other.id) reported.current.add(other.id);
    // The newest run wins; for the same run, the copy that is further along.
    setRun((current) => {
      if (!current) return other;
      if (current.id === other.id) return isFinished(other) ? other : current;
      return other.queuedAt > current.queuedAt ? other : current;
    });
  }, []);

  return { run, active: activeId !== null, start, follow };
}

/**
 * The run of `kind` a page shows: the one in progress or the newest (from GET /api/maintenance), then
 * the ones started on the page.
 */
export function useLatestRun(kind: MaintenanceKind, overview: MaintenanceOverview | undefined, onFinished?: (run: MaintenanceRun) => void): FollowedRun {
  const task = useRun(onFinished);
  const latest = overview?.current?.kind === kind ? overview.current : overview?.last[kind];
  useEffect(() => {
    if (latest) task.follow(latest);
  }, [latest?.id, latest?.state]);
  return task;
}
