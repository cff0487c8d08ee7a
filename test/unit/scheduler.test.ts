/**
 * The scheduler (server/scheduler.ts) driven by a fake clock: tasks that are off never run, a task runs
 * one interval after its last run (or shortly after start when overdue), never overlaps itself, waits
 * longer than Node's timer limit in steps, and stops; and a registry configured with a collection
 * schedule records a scheduled run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { RunJson } from '../../server/registry/maintenance.ts';
import { Scheduler, type ScheduledTask } from '../../server/scheduler.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { Client } from '../helpers/registry-client.ts';
import { startServer } from '../helpers/server.ts';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const silent = pino({ level: 'silent' });

function task(name: string, intervalMs: number | null, lastRunAt: number | null, runs: number[], clock: FakeClock, work?: () => Promise<void>): ScheduledTask {
  return {
    name,
    intervalMs,
    lastRunAt: async () => lastRunAt,
    run: async () => {
      runs.push(clock.now());
      await work?.();
    },
  };
}

describe('scheduler', () => {
  it('never runs a task that is off, and runs the others once per interval', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const off: number[] = [];
    const gc: number[] = [];
    const scheduler = new Scheduler([task('off', null, null, off, clock), task('gc', 6 * HOUR, null, gc, clock)], clock, silent);
    await scheduler.start();
    assert.deepEqual(Object.keys(scheduler.nextRuns()), ['gc']);
    await clock.advance(6 * HOUR - 1);
    assert.deepEqual(gc, [], 'not before its interval');
    await clock.advance(1);
    await clock.advance(12 * HOUR);
    assert.deepEqual(gc, [start + 6 * HOUR, start + 12 * HOUR, start + 18 * HOUR]);
    assert.deepEqual(off, []);
    scheduler.stop();
    await clock.advance(DAY);
    assert.equal(gc.length, 3, 'nothing runs after stop');
    assert.equal(clock.pending(), 0);
  });

  it('plans from the last recorded run, and runs an overdue task a minute after start', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const recent: number[] = [];
    const overdue: number[] = [];
    const scheduler = new Scheduler([
      task('recent', DAY, start - 20 * HOUR, recent, clock),
      task('overdue', DAY, start - 3 * DAY, overdue, clock),
    ], clock, silent);
    await scheduler.start();
    await clock.advance(60 * 1000);
    assert.deepEqual(overdue, [start + 60 * 1000]);
    await clock.advance(4 * HOUR);
    assert.deepEqual(recent, [start + 4 * HOUR]);
    scheduler.stop();
  });

  it('never overlaps a task with itself: the next run is planned when the current one ends', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const runs: number[] = [];
    let finish: () => void = () => undefined;
    const scheduler = new Scheduler([task('slow', HOUR, null, runs, clock, () => new Promise<void>((r) => (finish = r)))], clock, silent);
    await scheduler.start();
    await clock.advance(5 * HOUR);
    assert.deepEqual(runs, [start + HOUR], 'still running, so no second run');
    finish();
    await clock.advance(HOUR);
    assert.deepEqual(runs, [start + HOUR, start + 6 * HOUR]);
    scheduler.stop();
    finish();
  });

  it('waits longer than the 24.8 days a Node timer can hold', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const runs: number[] = [];
    const scheduler = new Scheduler([task('monthly', 60 * DAY, null, runs, clock)], clock, silent);
    await scheduler.start();
    await clock.advance(59 * DAY);
    assert.deepEqual(runs, []);
    await clock.advance(DAY);
    assert.deepEqual(runs, [start + 60 * DAY]);
    scheduler.stop();
  });

  it('keeps running after a task fails', async () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    const scheduler = new Scheduler([task('flaky', HOUR, null, runs, clock, async () => {
      throw new Error('disk on fire');
    })], clock, silent);
    await scheduler.start();
    await clock.advance(3 * HOUR);
    assert.equal(runs.length, 3);
    scheduler.stop();
  });

  it('runs and records the scheduled collection of a registry', async () => {
    const clock = new FakeClock();
    clock.time = Date.now();
    const server = await startServer({ gcIntervalMs: 12 * HOUR, gcUntagged: true, uploadPurgeIntervalMs: null }, { clock });
    try {
      const client = new Client(server.url);
      await client.pushImage('scheduled/app', 'v1');
      await clock.advance(12 * HOUR);
      let runs: RunJson[] = [];
      const deadline = Date.now() + 30_000;
      while (runs.length === 0 && Date.now() < deadline) {
        runs = ((await (await client.fetch('/api/runs?kind=gc')).json()) as { runs: RunJson[] }).runs.filter((r) => r.state === 'succeeded');
        if (runs.length === 0) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.trigger, 'schedule');
      assert.deepEqual(runs[0]!.options, { dryRun: false, untagged: true, graceSeconds: 3600 });
      const { nextRuns } = (await (await client.fetch('/api/maintenance')).json()) as { nextRuns: Record<string, string> };
      assert.deepEqual(Object.keys(nextRuns), ['gc']);
    } finally {
      await server.close({ remove: true });
    }
  });
});
