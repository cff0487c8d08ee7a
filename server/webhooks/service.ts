/**
 * Webhooks, composed: the endpoints (config file + store), the outbox recorder, the delivery worker and
 * what the management API and the CLI do with them (list, add, change, remove, rotate a secret, send a
 * test event, read the delivery log, redeliver). Endpoints of the config file are shown and used like
 * the others but changed only in the file.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import type { SetAsideStore } from '../metadata/nedb-file.ts';
import type { DeliveryDoc, DeliveryState, EndpointDoc, EndpointStateDoc, WebhookStore } from '../metadata/webhook-store.ts';
import type { FieldErrorDetail, MaintenanceRun } from '../registry/api-types.ts';
import { RegistryError } from '../registry/errors.ts';
import type { RegistryEvents } from '../registry/events.ts';
import type { Clock } from '../scheduler.ts';
import type { WebhookDelivery, WebhookDeliveryPage, WebhookEndpoint, WebhookSecretAnswer } from './api-types.ts';
import {
  ENDPOINT_FIELDS,
  EndpointInputError,
  endpointView,
  generateSecret,
  liveEndpoint,
  rotateSecrets,
  validateEndpoint,
  validateSecret,
  type EndpointFields,
  type LiveEndpoint,
} from './endpoints.ts';
import { WebhookMetrics } from './metrics.ts';
import { deliveryId, OutboxRecorder } from './recorder.ts';
import { Sender } from './sender.ts';
import { DeliveryWorker } from './worker.ts';

/** An endpoint of the config file, its secret read (webhooks/config.ts). */
export interface ConfiguredEndpoint {
  id: string;
  fields: EndpointFields;
  secret: string | null;
}

/** Pending deliveries per endpoint before the oldest are dropped (each ~1 KB in memory with nedb). */
export const DEFAULT_QUEUE_CAP = 10_000;
const MAX_GRACE_MS = 30 * 24 * 3600 * 1000;

export interface WebhookServiceDeps {
  store: WebhookStore;
  events: RegistryEvents;
  configured: ConfiguredEndpoint[];
  queueCap: number;
  run(id: string): Promise<MaintenanceRun>;
  registryUrl(): string | null;
  clock: Clock;
  log: Logger;
  random?: () => number;
}

export class WebhookService {
  readonly metrics: WebhookMetrics;
  private readonly deps: WebhookServiceDeps;
  private readonly endpoints = new Map<string, LiveEndpoint>();
  private readonly states = new Map<string, EndpointStateDoc>();
  private readonly source = { addr: os.hostname(), instanceID: randomUUID() };
  private readonly sender = new Sender();
  private readonly recorder: OutboxRecorder;
  private readonly worker: DeliveryWorker;
  private opened = false;
  /** A cluster (metadata/webhook-store.ts WebhookCluster): stops listening, gives up the delivery lease. */
  private leaveCluster: (() => Promise<void>)[] = [];

  constructor(deps: WebhookServiceDeps) {
    this.deps = deps;
    this.metrics = new WebhookMetrics(() => (this.opened ? deps.store.queueLengths() : new Map()));
    this.recorder = new OutboxRecorder({
      events: deps.events,
      store: deps.store,
      endpoints: () => [...this.endpoints.values()],
      queueCap: deps.queueCap,
      source: this.source,
      registryUrl: deps.registryUrl,
      run: deps.run,
      clock: deps.clock,
      log: deps.log,
      written: (endpointIds) => this.worker.written(endpointIds),
      dropped: (docs) => {
        for (const d of docs) {
          const state = this.state(d.endpointId);
          state.dropped += 1;
          this.metrics.dropped.inc({ endpoint: d.endpointId });
        }
        const ids = new Set(docs.map((d) => d.endpointId));
        for (const id of ids) void deps.store.saveEndpointState(this.state(id)).catch(() => undefined);
        deps.log.warn({ endpoints: [...ids], dropped: docs.length }, 'webhook queue full: dropped the oldest waiting deliveries');
      },
    });
    this.worker = new DeliveryWorker({
      store: deps.store,
      endpoint: (id) => this.endpoints.get(id),
      state: (id) => this.state(id),
      sender: this.sender,
      metrics: this.metrics,
      clock: deps.clock,
      log: deps.log,
      ...(deps.random ? { random: deps.random } : {}),
    });
  }

  /** Loads the store and the endpoints; from then on events are recorded (deliveries wait for start()). */
  async open(): Promise<{ setAside: SetAsideStore[] }> {
    const result = await this.deps.store.open();
    await this.loadEndpoints(true);
    for (const state of await this.deps.store.endpointStates()) this.states.set(state._id, state);
    const cluster = this.deps.store.cluster;
    if (cluster) {
      // Other replicas add endpoints and queue deliveries: this one hears of it.
      const off = cluster.onChange((change) => {
        const reload = change === 'endpoints' ? this.loadEndpoints(false) : change === 'states' ? this.loadStates() : Promise.resolve(this.worker.poke());
        reload.catch((err: unknown) => this.deps.log.warn({ err, change }, 'webhooks: could not reload what another replica changed'));
      });
      this.leaveCluster.push(async () => off());
    }
    this.recorder.start();
    this.opened = true;
    return result;
  }

  /** The endpoints of the config file and of the store (again after another replica changed them). */
  private async loadEndpoints(first: boolean): Promise<void> {
    const stored = await this.deps.store.listEndpoints();
    const next = new Map<string, LiveEndpoint>();
    for (const c of this.deps.configured) {
      const now = new Date(0);
      const doc: EndpointDoc = { _id: c.id, ...c.fields, secrets: c.secret ? [{ value: c.secret, until: null }] : [], createdAt: now, updatedAt: now };
      next.set(c.id, liveEndpoint(doc, 'config'));
    }
    for (const doc of stored) {
      if (next.has(doc._id)) {
        if (first) this.deps.log.error({ endpoint: doc._id }, 'a webhook endpoint of the config file has the id of one made through the API; the config file wins');
        continue;
      }
      next.set(doc._id, liveEndpoint(doc, 'api'));
    }
    for (const [id, live] of this.endpoints) {
      const now = next.get(id);
      if (!now || now.doc.url !== live.doc.url) this.sender.forget(id);
    }
    this.endpoints.clear();
    for (const [id, live] of next) this.endpoints.set(id, live);
    if (!first) this.worker.poke();
  }

  private async loadStates(): Promise<void> {
    // The replica that delivers owns the states; the others show what it last saved.
    if (this.worker.isRunning()) return;
    for (const state of await this.deps.store.endpointStates()) this.states.set(state._id, state);
  }

  /**
   * Starts delivering; `url` is where the registry listens (Distribution's source address). In a
   * cluster only the replica holding the delivery lease delivers; another takes over when it goes.
   */
  start(url: string | null): void {
    if (url) this.source.addr = `${os.hostname()}:${new URL(url).port}`;
    const cluster = this.deps.store.cluster;
    if (!cluster) {
      this.worker.start();
      return;
    }
    this.leaveCluster.push(cluster.lead(
      () => {
        // The states the previous leader saved are where this one goes on from.
        void this.deps.store.endpointStates().then(
          (states) => {
            for (const state of states) this.states.set(state._id, state);
          },
          () => undefined,
        ).finally(() => this.worker.start());
      },
      () => this.worker.stop(),
    ));
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    for (const leave of this.leaveCluster.splice(0)) await leave().catch(() => undefined);
    this.recorder.stop();
    await this.worker.stop();
    this.sender.close();
    await this.deps.store.close();
  }

  // ---- endpoints ------------------------------------------------------------------------------

  /** Whether an enabled endpoint takes pull events (a pull's answer then waits for the outbox). */
  takesPulls(): boolean {
    return this.recorder.takesPulls();
  }

  list(): WebhookEndpoint[] {
    return [...this.endpoints.values()].map((ep) => this.view(ep));
  }

  get(id: string): WebhookEndpoint {
    return this.view(this.live(id));
  }

  async create(input: Record<string, unknown>): Promise<WebhookSecretAnswer> {
    onlyKnown(input, ENDPOINT_FIELDS);
    const fields = asBadRequest(() => validateEndpoint(input, null));
    const secret = input.secret === undefined ? generateSecret() : input.secret === null ? null : asBadRequest(() => validateSecret(input.secret));
    const now = new Date(this.deps.clock.now());
    const doc: EndpointDoc = { _id: `wh_${randomUUID().replaceAll('-', '').slice(0, 16)}`, ...fields, secrets: secret ? [{ value: secret, until: null }] : [], createdAt: now, updatedAt: now };
    await this.deps.store.saveEndpoint(doc);
    const live = liveEndpoint(doc, 'api');
    this.endpoints.set(doc._id, live);
    // The host only: some receivers (Slack) put their secret in the URL's path.
    this.deps.log.info({ endpoint: doc._id, host: new URL(doc.url).host, events: doc.events }, 'webhook endpoint added');
    return { endpoint: this.view(live), secret };
  }

  async update(id: string, input: Record<string, unknown>): Promise<WebhookEndpoint> {
    const live = this.editable(id);
    onlyKnown(input, ENDPOINT_FIELDS.filter((f) => f !== 'secret'), 'change the secret with rotate-secret');
    const fields = asBadRequest(() => validateEndpoint(input, live.doc));
    const doc: EndpointDoc = { ...live.doc, ...fields, updatedAt: new Date(this.deps.clock.now()) };
    await this.deps.store.saveEndpoint(doc);
    const next = liveEndpoint(doc, 'api');
    this.endpoints.set(id, next);
    if (doc.url !== live.doc.url) this.sender.forget(id);
    this.worker.poke();
    return this.view(next);
  }

  async remove(id: string): Promise<void> {
    this.editable(id);
    this.endpoints.delete(id);
    this.states.delete(id);
    this.sender.forget(id);
    await this.deps.store.removeEndpoint(id);
    this.deps.log.info({ endpoint: id }, 'webhook endpoint removed with its deliveries');
  }

  /**
   * A new secret (given, or made); the old one signs beside it for `graceMs` so receivers can switch
   * without losing a delivery (signing.ts). `secret: null` stops signing.
   */
  async rotateSecret(id: string, options: { secret?: unknown; graceMs: number }): Promise<WebhookSecretAnswer> {
    const live = this.editable(id);
    if (options.graceMs < 0 || options.graceMs > MAX_GRACE_MS) throw badRequest('"grace" must be at most 30 days', 'grace');
    const now = this.deps.clock.now();
    let secret: string | null;
    let secrets: EndpointDoc['secrets'];
    if (options.secret === null) {
      secret = null;
      secrets = [];
    } else {
      secret = options.secret === undefined ? generateSecret() : asBadRequest(() => validateSecret(options.secret));
      secrets = rotateSecrets(live.doc.secrets, secret, options.graceMs, now);
    }
    const doc: EndpointDoc = { ...live.doc, secrets, updatedAt: new Date(now) };
    await this.deps.store.saveEndpoint(doc);
    const next = liveEndpoint(doc, 'api');
    this.endpoints.set(id, next);
    this.deps.log.info({ endpoint: id, graceMs: options.graceMs }, 'webhook secret rotated');
    return { endpoint: this.view(next), secret };
  }

  // ---- deliveries -----------------------------------------------------------------------------

  /** Sends a test event now (not queued, not retried); answers with the delivery as recorded. */
  async test(id: string): Promise<WebhookDelivery> {
    const live = this.live(id);
    const event = this.recorder.event({ kind: 'test', action: 'test', target: {}, details: { message: 'A test event from Berth: this endpoint receives its webhooks.' } }, undefined);
    const now = new Date(this.deps.clock.now());
    const doc: DeliveryDoc = { _id: deliveryId(), endpointId: id, seq: 0, event, state: 'dead', attempts: 0, nextAttemptAt: null, history: [], createdAt: now, finishedAt: null };
    const saved = await this.worker.attempt(live, doc, 'test');
    if (!saved) throw unknownEndpoint(id);
    this.worker.poke();
    return deliveryView(saved);
  }

  async deliveries(id: string, filter: { state?: DeliveryState; limit: number; before?: number }): Promise<WebhookDeliveryPage> {
    this.live(id);
    const docs = await this.deps.store.listDeliveries({ endpointId: id, ...filter, limit: filter.limit + 1 });
    const page = docs.slice(0, filter.limit);
    return { deliveries: page.map(deliveryView), next: docs.length > filter.limit ? String(page.at(-1)!.seq) : null };
  }

  async delivery(id: string, deliveryIdValue: string): Promise<WebhookDelivery> {
    return deliveryView(await this.deliveryDoc(id, deliveryIdValue));
  }

  /**
   * A pending delivery is tried now, in its place in the order (circuit closed, the backoff of the
   * queue's head and its own skipped); a finished one (delivered, dead, dropped) is sent again now,
   * once, with the same webhook-id.
   */
  async redeliver(id: string, deliveryIdValue: string): Promise<{ delivery: WebhookDelivery; queued: boolean }> {
    const live = this.live(id);
    const doc = await this.deliveryDoc(id, deliveryIdValue);
    if (doc.state === 'pending') {
      // On the wire right now: its outcome decides what happens next.
      if (this.worker.isSending(id)) return { delivery: deliveryView(doc), queued: true };
      const state = this.state(id);
      state.openUntil = null;
      await this.deps.store.saveEndpointState(state);
      // In order: the queue's head (when it is another delivery) goes now too, then this one.
      const now = new Date(this.deps.clock.now());
      const head = (await this.deps.store.heads()).find((h) => h.endpointId === id);
      if (head && head._id !== doc._id) await this.deps.store.saveDelivery({ ...head, nextAttemptAt: now });
      const saved = await this.deps.store.saveDelivery({ ...doc, nextAttemptAt: now });
      this.worker.poke();
      return { delivery: deliveryView(saved), queued: true };
    }
    const saved = await this.worker.attempt(live, doc, 'redeliver');
    if (!saved) throw unknownEndpoint(id);
    this.worker.poke();
    return { delivery: deliveryView(saved), queued: false };
  }

  // ---- internals ------------------------------------------------------------------------------

  private live(id: string): LiveEndpoint {
    const live = this.endpoints.get(id);
    if (!live) throw unknownEndpoint(id);
    return live;
  }

  private editable(id: string): LiveEndpoint {
    const live = this.live(id);
    if (live.source === 'config') {
      throw new RegistryError('BAD_REQUEST', { message: `webhook endpoint "${id}" is defined in the config file: change it there and restart Berth` });
    }
    return live;
  }

  private async deliveryDoc(id: string, deliveryIdValue: string): Promise<DeliveryDoc> {
    this.live(id);
    const doc = await this.deps.store.delivery(deliveryIdValue);
    if (!doc || doc.endpointId !== id) {
      throw new RegistryError('NOT_FOUND', { message: `webhook endpoint "${id.slice(0, 64)}" has no delivery "${deliveryIdValue.slice(0, 64)}"` });
    }
    return doc;
  }

  private state(id: string): EndpointStateDoc {
    let state = this.states.get(id);
    if (!state) {
      state = { _id: id, lastSuccessAt: null, lastFailureAt: null, failureStreak: 0, openUntil: null, delivered: 0, dropped: 0, deadLettered: 0 };
      this.states.set(id, state);
    }
    return state;
  }

  private view(live: LiveEndpoint): WebhookEndpoint {
    const state = this.state(live.doc._id);
    const now = this.deps.clock.now();
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
    const open = state.openUntil && new Date(state.openUntil).getTime() > now ? state.openUntil : null;
    return endpointView(
      live,
      {
        queued: this.deps.store.queueLengths().get(live.doc._id) ?? 0,
        lastSuccessAt: iso(state.lastSuccessAt),
        lastFailureAt: iso(state.lastFailureAt),
        failureStreak: state.failureStreak,
        circuitOpenUntil: iso(open),
        delivered: state.delivered,
        dropped: state.dropped,
        deadLettered: state.deadLettered,
      },
      now,
    );
  }
}

export function deliveryView(doc: DeliveryDoc): WebhookDelivery {
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: doc._id,
    endpointId: doc.endpointId,
    eventId: doc.event.id,
    kind: doc.event.kind,
    action: doc.event.action,
    repository: doc.event.target.repository ?? null,
    tag: doc.event.target.tag ?? null,
    digest: doc.event.target.digest ?? null,
    state: doc.state,
    attempts: doc.attempts,
    nextAttemptAt: doc.state === 'pending' ? iso(doc.nextAttemptAt) : null,
    createdAt: iso(doc.createdAt)!,
    finishedAt: iso(doc.finishedAt),
    history: doc.history.map((a) => ({ ...a, at: iso(a.at)! })),
  };
}

function unknownEndpoint(id: string): RegistryError {
  return new RegistryError('NOT_FOUND', { message: `no webhook endpoint "${id.slice(0, 64)}"` });
}

function badRequest(message: string, field: string): RegistryError {
  return new RegistryError('BAD_REQUEST', { message, detail: { fields: [field] } satisfies FieldErrorDetail });
}

function asBadRequest<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof EndpointInputError) throw badRequest(err.message, err.field);
    throw err;
  }
}

function onlyKnown(input: Record<string, unknown>, known: readonly string[], hint?: string): void {
  const unknown = Object.keys(input).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new RegistryError('BAD_REQUEST', {
      message: `unknown field ${unknown.map((k) => `"${k.slice(0, 50)}"`).join(', ')} (known: ${known.join(', ')})${hint && unknown.includes('secret') ? `; ${hint}` : ''}`,
      detail: { fields: unknown.slice(0, 10).map((k) => k.slice(0, 50)) } satisfies FieldErrorDetail,
    });
  }
}
