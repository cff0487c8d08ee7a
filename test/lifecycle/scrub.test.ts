/**
 * Integrity scrub: a blob file whose bytes were changed on disk is found, reported with who uses it,
 * and moved to quarantine/; the registry keeps serving everything else, answers 404 for the
 * quarantined blob instead of wrong bytes, and a push of the same content restores it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../helpers/registry-client.ts';
import { assertPulls, runScrub } from '../helpers/lifecycle.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

function blobPath(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

describe('integrity scrub', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  it('finds nothing wrong in an intact registry', async () => {
    await client.pushImage('scrub/intact', 'v1');
    const report = await runScrub(client);
    assert.equal(report.clean, true);
    assert.ok(report.checked.blobs >= 3 && report.checked.tags >= 1 && report.checked.manifests >= 1);
  });

  it('quarantines a corrupt blob, keeps serving the rest, and takes the content back on a push', async () => {
    const bad = await client.pushImage('scrub/app', 'bad', { layer: 'the layer that rots on disk' });
    await client.pushImage('scrub/app', 'good', { layer: 'a layer that stays intact' });
    // Read once, so a cache holds its size: the scrub must not be fooled, nor leave the cache stale.
    assert.equal((await client.headBlob('scrub/app', bad.manifest.layers[0]!.digest)).status, 200);
    const file = blobPath(server.dataDir, bad.manifest.layers[0]!.digest);
    await fs.writeFile(file, 'the layer that rots on dusk');

    const report = await runScrub(client);
    assert.equal(report.clean, false);
    assert.equal(report.corrupt.length, 1);
    const [corrupt] = report.corrupt;
    assert.equal(corrupt!.digest, bad.manifest.layers[0]!.digest);
    assert.deepEqual(corrupt!.usedBy, [{ repository: 'scrub/app', as: 'layer' }]);
    assert.ok(corrupt!.quarantinedTo!.startsWith(path.join(server.dataDir, 'quarantine', 'sha256')));
    assert.equal(await fs.readFile(corrupt!.quarantinedTo!, 'utf8'), 'the layer that rots on dusk', 'the bad bytes are kept for inspection');
    await assert.rejects(fs.access(file), 'moved out of the store');
    assert.ok(report.missing.some((m) => m.digest === corrupt!.digest && m.reference === bad.digest), 'the manifest that needs it is reported');

    assert.equal((await client.headBlob('scrub/app', corrupt!.digest)).status, 404, 'never serves the wrong bytes');
    await assertPulls(client, 'scrub/app', 'good');

    await client.pushBlob('scrub/app', 'the layer that rots on disk');
    await assertPulls(client, 'scrub/app', 'bad');
    assert.equal((await runScrub(client)).clean, true);
  });

  it('reports a manifest whose content is corrupt', async () => {
    const image = await client.pushImage('scrub/manifest', 'v1');
    await fs.writeFile(blobPath(server.dataDir, image.digest), '{"schemaVersion": 2, "tampered": true}');
    const report = await runScrub(client);
    assert.deepEqual(report.corrupt.map((c) => c.digest), [image.digest]);
    assert.deepEqual(report.corrupt[0]!.usedBy, [{ repository: 'scrub/manifest', as: 'manifest' }]);
    assert.ok(report.missing.some((m) => m.repository === 'scrub/manifest' && m.problem === 'the manifest content is missing'));
    assert.equal((await client.getManifest('scrub/manifest', 'v1')).status, 404, 'never serves the tampered manifest');
    // Pushing the manifest again restores it.
    assert.equal((await client.putManifest('scrub/manifest', 'v1', image.bytes)).status, 201);
    await assertPulls(client, 'scrub/manifest', 'v1');
    assert.equal((await runScrub(client)).clean, true);
  });
});
