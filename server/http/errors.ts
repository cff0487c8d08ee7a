/**
 * The one middleware that writes error responses (koa docs/error-handling.md): every failure below it
 * becomes the OCI envelope {"errors":[{code,message,detail}]} with the status from the error table.
 * A failure of the storage (storage/driver: unreachable, credentials refused...) is UNAVAILABLE/503.
 * Anything else that is not a RegistryError is logged and answered as UNKNOWN/500 with no stack or path.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { RegistryError, isRegistryError } from '../registry/errors.ts';
import { isStorageError, type StorageErrorKind } from '../storage/driver/driver.ts';

/** Errors Node and Koa's helpers raise for a client that went away mid-request. */
const CLIENT_GONE = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED', 'EPIPE']);

export function errorResponder(log: Logger): Middleware {
  return async function respondWithError(ctx, next) {
    try {
      await next();
    } catch (thrown) {
      const clientGone = ctx.req.destroyed || CLIENT_GONE.has((thrown as NodeJS.ErrnoException)?.code ?? '') ||
        (thrown as { type?: string })?.type === 'request.aborted';
      const error = toRegistryError(thrown, clientGone);
      if (error.code === 'UNKNOWN' && !clientGone) log.error({ err: thrown, method: ctx.method, path: ctx.path }, 'request failed');
      if (isStorageError(thrown)) log.error({ method: ctx.method, path: ctx.path, storage: thrown.kind, problem: thrown.message }, 'storage failed');
      if (clientGone) ctx.state.clientGone = true;
      if (ctx.headerSent || !ctx.writable) return;

      // Headers set for a success (Location, Docker-Content-Digest...) must not survive into an error.
      for (const name of Object.keys(ctx.response.headers)) {
        if (name.toLowerCase() !== 'docker-distribution-api-version') ctx.remove(name);
      }
      for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
      // A request body we did not read (say, a blob PATCHed to an unknown session) would otherwise be
      // drained to the end before the connection could serve another request.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
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

function toRegistryError(thrown: unknown, clientGone: boolean): RegistryError {
  if (isRegistryError(thrown)) return thrown;
  if (isStorageError(thrown)) {
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
