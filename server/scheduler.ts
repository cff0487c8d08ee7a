/**
 * Runs maintenance tasks on their configured intervals (config.ts: gcIntervalMs, uploadPurgeIntervalMs,
 * retentionIntervalMs; null is off). The next run of a task is one interval after its last finished
 * run as recorded in the run history, so a desktop app that is quit and started again every day still
 * collects once a day instead of never; a task that is overdue runs shortly after start. A task never
 * overlaps itself: its next run is planned only once the current one has finished.
 * The clock is injected, so tests drive time instead of waiting for it.
 */
import type { Logger } from 'pino';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real time; timers do not keep the process alive (the server's socket does that). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ScheduledTask {
  name: string;
  /** Null: the task is off. */
  intervalMs: number | null;
  /** When the task last finished (from the run history), or null when it never ran. */
  lastRunAt(): Promise<number | null>;
  run(): Promise<void>;
}

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** An overdue task waits this long after start, so start-up is not slowed by maintenance. */
const STARTUP_DELAY_MS = 60 * 1000;

export class Scheduler {
  private readonly tasks: ScheduledTask[];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly timers = new Map<string, unknown>();
  private readonly due = new Map<string, number>();
  private stopped = false;

  constructor(tasks: ScheduledTask[], clock: Clock, log: Logger) {
    this.tasks = tasks;
    this.clock = clock;
    this.log = log;
  }

  async start(): Promise<void> {
    const started = this.clock.now();
    for (const task of this.tasks) {
      if (task.intervalMs === null) continue;
      const last = await task.lastRunAt().catch(() => null);
      const next = last === null ? started + task.intervalMs : Math.max(last + task.intervalMs, started + STARTUP_DELAY_MS);
      this.plan(task, next);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const handle of this.timers.values()) this.clock.clearTimeout(handle);
    this.timers.clear();
    this.due.clear();
  }

  /** When each enabled task runs next (ms since the epoch); tasks that are off are absent. */
  nextRuns(): Record<string, number> {
    return Object.fromEntries(this.due);
  }

  private plan(task: ScheduledTask, at: number): void {
    if (this.stopped) return;
    this.due.set(task.name, at);
    const wait = Math.max(0, at - this.clock.now());
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(task.name);
      if (this.clock.now() < at) this.plan(task, at); // a long wait taken in steps
      else void this.fire(task);
    }, Math.min(wait, MAX_TIMER_MS));
    this.timers.set(task.name, handle);
  }

  private async fire(task: ScheduledTask): Promise<void> {
    if (this.stopped) return;
    this.due.delete(task.name);
    try {
      await task.run();
    } catch (err) {
      this.log.error({ err, task: task.name }, 'scheduled maintenance failed');
    }
    this.plan(task, this.clock.now() + task.intervalMs!);
  }
}
