/**
 * Limits on request bodies, so a client that stops sending cannot hold a connection and an open file
 * forever, nor one address take every connection the server has:
 *   - an idle timeout: while a body is being received, a connection on which no byte arrives for
 *     bodyIdleTimeoutMs is closed (the socket's inactivity timeout, set for the body and cleared once
 *     it has arrived). There is no limit on the whole request: a 1 GiB push over a slow link takes as
 *     long as it takes, as long as bytes keep coming. (Headers have Node's headersTimeout, and an idle
 *     keep-alive connection its keepAliveTimeout; both set in server/index.ts.)
 *   - a cap per client address (IPv4 exactly, IPv6 by /64, as the login throttle keys them): at most
 *     uploadsPerClient bodies to /v2/ at once; more are answered 429 TOOMANYREQUESTS with Retry-After
 *     and the connection closed, before a byte of the body is read. Clients retry a 429.
 * An upload cut by either loses nothing: the session keeps what reached the disk (registry/uploads.ts).
 */
import type { Middleware } from 'koa';
import { addressPrefix } from '../auth/throttle.ts';
import { RegistryError } from '../registry/errors.ts';
import { hasBody } from './headers.ts';

export interface RequestBodyLimits {
  bodyIdleTimeoutMs: number;
  uploadsPerClient: number;
}

/** What a client is told to wait before trying again when it has too many uploads open. */
const RETRY_AFTER_SECONDS = 2;

export function requestBodies({ bodyIdleTimeoutMs, uploadsPerClient }: RequestBodyLimits): Middleware {
  const open = new Map<string, number>();
  return async function limitRequestBodies(ctx, next) {
    if (!hasBody(ctx.req)) return next();
    const { req, res } = ctx;
    const socket = req.socket;
    // The socket's timeout counts bytes either way; only the body's arrival is waited on here, so
    // it is cleared once the body is in, unless the response is done already (then Node has set
    // the keep-alive timeout, which must stay).
    socket.setTimeout(bodyIdleTimeoutMs);
    req.once('end', () => {
      if (!res.writableFinished && !socket.destroyed) socket.setTimeout(0);
    });
    if (!(ctx.path === '/v2' || ctx.path.startsWith('/v2/'))) return next();

    const client = addressPrefix(req.socket.remoteAddress ?? '');
    const count = open.get(client) ?? 0;
    if (count >= uploadsPerClient) {
      throw new RegistryError('TOOMANYREQUESTS', {
        message: `this address is sending ${count} uploads already (at most ${uploadsPerClient} at once); retry when one is done`,
        detail: { limit: uploadsPerClient },
        // The body is not read: the connection must not be reused for the next request.
        headers: { 'Retry-After': String(RETRY_AFTER_SECONDS), Connection: 'close' },
      });
    }
    open.set(client, count + 1);
    try {
      await next();
    } finally {
      const left = open.get(client)! - 1;
      if (left === 0) open.delete(client);
      else open.set(client, left);
    }
  };
}
