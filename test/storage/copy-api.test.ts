/**
 * Copying a running registry's store to another one through the management API (POST/GET
 * /api/storage/copy, registry/storage-copy.ts), as the Disk usage page does: to an S3 bucket (Swift +
 * s3api) while pushes go on, then a registry on that bucket serves it byte-identical; every bad
 * destination refused with its reason; one copy at a time, stopped cleanly by a shutdown. And a data
 * directory whose storage settings changed rebuilds its index from the new store.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { StorageCopyStatus } from '../../server/registry/api-types.ts';
import { RegistryError } from '../../server/registry/errors.ts';
import { StorageCopyService } from '../../server/registry/storage-copy.ts';
import { FilesystemDriver } from '../../server/storage/driver/filesystem.ts';
import { ApiClient } from '../helpers/api-client.ts';
import { assertSame, pullAll } from '../helpers/pull-all.ts';
import { Client, waitFor } from '../helpers/registry-client.ts';
import { startServer, tempDir, type TestServer } from '../helpers/server.ts';
import { freshStorage, missingServer } from '../helpers/storage.ts';
import { pseudoRandom } from '../fixtures/images.ts';

/** The config file's `storage` key for a fresh prefix of the test bucket. */
function s3Destination() {
  const { partBytes, ...s3 } = freshStorage('s3').s3!;
  return { driver: 's3', s3: { ...s3, partSize: partBytes } };
}

async function finished(api: ApiClient): Promise<StorageCopyStatus> {
  let status: StorageCopyStatus | null = null;
  await waitFor(async () => {
    status = await api.json<StorageCopyStatus>('/api/storage/copy');
    return status.state !== 'running';
  }, 'the copy to finish', 120_000);
  return status!;
}

async function post(api: ApiClient, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await api.fetch('/api/storage/copy', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('copy to another store through the management API', { skip: missingServer('s3') ?? false, timeout: 300_000 }, () => {
  let work: string;
  let source: TestServer;
  let api: ApiClient;
  const servers: TestServer[] = [];

  before(async () => {
    work = await tempDir('berth-copy-api-');
    source = await startServer({ dataDir: path.join(work, 'source'), storage: freshStorage('filesystem') });
    servers.push(source);
    api = new ApiClient(source.url);
    const client = new Client(source.url);
    await client.pushImage('apps/web', 'v1', { layer: pseudoRandom('copy-api-web', 6 * 1024 * 1024 + 1).toString('latin1') });
    await client.pushImage('tools', 'latest');
  });
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('copies to S3 while pushes go on; a registry on the bucket pulls every tag whole, and a second copy catches up', async () => {
    const destination = s3Destination();
    const before = await pullAll(source.url);
    const started = await post(api, { storage: destination });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    assert.equal(started.json.state, 'running');
    assert.equal(started.json.from, source.dataDir);
    assert.match(String(started.json.to), new RegExp(`^s3://${destination.s3.bucket}/${destination.s3.prefix}`));
    assert.doesNotMatch(JSON.stringify(started.json), new RegExp(destination.s3.secretAccessKey!), 'the credentials are never shown back');

    // Pushes while the copy runs: each a new repository, until the copy has finished.
    const client = new Client(source.url);
    let pushes = 0;
    let status = (await api.json<StorageCopyStatus>('/api/storage/copy'));
    while (status.state === 'running') {
      await client.pushImage(`during/p${pushes}`, 'v1');
      pushes += 1;
      status = await api.json<StorageCopyStatus>('/api/storage/copy');
    }
    assert.equal(status.state, 'succeeded', status.error ?? '');
    assert.ok(status.result!.blobs.copied >= 6, JSON.stringify(status.result));
    assert.ok(status.result!.tags.copied >= 2);
    assert.deepEqual(status.result!.corrupt, []);
    assert.equal(status.progress, null);

    // Whatever the copy took of the pushes made meanwhile, each tag at the destination pulls whole.
    const onBucket = await startServer({ dataDir: path.join(work, 'on-bucket-1'), storage: { ...freshStorage('s3'), s3: { ...freshStorage('s3').s3!, prefix: destination.s3.prefix } } });
    servers.push(onBucket);
    const copied = await pullAll(onBucket.url);
    for (const [repo, tags] of before.tags) assert.deepEqual(copied.tags.get(repo), tags, `${repo} copied`);
    for (const [key, bytes] of before.manifests) assert.ok(copied.manifests.get(key)?.equals(bytes), key);

    // Run again: it copies only what changed since, and the bucket then pulls exactly what the source does.
    const again = await post(api, { storage: destination });
    assert.equal(again.status, 202, JSON.stringify(again.json));
    const second = await finished(api);
    assert.equal(second.state, 'succeeded', second.error ?? '');
    assert.ok(second.result!.blobs.skipped >= 6, 'what was copied is skipped');
    const fresh = await startServer({ dataDir: path.join(work, 'on-bucket-2'), storage: { ...freshStorage('s3'), s3: { ...freshStorage('s3').s3!, prefix: destination.s3.prefix } } });
    servers.push(fresh);
    assertSame(await pullAll(source.url), await pullAll(fresh.url));
  });

  it('copies to a data directory, whose registry then pulls byte-identical', async () => {
    const dir = path.join(work, 'copy-on-disk');
    const started = await post(api, { storage: { driver: 'filesystem' }, dataDir: dir });
    assert.equal(started.status, 202, JSON.stringify(started.json));
    assert.equal((await finished(api)).state, 'succeeded');
    const onDisk = await startServer({ dataDir: dir, storage: freshStorage('filesystem') });
    servers.push(onDisk);
    assertSame(await pullAll(source.url), await pullAll(onDisk.url));
  });

  it('refuses what cannot be a destination, saying why, and starts nothing', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ storage: { driver: 's3', s3: { bucket: 'Bad_Bucket' } } }, 400, /"Bad_Bucket" is not a valid bucket name/],
      [{ storage: { driver: 'tape' } }, 400, /"tape" is not one of filesystem, s3, azure/],
      [{ storage: s3Destination(), extra: 1 }, 400, /unknown field "extra"/],
      [{ storage: s3Destination(), dataDir: '/tmp/x' }, 400, /"dataDir" is only for a filesystem destination/],
      [{ storage: { driver: 'filesystem' } }, 400, /needs "dataDir": the absolute path/],
      [{ storage: { driver: 'filesystem' }, dataDir: 'relative/dir' }, 400, /needs "dataDir": the absolute path/],
      [{ storage: { driver: 'filesystem' }, dataDir: source.dataDir }, 400, /this registry's data directory or overlaps it/],
      [{ storage: { driver: 'filesystem' }, dataDir: path.join(source.dataDir, 'inside') }, 400, /overlaps it/],
      [{ storage: { driver: 'filesystem' }, dataDir: servers.at(-1)!.dataDir }, 409, /a Berth server \(pid \d+\) uses .*: stop it first/],
      [{ storage: { driver: 's3', s3: { ...s3Destination().s3, endpoint: 'http://127.0.0.1:1' } } }, 400, /^the destination cannot be used: /],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(api, body);
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${JSON.stringify(res.json)}`);
      const errors = res.json.errors as { message: string }[];
      assert.match(errors[0]!.message, message);
    }
    assert.equal((await api.json<StorageCopyStatus>('/api/storage/copy')).state, 'succeeded', 'the last copy is still the one shown');
    const noClient = await api.fetch('/api/storage/copy', { method: 'POST', client: false, body: JSON.stringify({ storage: s3Destination() }) });
    assert.equal(noClient.status, 403, 'a change without X-Berth-Client (a cross-site page) is refused');
  });

  it('a data directory switched to another store rebuilds its index: listings show that store, not the last one', async () => {
    const dir = path.join(work, 'switched');
    const first = await startServer({ dataDir: dir, storage: freshStorage('filesystem') });
    await new Client(first.url).pushImage('only-on-disk', 'v1');
    await first.close();
    const onBucket = await startServer({ dataDir: dir, storage: freshStorage('s3') });
    servers.push(onBucket);
    assert.deepEqual((await new Client(onBucket.url).catalog()).repositories, [], 'an empty bucket lists nothing');
    await onBucket.close();
    servers.pop();
    const back = await startServer({ dataDir: dir, storage: freshStorage('filesystem') });
    servers.push(back);
    assert.deepEqual((await new Client(back.url).catalog()).repositories, ['only-on-disk']);
  });
});

describe('the copy service', () => {
  it('runs one copy at a time, and a shutdown stops one in progress at its next object, saying how to finish', async () => {
    const work = await tempDir('berth-copy-service-');
    try {
      const registry = await startServer({ dataDir: path.join(work, 'source'), storage: freshStorage('filesystem') });
      const client = new Client(registry.url);
      for (let i = 0; i < 3; i++) await client.pushImage('gated', `v${i}`);
      await registry.close();
      // The source's reads wait at a gate the test opens: the copy is in progress for as long as needed.
      const source = new FilesystemDriver(path.join(work, 'source'));
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let reading = false;
      const readStream = source.readStream.bind(source);
      source.readStream = async (key) => {
        reading = true;
        await gate;
        return readStream(key);
      };
      const service = new StorageCopyService({ source, dataDir: path.join(work, 'source'), log: pino({ level: 'silent' }) });
      const first = await service.start({ storage: { driver: 'filesystem' }, dataDir: path.join(work, 'one') });
      assert.equal(first.state, 'running');
      await waitFor(() => reading, 'the copy to read its first blob');
      await assert.rejects(service.start({ storage: { driver: 'filesystem' }, dataDir: path.join(work, 'two') }), (err: RegistryError) => {
        assert.equal(err.code, 'CONFLICT');
        assert.match(err.message, /a copy to .*one is already running/);
        return true;
      });
      const closing = service.close();
      open();
      await closing;
      const ended = service.current();
      assert.equal(ended.state, 'failed');
      assert.match(ended.error ?? '', /Berth stopped during the copy; .* run the copy again to finish it/);
      await assert.rejects(service.start({ storage: { driver: 'filesystem' }, dataDir: path.join(work, 'two') }), /Berth is stopping/);
      await source.close();
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});
