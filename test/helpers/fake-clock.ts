/** A Clock (server/scheduler.ts) whose time moves only when the test says so; due timers fire in order. */
import type { Clock } from '../../server/scheduler.ts';

export class FakeClock implements Clock {
  time: number;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  private readonly waiters = new Set<() => void>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, fn, id });
    for (const w of this.waiters) w();
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  pending(): number {
    return this.timers.length;
  }
  /** When the earliest timer is due, or null. */
  nextAt(): number | null {
    return this.timers.reduce<number | null>((min, t) => (min === null || t.at < min ? t.at : min), null);
  }
  /**
   * Resolves once a timer due after `after` is set (something scheduled its next step). The bound is
   * generous: on a machine whose disk is saturated by others, the write before a timer can stall.
   */
  timerAfter(after: number, timeoutMs = 120_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const later = this.timers.filter((t) => t.at > after).map((t) => t.at);
        if (later.length === 0) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(Math.min(...later));
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no timer due after ${new Date(after).toISOString()} was set within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
  /** Moves time forward, firing every timer that falls due, and lets the work they start settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.time = next.at;
      next.fn();
    }
    this.time = end;
    await settle();
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}
