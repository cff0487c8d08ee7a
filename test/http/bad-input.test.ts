/**
 * Requests a registry must refuse cleanly: malformed repository names on every resource (spec
 * "<name>" grammar), path traversal in any spelling, malformed Content-Range, repeated query
 * parameters; and the one error shape every refusal has (spec "Error Codes"; STYLE.md example 4).
 */
import { defaults } from '../../server/config.ts';
import { RegistryEvents } from '../../server/registry/events.ts';
import { RegistryMetrics } from '../../server/registry/metrics.ts';
import { keys } from '../../server/storage/paths.ts';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createApp } from '../../server/http/app.ts';
import type { RegistryServices } from '../../server/http/context.ts';
import type { ManagementServices } from '../../server/http/api/routes.ts';
import {
  Client,
  UNKNOWN_DIGEST,
  descriptor,
  expectError,
  imageManifest,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  sha256,
  type RawRequest,
} from '../helpers/registry-client.ts';
import { startServer, tempDir, type TestServer } from '../helpers/server.ts';

const MANIFEST = imageManifest(descriptor(OCI_CONFIG, '{}'), [descriptor(OCI_LAYER, 'layer')]);

/** Names the spec grammar refuses, sent literally (no URL normalisation). */
const MALFORMED_NAMES: [string, string][] = [
  ['upper case', 'Library/Ubuntu'],
  ['a ".." component', 'a/../b'],
  ['only ".."', '..'],
  ['an empty component', 'a//b'],
  ['a leading "_"', '_private'],
  ['a trailing separator', 'a-'],
  ['a trailing "/"', 'a/b/'],
  ['256 characters', 'a'.repeat(256)],
];

/** Every resource under /v2/<name>/, as a request for a given name. */
const RESOURCES: [string, (name: string) => RawRequest][] = [
  ['GET tags/list', (name) => ({ method: 'GET', path: `/v2/${name}/tags/list` })],
  ['GET manifest', (name) => ({ method: 'GET', path: `/v2/${name}/manifests/latest` })],
  ['HEAD manifest', (name) => ({ method: 'HEAD', path: `/v2/${name}/manifests/latest` })],
  ['PUT manifest', (name) => ({ method: 'PUT', path: `/v2/${name}/manifests/latest`, headers: { 'Content-Type': OCI_MANIFEST }, chunks: [Buffer.from(MANIFEST)] })],
  ['DELETE manifest', (name) => ({ method: 'DELETE', path: `/v2/${name}/manifests/${UNKNOWN_DIGEST}` })],
  ['GET blob', (name) => ({ method: 'GET', path: `/v2/${name}/blobs/${UNKNOWN_DIGEST}` })],
  ['HEAD blob', (name) => ({ method: 'HEAD', path: `/v2/${name}/blobs/${UNKNOWN_DIGEST}` })],
  ['DELETE blob', (name) => ({ method: 'DELETE', path: `/v2/${name}/blobs/${UNKNOWN_DIGEST}` })],
  ['POST upload', (name) => ({ method: 'POST', path: `/v2/${name}/blobs/uploads/` })],
  ['POST monolithic upload', (name) => ({ method: 'POST', path: `/v2/${name}/blobs/uploads/?digest=${sha256('x')}`, chunks: [Buffer.from('x')] })],
  ['POST mount', (name) => ({ method: 'POST', path: `/v2/${name}/blobs/uploads/?mount=${UNKNOWN_DIGEST}&from=library/ubuntu` })],
  ['GET upload status', (name) => ({ method: 'GET', path: `/v2/${name}/blobs/uploads/${randomUUID()}` })],
  ['PATCH upload', (name) => ({ method: 'PATCH', path: `/v2/${name}/blobs/uploads/${randomUUID()}`, chunks: [Buffer.from('x')] })],
  ['PUT upload', (name) => ({ method: 'PUT', path: `/v2/${name}/blobs/uploads/${randomUUID()}?digest=${sha256('')}` })],
  ['DELETE upload', (name) => ({ method: 'DELETE', path: `/v2/${name}/blobs/uploads/${randomUUID()}` })],
  ['GET referrers', (name) => ({ method: 'GET', path: `/v2/${name}/referrers/${UNKNOWN_DIGEST}` })],
];

/** Asserts a 4xx answer whose body (if any) is the OCI envelope; a HEAD answer has no body. */
async function expectClientError(res: Response, method: string, what: string): Promise<void> {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected 4xx, got ${res.status}`);
  assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0', what);
  if (method === 'HEAD') return;
  const body = JSON.parse(await res.text()) as { errors: { code: string }[] };
  assert.match(body.errors[0]!.code, /^[A-Z_]+$/, what);
}

describe('bad input', () => {
  let sandbox: string;
  let server: TestServer;
  let client: Client;
  before(async () => {
    // The data directory sits alone in a sandbox, so anything written beside it would show.
    sandbox = await tempDir('berth-sandbox-');
    server = await startServer({ dataDir: path.join(sandbox, 'data') });
    client = new Client(server.url);
    await client.pushBlob('ok', '{}');
  });
  after(async () => {
    await server.close({ remove: true });
    await fs.rm(sandbox, { recursive: true, force: true });
  });

  describe('malformed repository names answer 400 NAME_INVALID on every resource', () => {
    for (const [resource, request] of RESOURCES) {
      it(resource, async () => {
        for (const [why, name] of MALFORMED_NAMES) {
          const req = request(name);
          const res = await client.raw(req);
          if (req.method === 'HEAD') {
            assert.equal(res.status, 400, `${why}: ${name.slice(0, 40)}`);
            assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
          } else {
            await expectError(res, 400, 'NAME_INVALID');
          }
        }
      });
    }

    it('accepts a name of exactly 255 characters', async () => {
      const name = 'a'.repeat(255);
      await expectError(await client.fetch(`/v2/${name}/tags/list`), 404, 'NAME_UNKNOWN');
    });

    it('answers a malformed from= of a mount with 400 NAME_INVALID', async () => {
      const res = await client.mountBlob('ok', UNKNOWN_DIGEST, '../../etc');
      await expectError(res, 400, 'NAME_INVALID');
    });
  });

  describe('path traversal', () => {
    const digest = sha256('escaped');
    const attempts: [string, RawRequest][] = [
      ['%2e%2e name components', { method: 'POST', path: `/v2/%2e%2e/%2e%2e/escape/blobs/uploads/?digest=${digest}`, chunks: [Buffer.from('escaped')] }],
      ['%2f inside a name', { method: 'PUT', path: '/v2/ok%2f..%2f..%2f..%2fescape/manifests/latest', headers: { 'Content-Type': OCI_MANIFEST }, chunks: [Buffer.from(MANIFEST)] }],
      ['a literal .. name', { method: 'PUT', path: '/v2/../../escape/manifests/latest', headers: { 'Content-Type': OCI_MANIFEST }, chunks: [Buffer.from(MANIFEST)] }],
      ['%2f in a tag', { method: 'PUT', path: '/v2/ok/manifests/..%2f..%2f..%2fescape', headers: { 'Content-Type': OCI_MANIFEST }, chunks: [Buffer.from(MANIFEST)] }],
      ['%2f in a blob digest', { method: 'GET', path: '/v2/ok/blobs/..%2f..%2f..%2fberth.lock' }],
      ['%2f after a digest algorithm', { method: 'GET', path: '/v2/ok/blobs/sha256:..%2f..%2f..%2f..%2fberth.lock' }],
      ['%2f in an upload id (status)', { method: 'GET', path: '/v2/ok/blobs/uploads/..%2f..%2fberth.lock' }],
      ['%2e%2e as an upload id (PATCH)', { method: 'PATCH', path: '/v2/ok/blobs/uploads/%2e%2e', chunks: [Buffer.from('escaped')] }],
      ['%2f in an upload id (DELETE)', { method: 'DELETE', path: '/v2/ok/blobs/uploads/..%2f..%2f..%2fdata' }],
      ['%2f in an upload id (PUT)', { method: 'PUT', path: `/v2/ok/blobs/uploads/..%2f..%2fescape?digest=${digest}`, chunks: [Buffer.from('escaped')] }],
      ['%2f in a referrers digest', { method: 'GET', path: '/v2/ok/referrers/..%2f..%2fberth.lock' }],
      ['%2f in a manifest digest (DELETE)', { method: 'DELETE', path: '/v2/ok/manifests/sha256:..%2f..%2f..%2frepositories' }],
      ['double-encoded %252e%252e', { method: 'GET', path: '/v2/%252e%252e/%252e%252e/tags/list' }],
      ['%5c backslashes', { method: 'GET', path: '/v2/..%5c..%5cescape/tags/list' }],
      ['%00 in a name', { method: 'GET', path: '/v2/ok%00/tags/list' }],
      ['an invalid escape %zz', { method: 'GET', path: '/v2/ok%zz/tags/list' }],
      ['a lone %', { method: 'GET', path: '/v2/ok/manifests/%' }],
      ['invalid UTF-8 %e0%a4%a', { method: 'GET', path: '/v2/ok/blobs/%e0%a4%a' }],
      ['traversal in from= of a mount', { method: 'POST', path: `/v2/ok/blobs/uploads/?mount=${UNKNOWN_DIGEST}&from=%2e%2e%2f%2e%2e` }],
    ];

    for (const [what, request] of attempts) {
      it(`refuses ${what} with a 4xx error, never 500`, async () => {
        await expectClientError(await client.raw(request), request.method, what);
      });
    }

    it('wrote nothing outside the data directory, and no repository named after an attempt', async () => {
      assert.deepEqual(await fs.readdir(sandbox), ['data']);
      const entries = await fs.readdir(path.join(sandbox, 'data'), { recursive: true });
      assert.deepEqual(entries.filter((e) => /escape/.test(e)), []);
      assert.deepEqual(await server.registry.driver.list(keys.repositories), ['ok']);
      assert.equal((await client.getBlob('ok', digest)).status, 404);
    });
  });

  describe('malformed Content-Range on an upload', () => {
    for (const contentRange of ['abc', '5-2', '0-', '-5', '0-21/abc', 'bytes=0-21,22-41', '0x0-0x15']) {
      it(`answers Content-Range "${contentRange}" with 416 RANGE_INVALID and keeps the session`, async () => {
        const location = await client.startUpload('ranges/malformed');
        await client.pushChunk(location, Buffer.from('0123456789'), [0, 9]);
        const res = await client.fetch(location, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': contentRange },
          body: Buffer.from('abcdefghij'),
        });
        const range = res.headers.get('range');
        await expectError(res, 416, 'RANGE_INVALID');
        assert.equal(range, '0-9');
        const status = await client.uploadStatus(location);
        assert.equal(status.status, 204);
        assert.equal(status.headers.get('range'), '0-9');
      });
    }

    it('answers a Content-Range whose length is not the Content-Length with 416 RANGE_INVALID', async () => {
      const location = await client.startUpload('ranges/length');
      const res = await client.fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-21' },
        body: Buffer.alloc(20),
      });
      await expectError(res, 416, 'RANGE_INVALID');
      assert.equal((await client.uploadStatus(location)).headers.get('range'), '0-0');
    });

    it('rolls back a chunk that ends before its Content-Range does: 416, and the session keeps what it had', async () => {
      const location = await client.startUpload('ranges/short');
      await client.pushChunk(location, Buffer.from('0123456789'), [0, 9]);
      // Streamed (no Content-Length), so the shortfall shows only once the body has ended.
      const res = await client.raw({
        method: 'PATCH',
        path: location,
        headers: { 'Content-Range': '10-29' },
        chunks: [Buffer.from('abcde'), Buffer.from('fghij')],
      });
      const range = res.headers.get('range');
      await expectError(res, 416, 'RANGE_INVALID');
      assert.equal(range, '0-9');
      assert.equal((await client.uploadStatus(location)).headers.get('range'), '0-9');
      const rest = Buffer.from('klmnopqrst');
      assert.equal((await client.pushChunk(location, rest, [10, 19])).status, 202);
      const done = await client.finishUpload(location, sha256('0123456789klmnopqrst'));
      assert.equal(done.status, 201);
    });

    it('answers a closing PUT with a malformed Content-Range with 416 RANGE_INVALID', async () => {
      const location = await client.startUpload('ranges/put');
      const url = new URL(client.url(location));
      url.searchParams.set('digest', sha256('abc'));
      const res = await client.fetch(url.toString(), { method: 'PUT', headers: { 'Content-Range': 'nonsense' }, body: 'abc' });
      await expectError(res, 416, 'RANGE_INVALID');
    });
  });

  describe('repeated query parameters', () => {
    it('answers ?digest= twice on the closing PUT with 400 BAD_REQUEST', async () => {
      const location = await client.startUpload('query/digest');
      const res = await client.fetch(`${location}?digest=${sha256('a')}&digest=${sha256('b')}`, { method: 'PUT', body: 'a' });
      await expectError(res, 400, 'BAD_REQUEST');
    });

    it('answers ?digest= twice on a monolithic POST with 400 BAD_REQUEST, storing nothing', async () => {
      const res = await client.fetch(`/v2/query/post/blobs/uploads/?digest=${sha256('a')}&digest=${sha256('a')}`, { method: 'POST', body: 'a' });
      await expectError(res, 400, 'BAD_REQUEST');
      assert.equal((await client.headBlob('query/post', sha256('a'))).status, 404);
    });

    it('answers ?mount= or ?from= twice with 400 BAD_REQUEST', async () => {
      const digest = await client.pushBlob('query/source', 'mountable');
      for (const query of [`mount=${digest}&mount=${digest}&from=query/source`, `mount=${digest}&from=query/source&from=ok`]) {
        await expectError(await client.fetch(`/v2/query/mount/blobs/uploads/?${query}`, { method: 'POST' }), 400, 'BAD_REQUEST');
      }
    });

    it('answers ?n= or ?last= twice on tags/list and the catalog with 400 BAD_REQUEST', async () => {
      for (const url of ['/v2/ok/tags/list?n=1&n=2', '/v2/ok/tags/list?last=a&last=b', '/v2/_catalog?n=1&n=1']) {
        await expectError(await client.fetch(url), 400, 'BAD_REQUEST');
      }
    });

    it('answers ?artifactType= twice on referrers with 400 BAD_REQUEST', async () => {
      await expectError(await client.fetch(`/v2/ok/referrers/${UNKNOWN_DIGEST}?artifactType=a%2Fb&artifactType=c%2Fd`), 400, 'BAD_REQUEST');
    });
  });

  describe('the error envelope', () => {
    it('answers an unknown endpoint, a wrong method and a bad request alike: envelope, API version, no paths', async () => {
      await expectError(await client.fetch('/v2/ok/nothing-here'), 404, 'NOT_FOUND');
      await expectError(await client.fetch('/v2/ok/tags/list', { method: 'POST' }), 405, 'UNSUPPORTED');
      await expectError(await client.fetch(`/v2/ok/blobs/${UNKNOWN_DIGEST}`), 404, 'BLOB_UNKNOWN');
      await expectError(await client.fetch('/v2/ok/blobs/uploads/nope'), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    it('answers a HEAD error with the status and API version, and no body', async () => {
      const res = await client.fetch('/v2/Bad/manifests/latest', { method: 'HEAD' });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
      assert.equal(await res.text(), '');
    });

    it('answers an internal failure with 500 UNKNOWN, logging the details but sending no stack or file path', async () => {
      const secret = '/srv/berth-secret/blobs/sha256/ab/abcdef';
      const failing = new Proxy({}, {
        get: () => async () => {
          throw Object.assign(new Error(`EACCES: permission denied, open '${secret}'`), { code: 'EACCES', path: secret });
        },
      });
      const services = { blobs: failing, uploads: failing, manifests: failing, listings: failing, lifecycle: failing } as unknown as RegistryServices;
      const logged: string[] = [];
      const sink = new Writable({ write(chunk: Buffer, _encoding, done) { logged.push(chunk.toString()); done(); } });
      const app = createApp({
        services,
        events: new RegistryEvents(),
        log: pino({ level: 'error' }, sink),
        info: { config: defaults(), startedAt: new Date(), url: () => null },
        management: { token: null },
        manage: failing as unknown as ManagementServices,
        operations: { metrics: new RegistryMetrics({ events: new RegistryEvents(), uploadsInProgress: () => 0, indexReady: () => true }), dataDir: os.tmpdir(), indexReady: () => true },
      });
      const httpServer = http.createServer(app.callback());
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = httpServer.address() as AddressInfo;
        const res = await fetch(`http://127.0.0.1:${port}/v2/ok/tags/list`);
        const text = await res.clone().text();
        await expectError(res, 500, 'UNKNOWN');
        assert.doesNotMatch(text, /berth-secret|EACCES|\bat\s/);
        assert.ok(logged.some((line) => line.includes(secret)), 'the server log keeps the details');
      } finally {
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      }
    });
  });
});
