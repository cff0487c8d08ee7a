/**
 * Repository delete (DELETE /api/repositories/<name>): tags, manifests and links go, the index
 * forgets it, nested repositories stay, and the next collection frees the blobs only it used.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, expectError } from '../helpers/registry-client.ts';
import { apiCall, assertPulls, blobFiles, runGc } from '../helpers/lifecycle.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('repository delete', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  it('deletes tags, manifests and links; blobs go with the next collection unless shared', async () => {
    const doomed = await client.pushImage('team/app', 'v1', { layer: 'shared with team/keep' });
    const only = await client.pushImage('team/app', 'v2', { layer: 'only in team/app' });
    await client.pushImage('team/keep', 'v1', { layer: 'shared with team/keep' });
    await client.pushImage('team/app/nested', 'v1');

    const res = await apiCall(client, 'DELETE', '/api/repositories/team/app');
    assert.equal(res.status, 200);
    // Three layer links: both images share one config blob, plus a layer each.
    const { note, ...deleted } = (await res.json()) as { note: string };
    assert.deepEqual(deleted, { repository: 'team/app', tags: ['v1', 'v2'], manifests: 2, layers: 3 });
    assert.match(note, /garbage collection/);

    const { repositories } = await client.catalog();
    assert.deepEqual(repositories.filter((r) => r.startsWith('team/')), ['team/app/nested', 'team/keep']);
    await expectError(await client.fetch('/v2/team/app/tags/list'), 404, 'NAME_UNKNOWN');
    await expectError(await client.getManifest('team/app', 'v1'), 404, 'NAME_UNKNOWN');
    await expectError(await client.getBlob('team/app', doomed.manifest.layers[0]!.digest), 404, 'BLOB_UNKNOWN');
    await assertPulls(client, 'team/app/nested', 'v1');
    await assertPulls(client, 'team/keep', 'v1');

    const report = await runGc(client, { grace: '0s' });
    const files = await blobFiles(server.dataDir);
    assert.ok(files.has(doomed.manifest.layers[0]!.digest), 'the layer team/keep shares stays');
    for (const digest of [only.digest, only.manifest.layers[0]!.digest]) {
      assert.ok(report.removed.blobs.some((b) => b.digest === digest), 'what only team/app held goes');
    }
    await assertPulls(client, 'team/keep', 'v1');

    // The name is free again.
    await client.pushImage('team/app', 'v3');
    await assertPulls(client, 'team/app', 'v3');
  });

  it('answers NAME_UNKNOWN for a repository that does not exist and NAME_INVALID for a bad name', async () => {
    await expectError(await apiCall(client, 'DELETE', '/api/repositories/no/such/repo'), 404, 'NAME_UNKNOWN');
    await expectError(await apiCall(client, 'DELETE', '/api/repositories/Bad_Name'), 400, 'NAME_INVALID');
  });

  it('refuses without the X-Berth-Client header (cross-site requests)', async () => {
    await expectError(await client.fetch('/api/repositories/team/keep', { method: 'DELETE' }), 403, 'DENIED');
    assert.ok((await client.catalog()).repositories.includes('team/keep'));
  });
});
