/** The Koa context every handler receives, and the services the handlers call. */
import type { IncomingMessage } from 'node:http';
import type { ParameterizedContext } from 'koa';
import type { BerthConfig } from '../config.ts';
import type { MaintenanceService } from '../registry/maintenance.ts';
import type { DeletedRepository } from '../registry/repository-delete.ts';
import type { RetentionService } from '../registry/retention.ts';
import type { BlobService } from '../registry/blobs.ts';
import type { ListingService } from '../registry/listings.ts';
import type { ManifestService } from '../registry/manifests.ts';
import { RegistryError } from '../registry/errors.ts';
import { EventOrigin } from '../registry/events.ts';
import { parseName } from '../registry/reference.ts';
import type { UploadService } from '../registry/uploads.ts';
import type { MirrorService } from '../mirror/service.ts';

export interface RegistryServices {
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  listings: ListingService;
  lifecycle: LifecycleServices;
  /** The pull-through cache (mirror/); it routes nothing while no upstream is configured. */
  mirror?: MirrorService | null;
}

/** The storage lifecycle behind the management API: maintenance runs, retention rules, repository delete. */
export interface LifecycleServices {
  maintenance: MaintenanceService;
  retention: RetentionService;
  deleteRepository(name: string): Promise<DeletedRepository>;
  /** When each scheduled task runs next (ms since the epoch); tasks that are off are absent. */
  nextRuns(): Record<string, number>;
  /** The configured defaults the API applies when a request leaves an option out. */
  settings: Pick<BerthConfig, 'gcIntervalMs' | 'gcGraceMs' | 'gcUntagged' | 'uploadPurgeAgeMs' | 'uploadPurgeIntervalMs' | 'retentionIntervalMs'>;
}

export type Ctx = ParameterizedContext & { params: Record<string, string> };
export type Handler = (ctx: Ctx) => Promise<void>;

/** The repository name of the route, validated against the spec grammar (NAME_INVALID otherwise). */
export function repositoryName(ctx: Ctx): string {
  return parseName(ctx.params.name ?? '');
}

/** Writes a JSON body with an exact Content-Type (Koa would otherwise add "; charset=utf-8"). */
export function sendJson(ctx: Ctx, body: unknown, contentType = 'application/json'): void {
  ctx.set('Content-Type', contentType);
  ctx.body = Buffer.from(JSON.stringify(body));
}

/** A query parameter that may appear at most once. */
export function singleQuery(ctx: Ctx, key: string): string | undefined {
  const value = ctx.query[key];
  if (Array.isArray(value)) throw new RegistryError('BAD_REQUEST', { message: `query parameter "${key}" must be given once` });
  return value;
}

/** A response with no body (Koa would otherwise write the status text as one). */
export function sendEmpty(ctx: Ctx, status: number): void {
  ctx.status = status;
  ctx.body = '';
  ctx.remove('Content-Type');
}

/**
 * The origin of the events this request causes (registry/events.ts), made on first use; app.ts waits
 * for what it holds before the response is written.
 */
export function eventOrigin(ctx: Ctx): EventOrigin {
  let origin = ctx.state.eventOrigin as EventOrigin | undefined;
  if (!origin) {
    origin = originOf(ctx.req, ctx.protocol, typeof ctx.state.user === 'string' ? ctx.state.user : undefined);
    ctx.state.eventOrigin = origin;
  }
  return origin;
}

/** The origin of a request's events, from the request itself (eventOrigin; manifest-answers.ts without Koa). */
export function originOf(req: IncomingMessage, scheme: string, actor: string | undefined): EventOrigin {
  const socket = req.socket;
  // As Go writes a remote address: "127.0.0.1:54321", "[::1]:54321".
  const ip = socket.remoteAddress?.startsWith('::ffff:') ? socket.remoteAddress.slice(7) : (socket.remoteAddress ?? '');
  return new EventOrigin({
    addr: `${ip.includes(':') ? `[${ip}]` : ip}:${socket.remotePort ?? ''}`,
    host: req.headers.host ?? '',
    method: req.method ?? '',
    useragent: req.headers['user-agent'] ?? '',
    actor,
    scheme,
  });
}
