/**
 * The only code that talks to the server (/api/ on the page's own origin) or to the desktop app's
 * preload (`window.berth`, typed by electron/shared/ipc.ts). In a plain browser against `berth serve`
 * there is no preload: desktop features fall back to web equivalents or report themselves missing.
 */
import { EventSource } from 'eventsource';
import type { ArtifactsView, FileView, ImageDiff, ImageFilesView, SbomView, VerifyView } from '../server/registry/inspect-types.ts';
import type { BerthDesktopApi, DesktopSettings, SaveSettingsResult } from '../electron/shared/ipc.ts';
import type {
  ActivityFeed,
  CreatedToken,
  CreatedUser,
  PasswordChange,
  PermissionView,
  TokenList,
  UserList,
  UserView,
  DeleteResult,
  DiskUsage,
  FieldErrorDetail,
  ImageDetail,
  LiveEventName,
  MaintenanceKind,
  MaintenanceOverview,
  MaintenanceResults,
  MaintenanceRun,
  RepositoryDetail,
  RepositoryList,
  RepositorySort,
  RetentionReport,
  RetentionRule,
  SelfTestStep,
  SelfTestSummary,
  StatusView,
  MaintenanceEvent,
  UploadsEvent,
  MirrorExpiryReport,
  MirrorsOverview,
  UpstreamInput,
  UpstreamView,
  StorageCopyStatus,
} from '../server/registry/api-types.ts';
import type { DeliveryState, WebhookDelivery, WebhookDeliveryPage, WebhookEndpoint, WebhookSecretAnswer } from '../server/webhooks/api-types.ts';

declare global {
  interface Window {
    /** Present only inside the desktop app (electron/preload). */
    berth?: BerthDesktopApi;
  }
}

/** The header every request that changes something carries (server/http/api/guard.ts). */
const CLIENT_HEADER = 'X-Berth-Client';

/** A failed request, with the server's error code and message (or UNREACHABLE when none answered). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** The request body's fields the error is about (FieldErrorDetail), for messages next to them. */
  readonly fields: string[];
  constructor(status: number, code: string, message: string, fields: string[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

function desktop(): BerthDesktopApi | undefined {
  return typeof window === 'undefined' ? undefined : window.berth;
}

function headers(changes: boolean): Record<string, string> {
  const out: Record<string, string> = { Accept: 'application/json' };
  const token = desktop()?.apiToken ?? signedIn()?.accessToken;
  if (token) out.Authorization = `Bearer ${token}`;
  if (changes) out[CLIENT_HEADER] = 'berth-ui';
  return out;
}

interface SendOptions {
  signal?: AbortSignal;
  /** Sent as JSON. */
  body?: unknown;
}

async function send(method: string, path: string, options: SendOptions = {}, retried = false): Promise<Response> {
  const { signal, body } = options;
  const init: RequestInit = { method, headers: headers(method !== 'GET'), ...(signal ? { signal } : {}) };
  if (body !== undefined) {
    init.headers = { ...(init.headers as Record<string, string>), 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'UNREACHABLE', 'Berth is not answering. Check that the registry is running, then try again.');
  }
  if (res.status === 401 && !desktop()) {
    // Registry auth is on: an expired token is renewed once; without a session the user signs in.
    if (!retried && (await renewSession())) return send(method, path, options, true);
    requireSignIn();
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { errors?: { code?: string; message?: string; detail?: Partial<FieldErrorDetail> }[] };
    const first = body.errors?.[0];
    const fields = Array.isArray(first?.detail?.fields) ? first.detail.fields.filter((f) => typeof f === 'string') : [];
    if (first?.message) return new ApiError(res.status, first.code ?? 'UNKNOWN', first.message, fields);
  } catch {
    // not the error envelope: described by the status below
  }
  return new ApiError(res.status, 'UNKNOWN', `The server answered ${res.status} ${res.statusText}`.trim());
}

async function json<T>(method: string, path: string, signal?: AbortSignal): Promise<T> {
  return (await (await send(method, path, signal ? { signal } : {})).json()) as T;
}

/** A request with a JSON body, answered with JSON. */
async function withJson<T>(method: 'POST' | 'PUT', path: string, body: unknown): Promise<T> {
  return (await (await send(method, path, { body })).json()) as T;
}

/** /api/repositories/<name>: each component escaped, the slashes between them kept. */
function repositoryPath(name: string): string {
  return `/api/repositories/${name.split('/').map(encodeURIComponent).join('/')}`;
}

/** POST /api/gc and /api/gc/preview: `grace` is a duration with a unit ("1h"); absent: the configured one. */
export interface GcRequest {
  untagged: boolean;
  grace: string;
}

/** A retention rule as the UI creates or changes it (RetentionRule without its id and times). */
export type RetentionRuleFields = Pick<RetentionRule, 'repositories' | 'keepLast' | 'keepDays' | 'keepTags' | 'enabled'>;

/** The result of a run of `kind` that succeeded (the server's MaintenanceResults[kind]), else null. */
export function runResult<K extends MaintenanceKind>(run: MaintenanceRun | null | undefined, kind: K): MaintenanceResults[K] | null {
  return run?.kind === kind && run.state === 'succeeded' ? (run.result as MaintenanceResults[K] | null) : null;
}

/** POST /api/tokens: a robot account's token (the account is made on its first) or a user's personal one. */
export type NewToken = ({ robot: string } | { user: string }) & { name?: string; expires: string; permissions?: PermissionView[] };

/** What the UI sends to add or change a webhook endpoint (server/webhooks/endpoints.ts). */
export interface WebhookFields {
  url: string;
  name?: string;
  enabled?: boolean;
  events?: WebhookEndpoint['events'];
  repositories?: string | null;
  format?: WebhookEndpoint['format'];
  secret?: string | null;
}

export interface RepositoryListQuery {
  q?: string;
  sort: RepositorySort;
  order: 'asc' | 'desc';
  limit: number;
}

export const api = {
  status: (signal?: AbortSignal) => json<StatusView>('GET', '/api/status', signal),

  repositories(query: RepositoryListQuery, signal?: AbortSignal): Promise<RepositoryList> {
    const params = new URLSearchParams({ sort: query.sort, order: query.order, limit: String(query.limit) });
    if (query.q) params.set('q', query.q);
    return json('GET', `/api/repositories?${params}`, signal);
  },

  repository: (name: string, signal?: AbortSignal) => json<RepositoryDetail>('GET', repositoryPath(name), signal),

  image: (name: string, reference: string, signal?: AbortSignal) =>
    json<ImageDetail>('GET', `${repositoryPath(name)}/-/manifests/${encodeURIComponent(reference)}`, signal),

  deleteRepository: (name: string) => json<DeleteResult>('DELETE', repositoryPath(name)),

  // ---- inside images (server/http/api/inspect.ts) ----

  imageFiles(name: string, reference: string, query: { path?: string; search?: string; platform?: string }, signal?: AbortSignal): Promise<ImageFilesView> {
    const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => !!e[1]));
    return json('GET', `${repositoryPath(name)}/-/manifests/${encodeURIComponent(reference)}/files${params.size ? `?${params}` : ''}`, signal);
  },

  imageFile(name: string, reference: string, path: string, platform?: string, signal?: AbortSignal): Promise<FileView> {
    const params = new URLSearchParams({ path, ...(platform ? { platform } : {}) });
    return json('GET', `${repositoryPath(name)}/-/manifests/${encodeURIComponent(reference)}/file?${params}`, signal);
  },

  /** One file of an image, fetched with this page's credentials. */
  downloadFile: async (url: string): Promise<Blob> => (await send('GET', url)).blob(),

  imageDiff(from: string, to: string, options: { platform?: string; timestamps?: boolean }, signal?: AbortSignal): Promise<ImageDiff> {
    const params = new URLSearchParams({ from, to, ...(options.platform ? { platform: options.platform } : {}), ...(options.timestamps ? { timestamps: '1' } : {}) });
    return json('GET', `/api/diff?${params}`, signal);
  },

  artifacts: (name: string, reference: string, signal?: AbortSignal) =>
    json<ArtifactsView>('GET', `${repositoryPath(name)}/-/manifests/${encodeURIComponent(reference)}/artifacts`, signal),

  sbom: (name: string, reference: string, digest: string, signal?: AbortSignal) =>
    json<SbomView>('GET', `${repositoryPath(name)}/-/manifests/${encodeURIComponent(reference)}/sbom/${encodeURIComponent(digest)}`, signal),

  verify: (name: string, reference: string, publicKey: string) =>
    withJson<VerifyView>('POST', `${repositoryPath(name)}/-/manifests/${encodeURIComponent(reference)}/verify`, { publicKey }),

  deleteTag: (name: string, tag: string) => json<DeleteResult>('DELETE', `${repositoryPath(name)}/-/tags/${encodeURIComponent(tag)}`),

  deleteManifest: (name: string, digest: string) =>
    json<DeleteResult>('DELETE', `${repositoryPath(name)}/-/manifests/${encodeURIComponent(digest)}`),

  diskUsage: (signal?: AbortSignal) => json<DiskUsage>('GET', '/api/disk-usage', signal),

  /** The copy of this registry's store to another one: the one running, or the last. */
  storageCopy: (signal?: AbortSignal) => json<StorageCopyStatus>('GET', '/api/storage/copy', signal),

  /** Starts a copy to `storage` (a config file's "storage" key); `dataDir` for a local destination. */
  startStorageCopy: (storage: Record<string, unknown>, dataDir?: string) =>
    withJson<StorageCopyStatus>('POST', '/api/storage/copy', dataDir === undefined ? { storage } : { storage, dataDir }),

  /** The CA certificate at `url` (status.tls.caCertificateUrl), fetched with this page's credentials. */
  caCertificate: async (url: string): Promise<Blob> => (await send('GET', url)).blob(),

  activity(options: { limit?: number; before?: string } = {}, signal?: AbortSignal): Promise<ActivityFeed> {
    const params = new URLSearchParams();
    if (options.limit) params.set('limit', String(options.limit));
    if (options.before) params.set('before', options.before);
    return json('GET', `/api/activity${params.size ? `?${params}` : ''}`, signal);
  },

  // ---- the storage lifecycle (server/http/api/maintenance.ts, retention.ts) ----

  maintenance: (signal?: AbortSignal) => json<MaintenanceOverview>('GET', '/api/maintenance', signal),

  async runs(kind: MaintenanceKind, limit: number, signal?: AbortSignal): Promise<MaintenanceRun[]> {
    return (await json<{ runs: MaintenanceRun[] }>('GET', `/api/runs?${new URLSearchParams({ kind, limit: String(limit) })}`, signal)).runs;
  },

  run: (id: string, signal?: AbortSignal) => json<MaintenanceRun>('GET', `/api/runs/${encodeURIComponent(id)}`, signal),

  /** A dry run, answered once done: exactly what a collection with these options would remove now. */
  previewGc: (options: GcRequest) => withJson<MaintenanceRun>('POST', '/api/gc/preview', options),

  /** Queues a collection; follow it with the `maintenance` events or api.run(). */
  startGc: (options: GcRequest) => withJson<MaintenanceRun>('POST', '/api/gc', options),

  startScrub: () => withJson<MaintenanceRun>('POST', '/api/scrub', {}),

  startReindex: () => withJson<MaintenanceRun>('POST', '/api/reindex', {}),

  /** With the configured age (the same as the scheduled purge). */
  startUploadPurge: () => withJson<MaintenanceRun>('POST', '/api/uploads/purge', {}),

  async retentionRules(signal?: AbortSignal): Promise<RetentionRule[]> {
    return (await json<{ rules: RetentionRule[] }>('GET', '/api/retention/rules', signal)).rules;
  },

  createRetentionRule: (rule: RetentionRuleFields) => withJson<RetentionRule>('POST', '/api/retention/rules', rule),

  updateRetentionRule: (id: string, changes: Partial<RetentionRuleFields>) =>
    withJson<RetentionRule>('PUT', `/api/retention/rules/${encodeURIComponent(id)}`, changes),

  async deleteRetentionRule(id: string): Promise<void> {
    await send('DELETE', `/api/retention/rules/${encodeURIComponent(id)}`);
  },

  /** What the saved rules, or the `rules` given (unsaved), would untag now; changes nothing. */
  previewRetention: (rules?: RetentionRuleFields[]) => withJson<RetentionReport>('POST', '/api/retention/preview', rules ? { rules } : {}),

  /** Queues applying the saved, enabled rules. */
  applyRetention: () => withJson<MaintenanceRun>('POST', '/api/retention/apply', {}),

  // ---- users and tokens (server/http/api/users.ts, tokens.ts) ----

  users: (signal?: AbortSignal) => json<UserList>('GET', '/api/users', signal),

  /** Without a password Berth generates one, returned this once. */
  createUser: (user: { name: string; permissions: PermissionView[]; password?: string }) => withJson<CreatedUser>('POST', '/api/users', user),

  setPermissions: (name: string, permissions: PermissionView[]) => withJson<UserView>('PUT', `/api/users/${encodeURIComponent(name)}`, { permissions }),

  /** Without a password Berth generates one, returned this once. */
  setPassword: (name: string, password?: string) =>
    withJson<PasswordChange>('PUT', `/api/users/${encodeURIComponent(name)}/password`, password === undefined ? {} : { password }),

  async removeUser(name: string): Promise<void> {
    await send('DELETE', `/api/users/${encodeURIComponent(name)}`);
  },

  tokens: (signal?: AbortSignal) => json<TokenList>('GET', '/api/tokens', signal),

  /** The secret is in the answer only: show it once. */
  createToken: (token: NewToken) => withJson<CreatedToken>('POST', '/api/tokens', token),

  async revokeToken(id: string): Promise<void> {
    await send('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
  },

  // ---- webhooks (server/http/api/webhooks.ts) ----

  async webhooks(signal?: AbortSignal): Promise<WebhookEndpoint[]> {
    return (await json<{ endpoints: WebhookEndpoint[] }>('GET', '/api/webhooks', signal)).endpoints;
  },

  /** Answers the secret once (made by the server unless given; null: unsigned). */
  createWebhook: (fields: WebhookFields) => withJson<WebhookSecretAnswer>('POST', '/api/webhooks', fields),

  updateWebhook: (id: string, changes: Partial<WebhookFields>) => withJson<WebhookEndpoint>('PUT', `/api/webhooks/${encodeURIComponent(id)}`, changes),

  async deleteWebhook(id: string): Promise<void> {
    await send('DELETE', `/api/webhooks/${encodeURIComponent(id)}`);
  },

  rotateWebhookSecret: (id: string) => withJson<WebhookSecretAnswer>('POST', `/api/webhooks/${encodeURIComponent(id)}/rotate-secret`, { grace: '24h' }),

  /** Sends a test event now; answers the delivery as recorded (delivered or dead). */
  testWebhook: (id: string) => withJson<WebhookDelivery>('POST', `/api/webhooks/${encodeURIComponent(id)}/test`, {}),

  webhookDeliveries(id: string, options: { state?: DeliveryState; limit?: number } = {}, signal?: AbortSignal): Promise<WebhookDeliveryPage> {
    const params = new URLSearchParams({ limit: String(options.limit ?? 50) });
    if (options.state) params.set('state', options.state);
    return json('GET', `/api/webhooks/${encodeURIComponent(id)}/deliveries?${params}`, signal);
  },

  redeliverWebhook: (id: string, delivery: string) =>
    withJson<WebhookDelivery>('POST', `/api/webhooks/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(delivery)}/redeliver`, {}),

  /** Runs the self-test, calling `onStep` for each line the server streams; resolves with the summary. */
  selfTest: (onStep: (step: SelfTestStep) => void): Promise<SelfTestSummary> => streamedSteps(send('POST', '/api/self-test'), onStep),

  // ---- the pull-through cache (server/http/api/mirrors.ts) ----

  mirrors: (signal?: AbortSignal) => json<MirrorsOverview>('GET', '/api/mirrors', signal),

  addMirror: (upstream: UpstreamInput) => withJson<UpstreamView>('POST', '/api/mirrors', upstream),

  updateMirror: (name: string, changes: UpstreamInput) => withJson<UpstreamView>('PUT', `/api/mirrors/${encodeURIComponent(name)}`, changes),

  async deleteMirror(name: string): Promise<void> {
    await send('DELETE', `/api/mirrors/${encodeURIComponent(name)}`);
  },

  setMirrorCredentials: (name: string, username: string, password: string) =>
    withJson<UpstreamView>('PUT', `/api/mirrors/${encodeURIComponent(name)}/credentials`, { username, password }),

  deleteMirrorCredentials: (name: string) => json<UpstreamView>('DELETE', `/api/mirrors/${encodeURIComponent(name)}/credentials`),

  clearMirror: (name: string) => withJson<{ repositories: string[] }>('POST', `/api/mirrors/${encodeURIComponent(name)}/clear`, {}),

  expireMirrors: () => withJson<MirrorExpiryReport>('POST', '/api/mirrors/expire', {}),

  /** Pulls an image through the mirror of `name` (the server's default test image when none is given). */
  mirrorSelfTest: (name: string, image: string, onStep: (step: SelfTestStep) => void): Promise<SelfTestSummary> =>
    streamedSteps(send('POST', `/api/mirrors/${encodeURIComponent(name)}/self-test`, { body: image ? { image } : {} }), onStep),
};

/** Reads a self-test's application/x-ndjson answer: each step to `onStep`, then the summary. */
async function streamedSteps(request: Promise<Response>, onStep: (step: SelfTestStep) => void): Promise<SelfTestSummary> {
  const res = await request;
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  let summary: SelfTestSummary | null = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, newline)) as SelfTestStep | SelfTestSummary;
      buffered = buffered.slice(newline + 1);
      if ('done' in line) summary = line;
      else onStep(line);
    }
  }
  if (!summary) throw new ApiError(0, 'INCOMPLETE', 'The self-test stopped before it finished: the connection to Berth was lost.');
  return summary;
}

// ---- signing in (registry auth on, in a browser; server/http/api/guard.ts) -------------------------

interface Session {
  user: string;
  accessToken: string;
  refreshToken: string | null;
  /** When the access token runs out (ms since the epoch). */
  expiresAt: number;
}

/** The admin grant the management API needs (a JWT scope). */
const ADMIN_SCOPE = 'registry:admin:*';
/** Kept for the browser tab only: a reload stays signed in, closing the tab signs out. */
const SESSION_KEY = 'berth.session';
/** Tokens are renewed this long before they run out. */
const RENEW_EARLY_MS = 30_000;

let session: Session | null = readSession();
let renewTimer: ReturnType<typeof setTimeout> | undefined;
const signInListeners = new Set<(needed: boolean) => void>();
let signInNeeded = false;

function readSession(): Session | null {
  try {
    const stored = typeof sessionStorage === 'undefined' ? null : sessionStorage.getItem(SESSION_KEY);
    return stored ? (JSON.parse(stored) as Session) : null;
  } catch {
    return null;
  }
}

function signedIn(): Session | null {
  return session;
}

function setSession(next: Session | null): void {
  session = next;
  clearTimeout(renewTimer);
  if (next) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
    if (next.refreshToken) renewTimer = setTimeout(() => void renewSession(), Math.max(1000, next.expiresAt - Date.now() - RENEW_EARLY_MS));
  } else {
    sessionStorage.removeItem(SESSION_KEY);
  }
}

function requireSignIn(): void {
  setSession(null);
  if (signInNeeded) return;
  signInNeeded = true;
  for (const listener of signInListeners) listener(true);
}

async function tokenRequest(form: Record<string, string>): Promise<{ access_token: string; expires_in: number; refresh_token?: string; scope?: string }> {
  let res: Response;
  try {
    res = await fetch('/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({ service: 'berth', client_id: 'berth-ui', scope: ADMIN_SCOPE, ...form }),
    });
  } catch {
    throw new ApiError(0, 'UNREACHABLE', 'Berth is not answering. Check that the registry is running, then try again.');
  }
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as { access_token: string; expires_in: number; refresh_token?: string; scope?: string };
}

function sessionFrom(user: string, answer: Awaited<ReturnType<typeof tokenRequest>>, previousRefresh: string | null = null): Session {
  return { user, accessToken: answer.access_token, refreshToken: answer.refresh_token ?? previousRefresh, expiresAt: Date.now() + answer.expires_in * 1000 };
}

/** A new access token from the refresh token; false when there is none or it was revoked. */
async function renewSession(): Promise<boolean> {
  const current = session;
  if (!current?.refreshToken) return false;
  try {
    setSession(sessionFrom(current.user, await tokenRequest({ grant_type: 'refresh_token', refresh_token: current.refreshToken }), current.refreshToken));
    return true;
  } catch {
    requireSignIn();
    return false;
  }
}

/** Signs in with a Berth user who may administer the registry (`*:admin`). */
export async function signIn(user: string, password: string): Promise<void> {
  let answer;
  try {
    answer = await tokenRequest({ grant_type: 'password', username: user, password, access_type: 'offline' });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'INVALID_GRANT') throw new ApiError(400, err.code, 'The user name or password is wrong.');
    throw err;
  }
  // The token endpoint grants what the user may do; without the admin grant the API would refuse.
  if (!(answer.scope ?? '').split(' ').includes(ADMIN_SCOPE)) {
    throw new ApiError(403, 'NOT_ADMIN', `${user} may push and pull, but not manage the registry. Sign in as an administrator.`);
  }
  setSession(sessionFrom(user, answer));
  signInNeeded = false;
  restartLive();
  for (const listener of signInListeners) listener(false);
}

/**
 * Signs out: the refresh token is revoked on the server (POST /token/revoke, RFC 7009), so a copy of
 * it left anywhere is worth nothing, then forgotten here.
 */
export async function signOut(): Promise<void> {
  const refreshToken = session?.refreshToken ?? null;
  requireSignIn();
  if (!refreshToken) return;
  try {
    await fetch('/token/revoke', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: 'berth-ui' }),
    });
  } catch {
    // Unreachable: the token still ends by itself (unused for 30 days); the tab has forgotten it.
  }
}

/** The signed-in user in a browser with registry auth on, or null. */
export function currentUser(): string | null {
  return session?.user ?? null;
}

/** Called with true when the user must sign in (a request was refused) and false once they did. */
export function watchSignIn(listener: (needed: boolean) => void): () => void {
  signInListeners.add(listener);
  listener(signInNeeded);
  return () => {
    signInListeners.delete(listener);
  };
}

// ---- the desktop app's native features -----------------------------------------------------------

/** Whether the page runs inside the desktop app (native features and settings are available). */
export function isDesktop(): boolean {
  return desktop() !== undefined;
}

export async function copyText(text: string): Promise<void> {
  const app = desktop();
  if (app) return app.copyToClipboard(text);
  // http://localhost and 127.0.0.1 are secure contexts, where the async clipboard API is allowed.
  await navigator.clipboard.writeText(text);
}

export const native = {
  openDataFolder: () => desktop()?.openDataFolder(),
  revealCaCertificate: () => desktop()?.revealCaCertificate(),
  pickDirectory: async (): Promise<string | null> => (await desktop()?.pickDirectory()) ?? null,
  getSettings: async (): Promise<DesktopSettings | null> => (await desktop()?.getSettings()) ?? null,
  async saveSettings(settings: DesktopSettings): Promise<SaveSettingsResult> {
    const app = desktop();
    if (!app) throw new ApiError(0, 'NOT_DESKTOP', 'Settings can be changed in the desktop app only.');
    return app.saveSettings(settings);
  },
};

// ---- live events (GET /api/events, server-sent events) -------------------------------------------

export type LiveListener = (name: LiveEventName, data: unknown) => void;
export type ConnectionState = 'connecting' | 'open' | 'lost';

/** Every live event name; a Record so that a name added to LiveEventName must be added here. */
const LIVE_EVENTS: Record<LiveEventName, true> = {
  'blob-pushed': true,
  'blob-mounted': true,
  'blob-deleted': true,
  'manifest-pushed': true,
  'manifest-pulled': true,
  'manifest-deleted': true,
  'tag-deleted': true,
  'repository-deleted': true,
  uploads: true,
  maintenance: true,
  'mirror-fetched': true,
  'mirror-stale': true,
  'mirror-error': true,
  'mirror-changed': true,
  storage: true,
  stopping: true,
};

const listeners = new Set<LiveListener>();
const stateListeners = new Set<(state: ConnectionState) => void>();
let source: EventSource | null = null;
let state: ConnectionState = 'connecting';

function setState(next: ConnectionState): void {
  if (next === state) return;
  state = next;
  for (const listener of stateListeners) listener(next);
}

function connect(): void {
  // The eventsource package runs over fetch, so the desktop app's token can go in a header
  // (the browser's EventSource cannot send one). It reconnects by itself after a network error.
  source = new EventSource('/api/events', {
    fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, ...headers(false), Accept: 'text/event-stream' } }),
  });
  source.addEventListener('open', () => setState('open'));
  source.addEventListener('error', () => setState('lost'));
  for (const name of Object.keys(LIVE_EVENTS) as LiveEventName[]) {
    source.addEventListener(name, (event) => {
      // The server is stopping: its stream ends now, and live updates with it.
      if (name === 'stopping') setState('lost');
      const data: unknown = JSON.parse(event.data);
      for (const listener of listeners) listener(name, data);
    });
  }
}

/** Opens the live connection again (after signing in: the old one was refused). */
function restartLive(): void {
  if (!source) return;
  source.close();
  setState('connecting');
  connect();
}

/** Calls `listener` for every live event; one shared connection serves all subscribers. */
export function subscribe(listener: LiveListener): () => void {
  listeners.add(listener);
  if (!source) connect();
  return () => {
    listeners.delete(listener);
  };
}

/** The live connection's state now and on every change. */
export function watchConnection(listener: (state: ConnectionState) => void): () => void {
  stateListeners.add(listener);
  listener(state);
  if (!source) connect();
  return () => {
    stateListeners.delete(listener);
  };
}

export type { MaintenanceEvent, UploadsEvent };
