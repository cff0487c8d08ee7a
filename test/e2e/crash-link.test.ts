/**
 * The shipped `berth serve` after a crash that left a tag without its revision link (what a power
 * loss between a push's last two folder syncs can leave: DriverRepositoryStore.commitTagged): killed
 * with SIGKILL, the link removed as the lost sync would have it, started again. The index rebuild of
 * the unclean start puts the link back and the tag pulls, by tag and by digest.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { Client, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, imageManifest } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';

describe('a tag without its revision link after a crash', { timeout: 120_000 }, () => {
  let work: string;
  let berth: BerthProcess | null = null;
  before(async () => {
    work = await tempDir('berth-crash-link-');
  });
  after(async () => {
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('is linked back by the rebuild of the next start, and pulls', async () => {
    const dataDir = path.join(work, 'data');
    berth = await startBerth({ dataDir });
    let client = new Client(berth.url);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const layer = 'the layer of a push cut short';
    await client.pushBlob('cut/short', config);
    await client.pushBlob('cut/short', layer);
    const manifest = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]);
    const digest = await client.pushManifest('cut/short', 'v1', manifest);
    await berth.kill9();
    berth = null;
    const link = path.join(dataDir, 'repositories', 'cut', 'short', '_manifests', 'revisions', 'sha256', digest.slice('sha256:'.length));
    await fs.rm(link);

    berth = await startBerth({ dataDir });
    client = new Client(berth.url);
    await berth.waitForOutput(/put back/);
    for (const reference of ['v1', digest]) {
      const res = await fetch(`${berth.url}/v2/cut/short/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(res.status, 200, `GET by ${reference}`);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.equal(await res.text(), manifest);
    }
    assert.deepEqual(await (await fetch(`${berth.url}/v2/cut/short/tags/list`)).json(), { name: 'cut/short', tags: ['v1'] });
    assert.match(await fs.readFile(link, 'utf8'), /^application\/vnd\.oci\.image\.manifest\.v1\+json\n/);
  });
});
