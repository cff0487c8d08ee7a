/**
 * Webhook endpoints: what a client (the API, the CLI) or the config file may set, checked in one place,
 * the secrets (made, rotated, masked), and which events an endpoint takes.
 *
 * Fields (API and config file alike):
 *   url           http:// or https://, no user:password (put credentials in a header)
 *   name          a label (default: the URL's host)
 *   enabled       default true
 *   events        kinds of WEBHOOK_EVENT_KINDS; default every kind but pull
 *   repositories  a pattern of repository names in Berth's one dialect (name-pattern.ts, as permissions
 *                 and retention rules: "team/*" is everything under team/, "{a,b}/*"); default all
 *   mediaTypes    patterns of the target's media type ("application/vnd.oci.image.*"); events that name no
 *                 media type (tag and repository deletes, maintenance) are not filtered by them
 *   format        distribution (default), cloudevents or slack (payloads.ts)
 *   headers       extra request headers (Authorization for a receiver that wants a token)
 *   secret        signs deliveries (signing.ts); the API and the CLI make one when none is given
 *   timeout       "10s" (1s to 60s) per attempt
 *   ca            PEM certificates to trust for this endpoint, besides the system's
 * The config file names its endpoints (`name` is their id) and takes the secret from `secretFile` or
 * `secretEnv`, the CA from `caFile`, never inline: config files get shared and committed.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { EndpointDoc, StoredEvent, WebhookSecret } from '../metadata/webhook-store.ts';
import { patternMatches, patternProblem } from '../name-pattern.ts';
import { DEFAULT_EVENT_KINDS, WEBHOOK_EVENT_KINDS, WEBHOOK_FORMATS, type WebhookEndpoint, type WebhookEndpointStats } from './api-types.ts';

/** A field that does not validate; callers turn it into their own error (API 400, config error). */
export class EndpointInputError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'EndpointInputError';
    this.field = field;
  }
}

export type EndpointFields = Omit<EndpointDoc, '_id' | 'secrets' | 'createdAt' | 'updatedAt'>;

export const DEFAULT_TIMEOUT_MS = 10_000;
const MIN_TIMEOUT_MS = 1000;
const MAX_TIMEOUT_MS = 60_000;
const MAX_URL = 2000;
const MAX_HEADERS = 20;
const MAX_HEADER_VALUE = 2000;
const MAX_CA_BYTES = 64 * 1024;
/** Headers Berth sets itself: a client cannot replace them. */
const RESERVED_HEADERS = new Set(['host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'webhook-id', 'webhook-timestamp', 'webhook-signature', 'x-hub-signature-256', 'user-agent']);
/** Header values that are credentials are masked in the API. */
const SECRET_HEADER = /authorization|cookie|token|secret|key|password|signature/i;
const MASK = '••••••';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Config endpoints are addressed by their name in API paths. */
export const ENDPOINT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const ENDPOINT_FIELDS = ['name', 'url', 'enabled', 'events', 'repositories', 'mediaTypes', 'format', 'headers', 'secret', 'timeout', 'ca'] as const;

/** Checks `input` (a parsed JSON object); `existing` supplies what an update leaves out. */
export function validateEndpoint(input: Record<string, unknown>, existing: EndpointFields | null): EndpointFields {
  const pick = (key: keyof EndpointFields | 'timeout'): unknown => (key in input ? input[key] : undefined);

  const url = key('url', pick('url') ?? existing?.url, (value) => {
    if (typeof value !== 'string' || value.length > MAX_URL) throw new EndpointInputError('url', `"url" must be an http:// or https:// URL (up to ${MAX_URL} characters)`);
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new EndpointInputError('url', `"url": "${value.slice(0, 100)}" is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new EndpointInputError('url', `"url" must start with http:// or https://, not ${parsed.protocol}`);
    if (parsed.username || parsed.password) throw new EndpointInputError('url', '"url" must not carry a user name or password: send credentials in a header ("headers": {"Authorization": "..."})');
    parsed.hash = '';
    return parsed.href;
  });

  const name = pick('name') ?? existing?.name ?? new URL(url).host;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100) throw new EndpointInputError('name', '"name" must be a label of 1 to 100 characters');

  const enabled = pick('enabled') ?? existing?.enabled ?? true;
  if (typeof enabled !== 'boolean') throw new EndpointInputError('enabled', '"enabled" must be true or false');

  const events = pick('events') ?? existing?.events ?? [...DEFAULT_EVENT_KINDS];
  if (!Array.isArray(events) || events.length === 0) {
    throw new EndpointInputError('events', `"events" must list at least one of ${WEBHOOK_EVENT_KINDS.join(', ')}`);
  }
  // The names that are wrong, said back (a typo among several is otherwise hard to spot).
  const unknownEvents = events.filter((e) => !(WEBHOOK_EVENT_KINDS as readonly unknown[]).includes(e));
  if (unknownEvents.length > 0) {
    const named = unknownEvents.slice(0, 5).map((e) => (typeof e === 'string' ? `"${e.slice(0, 40)}"` : JSON.stringify(e)?.slice(0, 40) ?? String(e)));
    throw new EndpointInputError('events', `"events": unknown event ${named.join(', ')}; the events are ${WEBHOOK_EVENT_KINDS.join(', ')}`);
  }

  const repositories = 'repositories' in input ? input.repositories : (existing?.repositories ?? null);
  if (repositories !== null && (typeof repositories !== 'string' || repositories.trim() === '' || repositories.length > 255)) {
    throw new EndpointInputError('repositories', '"repositories" must be a pattern of repository names such as "team/*" (up to 255 characters), or null for all');
  }
  const repositoriesProblem = typeof repositories === 'string' ? patternProblem(repositories) : null;
  if (repositoriesProblem) throw new EndpointInputError('repositories', `"repositories": ${repositoriesProblem}`);

  const mediaTypes = 'mediaTypes' in input ? input.mediaTypes : (existing?.mediaTypes ?? null);
  if (mediaTypes !== null && (!Array.isArray(mediaTypes) || mediaTypes.length === 0 || mediaTypes.length > 20 || mediaTypes.some((m) => typeof m !== 'string' || m.trim() === '' || m.length > 255))) {
    throw new EndpointInputError('mediaTypes', '"mediaTypes" must be a list of media type patterns such as "application/vnd.oci.image.manifest.v1+json" or "application/vnd.oci.image.*", or null for all');
  }
  const mediaTypeProblem = Array.isArray(mediaTypes) ? mediaTypes.map((m) => patternProblem(String(m))).find((p) => p !== null) : null;
  if (mediaTypeProblem) throw new EndpointInputError('mediaTypes', `"mediaTypes": ${mediaTypeProblem}`);

  const format = pick('format') ?? existing?.format ?? 'distribution';
  if (typeof format !== 'string' || !(WEBHOOK_FORMATS as readonly string[]).includes(format)) {
    throw new EndpointInputError('format', `"format" must be one of ${WEBHOOK_FORMATS.join(', ')}`);
  }

  const headers = validateHeaders(pick('headers') ?? existing?.headers ?? {}, existing?.headers ?? {});

  const timeout = pick('timeout');
  const timeoutMs = timeout === undefined ? (existing?.timeoutMs ?? DEFAULT_TIMEOUT_MS) : parseTimeout(timeout);

  const ca = 'ca' in input ? input.ca : (existing?.ca ?? null);
  if (ca !== null) validateCa(ca);

  return {
    name: name.trim(),
    url,
    enabled,
    events: WEBHOOK_EVENT_KINDS.filter((k) => (events as unknown[]).includes(k)),
    repositories: repositories as string | null,
    mediaTypes: mediaTypes as string[] | null,
    format: format as EndpointFields['format'],
    headers,
    timeoutMs,
    ca: ca as string | null,
  };
}

function key<T>(field: string, value: unknown, check: (value: unknown) => T): T {
  if (value === undefined) throw new EndpointInputError(field, `"${field}" is required`);
  return check(value);
}

/** `previous`: a value sent back masked (as the API shows it) keeps the value it had. */
function validateHeaders(value: unknown, previous: Record<string, string>): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EndpointInputError('headers', '"headers" must be an object of header names and values');
  const entries = Object.entries(value);
  if (entries.length > MAX_HEADERS) throw new EndpointInputError('headers', `"headers" may name at most ${MAX_HEADERS} headers`);
  const out: Record<string, string> = {};
  for (const [name, v] of entries) {
    if (!TOKEN.test(name)) throw new EndpointInputError('headers', `"headers": "${name.slice(0, 50)}" is not a header name`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw new EndpointInputError('headers', `"headers": Berth sets ${name} itself`);
    if (v === MASK && previous[name] !== undefined) {
      out[name] = previous[name];
      continue;
    }
    // RFC 9110 §5.5: field values are visible characters, spaces and tabs (Node refuses the rest).
    if (typeof v !== 'string' || v.length > MAX_HEADER_VALUE || !/^[\t\x20-\x7e]*$/.test(v)) {
      throw new EndpointInputError('headers', `"headers": the value of ${name} must be ASCII text of up to ${MAX_HEADER_VALUE} characters on one line`);
    }
    out[name] = v;
  }
  return out;
}

/** "10s", "1m", or a number of seconds. */
export function parseTimeout(value: unknown): number {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(s|sec|seconds?)?$/.exec(value.trim()) : null;
  let ms: number | null = null;
  if (typeof seconds === 'number') ms = seconds * 1000;
  else if (seconds) ms = Number(seconds[1]) * 1000;
  else if (typeof value === 'string' && /^(\d+(?:\.\d+)?)\s*m(in)?$/.test(value.trim())) ms = Number(/^(\d+(?:\.\d+)?)/.exec(value.trim())![1]) * 60_000;
  if (ms === null || !Number.isFinite(ms) || ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS) {
    throw new EndpointInputError('timeout', `"timeout" must be a duration from 1s to 60s, such as "10s"`);
  }
  return Math.round(ms);
}

function validateCa(value: unknown): void {
  if (typeof value !== 'string' || value.length > MAX_CA_BYTES || !value.includes('-----BEGIN CERTIFICATE-----')) {
    throw new EndpointInputError('ca', '"ca" must be PEM certificates ("-----BEGIN CERTIFICATE-----...") of up to 64 KiB, or null');
  }
  for (const pem of value.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new EndpointInputError('ca', `"ca" holds a certificate that does not parse: ${(err as Error).message}`);
    }
  }
}

// ---- secrets ------------------------------------------------------------------------------------

/**
 * A new secret in the Standard Webhooks form: "whsec_" + base64 of 32 random bytes (its key is those
 * bytes; X-Hub-Signature-256 uses the whole string as its key, as GitHub-style receivers hold it).
 */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function validateSecret(value: unknown): string {
  if (typeof value !== 'string' || !/^[\x21-\x7e]{16,512}$/.test(value)) {
    throw new EndpointInputError('secret', '"secret" must be 16 to 512 printable characters without spaces (or leave it out to get one made)');
  }
  return value;
}

/** The secrets that sign now: the current one and rotated-out ones still in their grace period. */
export function signingSecrets(secrets: WebhookSecret[], now: number): string[] {
  return secrets.filter((s) => s.until === null || new Date(s.until).getTime() > now).map((s) => s.value);
}

/** A new current secret; the old one keeps signing beside it for `graceMs` (0: not at all). */
export function rotateSecrets(secrets: WebhookSecret[], next: string, graceMs: number, now: number): WebhookSecret[] {
  const current = secrets.find((s) => s.until === null);
  const kept = graceMs > 0 && current ? [{ value: current.value, until: new Date(now + graceMs) }] : [];
  return [{ value: next, until: null }, ...kept];
}

// ---- what an endpoint takes ---------------------------------------------------------------------

/** An endpoint with its filters compiled. */
export interface LiveEndpoint {
  doc: EndpointDoc;
  source: 'config' | 'api';
  takes(event: Pick<StoredEvent, 'kind' | 'target'>): boolean;
}

export function liveEndpoint(doc: EndpointDoc, source: 'config' | 'api'): LiveEndpoint {
  const { repositories, mediaTypes } = doc;
  const repository = repositories ? (name: string) => patternMatches(repositories, name) : null;
  const mediaType = mediaTypes ? (type: string) => mediaTypes.some((p) => patternMatches(p, type)) : null;
  const kinds = new Set<string>(doc.events);
  return {
    doc,
    source,
    takes(event) {
      if (!doc.enabled || !kinds.has(event.kind)) return false;
      if (repository && event.target.repository !== undefined && !repository(event.target.repository)) return false;
      if (mediaType && event.target.mediaType !== undefined && !mediaType(event.target.mediaType)) return false;
      return true;
    },
  };
}

/** The endpoint as the API shows it. */
export function endpointView(live: LiveEndpoint, stats: WebhookEndpointStats, now: number): WebhookEndpoint {
  const { doc } = live;
  const current = doc.secrets.find((s) => s.until === null);
  const previous = doc.secrets.find((s) => s.until !== null && new Date(s.until).getTime() > now);
  return {
    id: doc._id,
    name: doc.name,
    url: doc.url,
    enabled: doc.enabled,
    events: doc.events,
    repositories: doc.repositories,
    mediaTypes: doc.mediaTypes,
    format: doc.format,
    headers: Object.fromEntries(Object.entries(doc.headers).map(([k, v]) => [k, SECRET_HEADER.test(k) ? MASK : v])),
    secret: { set: current !== undefined, hint: current ? `…${current.value.slice(-4)}` : null, previousUntil: previous?.until ? new Date(previous.until).toISOString() : null },
    timeoutSeconds: doc.timeoutMs / 1000,
    customCa: doc.ca !== null,
    source: live.source,
    createdAt: live.source === 'api' ? new Date(doc.createdAt).toISOString() : null,
    stats,
  };
}
