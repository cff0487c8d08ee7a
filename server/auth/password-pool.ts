/**
 * bcrypt off the event loop. bcryptjs is pure JavaScript (nothing to rebuild for Electron, and its
 * hashes are htpasswd -B's), so a comparison holds the thread it runs on for 50-100 ms: on the event
 * loop, a burst of logins would stall every request (measured: 400 logins took /healthz's p50 from 2
 * to 683 ms). Here it runs in worker threads, with a cap on the jobs running (one per worker) and on
 * the jobs waiting: past that, a login is refused at once with "busy" instead of queueing without end.
 * Jobs for a user at an address that logged in before go first (LoginThrottle's trusted pairs), so
 * a flood of strangers' logins does not lock out the regulars.
 *
 * The worker is password-worker.ts, next to this file from source (then tsx compiles it in the
 * worker too) and password-worker.js next to the bundle once built (scripts/build.js).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AuthError } from './errors.ts';

export type PasswordJob =
  | { id: number; op: 'hash'; password: string; cost: number }
  | { id: number; op: 'compare'; password: string; hash: string };

export type PasswordResult = { id: number; value: string | boolean } | { id: number; error: string };

type JobInput = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };

interface Pending {
  job: PasswordJob;
  resolve(value: string | boolean): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  running: Pending | null;
}

export interface PasswordPoolOptions {
  /** Worker threads (default: one per spare core, at most 4). */
  workers?: number;
  /** Jobs that may wait for a worker; more are refused (default 64). */
  maxWaiting?: number;
}

export class PasswordPool {
  private readonly size: number;
  private readonly maxWaiting: number;
  private readonly slots: Slot[] = [];
  private readonly urgent: Pending[] = [];
  private readonly waiting: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(options: PasswordPoolOptions = {}) {
    this.size = options.workers ?? Math.max(1, Math.min(4, os.availableParallelism() - 1));
    this.maxWaiting = options.maxWaiting ?? 64;
  }

  hash(password: string, cost: number): Promise<string> {
    return this.run({ op: 'hash', password, cost }, true) as Promise<string>;
  }

  /** `urgent`: a login that is likely right (a known user at a known address) goes before the others. */
  compare(password: string, hash: string, urgent = false): Promise<boolean> {
    return this.run({ op: 'compare', password, hash }, urgent) as Promise<boolean>;
  }

  /** Jobs running and waiting now. */
  load(): { running: number; waiting: number } {
    return { running: this.slots.filter((s) => s.running).length, waiting: this.urgent.length + this.waiting.length };
  }

  async close(): Promise<void> {
    this.closed = true;
    const gone = new Error('the password checker stopped');
    for (const pending of [...this.urgent.splice(0), ...this.waiting.splice(0)]) pending.reject(gone);
    await Promise.all(this.slots.splice(0).map((slot) => slot.worker.terminate()));
  }

  private run(input: JobInput, urgent: boolean): Promise<string | boolean> {
    if (this.closed) return Promise.reject(new Error('the password checker stopped'));
    // The urgent queue is bounded too (four times the other): nothing grows without end.
    const queue = urgent ? this.urgent : this.waiting;
    const limit = urgent ? this.maxWaiting * 4 : this.maxWaiting;
    if (queue.length >= limit && !this.idleSlot()) {
      return Promise.reject(new AuthError('throttled', 'too many logins at once; try again in a second', 1));
    }
    return new Promise((resolve, reject) => {
      queue.push({ job: { ...input, id: this.nextId++ } as PasswordJob, resolve, reject });
      this.dispatch();
    });
  }

  private idleSlot(): Slot | null {
    const idle = this.slots.find((s) => s.running === null);
    if (idle) return idle;
    if (this.slots.length < this.size) {
      const slot: Slot = { worker: startWorker(), running: null };
      slot.worker.on('message', (result: PasswordResult) => this.finished(slot, result));
      slot.worker.on('error', (err) => this.lost(slot, err));
      slot.worker.on('exit', (code) => this.lost(slot, new Error(`the password checker exited (${code})`)));
      slot.worker.unref();
      this.slots.push(slot);
      return slot;
    }
    return null;
  }

  private dispatch(): void {
    while (this.urgent.length + this.waiting.length > 0) {
      const slot = this.idleSlot();
      if (!slot) return;
      const next = (this.urgent.length > 0 ? this.urgent : this.waiting).shift()!;
      slot.running = next;
      // A job in flight keeps the process alive (a CLI command waits for its hash); an idle worker does not.
      slot.worker.ref();
      slot.worker.postMessage(next.job);
    }
  }

  private finished(slot: Slot, result: PasswordResult): void {
    const pending = slot.running;
    slot.running = null;
    slot.worker.unref();
    if (pending && pending.job.id === result.id) {
      if ('error' in result) pending.reject(new Error(result.error));
      else pending.resolve(result.value);
    }
    this.dispatch();
  }

  private lost(slot: Slot, err: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    slot.running?.reject(err);
    slot.running = null;
    if (!this.closed) this.dispatch();
  }
}

function startWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./password-worker.js', here));
  // From source: the worker is TypeScript, which only tsx (the test runner's and `npm run`'s loader)
  // can load, and a worker does not inherit the parent's --import hooks: register them first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const worker = new URL('./password-worker.ts', here).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(worker)}))`, { eval: true });
}
