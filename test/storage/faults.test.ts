/**
 * What a bucket or container does to a registry when it misbehaves, on S3 (Swift + s3api) and Azure
 * (Azurite): wrong credentials, a missing bucket and an endpoint that is down at start (`berth serve`
 * says so in one line), an endpoint that goes down in the middle of a push (a clear error, nothing half
 * written, the push completes once the store is back), and throttling answers (retried with backoff:
 * the push completes). The faults come from a proxy in front of the real server (helpers/fault-proxy.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { StorageConfig } from '../../server/storage/config.ts';
import { freePort, runBerth } from '../helpers/berth-process.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { Client, expectError, sha256 } from '../helpers/registry-client.ts';
import { startServer, tempDir, type TestServer } from '../helpers/server.ts';
import { freshStorage, missingServer } from '../helpers/storage.ts';

const MiB = 1024 * 1024;

/** The same store, reached through `url` instead (the proxy), with the SDK's retries kept short. */
function through(storage: StorageConfig, url: string): StorageConfig {
  if (storage.s3) return { ...storage, s3: { ...storage.s3, endpoint: url } };
  const azure = storage.azure!;
  return { ...storage, azure: { ...azure, connectionString: azure.connectionString!.replace(/BlobEndpoint=http:\/\/[^/]+/, `BlobEndpoint=${url}`) } };
}

function upstreamOf(storage: StorageConfig): string {
  if (storage.s3) return storage.s3.endpoint!;
  return /BlobEndpoint=(http:\/\/[^/;]+)/.exec(storage.azure!.connectionString!)![1]!;
}

/** `berth serve` with these storage settings in a config file; resolves with its exit and stderr. */
async function serveWith(storage: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  const dir = await tempDir('berth-fault-cli-');
  try {
    const config = path.join(dir, 'berth.json');
    await fs.writeFile(config, JSON.stringify({ data: 'data', storage }));
    // The process must end by itself: a good start would listen (and this test would time out).
    const { code, stderr } = await runBerth(['serve', '--config', config, '--port', String(await freePort())], { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', ...env });
    return { code, stderr };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The config file's storage object for these settings (what a user would write). */
function asFile(storage: StorageConfig, change: Record<string, unknown> = {}): Record<string, unknown> {
  if (storage.s3) {
    const s = storage.s3;
    return { driver: 's3', s3: { endpoint: s.endpoint, bucket: s.bucket, region: s.region, prefix: s.prefix, forcePathStyle: true, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, ...change } };
  }
  const a = storage.azure!;
  return { driver: 'azure', azure: { connectionString: a.connectionString, container: a.container, prefix: a.prefix, ...change } };
}

for (const driver of ['s3', 'azure'] as const) {
  describe(`storage faults: ${driver}`, { skip: missingServer(driver) ?? false, timeout: 300_000 }, () => {
    const servers: TestServer[] = [];
    const proxies: FaultProxy[] = [];
    after(async () => {
      for (const s of servers) await s.close({ remove: true }).catch(() => undefined);
      for (const p of proxies) await p.close();
    });

    it('berth serve says in one line when the credentials are refused', async () => {
      const storage = freshStorage(driver);
      const wrong = driver === 's3'
        ? asFile(storage, { secretAccessKey: 'not-the-secret' })
        : asFile(storage, { connectionString: storage.azure!.connectionString!.replace(/AccountKey=[^;]+/, `AccountKey=${randomBytes(64).toString('base64')}`) });
      const { code, stderr } = await serveWith(wrong);
      assert.equal(code, 1, stderr);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, driver === 's3' ? /^berth: storage: S3 refused the credentials for bucket "berth-test"/ : /^berth: storage: Azure refused the credentials for container "berth-test"/);
    });

    it('berth serve says in one line when the bucket or container is missing (and may not be created)', async () => {
      const storage = freshStorage(driver);
      const missing = driver === 's3' ? asFile(storage, { bucket: 'no-such-bucket', createBucket: false }) : asFile(storage, { container: 'no-such-container', createContainer: false });
      const { code, stderr } = await serveWith(missing);
      assert.equal(code, 1, stderr);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, driver === 's3' ? /S3 bucket "no-such-bucket" does not exist at/ : /Azure container "no-such-container" does not exist at/);
    });

    it('creates a missing bucket or container when allowed', async () => {
      const storage = freshStorage(driver);
      const name = `made-${randomBytes(4).toString('hex')}`;
      const config: StorageConfig = storage.s3 ? { ...storage, s3: { ...storage.s3, bucket: name } } : { ...storage, azure: { ...storage.azure!, container: name } };
      const server = await startServer({ storage: config });
      servers.push(server);
      const client = new Client(server.url);
      const image = await client.pushImage('made/app', 'v1');
      assert.equal((await client.getManifest('made/app', image.digest)).status, 200);
    });

    it('berth serve says in one line when the endpoint is unreachable', async () => {
      const storage = freshStorage(driver);
      const dead = `http://127.0.0.1:${await freePort()}`;
      const { code, stderr } = await serveWith(asFile(through(storage, dead)));
      assert.equal(code, 1, stderr);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, driver === 's3' ? /S3 endpoint http:\/\/127\.0\.0\.1:\d+ is unreachable/ : /Azure endpoint http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1 is unreachable/);
    });

    it('a store that goes down mid-push: a clear error, nothing half-written, and the push completes once it is back', async () => {
      const storage = freshStorage(driver);
      const proxy = await startFaultProxy(upstreamOf(storage));
      proxies.push(proxy);
      const server = await startServer({ storage: through(storage, proxy.url) });
      servers.push(server);
      const client = new Client(server.url);
      const blob = randomBytes(12 * MiB);
      const digest = sha256(blob);

      const location = await client.startUpload('down/app');
      const first = await client.pushChunk(location, blob.subarray(0, 6 * MiB), [0, 6 * MiB - 1]);
      assert.equal(first.status, 202);
      proxy.down();
      // The store is gone for the next chunk: the registry answers it, and says why.
      const cut = await client.pushChunk(first.headers.get('location')!, blob.subarray(6 * MiB), [6 * MiB, blob.length - 1]);
      await expectError(cut, 503, 'UNAVAILABLE');
      await expectError(await client.getBlob('down/app', digest), 503, 'UNAVAILABLE');
      const health = await fetch(`${server.url}/healthz`);
      assert.equal(health.status, 503);
      assert.match(((await health.json()) as { problem: string }).problem, /storage is unreachable/);

      proxy.up();
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      assert.equal((await client.headBlob('down/app', digest)).status, 404, 'no blob appeared');
      // The session kept what the store had acknowledged: resume from its Range.
      const status = await client.uploadStatus(location);
      assert.equal(status.headers.get('range'), `0-${6 * MiB - 1}`);
      const rest = await client.pushChunk(status.headers.get('location')!, blob.subarray(6 * MiB), [6 * MiB, blob.length - 1]);
      assert.equal(rest.status, 202);
      const done = await client.finishUpload(rest.headers.get('location')!, digest);
      assert.equal(done.status, 201);
      const pulled = await client.getBlob('down/app', digest);
      assert.ok(Buffer.from(await pulled.arrayBuffer()).equals(blob), 'byte-identical after the outage');
    });

    it('retries throttling answers (503 slow down / server busy) with backoff: pushes and pulls complete', async () => {
      const storage = freshStorage(driver);
      const proxy = await startFaultProxy(upstreamOf(storage));
      proxies.push(proxy);
      const server = await startServer({ storage: through(storage, proxy.url) });
      servers.push(server);
      proxy.throttleEvery(3, driver);
      const client = new Client(server.url);
      const layer = randomBytes(11 * MiB);
      // Chunked, as clients push: parts, a pending tail, the commit and the server-side copy all meet 503s.
      const location = await client.startUpload('slow/app');
      const first = await client.pushChunk(location, layer.subarray(0, 7 * MiB), [0, 7 * MiB - 1]);
      assert.equal(first.status, 202);
      const second = await client.pushChunk(first.headers.get('location')!, layer.subarray(7 * MiB), [7 * MiB, layer.length - 1]);
      assert.equal(second.status, 202);
      assert.equal((await client.finishUpload(second.headers.get('location')!, sha256(layer))).status, 201);
      const image = await client.pushImage('slow/app', 'v1');
      const pulled = await client.getBlob('slow/app', sha256(layer));
      assert.equal(pulled.status, 200);
      assert.ok(Buffer.from(await pulled.arrayBuffer()).equals(layer), 'byte-identical');
      assert.equal((await client.getManifest('slow/app', image.digest)).status, 200);
      assert.ok(proxy.throttled >= 5, `the store throttled ${proxy.throttled} requests`);
    });
  });
}
