/**
 * The outbox's writer: turns the registry's events (registry/events.ts) into webhook events and writes
 * one delivery per endpoint that takes it, when the event commits.
 *
 * Durability: a client that was answered 201 must get its webhooks even if Berth is killed the next
 * instant (at least once), so the write is held in the request (EventOrigin.holdAnswer): the answer
 * goes out once the deliveries are appended to the outbox file, where a kill -9 cannot undo them; the
 * file reaches the disk itself within a second (metadata/webhook-db.ts says why not before every
 * answer). The worker sends them later and never holds a request. Events without a request (CLI,
 * schedule, garbage collection) are written the same way, without anyone waiting. With no endpoint
 * taking an event nothing is written.
 *
 * Registry events, as webhook kinds and Distribution actions (notifications/bridge.go):
 *   blob-pushed, manifest-pushed        push    push     (blob: one event per blob; manifest: with its tag)
 *   blob-mounted                        mount   mount    (target.fromRepository)
 *   blob-pulled, manifest-pulled        pull    pull     (GET only, as Distribution)
 *   blob-deleted, manifest-deleted      delete  delete
 *   tag-deleted                         tag     delete   (target: repository and tag, as Distribution)
 *   repository-deleted                  repository-deleted  delete (target: repository)
 *   maintenance: a gc run finished      gc-finished      (not dry runs)
 *   maintenance: a scrub found problems scrub-problem
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DeliveryDoc, NewDelivery, StoredEvent, WebhookStore } from '../metadata/webhook-store.ts';
import type { GcReport, MaintenanceRun, ScrubReport } from '../registry/api-types.ts';
import type { EventOrigin, RegistryEvents } from '../registry/events.ts';
import type { Clock } from '../scheduler.ts';
import type { WebhookEventKind } from './api-types.ts';
import type { LiveEndpoint } from './endpoints.ts';

/** What Distribution calls a blob's media type in its events. */
const BLOB_MEDIA_TYPE = 'application/octet-stream';
/** At most this many entries of a list in a maintenance summary. */
const SUMMARY_LIST = 20;

export interface RecorderDeps {
  events: RegistryEvents;
  store: WebhookStore;
  /** The endpoints now (config and API). */
  endpoints(): LiveEndpoint[];
  /** Pending deliveries per endpoint beyond which the oldest are dropped. */
  queueCap: number;
  /** Distribution's source record: this instance. */
  source: { addr: string; instanceID: string };
  /** The registry's own URL (for event URLs without a request), or null before it listens. */
  registryUrl(): string | null;
  /** A finished maintenance run (for its result). */
  run(id: string): Promise<MaintenanceRun>;
  clock: Clock;
  log: Logger;
  /** Deliveries for these endpoints were written: the worker looks at them. */
  written(endpointIds: string[]): void;
  dropped(deliveries: DeliveryDoc[]): void;
}

type EventFields = Pick<StoredEvent, 'kind' | 'action' | 'target'> & { details?: Record<string, unknown> };

export class OutboxRecorder {
  private readonly deps: RecorderDeps;
  private unsubscribe: (() => void)[] = [];

  constructor(deps: RecorderDeps) {
    this.deps = deps;
  }

  start(): void {
    const { events } = this.deps;
    const url = (origin: EventOrigin | undefined, repository: string, what: 'blobs' | 'manifests', digest: string) => `${this.base(origin)}/v2/${repository}/${what}/${digest}`;
    this.unsubscribe = [
      events.on('blob-pushed', (e) =>
        this.record({ kind: 'push', action: 'push', target: { mediaType: BLOB_MEDIA_TYPE, size: e.size, digest: e.digest, repository: e.repository, url: url(e.origin, e.repository, 'blobs', e.digest) } }, e.origin)),
      events.on('manifest-pushed', (e) =>
        this.record(
          { kind: 'push', action: 'push', target: { mediaType: e.mediaType, size: e.size, digest: e.digest, repository: e.repository, url: url(e.origin, e.repository, 'manifests', e.digest), ...(e.tag ? { tag: e.tag } : {}) } },
          e.origin,
        )),
      events.on('blob-mounted', (e) =>
        this.record(
          { kind: 'mount', action: 'mount', target: { mediaType: BLOB_MEDIA_TYPE, ...(e.size !== undefined ? { size: e.size } : {}), digest: e.digest, repository: e.repository, fromRepository: e.from, url: url(e.origin, e.repository, 'blobs', e.digest) } },
          e.origin,
        )),
      events.on('blob-pulled', (e) =>
        this.takesPulls() && this.record({ kind: 'pull', action: 'pull', target: { mediaType: BLOB_MEDIA_TYPE, size: e.size, digest: e.digest, repository: e.repository, url: url(e.origin, e.repository, 'blobs', e.digest) } }, e.origin)),
      events.on('manifest-pulled', (e) =>
        this.takesPulls() && this.record(
          {
            kind: 'pull',
            action: 'pull',
            target: {
              ...(e.mediaType ? { mediaType: e.mediaType } : {}),
              ...(e.size !== undefined ? { size: e.size } : {}),
              digest: e.digest,
              repository: e.repository,
              url: url(e.origin, e.repository, 'manifests', e.digest),
              ...(e.reference.includes(':') ? {} : { tag: e.reference }),
            },
          },
          e.origin,
        )),
      events.on('blob-deleted', (e) => this.record({ kind: 'delete', action: 'delete', target: { digest: e.digest, repository: e.repository } }, e.origin)),
      events.on('manifest-deleted', (e) => this.record({ kind: 'delete', action: 'delete', target: { digest: e.digest, repository: e.repository } }, e.origin)),
      events.on('tag-deleted', (e) => this.record({ kind: 'tag', action: 'delete', target: { repository: e.repository, tag: e.tag } }, e.origin)),
      events.on('repository-deleted', (e) =>
        this.record({ kind: 'repository-deleted', action: 'delete', target: { repository: e.repository }, details: { tags: e.tags.slice(0, SUMMARY_LIST), manifests: e.manifests, layers: e.layers } }, e.origin)),
      events.on('maintenance', (e) => {
        if ((e.kind !== 'gc' && e.kind !== 'scrub') || (e.state !== 'succeeded' && e.state !== 'failed')) return;
        if (!this.takesAny(e.kind === 'gc' ? 'gc-finished' : 'scrub-problem')) return;
        this.deps.run(e.id).then(
          (run) => {
            const fields = maintenanceEvent(run);
            if (fields) this.record(fields, undefined);
          },
          (err: unknown) => this.deps.log.warn({ err, run: e.id }, 'webhooks: could not read the finished maintenance run'),
        );
      }),
    ];
  }

  /**
   * Whether an enabled endpoint takes pull events at all. Pulls are the registry's most frequent
   * requests and no endpoint takes them by default: without one, a pull builds no event.
   */
  takesPulls(): boolean {
    return this.takesAny('pull');
  }

  /** Whether an enabled endpoint takes events of this kind (whatever their repository or media type). */
  private takesAny(kind: WebhookEventKind): boolean {
    return this.deps.endpoints().some((ep) => ep.doc.enabled && ep.doc.events.includes(kind));
  }

  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** A stored event of these fields, as it happened now. */
  event(fields: EventFields, origin: EventOrigin | undefined): StoredEvent {
    return {
      id: randomUUID(),
      kind: fields.kind,
      action: fields.action,
      at: new Date(this.deps.clock.now()),
      target: fields.target,
      ...(origin ? { request: origin.request, ...(origin.actor !== undefined ? { actor: origin.actor } : {}) } : {}),
      source: this.deps.source,
      registry: this.base(origin),
      ...(fields.details ? { details: fields.details } : {}),
    };
  }

  private record(fields: EventFields, origin: EventOrigin | undefined): void {
    const takers = this.deps.endpoints().filter((ep) => ep.takes(fields));
    if (takers.length === 0) return;
    const event = this.event(fields, origin);
    const now = new Date(this.deps.clock.now());
    const deliveries: NewDelivery[] = takers.map((ep) => ({
      _id: deliveryId(),
      endpointId: ep.doc._id,
      event,
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      history: [],
      createdAt: now,
      finishedAt: null,
    }));
    const work = this.deps.store.enqueue(deliveries, this.deps.queueCap).then(
      (dropped) => {
        if (dropped.length > 0) this.deps.dropped(dropped);
        this.deps.written(deliveries.map((d) => d.endpointId));
      },
      // The registry did its work: a failed outbox write is logged and counted, never the client's error.
      (err: unknown) => this.deps.log.error({ err, event: event.kind, repository: event.target.repository }, 'webhooks: could not write deliveries to the outbox; they are lost'),
    );
    origin?.holdAnswer(work);
  }

  /** The registry's address as the request reached it (Distribution builds event URLs the same way). */
  private base(origin: EventOrigin | undefined): string {
    if (origin?.request.host) return `${origin.scheme}://${origin.request.host}`;
    return this.deps.registryUrl() ?? `http://${this.deps.source.addr}`;
  }
}

/** A Standard Webhooks style message id ("msg_" + 32 hex digits). */
export function deliveryId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

function maintenanceEvent(run: MaintenanceRun): EventFields | null {
  const base = { runId: run.id, trigger: run.trigger, state: run.state, durationMs: run.durationMs, ...(run.error ? { error: run.error } : {}) };
  if (run.kind === 'gc') {
    const options = run.options as { dryRun?: boolean };
    if (options.dryRun) return null;
    const r = run.result as GcReport | null;
    const details = r
      ? { ...base, bytesFreed: r.bytesFreed, blobsDeleted: r.counts.blobs, manifestsDeleted: r.counts.manifests, layerLinksDeleted: r.counts.layerLinks, repositoriesDeleted: r.counts.repositories, untagged: r.untagged }
      : base;
    return { kind: 'gc-finished', action: 'gc-finished', target: {}, details };
  }
  if (run.kind === 'scrub') {
    const r = run.result as ScrubReport | null;
    if (r?.clean) return null;
    const details = r
      ? {
          ...base,
          corrupt: r.corrupt.length,
          missing: r.missing.length,
          corruptFiles: r.corrupt.slice(0, SUMMARY_LIST).map((c) => ({ digest: c.digest, usedBy: c.usedBy.map((u) => u.repository) })),
          missingContent: r.missing.slice(0, SUMMARY_LIST).map((m) => ({ repository: m.repository, reference: m.reference, digest: m.digest, problem: m.problem })),
        }
      : base;
    return { kind: 'scrub-problem', action: 'scrub-problem', target: {}, details };
  }
  return null;
}
