/** Every management endpoint is behind the one guard (server/http/api/guard.ts). */
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { ApiClient, pushImageWith } from '../helpers/api-client.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

const ENDPOINTS: [string, string][] = [
  ['GET', '/api/status'],
  ['GET', '/api/events'],
  ['GET', '/api/repositories'],
  ['GET', '/api/repositories/guarded'],
  ['GET', '/api/repositories/guarded/-/manifests/v1'],
  ['GET', '/api/disk-usage'],
  ['GET', '/api/activity'],
  ['POST', '/api/self-test'],
  ['DELETE', '/api/repositories/guarded/-/tags/v1'],
  ['DELETE', '/api/repositories/guarded/-/manifests/sha256:0000000000000000000000000000000000000000000000000000000000000000'],
  ['DELETE', '/api/repositories/guarded'],
];

describe('management API guard', () => {
  describe('with the desktop app’s token', { skip: singleProcess('the management token is given only by a program that embeds the server (the desktop app), never to `berth serve`') }, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ managementToken: 'per-launch-secret' });
      await pushImageWith(new Client(server.url), 'guarded', 'v1');
    });
    after(() => server.close({ remove: true }));

    for (const [method, path] of ENDPOINTS) {
      it(`${method} ${path} needs the token`, async () => {
        await expectError(await new ApiClient(server.url).fetch(path, { method }), 401, 'UNAUTHORIZED');
        await expectError(await new ApiClient(server.url, 'a-wrong-secret!!!').fetch(path, { method }), 401, 'UNAUTHORIZED');
      });
    }

    it('serves every endpoint with the token (a change needs X-Berth-Client too)', async () => {
      const api = new ApiClient(server.url, 'per-launch-secret');
      for (const [method, path] of ENDPOINTS) {
        if (path === '/api/events' || path === '/api/self-test' || method === 'DELETE') continue;
        const res = await api.fetch(path, { method });
        assert.equal(res.status, 200, `${method} ${path}: ${await res.text()}`);
      }
      await expectError(await api.fetch('/api/repositories/guarded/-/tags/v1', { method: 'DELETE', client: false }), 403, 'DENIED');
      assert.equal((await api.fetch('/api/repositories/guarded/-/tags/v1', { method: 'DELETE' })).status, 200);
    });
  });

  describe('headless, auth off', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer();
    });
    after(() => server.close({ remove: true }));

    for (const [method, path] of ENDPOINTS) {
      it(`${method} ${path} refuses a foreign Host (DNS rebinding)`, async () => {
        const status = await new Promise<number>((resolve, reject) => {
          const url = new URL(path, server.url);
          const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method, headers: { Host: 'attacker.example', 'X-Berth-Client': 'x' } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
        assert.equal(status, 403);
      });
    }
  });

  describe('bound to every interface with auth off (--insecure-no-auth)', { skip: singleProcess("binding the replicas to every interface and reaching them on a LAN address is the deployment's business; the harness's HAProxy listens on loopback") }, () => {
    // An address of this machine that is not loopback: requests to it come from it, not from 127.0.0.1.
    const lan = Object.values(os.networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    const skip = lan ? false : process.env.CI === 'true' ? false : 'needs a non-loopback IPv4 address on this machine';
    let server: TestServer;
    before(async () => {
      if (!lan && process.env.CI === 'true') throw new Error('CI=true and this machine has no non-loopback IPv4 address');
      if (lan) server = await startServer({ host: '0.0.0.0', auth: 'none', insecureNoAuth: true });
    });
    after(() => server?.close({ remove: true }));

    function get(path: string, to: string, host: string): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const port = new URL(server.url).port;
        http.get({ host: to, port, path, headers: { Host: `${host}:${port}` }, agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }).on('error', reject);
      });
    }

    it('serves the registry to other machines, but the management API to this machine\'s loopback only', { skip }, async () => {
      assert.equal((await get('/v2/_catalog', lan!, lan!)).status, 200, 'the registry answers on the LAN address');
      assert.equal((await get('/api/status', '127.0.0.1', 'localhost')).status, 200);
      // From a non-loopback address, even naming localhost: refused.
      const remote = await get('/api/status', lan!, 'localhost');
      assert.equal(remote.status, 403, remote.body);
      assert.match(remote.body, /served to this machine only while registry authentication is off/);
      // From loopback, but naming the LAN address: refused too (the page would not be this machine's own).
      const named = await get('/api/status', '127.0.0.1', lan!);
      assert.equal(named.status, 403, named.body);
      assert.match(named.body, /answers only to localhost, 127\.0\.0\.1 or \[::1\] as Host/);
    });
  });
});
