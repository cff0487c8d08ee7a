/**
 * "Expect: 100-continue" (RFC 9110 §10.1.1) answered when a handler starts reading the body, not
 * before. Node answers "100 Continue" at once unless the server listens for 'checkContinue'; then a
 * request refused before its body is read (a blob larger than the free disk space, an unknown upload
 * session, a denied push) would still make the client send the whole body first. With this, such a
 * client (curl sends the expectation for bodies over 1 MiB) gets the refusal and sends nothing.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';

const awaiting = new WeakSet<IncomingMessage>();

export function continueWhenRead(server: Server, handler: RequestListener): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    awaiting.add(req);
    // 'resume' is emitted when anything starts consuming the body (pipe, 'data', resume()).
    req.once('resume', () => {
      if (!awaiting.delete(req)) return;
      if (!res.headersSent && !res.writableEnded) res.writeContinue();
    });
    handler(req, res);
  });
}

/** The client is waiting for "100 Continue" and has not sent its body: a final answer ends the request. */
export function awaitingContinue(req: IncomingMessage): boolean {
  return awaiting.has(req);
}
