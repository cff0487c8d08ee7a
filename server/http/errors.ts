/**
 * The one middleware that writes error responses (koa docs/error-handling.md): every failure below it
 * becomes the OCI envelope {"errors":[{code,message,detail}]} with the status from the error table.
 * A disk that refuses a write (full, read-only, failing) becomes the storage error that says so
 * (registry/storage-health.ts); a failing object store (storage/driver: unreachable, credentials refused,
 * throttling) is UNAVAILABLE/503. Anything else that is not a RegistryError is logged and answered as
 * UNKNOWN/500 with no stack or path.
 */
import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { RegistryError, isRegistryError } from '../registry/errors.ts';
import type { StorageHealth } from '../registry/storage-health.ts';
import { isStorageError as isStoreFailure, type StorageErrorKind } from '../storage/driver/driver.ts';
import { isMetadataUnavailable } from '../metadata/stores.ts';
import { awaitingContinue } from './expect-continue.ts';

/** Errors Node and Koa's helpers raise for a client that went away mid-request. */
const CLIENT_GONE = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED', 'EPIPE']);

export function errorResponder(log: Logger, storage: Pick<StorageHealth, 'failed'> | null = null): Middleware {
  return async function respondWithError(ctx, next) {
    try {
      await next();
    } catch (thrown) {
      // A disk that refused (full, read-only, failing) is named as such, whatever else the request saw.
      const reading = ctx.method === 'GET' || ctx.method === 'HEAD';
      const diskError = storage ? await storage.failed(thrown, { what: 'the change', reading }) : null;
      const clientGone = !diskError && (ctx.req.destroyed || CLIENT_GONE.has((thrown as NodeJS.ErrnoException)?.code ?? '') ||
        (thrown as { type?: string })?.type === 'request.aborted');
      const error = diskError ?? toRegistryError(thrown, clientGone);
      if (error.code === 'UNKNOWN' && !clientGone) log.error({ err: thrown, method: ctx.method, path: ctx.path }, 'request failed');
      if (isStoreFailure(thrown)) log.error({ method: ctx.method, path: ctx.path, storage: thrown.kind, problem: thrown.message }, 'storage failed');
      if (clientGone) ctx.state.clientGone = true;
      // A body refused for want of disk space (or a store) is read to its end first: see drain().
      const close = !ctx.req.complete && !(drainable(error, ctx.req) && !awaitingContinue(ctx.req) && (await drain(ctx.req)));
      if (ctx.headerSent || !ctx.writable) return;

      // Headers set for a success (Location, Docker-Content-Digest...) must not survive into an error.
      for (const name of Object.keys(ctx.response.headers)) {
        if (name.toLowerCase() !== 'docker-distribution-api-version') ctx.remove(name);
      }
      for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
      if (close) ctx.set('Connection', 'close');
      ctx.status = error.status;
      ctx.set('Content-Type', 'application/json');
      ctx.body = Buffer.from(JSON.stringify({ errors: [error.toJSON()] }));
    }
  };
}

/** What a client is told when the store fails (the log has the store's own words: endpoint, bucket). */
const STORAGE_PROBLEMS: Record<StorageErrorKind, string> = {
  unreachable: 'the registry cannot reach its storage',
  missing: 'the registry storage\'s bucket or container is missing',
  denied: 'the registry storage refused the registry\'s credentials',
  throttled: 'the registry storage is throttling requests',
  failed: 'the registry storage failed',
};

/** A refusal of the storage itself (the disk, or the object store): the client is told why, after its body. */
function isDiskError(error: RegistryError): boolean {
  return error.code === 'STORAGE_FULL' || error.code === 'STORAGE_UNWRITABLE' || error.code === 'STORAGE_FAILED' || error.code === 'UNAVAILABLE';
}

/**
 * A body refused as too large is read to nowhere too when it is not large (a manifest a little over its
 * limit): closed unread, the reset could destroy the 413 before the client, or a proxy in between
 * (HAProxy in front of a cluster: seen in test/http/manifests through it), reads it. A larger one, or
 * one of unknown length, closes the connection.
 */
const DRAIN_TOO_LARGE_BYTES = 16 * 1024 * 1024;

function drainable(error: RegistryError, req: IncomingMessage): boolean {
  if (isDiskError(error)) return true;
  if (error.code !== 'TOO_LARGE') return false;
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length <= DRAIN_TOO_LARGE_BYTES;
}

/** How long a refused body is read to nowhere before the answer goes out anyway (with the connection closed). */
const DRAIN_LIMIT_MS = 30_000;

/**
 * Reads the rest of a request body to nowhere and resolves true once it ended (false: the client left,
 * or it did not end within DRAIN_LIMIT_MS). Registry clients stream their blobs and only then look at
 * the answer, and both ways of answering early lose it: closing the connection with unread bytes makes
 * the kernel send a reset that can destroy the answer before the client reads it, and answering on a
 * connection that stays open while the body still arrives made Node's parser take the rest of the body
 * for a new request (HPE_INVALID_METHOD) and reset it (skopeo then says "write: broken pipe", measured
 * in 3 of 5 pushes). A client waiting for "100 Continue" has sent no body: it is not drained.
 * Any other unread body (say, a blob PATCHed to an unknown session) closes the connection instead.
 */
function drain(req: IncomingMessage): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ended: boolean) => {
      clearTimeout(timer);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(ended);
    };
    const onEnd = () => done(true);
    const onClose = () => done(req.complete);
    const timer = setTimeout(() => done(false), DRAIN_LIMIT_MS);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.resume();
  });
}

function toRegistryError(thrown: unknown, clientGone: boolean): RegistryError {
  if (isRegistryError(thrown)) return thrown;
  // The metadata database of a cluster is away (metadata/postgres/database.ts): 503, saying so.
  if (isMetadataUnavailable(thrown)) return new RegistryError('UNAVAILABLE', { message: thrown.message });
  if (isStoreFailure(thrown)) {
    return new RegistryError('UNAVAILABLE', { message: `${STORAGE_PROBLEMS[thrown.kind]}; nothing was half-written: try again`, detail: { storage: thrown.kind } });
  }
  if (clientGone) return new RegistryError('BLOB_UPLOAD_INVALID', { message: 'the request body ended before it was complete' });
  // Koa's own HttpErrors (ctx.throw) carry a status we may honour; their messages are ours.
  const status = (thrown as { status?: unknown })?.status;
  const expose = (thrown as { expose?: unknown })?.expose === true;
  if (typeof status === 'number' && status >= 400 && status < 500 && expose) {
    return new RegistryError('BAD_REQUEST', { message: (thrown as Error).message });
  }
  return new RegistryError('UNKNOWN', { message: 'internal error; the server log has the details' });
}
