/** GET /healthz and GET /metrics (server/http/metrics.ts) against a real server. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parseGrant } from '../../server/auth/permissions.ts';
import { ADMIN_PASSWORD, addUser, basic } from '../helpers/auth.ts';
import { Client, expectError, OCI_MANIFEST } from '../helpers/registry-client.ts';
import { metadataInPostgres, startServer, type TestServer, singleProcess } from '../helpers/server.ts';

/** The value of one sample of the exposition text, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(match[3]);
  }
  return undefined;
}

describe('operations endpoints, registry auth off', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  it('GET /healthz says ok with the index ready', async () => {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; index: string; storage: { state: string; freeBytes: number; totalBytes: number }; store: string; metadata: { driver: string; state: string } };
    assert.deepEqual(
      { ...body, storage: { ...body.storage, freeBytes: 0, totalBytes: 0 }, metadata: { driver: body.metadata.driver, state: body.metadata.state } },
      { status: 'ok', index: 'ready', storage: { state: 'ok', freeBytes: 0, totalBytes: 0 }, store: 'reachable', metadata: { driver: metadataInPostgres ? 'postgres' : 'nedb', state: 'ok' } },
    );
    const volume = await fs.statfs(server.dataDir);
    assert.equal(body.storage.totalBytes, volume.blocks * volume.bsize, 'the size of the volume');
    assert.ok(body.storage.freeBytes > 0 && body.storage.freeBytes <= body.storage.totalBytes, 'what is free on it');
  });

  it('GET /metrics counts requests by operation and status, and what was pushed, pulled and deleted', { skip: singleProcess('it reads the counters of the process that took the requests; each replica has its own /metrics (Prometheus scrapes every replica: docs/deploy.md, What to monitor)') }, async () => {
    const image = await client.pushImage('ops/app', 'v1');
    const pulled = await fetch(`${server.url}/v2/ops/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(pulled.status, 200);
    await expectError(await fetch(`${server.url}/v2/ops/app/manifests/missing`), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await fetch(`${server.url}/v2/ops/app/manifests/v1`, { method: 'DELETE' })).status, 202);

    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'PUT', operation: 'putManifest', status: '201' }), 1);
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'GET', operation: 'getManifest', status: '200' }), 1);
    assert.equal(sample(text, 'berth_http_requests_total', { method: 'GET', operation: 'getManifest', status: '404' }), 1);
    assert.equal(sample(text, 'berth_http_request_duration_seconds_count', { method: 'PUT', operation: 'putManifest' }), 1);
    assert.equal(sample(text, 'berth_blobs_pushed_total'), 2);
    assert.equal(sample(text, 'berth_blob_pushed_bytes_total'), Buffer.byteLength(image.config) + Buffer.byteLength(image.layer));
    assert.equal(sample(text, 'berth_manifests_pushed_total'), 1);
    assert.equal(sample(text, 'berth_manifests_pulled_total'), 1);
    assert.equal(sample(text, 'berth_deletes_total', { kind: 'tag' }), 1);
    assert.equal(sample(text, 'berth_uploads_in_progress'), 0);
    assert.equal(sample(text, 'berth_index_ready'), 1);
    assert.equal(sample(text, 'berth_metadata_up'), 1, 'the metadata store answers');
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0, 'process metrics are exposed');
    // Repository names never become labels.
    assert.doesNotMatch(text, /ops\/app/);
  });

  it('counts finished maintenance runs by kind and outcome', { skip: singleProcess('it reads the counters of the process that took the requests; each replica has its own /metrics (Prometheus scrapes every replica: docs/deploy.md, What to monitor)') }, async () => {
    const run = await fetch(`${server.url}/api/scrub`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Berth-Client': 'tests' },
      body: JSON.stringify({ wait: true }),
    });
    assert.ok(run.ok, await run.text());
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.equal(sample(text, 'berth_maintenance_runs_total', { kind: 'scrub', outcome: 'succeeded' }), 1);
  });

  it('refuses other methods with 405 and an Allow header', async () => {
    const res = await fetch(`${server.url}/metrics`, { method: 'POST' });
    await expectError(res, 405, 'UNSUPPORTED');
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  });

  it('GET /healthz answers 503 when the data directory is gone', { skip: singleProcess('it reads or removes the data directory of the one server it started; each replica has its own') }, async () => {
    const other = await startServer();
    try {
      await fs.rm(other.dataDir, { recursive: true, force: true });
      const res = await fetch(`${other.url}/healthz`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { status: string; problem: string };
      assert.equal(body.status, 'unavailable');
      assert.match(body.problem, /data directory is not writable \(ENOENT\)/);
      assert.doesNotMatch(body.problem, new RegExp(other.dataDir), 'no file path in the answer');
    } finally {
      await other.close({ remove: true });
    }
  });
});

describe('operations endpoints, registry auth on', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD });
    await addUser(server, 'puller', 'puller-password', '*:pull');
  });
  after(() => server.close({ remove: true }));

  it('keeps /healthz open', async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  it('asks for Basic credentials on /metrics, and refuses wrong ones', async () => {
    const none = await fetch(`${server.url}/metrics`);
    await expectError(none, 401, 'UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm="Berth metrics"/);
    await expectError(await fetch(`${server.url}/metrics`, { headers: { Authorization: basic('admin', 'wrong-password') } }), 401, 'UNAUTHORIZED');
    await expectError(await fetch(`${server.url}/metrics`, { headers: { Authorization: 'Basic !!!' } }), 401, 'UNAUTHORIZED');
  });

  it('refuses a user who may not administer the registry', async () => {
    const res = await fetch(`${server.url}/metrics`, { headers: { Authorization: basic('puller', 'puller-password') } });
    const error = await expectError(res, 403, 'DENIED');
    assert.match(error.message, /needs \*:admin/);
  });

  it('serves an admin by password, and a robot account made for Prometheus by its token (as the README says)', async () => {
    const byPassword = await fetch(`${server.url}/metrics`, { headers: { Authorization: basic('admin', ADMIN_PASSWORD) } });
    assert.equal(byPassword.status, 200);
    assert.match(await byPassword.text(), /^# HELP /m);
    const { token } = await server.registry.auth!.createAccessToken({ user: 'prometheus', robot: true, label: 'scraper', expiresAt: null, permissions: [parseGrant('*:admin')] });
    const byToken = await fetch(`${server.url}/metrics`, { headers: { Authorization: basic('prometheus', token) } });
    assert.equal(byToken.status, 200);
  });
});
