/**
 * One structured log line per request, written when the response has finished (or the client left).
 * It writes the path only: never the query string (GET /token carries the account, and a client may
 * put a secret anywhere) nor any header (Authorization), so credentials stay out of the logs.
 * With auth on, `user` names who made the request ('' for anonymous).
 *
 * Everything the line needs from the connection is read when the request arrives: by the time the
 * response's 'close' event fires the socket may be gone (a client that hung up, a write that failed on a
 * full disk), and Koa's ctx.ip then throws from an event handler, which would end the process. The
 * handler itself never throws for the same reason.
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';

export interface RequestLogOptions {
  /** True once the server is stopping: a request cut off then was cut off by the shutdown. */
  stopping?: () => boolean;
}

export function requestLog(log: Logger, options: RequestLogOptions = {}): Middleware {
  return async function logRequest(ctx, next) {
    if (!log.isLevelEnabled('info')) return next();
    const started = process.hrtime.bigint();
    const { method, path } = ctx;
    let remote = '';
    try {
      remote = ctx.ip;
    } catch {
      // the socket is already gone
    }
    ctx.res.once('close', () => {
      try {
        const answered = ctx.res.headersSent;
        const aborted = ctx.state.clientGone === true || !ctx.res.writableFinished;
        const fields = {
          method,
          path,
          // A request cut off before any answer has no status: Koa's default 404 would be a lie.
          ...(answered ? { status: ctx.res.statusCode } : {}),
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          remote,
          ...(typeof ctx.state.user === 'string' ? { user: ctx.state.user } : {}),
          ...(aborted ? { aborted: true } : {}),
          ...(aborted && options.stopping?.() ? { cutOffBy: 'shutdown' } : {}),
        };
        log.info(fields, 'request');
      } catch (err) {
        log.error({ err, method, path }, 'could not log a request');
      }
    });
    await next();
  };
}
