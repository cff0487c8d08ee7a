/** The management API's door (api/guard.ts), its status endpoint and its live event stream. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Client, expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

describe('management API', () => {
  describe('headless, auth off', () => {
    let server: TestServer;
    let client: Client;
    before(async () => {
      server = await startServer();
      client = new Client(server.url);
    });
    after(() => server.close({ remove: true }));

    it('answers GET /api/status from loopback', { skip: singleProcess('it compares the data directory in the answer with the one of the server it started; the replica that answers names its own') }, async () => {
      const res = await client.fetch('/api/status');
      assert.equal(res.status, 200);
      const body = (await res.json()) as { version: string; url: string; dataDir: string };
      assert.equal(body.url, server.url);
      assert.equal(body.dataDir, server.dataDir);
      assert.equal(typeof body.version, 'string');
    });

    it('refuses a Host that is not this machine (DNS rebinding)', async () => {
      const res = await new Promise<http.IncomingMessage & { body: string }>((resolve) => {
        http.get(`${server.url}/api/status`, { headers: { Host: 'evil.example:5000' } }, (r) => {
          let body = '';
          r.on('data', (d) => (body += d));
          r.on('end', () => resolve(Object.assign(r, { body })));
        });
      });
      assert.equal(res.statusCode, 403);
      assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0]!.code, 'DENIED');
    });

    it('refuses a change without the X-Berth-Client header (cross-site requests)', async () => {
      await expectError(await client.fetch('/api/status', { method: 'POST' }), 403, 'DENIED');
    });

    it('streams registry events as server-sent events', async () => {
      const controller = new AbortController();
      const res = await client.fetch('/api/events', { signal: controller.signal });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const reader = res.body!.getReader();
      const pushed = client.pushImage('live/one', 'v1');
      let text = '';
      const decoder = new TextDecoder();
      while (!text.includes('event: manifest-pushed')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      await pushed;
      controller.abort();
      assert.match(text, /event: blob-pushed\ndata: \{"repository":"live\/one"/);
      assert.match(text, /event: manifest-pushed\ndata: \{"repository":"live\/one","digest":"sha256:[0-9a-f]{64}","tag":"v1"/);
    });
  });

  describe('with a management token (the desktop app)', { skip: singleProcess('the management token is given only by a program that embeds the server (the desktop app), never to `berth serve`') }, () => {
    let server: TestServer;
    let client: Client;
    before(async () => {
      server = await startServer({ managementToken: 'launch-secret' });
      client = new Client(server.url);
    });
    after(() => server.close({ remove: true }));

    it('refuses requests without the token', async () => {
      await expectError(await client.fetch('/api/status'), 401, 'UNAUTHORIZED');
      await expectError(await client.fetch('/api/status', { headers: { Authorization: 'Bearer wrong' } }), 401, 'UNAUTHORIZED');
    });

    it('serves requests with it', async () => {
      const res = await client.fetch('/api/status', { headers: { Authorization: 'Bearer launch-secret' } });
      assert.equal(res.status, 200);
    });

    it('leaves the registry API alone', async () => {
      assert.equal((await client.fetch('/v2/')).status, 200);
    });
  });
});
