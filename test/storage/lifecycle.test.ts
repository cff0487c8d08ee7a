/**
 * The storage lifecycle on S3 and Azure (the filesystem has test/lifecycle): garbage collection frees
 * objects in the bucket, retention orders tags by their push times (stamped into the objects: a bucket
 * keeps whole seconds), the scrub quarantines a corrupt object, the index is rebuilt from a paginated
 * listing, and purging an idle upload drops its multipart upload or staged blocks.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RebuildStats, PurgeReport } from '../../server/registry/api-types.ts';
import { parseDigest } from '../../server/registry/reference.ts';
import { keys } from '../../server/storage/paths.ts';
import { apiCall, runAndWait, runGc, runScrub } from '../helpers/lifecycle.ts';
import { Client, sha256, waitFor } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { freshStorage, missingServer } from '../helpers/storage.ts';

for (const driver of ['s3', 'azure'] as const) {
  describe(`storage lifecycle: ${driver}`, { skip: missingServer(driver) ?? false, timeout: 300_000 }, () => {
    let server: TestServer;
    let client: Client;
    before(async () => {
      server = await startServer({ storage: freshStorage(driver) });
      client = new Client(server.url);
    });
    after(() => server?.close({ remove: true }));
    const stored = async (digest: string) => (await server.registry.driver.stat(keys.blob(parseDigest(digest)))) !== null;

    it('garbage collection deletes what nothing uses from the bucket, and keeps the rest', async () => {
      const kept = await client.pushImage('gc/kept', 'v1', { layer: `kept ${randomBytes(8).toString('hex')}` });
      const gone = await client.pushImage('gc/gone', 'v1', { layer: `gone ${randomBytes(8).toString('hex')}` });
      assert.equal((await apiCall(client, 'DELETE', '/api/repositories/gc/gone')).status, 200);
      // Swift's s3api rounds an object's time up to the next second: a blob written a moment ago can
      // look younger than the collection's start, inside even a 0 s grace window. Wait until it is not.
      const timeOf = async (d: string) => (await server.registry.driver.stat(keys.blob(parseDigest(d))))!.modifiedAt.getTime();
      await waitFor(async () => Math.max(await timeOf(sha256(gone.layer)), await timeOf(gone.digest)) < Date.now(), 'the blobs to be older than now in the store', 3000);
      const report = await runGc(client, { grace: '0s' });
      assert.ok(report.bytesFreed > 0);
      // (The config is the same for every image pushImage makes: shared, so kept.)
      for (const d of [sha256(gone.layer), gone.digest]) assert.equal(await stored(d), false, `${d} deleted from the store`);
      for (const d of [sha256(kept.layer), sha256(kept.config), kept.digest]) assert.equal(await stored(d), true, `${d} kept`);
      assert.equal((await client.getManifest('gc/kept', 'v1')).status, 200);
    });

    it('retention keeps the newest tags by push time, even pushed within one second', async () => {
      for (const tag of ['1', '2', '3']) await client.pushImage('ret/app', tag);
      const rule = await apiCall(client, 'POST', '/api/retention/rules', { repositories: 'ret/*', keepLast: 1 });
      assert.equal(rule.status, 201);
      await runAndWait(client, '/api/retention/apply');
      assert.deepEqual((await client.listTags('ret/app')).tags, ['3']);
    });

    it('the scrub quarantines an object whose bytes do not match its digest', async () => {
      const image = await client.pushImage('scrub/app', 'v1', { layer: 'a'.repeat(5000) });
      const layer = parseDigest(sha256(image.layer));
      await server.registry.driver.putContent(keys.blob(layer), 'b'.repeat(5000));
      const report = await runScrub(client);
      const corrupt = report.corrupt.find((c) => c.digest === layer.value);
      assert.ok(corrupt, JSON.stringify(report));
      assert.match(corrupt.quarantinedTo ?? '', driver === 's3' ? /^s3:\/\/berth-test\/.*\/quarantine\/sha256\// : /^azure:\/\/berth-test\/.*\/quarantine\/sha256\//);
      assert.equal((await client.getBlob('scrub/app', layer.value)).status, 404);
    });

    it('rebuilds the index from the bucket', async () => {
      const run = await runAndWait(client, '/api/reindex');
      const stats = run.result as RebuildStats;
      assert.ok(stats.repositories >= 3 && stats.tags >= 3, JSON.stringify(stats));
      assert.ok((await client.catalog()).repositories.includes('gc/kept'));
    });

    it('purging an idle upload removes it, multipart parts and all', async () => {
      const location = await client.startUpload('purge/app');
      const id = location.split('/').pop()!;
      assert.equal((await client.pushChunk(location, randomBytes(6 * 1024 * 1024), [0, 6 * 1024 * 1024 - 1])).status, 202);
      assert.ok((await server.registry.driver.list(keys.upload(id))).length > 0);
      // Swift's s3api rounds an object's time up to the next second: the session may look a moment
      // younger than "now" at first, and purging then keeps it; it goes once it is older.
      await waitFor(async () => {
        const run = await runAndWait(client, '/api/uploads/purge', { olderThan: '0s' });
        return (run.result as PurgeReport).removed.some((r) => r.id === id);
      }, 'a purge to remove the idle session');
      assert.deepEqual(await server.registry.driver.list(keys.upload(id)), []);
      assert.equal((await client.uploadStatus(location)).status, 404);
    });
  });
}
