/**
 * The webhooks' shapes in the management API (/api/webhooks, http/api/webhooks.ts), shared with the UI
 * (renderer/api.ts). Types and constants only: the browser build includes this file.
 */

/** What an endpoint can subscribe to (webhooks/events.ts maps the registry's events onto these). */
export const WEBHOOK_EVENT_KINDS = ['push', 'pull', 'mount', 'delete', 'tag', 'repository-deleted', 'gc-finished', 'scrub-problem'] as const;
export type WebhookEventKind = (typeof WEBHOOK_EVENT_KINDS)[number];

/** New endpoints get every kind but pull (a pull storm would be a delivery storm). */
export const DEFAULT_EVENT_KINDS: readonly WebhookEventKind[] = WEBHOOK_EVENT_KINDS.filter((k) => k !== 'pull');

export const WEBHOOK_FORMATS = ['distribution', 'cloudevents', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'dropped';

/** What an endpoint is set to, as stored and as shown (webhooks/endpoints.ts checks every field). */
export interface WebhookEndpointSettings {
  name: string;
  url: string;
  enabled: boolean;
  events: WebhookEventKind[];
  /** A pattern of repository names (server/name-pattern.ts: `team/*`), or null for all. */
  repositories: string | null;
  /** Patterns of the target's media type (`application/vnd.oci.image.*`), or null for all. */
  mediaTypes: string[] | null;
  format: WebhookFormat;
  /** Extra request headers (shown with credential-like values masked: Authorization, *token*, *key*...). */
  headers: Record<string, string>;
}

/** An endpoint as the API shows it: secrets masked, with how its deliveries are going. */
export interface WebhookEndpoint extends WebhookEndpointSettings {
  id: string;
  /** Whether deliveries are signed, and the last 4 characters of the current secret. */
  secret: { set: boolean; hint: string | null; previousUntil: string | null };
  timeoutSeconds: number;
  /** Whether a CA of its own is trusted for this endpoint's TLS. */
  customCa: boolean;
  /** "config": from the config file (read-only here); "api": made through the API or the CLI. */
  source: 'config' | 'api';
  createdAt: string | null;
  stats: WebhookEndpointStats;
}

export interface WebhookEndpointStats {
  /** Deliveries waiting (the queue). */
  queued: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** Failed attempts in a row. */
  failureStreak: number;
  /** The circuit is open (no attempts) until then, or null when closed. */
  circuitOpenUntil: string | null;
  delivered: number;
  dropped: number;
  deadLettered: number;
}

export interface WebhookAttempt {
  at: string;
  status: number | null;
  durationMs: number;
  error: string | null;
  /** The start of the response body (truncated). */
  response: string | null;
  trigger: 'queue' | 'redeliver' | 'test';
}

/** One delivery of one event to one endpoint: the delivery log's entry. */
export interface WebhookDelivery {
  /** The webhook-id header: the same on every attempt and redelivery. */
  id: string;
  endpointId: string;
  eventId: string;
  kind: WebhookEventKind | 'test';
  action: string;
  repository: string | null;
  tag: string | null;
  digest: string | null;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** The latest attempts, newest last. */
  history: WebhookAttempt[];
}

export interface WebhookDeliveryPage {
  deliveries: WebhookDelivery[];
  /** Pass as ?before= for the next (older) page; null at the end. */
  next: string | null;
}

/** POST /api/webhooks and POST /api/webhooks/<id>/rotate-secret answer the new secret once. */
export interface WebhookSecretAnswer {
  endpoint: WebhookEndpoint;
  /** Shown only in this answer: store it in the receiver. */
  secret: string | null;
}
