/**
 * Online collection while pushes run: collections (removing untagged manifests too) run back to back
 * while several clients push images — some reusing the exact bytes of garbage the collector is
 * deleting, one a multi-arch index whose children are untagged until the index arrives. Every push
 * succeeds and, afterwards, every image pulls back intact and the scrub finds nothing wrong. Bounded:
 * a fixed number of pushes, and the collector stops when they are done.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pseudoRandom } from '../fixtures/images.ts';
import { Client, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, descriptor, imageIndex, imageManifest, sha256 } from '../helpers/registry-client.ts';
import { HOUR_MS, age, assertEveryTagPulls, assertPulls, runGc, runScrub } from '../helpers/lifecycle.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const PUSHERS = 4;
const IMAGES_PER_PUSHER = 5;
const MAX_COLLECTIONS = 200;

function garbageLayer(i: number): Buffer {
  return pseudoRandom(`garbage-${i}`, 64 * 1024 + i);
}

describe('garbage collection while pushes run', { timeout: 240_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close({ remove: true }));

  it('loses no push, and every image pulls back intact', async () => {
    // Garbage: images pushed, then deleted, two hours ago (and a restart since).
    let client = new Client(server.url);
    for (let i = 0; i < 12; i++) {
      const config = JSON.stringify({ architecture: 'amd64', os: 'linux', garbage: i });
      await client.pushBlob('old/garbage', config);
      await client.pushBlob('old/garbage', garbageLayer(i));
      const manifest = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, garbageLayer(i))]);
      const digest = await client.pushManifest('old/garbage', `v${i}`, manifest);
      assert.equal((await client.deleteManifest('old/garbage', digest)).status, 202);
    }
    await age(server.dataDir, 2 * HOUR_MS);
    await server.close();
    server = await startServer({ dataDir: server.dataDir });
    client = new Client(server.url);

    const pushed: { repo: string; tag: string }[] = [];
    let pushing = true;
    const pusher = async (p: number) => {
      for (let i = 0; i < IMAGES_PER_PUSHER; i++) {
        const repo = `busy/pusher${p}`;
        const tag = `v${i}`;
        // Every other image reuses the bytes of a garbage layer the collector wants to delete.
        const layers = [pseudoRandom(`new-${p}-${i}`, 32 * 1024), ...(i % 2 === 0 ? [garbageLayer((p * IMAGES_PER_PUSHER + i) % 12)] : [])];
        const config = JSON.stringify({ architecture: 'amd64', os: 'linux', pusher: p, image: i });
        await client.pushBlob(repo, config);
        for (const layer of layers) await client.pushBlob(repo, layer);
        await client.pushManifest(repo, tag, imageManifest(descriptor(OCI_CONFIG, config), layers.map((l) => descriptor(OCI_LAYER, l))));
        pushed.push({ repo, tag });
      }
    };
    const multiArch = async () => {
      const repo = 'busy/multi';
      const children: string[] = [];
      for (const arch of ['amd64', 'arm64', 'riscv64']) {
        const config = JSON.stringify({ architecture: arch, os: 'linux' });
        const layer = pseudoRandom(`multi-${arch}`, 16 * 1024);
        await client.pushBlob(repo, config);
        await client.pushBlob(repo, layer);
        const manifest = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]);
        await client.pushManifest(repo, sha256(manifest), manifest);
        children.push(manifest);
        // The children are untagged until the index arrives: the grace window keeps them.
        await new Promise((r) => setTimeout(r, 50));
      }
      const index = imageIndex(children.map((m, i) => descriptor(OCI_MANIFEST, m, { platform: { architecture: ['amd64', 'arm64', 'riscv64'][i], os: 'linux' } })));
      await client.pushManifest(repo, 'latest', index, OCI_INDEX);
      pushed.push({ repo, tag: 'latest' });
    };

    let collections = 0;
    let freed = 0;
    const collector = async () => {
      while (pushing && collections < MAX_COLLECTIONS) {
        const report = await runGc(client, { untagged: true });
        freed += report.bytesFreed;
        collections++;
      }
    };
    const pushes = Promise.all([...Array.from({ length: PUSHERS }, (_, p) => pusher(p)), multiArch()]).finally(() => {
      pushing = false;
    });
    await Promise.all([pushes, collector()]);

    assert.equal(pushed.length, PUSHERS * IMAGES_PER_PUSHER + 1, 'every push succeeded');
    assert.ok(collections >= 2, `collections ran during the pushes (${collections})`);
    assert.ok(freed > 0, 'the collections freed garbage');
    for (const { repo, tag } of pushed) await assertPulls(client, repo, tag);

    // Once more with nothing running: still everything pulls, and the store is intact.
    await runGc(client, { untagged: true });
    assert.equal(await assertEveryTagPulls(client), pushed.length);
    const scrub = await runScrub(client);
    assert.deepEqual({ corrupt: scrub.corrupt, missing: scrub.missing }, { corrupt: [], missing: [] });
  });
});
