/**
 * `berth storage copy` (the shipped CLI): a registry on disk copied to S3 and back to a new data
 * directory pulls byte-identical (manifests, blobs, tags with their push times); the copy is verified
 * (a corrupt source blob is refused), resumable (a second run copies nothing) and shows progress; and a
 * registry serves from the bucket it was copied to.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../server/storage/paths.ts';
import { parseDigest } from '../../server/registry/reference.ts';
import { runBerth } from '../helpers/berth-process.ts';
import { assertSame, pullAll, type Pulled } from '../helpers/pull-all.ts';
import { Client, OCI_MANIFEST, sha256 } from '../helpers/registry-client.ts';
import { startServer, tempDir, type TestServer } from '../helpers/server.ts';
import { freshStorage, missingServer } from '../helpers/storage.ts';
import { pseudoRandom } from '../fixtures/images.ts';

describe('berth storage copy: filesystem -> s3 -> filesystem', { skip: missingServer('s3') ?? false, timeout: 300_000 }, () => {
  let work: string;
  let source: TestServer;
  let original: Pulled;
  let s3Config: string;
  const s3 = freshStorage('s3').s3!;
  const servers: TestServer[] = [];

  before(async () => {
    work = await tempDir('berth-migration-');
    source = await startServer({ dataDir: path.join(work, 'from'), storage: freshStorage('filesystem') });
    const client = new Client(source.url);
    // Images with layers bigger than a part, a multi-arch index, a nested repository, several tags.
    for (const [i, repo] of ['apps/web', 'apps/web/nested', 'tools'].entries()) {
      const layer = pseudoRandom(`migration-${repo}`, (6 + i) * 1024 * 1024 + i);
      const digest = await client.pushBlob(repo, layer);
      const config = JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] }, n: i });
      const configDigest = await client.pushBlob(repo, config);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: layer.length }],
      });
      await client.pushManifest(repo, 'v1', manifest);
      await client.pushManifest(repo, 'latest', manifest);
    }
    await client.pushImage('tools', 'small');
    original = await pullAll(source.url);
    await source.close();

    s3Config = path.join(work, 's3.json');
    await fs.writeFile(s3Config, JSON.stringify({ data: 'via-s3-data', storage: { driver: 's3', s3: { ...s3, partSize: s3.partBytes, partBytes: undefined } } }));
  });
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('copies to S3 with progress, verified, and a registry on the bucket serves it byte-identical', async () => {
    const copied = await runBerth(['storage', 'copy', '--from', source.dataDir, '--to', s3Config, '--json']);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stderr, /copying .* -> s3:\/\//);
    assert.match(copied.stderr, /blobs \d+\/\d+ \(/, 'progress');
    const report = JSON.parse(copied.stdout) as { blobs: { copied: number }; tags: { copied: number }; corrupt: unknown[] };
    assert.ok(report.blobs.copied > original.blobs.size, 'every layer and config, and the manifests (blobs too)');
    assert.equal(report.tags.copied, [...original.tags.values()].flat().length);
    assert.deepEqual(report.corrupt, []);

    const onS3 = await startServer({ dataDir: path.join(work, 'via-s3-data'), storage: { ...freshStorage('s3'), s3 } });
    assertSame(original, await pullAll(onS3.url));
    await onS3.close();
  });

  it('a second run copies nothing: it resumes, skipping what is there and verified', async () => {
    const again = await runBerth(['storage', 'copy', '--from', source.dataDir, '--to', s3Config, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const report = JSON.parse(again.stdout) as { blobs: { copied: number; skipped: number }; links: { copied: number }; tags: { copied: number } };
    assert.equal(report.blobs.copied, 0);
    assert.equal(report.links.copied, 0);
    assert.equal(report.tags.copied, 0);
    assert.ok(report.blobs.skipped > 0);
  });

  it('copies back to a new data directory: the registry pulls byte-identical', async () => {
    const back = path.join(work, 'back');
    const copied = await runBerth(['storage', 'copy', '--from', s3Config, '--to', back]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, /^Copied \d+ blobs/);
    const onDisk = await startServer({ dataDir: back, storage: freshStorage('filesystem') });
    servers.push(onDisk);
    assertSame(original, await pullAll(onDisk.url));
  });

  it('refuses a corrupt source blob (it stays behind, reported), and copies the rest', async () => {
    const corruptFrom = path.join(work, 'corrupt');
    const server = await startServer({ dataDir: corruptFrom, storage: freshStorage('filesystem') });
    const client = new Client(server.url);
    const image = await client.pushImage('bad/app', 'v1', { layer: 'x'.repeat(4000) });
    await server.close();
    const layerFile = path.join(corruptFrom, ...keys.blob(parseDigest(sha256(image.layer))).split('/'));
    await fs.writeFile(layerFile, 'y'.repeat(4000));
    const to = path.join(work, 'corrupt-to');
    const copied = await runBerth(['storage', 'copy', '--from', corruptFrom, '--to', to]);
    assert.equal(copied.code, 1, copied.stdout + copied.stderr);
    assert.match(copied.stdout, new RegExp(`not copied: blob ${sha256(image.layer)} in the source has digest ${sha256('y'.repeat(4000))}`));
    await assert.rejects(fs.access(path.join(to, ...keys.blob(parseDigest(sha256(image.layer))).split('/'))), 'the corrupt blob is not in the destination');
    await fs.access(path.join(to, ...keys.blob(parseDigest(image.digest)).split('/')));
  });
});
