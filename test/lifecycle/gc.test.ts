/**
 * Garbage collection through the management API against a real server: it frees exactly the bytes
 * nothing references (checked against the files on disk), a dry run reports exactly what the real run
 * then removes, the grace window protects recent content, untagged manifests go only when asked and
 * never take a tagged index's children or a kept manifest's referrers, and the index follows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, OCI_CONFIG, OCI_EMPTY, OCI_LAYER, OCI_MANIFEST, descriptor, expectError, imageIndex, imageManifest, sha256, OCI_INDEX } from '../helpers/registry-client.ts';
import { HOUR_MS, age, apiCall, assertEveryTagPulls, assertPulls, blobFiles, runGc, totalSize } from '../helpers/lifecycle.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/** Pushes config + layers + an OCI manifest under `reference`; returns every digest involved. */
async function pushImage(client: Client, repo: string, reference: string, layers: string[], platform = 'amd64') {
  const config = JSON.stringify({ architecture: platform, os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, repo, reference });
  await client.pushBlob(repo, config);
  for (const layer of layers) await client.pushBlob(repo, layer);
  const manifest = imageManifest(descriptor(OCI_CONFIG, config), layers.map((l) => descriptor(OCI_LAYER, l)));
  const digest = await client.pushManifest(repo, reference, manifest);
  return { digest, manifest, size: Buffer.byteLength(manifest), config: sha256(config), layers: layers.map((l) => sha256(l)) };
}

describe('garbage collection', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  async function restart(): Promise<void> {
    await server.close();
    server = await startServer({ dataDir: server.dataDir });
    client = new Client(server.url);
  }

  it('frees exactly the unreferenced bytes, and the dry run equals the real run', async () => {
    const shared = 'layer shared by v1 and v2 '.repeat(100);
    const a = await pushImage(client, 'exact/app', 'v1', [shared, 'only in v1 '.repeat(300)]);
    const b = await pushImage(client, 'exact/app', 'v2', [shared, 'only in v2 '.repeat(500)]);
    const orphan = await client.pushBlob('exact/app', 'uploaded but never used in a manifest '.repeat(50));
    // Deleting v2 by digest leaves its config, its own layer and its manifest body referenced by nothing.
    assert.equal((await client.deleteManifest('exact/app', b.digest)).status, 202);
    // Two hours later: the files are older than the grace window, and the server has restarted (it
    // remembers recent pushes in memory too, see link-guard.ts).
    await age(server.dataDir, 2 * HOUR_MS);
    await restart();

    const before_ = await blobFiles(server.dataDir);
    const garbage = [b.digest, b.config, b.layers[1]!, orphan].sort();
    const preview = await runGc(client, { dryRun: true });
    assert.deepEqual(preview.removed.blobs.map((x) => x.digest), garbage);
    assert.equal(preview.bytesFreed, totalSize(before_, garbage));
    assert.deepEqual(preview.removed.layerLinks.map((l) => l.digest).sort(), [b.config, b.layers[1]!, orphan].sort());
    assert.deepEqual(await blobFiles(server.dataDir), before_, 'a dry run removes nothing');

    const real = await runGc(client);
    assert.deepEqual(real.removed, preview.removed, 'the real run removes what the dry run reported');
    assert.deepEqual(real.counts, preview.counts);
    assert.equal(real.bytesFreed, preview.bytesFreed);
    assert.deepEqual(real.skipped, []);

    const after_ = await blobFiles(server.dataDir);
    assert.deepEqual([...after_.keys()].sort(), [...before_.keys()].filter((d) => !garbage.includes(d)).sort(), 'exactly the garbage is gone');
    assert.equal(totalSize(before_) - totalSize(after_), real.bytesFreed, 'bytes freed = bytes gone from disk');
    await assertPulls(client, 'exact/app', 'v1');
    assert.equal((await client.headBlob('exact/app', orphan)).status, 404, 'the cache forgot the deleted blob');
    assert.equal((await client.headBlob('exact/app', b.layers[1]!)).status, 404);

    const again = await runGc(client);
    assert.equal(again.bytesFreed, 0, 'nothing left to free');
    assert.equal(again.kept.blobs, after_.size, 'everything left is in use');
    // A deleted blob can be pushed again.
    assert.equal(await client.pushBlob('exact/app', 'uploaded but never used in a manifest '.repeat(50)), orphan);
    assert.equal((await client.getBlob('exact/app', orphan)).status, 200);
  });

  it('keeps what is younger than the grace window', async () => {
    const fresh = await client.pushBlob('grace/app', 'pushed a moment ago, its manifest still to come');
    const report = await runGc(client, { dryRun: true });
    assert.ok(!report.removed.blobs.some((b) => b.digest === fresh), 'protected by the default 1 h grace window');
    assert.ok(report.protected.blobs >= 1);
    const now = await runGc(client, { grace: '0s' });
    assert.ok(now.removed.blobs.some((b) => b.digest === fresh), 'with no grace window it goes');
  });

  it('keeps untagged manifests unless asked, and then never a tagged index\'s children or a kept manifest\'s referrers', async () => {
    const repo = 'multi/app';
    const amd64 = await pushImageByDigest(client, repo, ['amd64 layer'], 'amd64');
    const arm64 = await pushImageByDigest(client, repo, ['arm64 layer'], 'arm64');
    const index = imageIndex([
      descriptor(OCI_MANIFEST, amd64.manifest, { platform: { architecture: 'amd64', os: 'linux' } }),
      descriptor(OCI_MANIFEST, arm64.manifest, { platform: { architecture: 'arm64', os: 'linux' } }),
    ]);
    const indexDigest = await client.pushManifest(repo, 'v1', index, OCI_INDEX);
    // Another tag on one child, and a signature-like referrer on each child.
    assert.equal((await client.putManifest(repo, 'amd64-only', amd64.manifest)).status, 201);
    const onAmd = await pushReferrer(client, repo, amd64, 'signature of amd64');
    const onArm = await pushReferrer(client, repo, arm64, 'signature of arm64');

    const tagged = await runGc(client, { untagged: true, grace: '0s', dryRun: true });
    assert.deepEqual(tagged.removed.manifests.filter((m) => m.repository === repo), [], 'a tagged index keeps its children and their referrers');
    const without = await runGc(client, { grace: '0s', dryRun: true });
    assert.deepEqual(without.removed.manifests, [], 'untagged manifests stay unless asked for');

    // Untag the index: with --untagged it goes, and so does the arm64 child nothing else tags, with its
    // referrer; the amd64 child keeps its tag, its layers and its referrer.
    assert.equal((await client.deleteManifest(repo, 'v1')).status, 202);
    const before_ = await blobFiles(server.dataDir);
    const report = await runGc(client, { untagged: true, grace: '0s' });
    assert.deepEqual(
      report.removed.manifests.filter((m) => m.repository === repo).map((m) => m.digest).sort(),
      [indexDigest, arm64.digest, onArm].sort(),
    );
    const gone = report.removed.blobs.map((b) => b.digest);
    for (const d of [indexDigest, arm64.digest, arm64.config, ...arm64.layers, onArm]) assert.ok(gone.includes(d), `${d} freed`);
    for (const d of [amd64.digest, amd64.config, ...amd64.layers, onAmd]) assert.ok(!gone.includes(d), `${d} kept`);
    assert.equal(report.bytesFreed, totalSize(before_, gone));

    await assertPulls(client, repo, 'amd64-only');
    await expectError(await client.getManifest(repo, indexDigest), 404, 'MANIFEST_UNKNOWN');
    const referrers = (await (await client.fetch(`/v2/${repo}/referrers/${amd64.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [onAmd]);
    const armReferrers = (await (await client.fetch(`/v2/${repo}/referrers/${arm64.digest}`)).json()) as { manifests: unknown[] };
    assert.deepEqual(armReferrers.manifests, [], 'the index forgot the removed referrer');
    const { tags } = await client.listTags(repo);
    assert.deepEqual(tags, ['amd64-only']);
  });

  it('removes repositories left with nothing, from disk and from the catalog', async () => {
    await client.pushBlob('empty/soon', 'a blob no manifest will ever use');
    assert.ok((await client.catalog()).repositories.includes('empty/soon'));
    const report = await runGc(client, { grace: '0s' });
    assert.ok(report.removed.repositories.includes('empty/soon'));
    assert.ok(!(await client.catalog()).repositories.includes('empty/soon'));
    await assert.rejects(fs.access(path.join(server.dataDir, 'repositories', 'empty', 'soon')));
    await assert.rejects(fs.access(path.join(server.dataDir, 'repositories', 'empty')), 'empty parent folders go too');
    // The name can be used again.
    await pushImage(client, 'empty/soon', 'v1', ['back again']);
    await assertPulls(client, 'empty/soon', 'v1');
  });

  it('leaves every tag pullable', async () => {
    assert.ok((await assertEveryTagPulls(client)) >= 3);
  });
});

/** An image pushed by digest only (a child of an index). */
async function pushImageByDigest(client: Client, repo: string, layers: string[], platform: string) {
  const config = JSON.stringify({ architecture: platform, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  await client.pushBlob(repo, config);
  for (const layer of layers) await client.pushBlob(repo, layer);
  const manifest = imageManifest(descriptor(OCI_CONFIG, config), layers.map((l) => descriptor(OCI_LAYER, l)));
  const digest = await client.pushManifest(repo, sha256(manifest), manifest);
  return { digest, manifest, config: sha256(config), layers: layers.map((l) => sha256(l)) };
}

/** An artifact whose subject is `subject`, pushed by digest (untagged, like cosign's and notation's). */
async function pushReferrer(client: Client, repo: string, subject: { digest: string; manifest: string }, content: string): Promise<string> {
  await client.pushBlob(repo, '{}');
  await client.pushBlob(repo, content);
  const artifact = imageManifest(descriptor(OCI_EMPTY, '{}'), [descriptor('application/vnd.example.signature', content)], {
    artifactType: 'application/vnd.example.signature',
    subject: descriptor(OCI_MANIFEST, subject.manifest),
  });
  return client.pushManifest(repo, sha256(artifact), artifact);
}
