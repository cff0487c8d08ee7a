/**
 * One structured log line per request, written when the response has finished (or the client left).
 * It writes the path only: never the query string (GET /token carries the account, and a client may
 * put a secret anywhere) nor any header (Authorization), so credentials stay out of the logs.
 * With auth on, `user` names who made the request ('' for anonymous).
 */
import type { Middleware } from 'koa';
import type { Logger } from 'pino';

export function requestLog(log: Logger): Middleware {
  return async function logRequest(ctx, next) {
    if (!log.isLevelEnabled('info')) return next();
    const started = process.hrtime.bigint();
    ctx.res.once('close', () => {
      const fields = {
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        remote: ctx.ip,
        ...(typeof ctx.state.user === 'string' ? { user: ctx.state.user } : {}),
        ...(ctx.state.clientGone || !ctx.res.writableFinished ? { aborted: true } : {}),
      };
      log.info(fields, 'request');
    });
    await next();
  };
}
