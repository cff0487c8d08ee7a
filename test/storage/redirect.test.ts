/**
 * storage.redirect on S3 and Azure: blob GETs answer 307 to a presigned URL of the store, which serves
 * the bytes (and Range) itself; HEAD and manifests stay with Berth; an unknown blob is still 404.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Client, expectError, sha256 } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { freshStorage, missingServer } from '../helpers/storage.ts';

for (const driver of ['s3', 'azure'] as const) {
  describe(`blob downloads redirected to the store: ${driver}`, { skip: missingServer(driver) ?? false }, () => {
    let server: TestServer | undefined;
    after(() => server?.close({ remove: true }));

    it('answers GET with 307 to a presigned URL that serves the blob and its ranges', async () => {
      server = await startServer({ storage: { ...freshStorage(driver), redirect: true } });
      const client = new Client(server.url);
      const layer = randomBytes(300_000);
      const digest = await client.pushBlob('redirect/app', layer);
      const res = await client.fetch(`/v2/redirect/app/blobs/${digest}`, { redirect: 'manual' });
      assert.equal(res.status, 307);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      const location = res.headers.get('location')!;
      assert.ok(!location.startsWith(server.url), `the store's own URL: ${location}`);
      const whole = await fetch(location);
      assert.equal(whole.status, 200);
      assert.ok(Buffer.from(await whole.arrayBuffer()).equals(layer));
      const part = await fetch(location, { headers: { Range: 'bytes=100-199' } });
      assert.equal(part.status, 206);
      assert.ok(Buffer.from(await part.arrayBuffer()).equals(layer.subarray(100, 200)));
      // A client that follows redirects (as registry clients do) just gets the bytes.
      assert.equal(sha256(Buffer.from(await (await client.getBlob('redirect/app', digest)).arrayBuffer())), digest);
      const head = await client.headBlob('redirect/app', digest);
      assert.equal(head.status, 200, 'HEAD is answered by Berth');
      assert.equal(head.headers.get('content-length'), String(layer.length));
      await expectError(await client.fetch(`/v2/redirect/app/blobs/${sha256('absent')}`, { redirect: 'manual' }), 404, 'BLOB_UNKNOWN');
      await expectError(await client.fetch(`/v2/other/blobs/${digest}`, { redirect: 'manual' }), 404, 'BLOB_UNKNOWN');
    });
  });
}
