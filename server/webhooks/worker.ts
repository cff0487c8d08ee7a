/**
 * The delivery worker: sends the outbox's pending deliveries, at least once and in order per endpoint
 * (one attempt on the wire per endpoint; the next delivery waits for the head to be delivered or
 * dead-lettered), retrying with backoff and honouring the circuit breaker (schedule.ts). It runs on
 * the event loop beside the registry but never inside a request: a slow or dead receiver costs the
 * registry one idle socket and a timer.
 *
 * A delivery is marked delivered only after its receiver's 2xx: a crash between the two sends it
 * again after the restart (with the same webhook-id, for the receiver to de-duplicate). Its next
 * attempt time is stored, so a restart neither forgets a retry nor hurries one.
 */
import type { Logger } from 'pino';
import { ATTEMPTS_KEPT, type AttemptRecord, type DeliveryDoc, type EndpointStateDoc, type WebhookStore } from '../metadata/webhook-store.ts';
import type { Clock } from '../scheduler.ts';
import { signingSecrets, type LiveEndpoint } from './endpoints.ts';
import type { WebhookMetrics } from './metrics.ts';
import { renderPayload } from './payloads.ts';
import type { Sender } from './sender.ts';
import { breakerCooldown, MAX_ATTEMPTS, retryDelay } from './schedule.ts';
import { signatureHeaders } from './signing.ts';

export interface WorkerDeps {
  store: WebhookStore;
  endpoint(id: string): LiveEndpoint | undefined;
  state(id: string): EndpointStateDoc;
  sender: Sender;
  metrics: WebhookMetrics;
  clock: Clock;
  log: Logger;
  /** For the retry jitter (tests make it fixed). */
  random?: () => number;
}

/** Node's timers hold at most 2^31-1 ms; longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class DeliveryWorker {
  private readonly deps: WorkerDeps;
  private running = false;
  private readonly sending = new Set<string>();
  private timer: unknown = null;
  private timerAt = Infinity;
  private pumping = false;
  private again = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(deps: WorkerDeps) {
    this.deps = deps;
  }

  start(): void {
    this.running = true;
    this.poke();
  }

  /**
   * Stops: attempts on the wire are cut (their connections closed) and not recorded, so each stays
   * pending, due, and goes out first after the restart; a receiver that hangs does not hold shutdown.
   */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    this.deps.sender.close();
    await this.idle;
  }

  /**
   * Deliveries were queued for these endpoints. An endpoint with an attempt on the wire looks at its
   * queue when that attempt ends: under a burst of pushes to a slow receiver nothing needs doing now.
   */
  written(endpointIds: string[]): void {
    if (endpointIds.some((id) => !this.sending.has(id))) this.poke();
  }

  /** Whether an attempt of the endpoint's queue is on the wire. */
  isSending(endpointId: string): boolean {
    return this.sending.has(endpointId);
  }

  /** Something changed (a delivery was written, an endpoint changed): look at the queues again. */
  poke(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump().finally(() => {
      this.pumping = false;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    });
  }

  /**
   * One attempt of `doc` now, recorded: delivered, or failed and (for queued deliveries) rescheduled
   * or dead-lettered. Returns the delivery as saved (null when its endpoint went away meanwhile).
   */
  async attempt(ep: LiveEndpoint, doc: DeliveryDoc, trigger: AttemptRecord['trigger']): Promise<DeliveryDoc | null> {
    const { store, sender, metrics, clock, log } = this.deps;
    const id = ep.doc._id;
    const at = new Date(clock.now());
    const { contentType, body } = renderPayload(doc.event, ep.doc.format);
    const headers = { ...ep.doc.headers, 'Content-Type': contentType, ...signatureHeaders(doc._id, at, body, signingSecrets(ep.doc.secrets, at.getTime())) };
    const outcome = await sender.post(id, ep.doc.ca, { url: ep.doc.url, headers, body, timeoutMs: ep.doc.timeoutMs });
    if (!this.deps.endpoint(id) || (trigger === 'queue' && !this.running)) return null;
    metrics.attemptSeconds.observe({ endpoint: id }, outcome.durationMs / 1000);
    const record: AttemptRecord = { at, status: outcome.status, durationMs: outcome.durationMs, error: outcome.error, response: outcome.response, trigger };
    const next: DeliveryDoc = { ...doc, attempts: doc.attempts + 1, history: [...doc.history, record].slice(-ATTEMPTS_KEPT) };
    const state = this.deps.state(id);
    const now = new Date(clock.now());
    if (outcome.ok) {
      Object.assign(next, { state: 'delivered', nextAttemptAt: null, finishedAt: now });
      Object.assign(state, { lastSuccessAt: now, failureStreak: 0, openUntil: null, delivered: state.delivered + 1 });
      metrics.delivered.inc({ endpoint: id });
    } else {
      metrics.failed.inc({ endpoint: id });
      state.lastFailureAt = now;
      state.failureStreak += 1;
      const cooldown = breakerCooldown(state.failureStreak);
      state.openUntil = cooldown > 0 ? new Date(now.getTime() + cooldown) : null;
      if (trigger !== 'queue') {
        // A manual send is one try: a finished delivery stays finished (dead when it never got through).
        Object.assign(next, { state: doc.state === 'delivered' ? 'delivered' : 'dead', nextAttemptAt: null, finishedAt: now });
      } else if (next.attempts >= MAX_ATTEMPTS) {
        Object.assign(next, { state: 'dead', nextAttemptAt: null, finishedAt: now });
        state.deadLettered += 1;
        metrics.deadLettered.inc({ endpoint: id });
        log.warn({ endpoint: id, delivery: doc._id, attempts: next.attempts, error: outcome.error }, 'webhook delivery dead-lettered after its last retry');
      } else {
        next.nextAttemptAt = new Date(now.getTime() + retryDelay(next.attempts, this.deps.random));
        metrics.retried.inc({ endpoint: id });
      }
    }
    // A test event is new: it gets its place in the log now.
    const saved = await store.saveDelivery(next, { requeue: trigger === 'test' });
    await store.saveEndpointState(state);
    return saved;
  }

  // ---- internals ------------------------------------------------------------------------------

  private async pump(): Promise<void> {
    const { store, clock, log } = this.deps;
    let heads: DeliveryDoc[];
    try {
      heads = await store.heads();
    } catch (err) {
      log.error({ err }, 'webhooks: could not read the outbox');
      return;
    }
    const now = clock.now();
    let earliest = Infinity;
    for (const head of heads) {
      const id = head.endpointId;
      if (this.sending.has(id)) continue;
      const ep = this.deps.endpoint(id);
      // A disabled endpoint keeps its queue, paused; an endpoint gone from the config keeps its own.
      if (!ep || !ep.doc.enabled) continue;
      const openUntil = this.deps.state(id).openUntil;
      const due = Math.max(head.nextAttemptAt ? new Date(head.nextAttemptAt).getTime() : 0, openUntil ? new Date(openUntil).getTime() : 0);
      if (due > now) {
        earliest = Math.min(earliest, due);
        continue;
      }
      this.sending.add(id);
      const work = this.attempt(ep, head, 'queue')
        .catch((err: unknown) => log.error({ err, endpoint: id, delivery: head._id }, 'webhooks: a delivery attempt could not be recorded'))
        .finally(() => {
          this.sending.delete(id);
          this.poke();
        });
      this.idle = Promise.all([this.idle, work]).then(() => undefined);
    }
    this.schedule(earliest);
  }

  private schedule(at: number): void {
    if (!this.running) return;
    if (at === this.timerAt && this.timer !== null) return;
    if (this.timer !== null) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at === Infinity) return;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, at - this.deps.clock.now()));
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.poke();
    }, wait);
  }
}
