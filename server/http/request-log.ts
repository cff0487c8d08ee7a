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
import type { ServerResponse } from 'node:http';
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
    let remote = '';
    try {
      remote = ctx.ip;
    } catch {
      // the socket is already gone
    }
    logWhenClosed(log, ctx.res, { method: ctx.method, path: ctx.path, remote, started }, ctx.state, options);
    await next();
  };
}

/** What a request's line says of the request itself, read when it arrived. */
export interface RequestFacts {
  method: string;
  path: string;
  remote: string;
  /** process.hrtime.bigint() at arrival. */
  started: bigint;
}

/**
 * Writes the request's line once its response has closed. `state`: the request's ctx.state (`user`,
 * `clientGone`), read then. Also used for the answers manifest-answers.ts gives without Koa.
 */
export function logWhenClosed(log: Logger, res: ServerResponse, { method, path, remote, started }: RequestFacts, state: Record<string, unknown>, options: RequestLogOptions = {}): void {
  res.once('close', () => {
    try {
      const answered = res.headersSent;
      const aborted = state.clientGone === true || !res.writableFinished;
      const fields = {
        method,
        path,
        // A request cut off before any answer has no status: Koa's default 404 would be a lie.
        ...(answered ? { status: res.statusCode } : {}),
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        remote,
        ...(typeof state.user === 'string' ? { user: state.user } : {}),
        ...(aborted ? { aborted: true } : {}),
        ...(aborted && options.stopping?.() ? { cutOffBy: 'shutdown' } : {}),
      };
      log.info(fields, 'request');
    } catch (err) {
      log.error({ err, method, path }, 'could not log a request');
    }
  });
}
