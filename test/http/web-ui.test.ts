/**
 * The web UI served at / (server/http/ui.ts): files from the Vite build, index.html for addresses inside
 * the app, caching headers, a Content-Security-Policy, and /v2/ and /api/ always first.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { builtUiDir } from '../../server/http/ui.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

const uiDir = builtUiDir();

describe('web UI at /', { skip: singleProcess('it serves a test folder as the UI, which only an embedding program sets; `berth serve` serves its own build (test/e2e covers that)') }, () => {
  let server: TestServer;
  let client: Client;
  let script: string;

  before(async () => {
    assert.ok(uiDir, 'the web UI is built (npm run build; npm test builds it first)');
    server = await startServer({ uiDir });
    client = new Client(server.url);
    const html = await fs.readFile(path.join(uiDir, 'index.html'), 'utf8');
    script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
  });
  after(() => server.close({ remove: true }));

  const html = (p: string) => client.fetch(p, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });

  it('serves index.html at / with no-cache and a strict Content-Security-Policy', async () => {
    const res = await html('/');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'.*script-src 'self'.*frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(await res.text(), /<div id="root"><\/div>/);
  });

  it('serves the hashed assets as immutable for a year', async () => {
    const res = await client.fetch(script);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /javascript/);
    assert.equal(res.headers.get('cache-control'), 'max-age=31536000,immutable');
    assert.ok((await res.arrayBuffer()).byteLength > 1000);
  });

  it('answers an address inside the app (a reload, a bookmark) with index.html', async () => {
    for (const p of ['/repositories/library/alpine', '/repositories/my.app/-/manifests/sha256:abc', '/disk-usage', '/setup?engine=podman']) {
      const res = await html(p);
      assert.equal(res.status, 200, p);
      assert.match(await res.text(), /<div id="root">/, p);
      assert.equal(res.headers.get('cache-control'), 'no-cache', p);
    }
  });

  it('answers a missing asset, and a non-HTML request for an unknown path, with 404', async () => {
    await expectError(await html('/assets/missing-1234.js'), 404, 'NOT_FOUND');
    await expectError(await client.fetch('/nothing', { headers: { Accept: 'application/json' } }), 404, 'NOT_FOUND');
  });

  it('does not serve files outside the build or hidden files', async () => {
    const res = await client.raw({ method: 'GET', path: '/../package.json', headers: { Accept: 'text/html' } });
    assert.doesNotMatch(await res.text(), /"name": "berth"/);
    const encoded = await client.raw({ method: 'GET', path: '/%2e%2e/%2e%2e/package.json', headers: { Accept: 'application/json' } });
    assert.notEqual(encoded.status, 200);
  });

  it('keeps /v2/ and /api/ first', async () => {
    const v2 = await client.fetch('/v2/', { headers: { Accept: 'text/html' } });
    assert.equal(v2.status, 200);
    assert.match(v2.headers.get('content-type') ?? '', /application\/json/);
    await expectError(await html('/v2/nothing/here'), 404, 'NOT_FOUND');
    await expectError(await html('/api/nothing'), 404, 'NOT_FOUND');
    assert.equal((await html('/api/status')).headers.get('content-type'), 'application/json');
  });

  it('answers other methods on UI addresses as unknown', async () => {
    await expectError(await client.fetch('/', { method: 'POST' }), 404, 'NOT_FOUND');
  });
});

describe('without a built UI', { skip: singleProcess('`berth serve` always serves its own build') }, () => {
  it('answers / with 404 and leaves the registry alone', async () => {
    const server = await startServer();
    try {
      const client = new Client(server.url);
      await expectError(await client.fetch('/'), 404, 'NOT_FOUND');
      assert.equal((await client.fetch('/v2/')).status, 200);
    } finally {
      await server.close({ remove: true });
    }
  });
});
