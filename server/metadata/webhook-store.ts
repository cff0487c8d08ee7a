/**
 * What the webhooks keep (webhooks/): the endpoints made through the API or the CLI, each endpoint's
 * delivery state, and the outbox, one document per delivery of an event to an endpoint. A delivery is
 * written when its event commits and stays until it was delivered, dead-lettered or dropped; after
 * that it is the delivery log, pruned to the newest LOG_PER_ENDPOINT per endpoint.
 *
 * Behind this interface so the store can change: webhook-db.ts keeps it in nedb files under
 * <data>/webhooks/ (storage/paths.ts); a database store implements the same methods. Like the
 * maintenance store it is primary data, not derived from the files: a rebuild of the index never
 * touches it.
 */

import type { DeliveryState, WebhookEndpointSettings, WebhookEventKind, WebhookFormat } from '../webhooks/api-types.ts';
import type { SetAsideStore } from './nedb-file.ts';

export type { DeliveryState, WebhookEventKind, WebhookFormat };

export interface WebhookSecret {
  value: string;
  /** A rotated-out secret keeps signing (beside the new one) until then; null for the current one. */
  until: Date | null;
}

/** An endpoint as stored (API and CLI endpoints; those of the config file live in the config). */
export interface EndpointDoc extends WebhookEndpointSettings {
  _id: string;
  /** The signing secrets: the current one first, then rotated-out ones still in their grace period. */
  secrets: WebhookSecret[];
  timeoutMs: number;
  /** PEM certificates to trust for this endpoint's TLS, besides the system's. */
  ca: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** How an endpoint's deliveries have been going (kept for config endpoints too, by id). */
export interface EndpointStateDoc {
  _id: string;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  /** Failed attempts in a row, of any delivery: the circuit breaker's count. */
  failureStreak: number;
  /** While the circuit is open no delivery is attempted before this time. */
  openUntil: Date | null;
  delivered: number;
  dropped: number;
  deadLettered: number;
}

/** The registry event as the outbox keeps it; webhooks/payloads.ts renders it in each format. */
export interface StoredEvent {
  /** The event's id: Distribution's event id, the CloudEvents id; the same for every endpoint. */
  id: string;
  kind: WebhookEventKind | 'test';
  /** Distribution's action: push, pull, mount, delete; gc-finished, scrub-problem and test beyond it. */
  action: string;
  at: Date;
  target: {
    repository?: string;
    fromRepository?: string;
    mediaType?: string;
    digest?: string;
    size?: number;
    tag?: string;
    url?: string;
  };
  request?: { id: string; addr: string; host: string; method: string; useragent: string };
  actor?: string;
  /** Where the registry runs: Distribution's source record. */
  source: { addr: string; instanceID: string };
  /** The registry's address for links (CloudEvents source, Slack text). */
  registry: string;
  /** gc-finished and scrub-problem: a short summary of the run. */
  details?: Record<string, unknown>;
}

export interface AttemptRecord {
  at: Date;
  /** The HTTP status, or null when none came (refused, timed out, TLS failed). */
  status: number | null;
  durationMs: number;
  error: string | null;
  /** The start of the response body, truncated (webhooks/sender.ts). */
  response: string | null;
  /** Why the attempt was made: the worker, a redelivery or a test asked from the API. */
  trigger: 'queue' | 'redeliver' | 'test';
}

export interface DeliveryDoc {
  /** The delivery id (webhook-id): the same on every attempt and redelivery, for receivers to de-duplicate. */
  _id: string;
  endpointId: string;
  /** Order within the outbox: deliveries of one endpoint go out in this order. */
  seq: number;
  event: StoredEvent;
  state: DeliveryState;
  attempts: number;
  /** When the next attempt is due (pending only). */
  nextAttemptAt: Date | null;
  /** The latest attempts, newest last (at most ATTEMPTS_KEPT). */
  history: AttemptRecord[];
  createdAt: Date;
  finishedAt: Date | null;
}

export type NewDelivery = Omit<DeliveryDoc, 'seq'>;

/** Attempts kept per delivery (the count in `attempts` goes on). */
export const ATTEMPTS_KEPT = 10;
/** Finished deliveries kept per endpoint for the log. */
export const LOG_PER_ENDPOINT = 500;

export interface EndpointStore {
  listEndpoints(): Promise<EndpointDoc[]>;
  endpoint(id: string): Promise<EndpointDoc | null>;
  saveEndpoint(doc: EndpointDoc): Promise<void>;
  /** Removes the endpoint, its state and its deliveries. */
  removeEndpoint(id: string): Promise<boolean>;
  endpointStates(): Promise<EndpointStateDoc[]>;
  saveEndpointState(doc: EndpointStateDoc): Promise<void>;
}

export interface OutboxStore {
  /**
   * Adds deliveries; resolved once they would survive a crash of the process (a kill -9), and on the
   * disk itself within a second (a power cut).
   * Per endpoint at most `cap` stay pending: beyond it the oldest pending ones after the head (which
   * may be on the wire) become 'dropped' and are returned.
   */
  enqueue(deliveries: NewDelivery[], cap: number): Promise<DeliveryDoc[]>;
  /** The oldest pending delivery of each endpoint that has one. */
  heads(): Promise<DeliveryDoc[]>;
  delivery(id: string): Promise<DeliveryDoc | null>;
  /** Replaces a delivery; `requeue` moves it to the end of its endpoint's order. */
  saveDelivery(doc: DeliveryDoc, options?: { requeue?: boolean }): Promise<DeliveryDoc>;
  /** Newest first; `before`: a seq to page from. */
  listDeliveries(filter: { endpointId?: string; state?: DeliveryState; limit: number; before?: number }): Promise<DeliveryDoc[]>;
  /** Pending deliveries per endpoint id. */
  queueLengths(): Map<string, number>;
}

export interface WebhookStore extends EndpointStore, OutboxStore {
  /** Loads the store; damaged files are set aside (and reported) so the registry still starts. */
  open(): Promise<{ setAside: SetAsideStore[] }>;
  close(): Promise<void>;
}
