/**
 * Timeouts (server/index.ts, http/request-bodies.ts): no limit on a whole request (a 1 GiB push on a
 * slow link takes as long as it takes), but a body that stops arriving is cut after the idle timeout.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_BODY_IDLE_TIMEOUT_MS } from '../../server/config.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256, waitFor } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('server timeouts', () => {
  let server: TestServer;
  const IDLE_MS = 400;
  before(async () => {
    server = await startServer({ bodyIdleTimeoutMs: IDLE_MS });
  });
  after(() => server.close({ remove: true }));

  it('has no request timeout nor a standing socket timeout; headers still time out; bodies idle out after a minute by default', async () => {
    const http = server.registry.server!;
    assert.equal(http.requestTimeout, 0);
    assert.equal(http.timeout, 0, 'no socket inactivity timeout outside a body');
    assert.equal(http.headersTimeout, 60_000);
    assert.equal(DEFAULT_BODY_IDLE_TIMEOUT_MS, 60_000);
  });

  it('closes the connection of a body that stops arriving', async () => {
    const url = new URL(server.url);
    const socket = net.connect(Number(url.port), url.hostname);
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    const started = Date.now();
    socket.write(`POST /v2/idle/blobs/uploads/?digest=${sha256('x')} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 1000000\r\n\r\nsome bytes`);
    const at = await closed;
    assert.ok(at - started >= IDLE_MS - 50, `closed after ${at - started} ms, not before the idle timeout`);
    // The monolithic upload was cancelled with its connection: its session is gone from the disk.
    await waitFor(async () => (await fs.readdir(path.join(server.dataDir, 'uploads')).catch(() => [])).length === 0, 'the cut upload\'s session to be removed');
  });

  it('lets a slow body that keeps sending take longer than the idle timeout in all', async () => {
    const url = new URL(server.url);
    const body = Buffer.alloc(20, 'y');
    const socket = net.connect(Number(url.port), url.hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (d) => (answer += d));
    const ended = new Promise((resolve) => socket.on('end', resolve));
    socket.write(`POST /v2/slow/blobs/uploads/?digest=${sha256(body)} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    const started = Date.now();
    for (const byte of body) {
      // One byte every IDLE_MS / 4: never idle for long, 5 idle timeouts in all.
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 4));
      socket.write(Buffer.from([byte]));
    }
    await ended;
    assert.ok(Date.now() - started > IDLE_MS * 4);
    assert.match(answer, /^HTTP\/1\.1 201 /);
  });
});
