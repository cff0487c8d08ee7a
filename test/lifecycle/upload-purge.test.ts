/**
 * Upload purging: sessions idle for longer than the age are removed with their bytes (and folders a
 * crash left half made), fresh ones stay and complete. Idle time is set on the files, not waited for.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PurgeReport } from '../../server/registry/purge-uploads.ts';
import { Client, expectError, sha256, uploadId } from '../helpers/registry-client.ts';
import { HOUR_MS, runAndWait } from '../helpers/lifecycle.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

async function idleFor(dataDir: string, id: string, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  const dir = path.join(dataDir, 'uploads', id);
  for (const entry of await fs.readdir(dir)) await fs.utimes(path.join(dir, entry), when, when);
  await fs.utimes(dir, when, when);
}

describe('upload purging', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  it('removes sessions idle longer than the age and leaves fresh ones', async () => {
    const stale = await client.startUpload('purge/app');
    assert.equal((await client.pushChunk(stale, Buffer.from('abandoned half'))).status, 202);
    const staleToo = await client.startUpload('purge/other');
    const fresh = await client.startUpload('purge/app');
    assert.equal((await client.pushChunk(fresh, Buffer.from('still '))).status, 202);
    // A folder a crash left before the session file was written.
    const broken = '0b7f3b5c-2a43-4d53-9c1e-6f1a2b3c4d5e';
    await fs.mkdir(path.join(server.dataDir, 'uploads', broken));
    await fs.writeFile(path.join(server.dataDir, 'uploads', broken, 'data'), 'orphaned');
    for (const id of [uploadId(stale), uploadId(staleToo), broken]) await idleFor(server.dataDir, id, 25 * HOUR_MS);
    // Idle for an hour only: younger than the default age of 24 h.
    const recent = await client.startUpload('purge/app');
    await idleFor(server.dataDir, uploadId(recent), HOUR_MS);

    const preview = (await runAndWait(client, '/api/uploads/purge', { dryRun: true })).result as PurgeReport;
    assert.deepEqual(preview.removed.map((u) => u.id).sort(), [uploadId(stale), uploadId(staleToo), broken].sort());
    assert.equal(preview.bytesFreed, 'abandoned half'.length + 'orphaned'.length);
    assert.equal(preview.kept, 2);
    assert.deepEqual(preview.removed.find((u) => u.id === broken)!.repository, null);

    const report = (await runAndWait(client, '/api/uploads/purge')).result as PurgeReport;
    assert.deepEqual(report.removed, preview.removed);
    const left = await fs.readdir(path.join(server.dataDir, 'uploads'));
    assert.deepEqual(left.sort(), [uploadId(fresh), uploadId(recent)].sort());

    await expectError(await client.pushChunk(stale, Buffer.from('more')), 404, 'BLOB_UPLOAD_UNKNOWN');
    const done = await client.finishUpload(fresh, sha256('still going'), Buffer.from('going'));
    assert.equal(done.status, 201, 'the fresh session completes');
    assert.equal((await client.uploadStatus(recent)).status, 204, 'the recent one is still there');
  });

  it('takes the age from the request', async () => {
    const session = await client.startUpload('purge/age');
    await idleFor(server.dataDir, uploadId(session), 2 * HOUR_MS);
    const kept = (await runAndWait(client, '/api/uploads/purge', { olderThan: '3h' })).result as PurgeReport;
    assert.ok(!kept.removed.some((u) => u.id === uploadId(session)));
    const removed = (await runAndWait(client, '/api/uploads/purge', { olderThan: '90m' })).result as PurgeReport;
    assert.ok(removed.removed.some((u) => u.id === uploadId(session)));
    assert.equal(removed.olderThanSeconds, 5400);
  });
});
