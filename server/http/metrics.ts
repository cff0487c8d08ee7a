/**
 * Operations endpoints, outside /v2/ and /api/:
 *   GET /healthz   for load balancers, `docker run --health-cmd`, CI scripts: 200 {"status":"ok",
 *                  "index":"ready"|"loading","storage":{state,freeBytes,totalBytes},"store":"reachable",
 *                  "metadata":{driver,state,where}} while the data directory is writable and the object
 *                  store (the folder, the bucket, the container: storage/driver) answers; 200 with
 *                  "status":"degraded" and a "problem" while its disk is full or the metadata database
 *                  of a cluster is away (pulls still work, and a health check must not take them
 *                  away); 503 {"status":"unavailable","problem":...} when it cannot be written or the
 *                  store does not answer. Open to everyone; it names nothing (no path, no repository,
 *                  no bucket).
 *   GET /metrics   Prometheus exposition (registry/metrics.ts). Open while registry auth is off (as is
 *                  the registry itself); with auth on it takes Basic credentials of a user, or an access
 *                  token, that may administer the registry (`*:admin`), as Prometheus' basic_auth sends.
 * measureRequests() times every request for berth_http_requests_total and its duration histogram.
 */
import fs from 'node:fs/promises';
import type { Middleware } from 'koa';
import { ADMIN, allows } from '../auth/scope.ts';
import type { AuthService } from '../auth/service.ts';
import { RegistryError } from '../registry/errors.ts';
import type { StorageView } from '../registry/api-types.ts';
import type { RegistryMetrics } from '../registry/metrics.ts';
import type { MetadataView } from '../metadata/stores.ts';
import { WWW_AUTHENTICATE } from './auth.ts';
import { sendJson, type Ctx } from './context.ts';
import type { Route } from './routes.ts';
import { asRegistryError, basicCredentials } from './token.ts';

export interface OperationsDeps {
  metrics: RegistryMetrics;
  auth: AuthService | null;
  dataDir: string;
  indexReady: () => boolean;
  /** The disk's state (registry/storage-health.ts). */
  storage?: () => Promise<StorageView>;
  /** Throws when the object store cannot be used (a StorageError: its kind is what /healthz tells). */
  checkStorage?: () => Promise<void>;
  /** The metadata store's state (metadata/stores.ts): a cluster's database may be away. */
  metadata?: () => MetadataView;
}

/** /healthz waits this long for the store before calling it unreachable (a load balancer wants an answer). */
const STORAGE_CHECK_MS = 5000;

/**
 * Counts and times every request, from its arrival until it has been answered: the handler has
 * finished (an upload's body has been received and written) and the status is known. A blob download
 * is timed until its bytes start streaming. (Waiting for each response's 'close' event instead cost
 * ~18 us of a 155 us manifest GET, measured with wrk.)
 */
export function measureRequests(metrics: RegistryMetrics): Middleware {
  return async function measureRequest(ctx, next) {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeRequest(ctx.method, (ctx.state.operation as string | undefined) ?? 'none', ctx.status, seconds);
    }
  };
}

export function operationsRoutes({ metrics, auth, dataDir, indexReady, storage, checkStorage, metadata }: OperationsDeps): Route[] {
  async function getHealth(ctx: Ctx): Promise<void> {
    try {
      await fs.access(dataDir, fs.constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      const why = code === 'EROFS' ? 'it is on a read-only file system' : code;
      ctx.status = 503;
      sendJson(ctx, { status: 'unavailable', problem: `the data directory is not writable (${why})` });
      return;
    }
    const problem = checkStorage ? await storageProblem(checkStorage) : null;
    if (problem) {
      ctx.status = 503;
      sendJson(ctx, { status: 'unavailable', problem });
      return;
    }
    const store = checkStorage ? { store: 'reachable' } : {};
    const index = indexReady() ? 'ready' : 'loading';
    const view = storage ? await storage() : null;
    const disk = view ? { storage: { state: view.state, freeBytes: view.freeBytes, totalBytes: view.totalBytes } } : {};
    const meta = metadata?.();
    const database = meta ? { metadata: { driver: meta.driver, state: meta.state, ...(meta.where ? { where: meta.where } : {}), ...(meta.since ? { since: meta.since } : {}) } } : {};
    // A metadata database that is away costs writes, not pulls: degraded (200), so a load balancer
    // keeps sending this replica the reads it can serve.
    const degraded = meta?.problem ?? (view && view.state !== 'ok' ? view.problem : null);
    if (degraded) sendJson(ctx, { status: 'degraded', index, ...disk, ...store, ...database, problem: degraded });
    else sendJson(ctx, { status: 'ok', index, ...disk, ...store, ...database });
  }

  async function getMetrics(ctx: Ctx): Promise<void> {
    if (auth) await requireAdmin(ctx, auth);
    ctx.set('Content-Type', metrics.contentType);
    ctx.body = await metrics.render();
  }

  return [
    { method: 'GET', pattern: /^\/healthz$/, params: [], handler: getHealth },
    { method: 'GET', pattern: /^\/metrics$/, params: [], handler: getMetrics },
  ];
}

/** What is wrong with the store, in words that name no bucket, host or path; null when it answers. */
async function storageProblem(check: () => Promise<void>): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the storage is unreachable (no answer within ${STORAGE_CHECK_MS / 1000} s)`), STORAGE_CHECK_MS);
  });
  const checked = check().then(
    () => null,
    (err: unknown) => {
      const kind = (err as { kind?: string }).kind;
      if (kind === 'unreachable') return 'the storage is unreachable';
      if (kind === 'denied') return 'the storage refused the credentials';
      if (kind === 'missing') return 'the storage bucket or container is missing';
      if (kind === 'throttled') return 'the storage is throttling requests';
      return 'the storage failed to answer';
    },
  );
  try {
    return await Promise.race([checked, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const METRICS_CHALLENGE = 'Basic realm="Berth metrics", charset="UTF-8"';

async function requireAdmin(ctx: Ctx, auth: AuthService): Promise<void> {
  const credentials = basicCredentials(ctx.get('Authorization'), '/metrics');
  if (!credentials) {
    throw new RegistryError('UNAUTHORIZED', {
      message: '/metrics needs the Basic credentials of an admin (user name and password or access token)',
      headers: { [WWW_AUTHENTICATE]: METRICS_CHALLENGE },
    });
  }
  let principal;
  try {
    principal = await auth.login(credentials.username, credentials.password, ctx.ip);
  } catch (err) {
    throw asRegistryError(err, 'get');
  }
  if (!allows(auth.grant(principal, [ADMIN]), ADMIN)) {
    throw new RegistryError('DENIED', { message: `user "${principal.subject}" may not read the metrics (needs *:admin)` });
  }
  ctx.state.user = principal.subject;
}
