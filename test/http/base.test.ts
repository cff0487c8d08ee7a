import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, expectError } from '../helpers/registry-client.ts';
import { inCluster, startServer, type TestServer } from '../helpers/server.ts';

describe('GET /v2/ (api version check)', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  it('answers 200 with the API version header', async () => {
    const res = await client.fetch('/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(await res.json(), {});
  });

  it('answers /v2 without the trailing slash too', async () => {
    assert.equal((await client.fetch('/v2')).status, 200);
  });

  it('answers an unknown endpoint with 404 NOT_FOUND in the error envelope', async () => {
    await expectError(await client.fetch('/v2/foo/bar'), 404, 'NOT_FOUND');
    // `berth serve` (the cluster pass's replicas) serves its web UI, whose app answers page addresses.
    if (!inCluster) await expectError(await client.fetch('/nothing-here'), 404, 'NOT_FOUND');
  });

  it('answers a known endpoint with an unsupported method with 405 UNSUPPORTED and Allow', async () => {
    const res = await client.fetch('/v2/', { method: 'DELETE' });
    const allow = res.headers.get('allow');
    await expectError(res, 405, 'UNSUPPORTED');
    assert.equal(allow, 'GET, HEAD');
  });
});
