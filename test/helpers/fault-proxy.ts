/**
 * A fault injector in front of a real storage server (Swift s3api, Azurite): an HTTP proxy on loopback
 * that forwards every request, and on demand answers some with the store's throttling error (S3's
 * 503 SlowDown, Azure's 503 ServerBusy) or goes down (connections cut, new ones refused). It is not a
 * mock: every request it lets through is served by the real server.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FaultProxy {
  /** The proxy's base URL (replace the server's host:port with it). */
  url: string;
  /** Every `n`-th request gets a throttling answer (0: none). */
  throttleEvery(n: number, flavour: 's3' | 'azure'): void;
  /** Throttling answers sent so far. */
  readonly throttled: number;
  /** Requests forwarded so far. */
  readonly forwarded: number;
  /** Cuts every open connection and refuses new ones until up(). */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  let every = 0;
  let flavour: 's3' | 'azure' = 's3';
  let seen = 0;
  let throttled = 0;
  let forwarded = 0;
  let isDown = false;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (isDown) {
      req.socket.destroy();
      return;
    }
    seen += 1;
    if (every > 0 && seen % every === 0) {
      throttled += 1;
      // Drain the body first, as a real server would before answering.
      req.resume();
      req.on('end', () => {
        if (flavour === 's3') {
          res.writeHead(503, { 'Content-Type': 'application/xml' });
          res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
        } else {
          res.writeHead(503, { 'Content-Type': 'application/xml', 'x-ms-error-code': 'ServerBusy' });
          res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.</Message></Error>');
        }
      });
      return;
    }
    forwarded += 1;
    const upstream = http.request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket) => {
    if (isDown) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    throttleEvery(n, kind) {
      every = n;
      flavour = kind;
    },
    get throttled() {
      return throttled;
    },
    get forwarded() {
      return forwarded;
    },
    down() {
      isDown = true;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isDown = false;
    },
    async close() {
      isDown = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
