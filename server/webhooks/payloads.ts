/**
 * What a delivery's body says, in the endpoint's format:
 *
 *   distribution  CNCF Distribution's notification envelope (docs/notifications.md), so receivers written
 *                 for registry:2 work unchanged: Content-Type application/vnd.docker.distribution.events.v1+json,
 *                 {"events":[{id, timestamp, action, target: {mediaType, size, digest, length, repository,
 *                 fromRepository, url, tag}, request: {id, addr, host, method, useragent}, actor: {name},
 *                 source: {addr, instanceID}}]}, keys in Go's order, empty fields left out as Go's omitempty
 *                 does (request, actor and source are structs: always there, possibly {}). One event per
 *                 delivery, as Distribution 2.8 sends them: a push is one event per blob, then one for the
 *                 manifest with its tag. Berth's own kinds use actions Distribution does not have
 *                 (gc-finished, scrub-problem, test) and carry their summary in "berth".
 *   cloudevents   CloudEvents 1.0 in structured JSON mode (spec json-format.md): Content-Type
 *                 application/cloudevents+json; type "io.berth.registry.<action>"; subject
 *                 "<repository>:<tag>" or "<repository>@<digest>"; the Distribution event fields in data.
 *   slack         a Slack incoming-webhook message: {"text": "..."} (mrkdwn), also what Mattermost, Rocket.Chat
 *                 and Discord's /slack endpoints take.
 *
 * Bodies are bounded (MAX_BODY_BYTES): only a maintenance summary can grow, and it is cut to fit.
 */
import type { StoredEvent } from '../metadata/webhook-store.ts';
import type { WebhookFormat } from './api-types.ts';

export const DISTRIBUTION_EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';
export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json';
/** Far above any event's size (about 1 KB); a summary listing many problems is trimmed to it. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface RenderedBody {
  contentType: string;
  body: Buffer;
}

export function renderPayload(event: StoredEvent, format: WebhookFormat): RenderedBody {
  let details = event.details;
  for (;;) {
    const rendered = renderOnce({ ...event, ...(details ? { details } : {}) }, format);
    if (rendered.body.length <= MAX_BODY_BYTES || !details) return rendered;
    details = trimDetails(details);
  }
}

function renderOnce(event: StoredEvent, format: WebhookFormat): RenderedBody {
  switch (format) {
    case 'distribution':
      return { contentType: DISTRIBUTION_EVENTS_MEDIA_TYPE, body: Buffer.from(JSON.stringify({ events: [distributionEvent(event)] })) };
    case 'cloudevents':
      return { contentType: CLOUDEVENTS_MEDIA_TYPE, body: Buffer.from(JSON.stringify(cloudEvent(event))) };
    case 'slack':
      return { contentType: 'application/json', body: Buffer.from(JSON.stringify({ text: slackText(event) })) };
  }
}

/** Go's omitempty: no empty strings, zeros or absent values. */
function defined<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== '' && v !== 0)) as Partial<T>;
}

/** One event of Distribution's envelope (notifications/event.go Event, with its field order). */
export function distributionEvent(event: StoredEvent): Record<string, unknown> {
  const t = event.target;
  return {
    id: event.id,
    timestamp: new Date(event.at).toISOString(),
    action: event.action,
    target: defined({
      mediaType: t.mediaType,
      size: t.size,
      digest: t.digest,
      length: t.size,
      repository: t.repository,
      fromRepository: t.fromRepository,
      url: t.url,
      tag: t.tag,
    }),
    request: event.request ? defined({ ...event.request }) : {},
    actor: defined({ name: event.actor }),
    source: defined({ addr: event.source.addr, instanceID: event.source.instanceID }),
    ...(event.details ? { berth: event.details } : {}),
  };
}

function subject(event: StoredEvent): string | undefined {
  const { repository, tag, digest } = event.target;
  if (!repository) return undefined;
  if (tag) return `${repository}:${tag}`;
  return digest ? `${repository}@${digest}` : repository;
}

function cloudEvent(event: StoredEvent): Record<string, unknown> {
  const { id, timestamp, ...data } = distributionEvent(event);
  return {
    specversion: '1.0',
    id,
    source: event.registry,
    type: `io.berth.registry.${event.action}`,
    ...defined({ subject: subject(event) }),
    time: timestamp,
    datacontenttype: 'application/json',
    data,
  };
}

const VERBS: Record<string, string> = { push: 'Pushed', pull: 'Pulled', mount: 'Mounted', delete: 'Deleted' };

function slackText(event: StoredEvent): string {
  const where = event.registry.replace(/^[a-z]+:\/\//, '');
  const by = event.actor ? ` by ${event.actor}` : '';
  const t = event.target;
  const what = t.tag ? `${t.repository}:${t.tag}` : t.digest ? `${t.repository}@${t.digest.slice(0, 19)}…` : t.repository;
  switch (event.kind) {
    case 'gc-finished': {
      const d = event.details ?? {};
      return `:broom: Garbage collection on ${where} finished: freed ${formatBytes(Number(d.bytesFreed ?? 0))} (${Number(d.blobsDeleted ?? 0)} blobs, ${Number(d.manifestsDeleted ?? 0)} manifests).`;
    }
    case 'scrub-problem': {
      const d = event.details ?? {};
      return `:warning: Integrity scrub on ${where} found a problem: ${Number(d.corrupt ?? 0)} corrupt files, ${Number(d.missing ?? 0)} missing references. Push the affected images again.`;
    }
    case 'repository-deleted':
      return `:wastebasket: Repository \`${t.repository}\` deleted on ${where}${by}.`;
    case 'test':
      return `:wave: Test event from Berth at ${where}: this endpoint receives its webhooks.`;
    default: {
      const verb = VERBS[event.action] ?? event.action;
      const size = t.size ? ` (${formatBytes(t.size)})` : '';
      const from = t.fromRepository ? ` from \`${t.fromRepository}\`` : '';
      return `${verb} \`${what}\`${size}${from} on ${where}${by}.`;
    }
  }
}

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Halves every list in a summary, and marks it cut. */
function trimDetails(details: Record<string, unknown>): Record<string, unknown> | undefined {
  let trimmed = false;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (Array.isArray(v) && v.length > 0) {
      out[k] = v.slice(0, Math.floor(v.length / 2));
      trimmed = true;
    } else {
      out[k] = v;
    }
  }
  return trimmed ? { ...out, truncated: true } : undefined;
}
