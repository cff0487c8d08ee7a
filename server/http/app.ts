/**
 * The Koa application: the middleware order is the whole request pipeline.
 *   0. measureRequests    counts and times every request for /metrics (metrics.ts)
 *   1. requestLog         one structured line per request
 *   2. errorResponder     the only writer of error bodies
 *   3. apiVersion         Docker-Distribution-API-Version on every response, errors included
 *   3b. requestBodies     an idle timeout on request bodies, a cap on uploads per client (request-bodies.ts)
 *   3c. requestOrigin     the Host must name us, and web pages of other sites stay out (request-origin.ts)
 *   4. managementGuard    who may use /api/ (api/guard.ts)
 *   5. router             the registry route table (routes.ts), the token endpoint (token.ts), the
 *                         management one (api/routes.ts) and /healthz, /metrics (metrics.ts); with
 *                         upstreams to mirror, registry routes are routed into the pull-through cache
 *                         (mirror.ts); with auth on, they are authorized (auth.ts) after matching (and
 *                         mirror routing), before their handler
 *   5b. ui                the web UI's files at / (ui.ts), for what no route matched
 *   6. unmatched          405 UNSUPPORTED for a known path with another method, else 404 NOT_FOUND
 * In front of it all (index.ts): a manifest GET or HEAD that this pipeline already answered, with nothing
 * changed since, is answered again from memory, counted, logged and announced as here (manifest-answers.ts).
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { StoreChanges } from '../storage/cache.ts';
import type { Logger } from 'pino';
import { RegistryError } from '../registry/errors.ts';
import type { EventOrigin, RegistryEvents } from '../registry/events.ts';
import { managementGuard, type ManagementAccess } from './api/guard.ts';
import { apiRoutes, type ManagementServices } from './api/routes.ts';
import type { ServerInfo } from './api/status.ts';
import type { Ctx, RegistryServices } from './context.ts';
import { errorResponder } from './errors.ts';
import { API_VERSION, API_VERSION_HEADER } from './headers.ts';
import { requestLog } from './request-log.ts';
import { requestBodies } from './request-bodies.ts';
import { requestOrigin } from './request-origin.ts';
import { bindParams, registryRoutes, type Route } from './routes.ts';
import { serveUi } from './ui.ts';
import { measureRequests, operationsRoutes, type OperationsDeps } from './metrics.ts';
import type { AuthService } from '../auth/service.ts';
import { registryAuthorizer, type Authorize } from './auth.ts';
import { tokenRoutes } from './token.ts';
import { mirrorRouting, type MirrorRouting } from './mirror.ts';
import type { StorageHealth } from '../registry/storage-health.ts';

export interface AppDeps {
  services: RegistryServices;
  events: RegistryEvents;
  log: Logger;
  info: ServerInfo;
  management: ManagementAccess;
  /** Registry auth, or null when it is off (then no request pays anything for it). */
  auth?: AuthService | null;
  manage: ManagementServices;
  /** The built web UI to serve at /; absent or null for none. */
  uiDir?: string | null;
  /** /healthz and /metrics. */
  operations: Omit<OperationsDeps, 'auth'>;
  /** Words disk failures for the clients (registry/storage-health.ts); absent in tests of the app alone. */
  storage?: StorageHealth | null;
  /** True once the server is stopping (the request log names requests the shutdown cut off). */
  stopping?: () => boolean;
  /** The metadata store: while a cluster's database is away, writes are refused at once (503). */
  metadata?: { ensureReachable(): void } | null;
  /** A cluster: a write that removed or moved what other replicas may have cached waits them out (storage/cache.ts). */
  changes?: StoreChanges | null;
}

export function createApp({ services, events, log, info, management, auth = null, manage, uiDir, operations, storage = null, stopping, metadata = null, changes = null }: AppDeps): Koa {
  const app = new Koa();
  // Errors are answered and logged by errorResponder; Koa's default stderr printing would duplicate them.
  app.silent = true;
  const registry = registryRoutes(services);
  const others = [...(auth ? tokenRoutes(auth) : []), ...apiRoutes({ services, events, info, manage }), ...operationsRoutes({ ...operations, auth })];
  const routes = [...registry, ...others];
  const guard = managementGuard({ ...management, registryAuth: auth, url: info.url });
  const authorize = auth ? registryAuthorizer(auth, info.url) : null;

  app.use(measureRequests(operations.metrics));
  app.use(requestLog(log, stopping ? { stopping } : {}));
  app.use(errorResponder(log, storage));
  if (changes) {
    // A cluster: once a write is answered, every replica serves its result (no replica's cache still
    // holds what it removed or moved) and every replica's activity feed shows it (written, not queued).
    // Inside errorResponder: an error answer waits too (a removal may have happened before the failure).
    app.use(async function seenByEveryReplica(ctx, next) {
      if (READS.has(ctx.method)) return next();
      const since = changes.now();
      try {
        await next();
      } finally {
        await Promise.all([changes.settled(since), manage.activity.flush()]);
      }
    });
  }
  app.use(async function apiVersion(ctx, next) {
    ctx.set(API_VERSION_HEADER, API_VERSION);
    // While stopping, no connection is kept for another request.
    if (stopping?.()) ctx.set('Connection', 'close');
    await next();
  });
  app.use(requestBodies({ bodyIdleTimeoutMs: info.config.bodyIdleTimeoutMs, uploadsPerClient: info.config.uploadsPerClient }));
  app.use(requestOrigin({ bindHost: info.config.host, allowedHosts: info.config.allowedHosts, registryAuth: auth !== null }));
  if (metadata) {
    // Before a byte of a push is taken: it could not be recorded. Reads (pulls) go on; a login is
    // tried (a cached answer may do), and /healthz says what is wrong.
    app.use(async function metadataWrites(ctx, next) {
      if (!READS.has(ctx.method) && ctx.path !== '/token' && ctx.path !== '/token/revoke') metadata.ensureReachable();
      await next();
    });
  }
  app.use(async function guardApi(ctx, next) {
    if (ctx.path === '/api' || ctx.path.startsWith('/api/')) await guard(ctx, next);
    else await next();
  });
  app.use(routerFor(registry, authorize, services.mirror ? mirrorRouting(services.mirror) : null).routes());
  app.use(routerFor(others, null).routes());
  if (uiDir) app.use(serveUi(uiDir));
  app.use(async function unmatched(ctx) {
    const path = ctx.path;
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    if (allowed.length > 0) {
      if (allowed.includes('GET') && !allowed.includes('HEAD')) allowed.push('HEAD');
      throw new RegistryError('UNSUPPORTED', {
        message: `${ctx.method} is not supported on ${path.slice(0, 200)}; use ${allowed.join(', ')}`,
        headers: { Allow: allowed.join(', ') },
      });
    }
    throw new RegistryError('NOT_FOUND', { message: `no such endpoint: ${ctx.method} ${path.slice(0, 200)}` });
  });
  return app;
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

function routerFor(routes: Route[], authorize: Authorize | null, routeToMirror: MirrorRouting | null = null): Router {
  const router = new Router();
  for (const route of routes) {
    router.register(route.pattern, [route.method], [
      async (ctx, next) => {
        // The handler's name (getManifest, patchBlobData, ...) labels the request's metrics.
        ctx.state.operation = route.handler.name;
        bindParams(ctx as unknown as Ctx, route, (ctx as unknown as { captures: string[] }).captures ?? []);
        // Before authorization: a request the pull-through cache answers is authorized on the cached name.
        if (routeToMirror) await routeToMirror(ctx as unknown as Ctx);
        if (authorize) await authorize(ctx as unknown as Ctx, route);
        await next();
      },
      async (ctx) => {
        await route.handler(ctx as unknown as Ctx);
        // What the request caused is recorded where it must be before the client hears it succeeded
        // (the webhook outbox: registry/events.ts EventOrigin).
        const origin = ctx.state.eventOrigin as EventOrigin | undefined;
        if (origin) await origin.settled();
      },
    ], { pathAsRegExp: true });
  }
  return router;
}
