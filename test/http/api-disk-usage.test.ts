/** GET /api/disk-usage: bytes as the files on disk hold them; shared layers counted once. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DiskUsage } from '../../server/registry/api-types.ts';
import { ApiClient, pushImageWith, startApiServer } from '../helpers/api-client.ts';
import { blobFiles, storeTimesPast, sum } from '../helpers/blob-files.ts';
import { TEST_DRIVER } from '../helpers/storage.ts';
import { runGc } from '../helpers/lifecycle.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import type { TestServer } from '../helpers/server.ts';
import { singleProcess } from '../helpers/server.ts';

describe('management API: disk usage', () => {
  let server: TestServer;
  let registry: Client;
  let api: ApiClient;

  before(async () => {
    ({ server, registry, api } = await startApiServer());
  });
  after(() => server.close({ remove: true }));

  it('answers an empty store with zeros, and the volume’s free space (or the bucket’s objects)', { skip: singleProcess('it compares the data directory in the answer with the one of the server it started; the replica that answers names its own') }, async () => {
    const usage = await api.json<DiskUsage>('/api/disk-usage');
    assert.equal(usage.bytesOnDisk, 0);
    assert.equal(usage.blobCount, 0);
    assert.deepEqual(usage.repositories, []);
    assert.equal(usage.dataDir, server.dataDir);
    assert.equal(usage.storage.driver, TEST_DRIVER);
    if (TEST_DRIVER === 'filesystem') {
      assert.ok(usage.volume && usage.volume.totalBytes > 0 && usage.volume.freeBytes > 0 && usage.volume.freeBytes <= usage.volume.totalBytes);
    } else {
      assert.equal(usage.volume, null, 'a bucket has no volume to show');
      assert.match(usage.storage.location, TEST_DRIVER === 's3' ? /^s3:\/\// : /^azure:\/\//);
    }
    assert.equal(usage.reclaimableByGcBytes, 0);
    assert.equal(usage.reclaimableAfterGraceBytes, 0);
  });

  it('equals the blob files on disk, counting a layer shared by two repositories once', async () => {
    const shared = 'x'.repeat(5000);
    const one = await pushImageWith(registry, 'usage/one', 'v1', { layers: [shared, 'only one'] });
    const two = await pushImageWith(registry, 'usage/two', 'v1', { layers: [shared] });
    const files = await blobFiles(server.registry.driver);
    const usage = await api.json<DiskUsage>('/api/disk-usage');

    assert.equal(usage.bytesOnDisk, sum(files.values()));
    assert.equal(usage.blobCount, files.size);
    assert.equal(usage.referencedBytes, usage.bytesOnDisk, 'every blob belongs to an image');
    assert.equal(usage.unreferencedBytes, 0);
    assert.equal(usage.sharedBytes, shared.length, 'the shared layer, once');

    const byName = new Map(usage.repositories.map((r) => [r.name, r]));
    const repoOne = byName.get('usage/one')!;
    const repoTwo = byName.get('usage/two')!;
    assert.equal(repoOne.sharedBytes, shared.length);
    assert.equal(repoTwo.sharedBytes, shared.length);
    assert.equal(repoOne.totalBytes, one.size + one.manifestSize);
    assert.equal(repoTwo.totalBytes, two.size + two.manifestSize);
    assert.equal(repoOne.uniqueBytes, repoOne.totalBytes - shared.length);
    // Across repositories the shared layer counts once: the sum of the parts is what is on disk.
    assert.equal(repoOne.uniqueBytes + repoTwo.uniqueBytes + usage.sharedBytes, usage.bytesOnDisk);
    assert.ok(repoOne.totalBytes + repoTwo.totalBytes > usage.bytesOnDisk);
    assert.deepEqual(usage.repositories.map((r) => r.name), ['usage/one', 'usage/two'], 'largest first');
  });

  it('reports what deleted images leave behind as unreferenced (freed by garbage collection)', async () => {
    const image = await pushImageWith(registry, 'usage/gone', 'v1', { layers: ['y'.repeat(3000)] });
    await api.delete('/api/repositories/usage/gone');
    const usage = await api.json<DiskUsage>('/api/disk-usage');
    const files = await blobFiles(server.registry.driver);
    assert.equal(usage.bytesOnDisk, sum(files.values()), 'deleting unlinks: the bytes are still on disk');
    assert.equal(usage.unreferencedBytes, image.size + image.manifestSize);
    assert.ok(!usage.repositories.some((r) => r.name === 'usage/gone'));
    // Deleted a moment ago: inside the one-hour grace window that protects pushes in progress. Not
    // now, then; all of it once the window has passed, and the answer says which window.
    assert.equal(usage.reclaimableByGcBytes, 0);
    assert.equal(usage.reclaimableAfterGraceBytes, usage.unreferencedBytes);
    assert.equal(usage.gcGraceSeconds, 3600);
  });

  it('reports as reclaimable exactly what a collection then frees', async () => {
    const quick = await startApiServer({ gcGraceMs: 0 });
    try {
      const image = await pushImageWith(quick.registry, 'usage/soon-gone', 'v1', { layers: ['z'.repeat(4000)] });
      await pushImageWith(quick.registry, 'usage/stays', 'v1', { layers: ['kept'] });
      await quick.api.delete('/api/repositories/usage/soon-gone');
      await storeTimesPast(quick.server.registry.driver);
      const before = await quick.api.json<DiskUsage>('/api/disk-usage');
      assert.equal(before.reclaimableByGcBytes, image.size + image.manifestSize);
      assert.equal(before.reclaimableAfterGraceBytes, before.reclaimableByGcBytes, 'no grace window: nothing waits');
      assert.equal(before.gcGraceSeconds, 0);
      const report = await runGc(quick.registry);
      assert.equal(report.bytesFreed, before.reclaimableByGcBytes);
      const after = await quick.api.json<DiskUsage>('/api/disk-usage');
      assert.equal(after.reclaimableByGcBytes, 0);
      assert.equal(after.reclaimableAfterGraceBytes, 0);
      assert.equal(after.bytesOnDisk, before.bytesOnDisk - before.reclaimableByGcBytes);
    } finally {
      await quick.server.close({ remove: true });
    }
  });

  it('answers only GET', async () => {
    await expectError(await api.fetch('/api/disk-usage', { method: 'POST' }), 405, 'UNSUPPORTED');
  });
});
