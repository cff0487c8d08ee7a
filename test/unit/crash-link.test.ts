/**
 * A push by tag puts its revision link and its tag in place at once and syncs their two folders
 * together (DriverRepositoryStore.commitTagged). A crash between those two syncs can leave the tag on
 * disk without the revision link. These tests make that state on real files and check what follows:
 * garbage collection keeps the manifest and its blobs, and the index rebuild that follows an unclean
 * stop puts the link back, with the media type the manifest was pushed as. A link whose first commit
 * fails while the tag's succeeds is written again, so a running server never keeps such a tag either.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { digestOf } from '../../server/registry/digester.ts';
import { parseDigest } from '../../server/registry/reference.ts';
import { rebuildIndex } from '../../server/registry/reindex.ts';
import type { StagedContent } from '../../server/storage/driver/driver.ts';
import { FilesystemDriver } from '../../server/storage/driver/filesystem.ts';
import { HOUR_MS, age } from '../helpers/lifecycle.ts';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { openServices, type Services } from '../helpers/services.ts';

/** A filesystem driver whose next commits of revision links fail before anything moves (a failing disk). */
class FailingLinks extends FilesystemDriver {
  failures = 0;
  override async stageContent(key: string, content: string | Uint8Array): Promise<StagedContent> {
    const staged = await super.stageContent(key, content);
    if (!key.includes('/_manifests/revisions/') || this.failures === 0) return staged;
    this.failures -= 1;
    return {
      commit: async () => {
        await staged.discard();
        throw Object.assign(new Error(`EIO: i/o error, rename (${key})`), { code: 'EIO' });
      },
      discard: () => staged.discard(),
    };
  }
}

describe('a tag left without its revision link', () => {
  const dirs: string[] = [];
  let dataDir: string;
  let driver: FailingLinks;
  let clock: number;
  let uploads: Services['uploads'];
  let repositories: Services['repositories'];
  let index: Services['index'];
  let manifests: Services['manifests'];

  beforeEach(async () => {
    dataDir = await tempDir('berth-crash-link-');
    dirs.push(dataDir);
    driver = new FailingLinks(dataDir);
    clock = Date.now();
    ({ uploads, repositories, index, manifests } = await openServices(dataDir, { driver, clock: () => clock }));
  });
  after(async () => {
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  /** Pushes a config and a layer to `repo`, then a manifest over them by `tag`; OCI's mediaType field left out when `bare`. */
  async function pushImage(repo: string, tag: string, bare = false): Promise<{ digest: string; blobs: string[] }> {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, repo });
    const layer = `the layer of ${repo}`;
    for (const content of [config, layer]) {
      await uploads.uploadWhole(repo, digestOf(Buffer.from(content)), Readable.from([Buffer.from(content)]), {});
    }
    const body = { schemaVersion: 2, ...(bare ? {} : { mediaType: OCI_MANIFEST }), config: descriptor(OCI_CONFIG, config), layers: [descriptor(OCI_LAYER, layer)] };
    const pushed = await manifests.put(repo, tag, OCI_MANIFEST, Buffer.from(JSON.stringify(body)));
    return { digest: pushed.digest.value, blobs: [config, layer].map((c) => digestOf(Buffer.from(c)).value) };
  }

  const linkFile = (repo: string, digest: string) => path.join(dataDir, 'repositories', repo, '_manifests', 'revisions', 'sha256', digest.slice('sha256:'.length));
  const blobFile = (digest: string) => path.join(dataDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

  /** The state a crash between the two folders' syncs can leave: the tag moved, the link not there. */
  async function crashBetweenSyncs(repo: string, digest: string): Promise<void> {
    await fs.rm(linkFile(repo, digest));
  }

  /** A server started again on the same files: fresh stores, nothing cached (the index shared: nedb has one owner). */
  function restart(): Promise<Services> {
    return openServices(dataDir, { clock: () => clock, index });
  }

  it('puts the link and the tag in place, both indexed', async () => {
    const image = await pushImage('app', 'v1');
    assert.match(await fs.readFile(linkFile('app', image.digest), 'utf8'), /^application\/vnd\.oci\.image\.manifest\.v1\+json\n/);
    assert.equal((await repositories.resolveTag('app', 'v1'))?.value, image.digest);
    assert.equal((await index.manifest('app', image.digest))?.mediaType, OCI_MANIFEST);
    assert.deepEqual((await index.tagDocs('app')).map((t) => [t.tag, t.digest]), [['v1', image.digest]]);
  });

  it('keeps the manifest and its blobs through a collection of untagged manifests and old links', async () => {
    const image = await pushImage('app', 'v1');
    await crashBetweenSyncs('app', image.digest);
    await age(dataDir, 2 * HOUR_MS);
    clock += 2 * HOUR_MS;
    const after = await restart();
    const report = await after.gc.collect({ dryRun: false, untagged: true, graceMs: HOUR_MS });
    assert.deepEqual(report.removed.blobs, [], 'no blob removed');
    assert.equal(report.counts.layerLinks, 0, 'no layer link removed');
    for (const digest of [image.digest, ...image.blobs]) await fs.access(blobFile(digest));
    const linked = (await after.repositories.listLayers('app')).map((d) => d.value);
    for (const digest of image.blobs) assert.ok(linked.includes(digest), `${digest} is still linked`);
  });

  it('has the index rebuild put the link back, with the media type pushed, and the tag resolve again', async () => {
    const plain = await pushImage('app', 'v1');
    const bare = await pushImage('bare', 'latest', true);
    await crashBetweenSyncs('app', plain.digest);
    await crashBetweenSyncs('bare', bare.digest);
    const after = await restart();
    for (const [repo, digest] of [['app', plain.digest], ['bare', bare.digest]] as const) {
      assert.equal(await after.repositories.manifestMediaType(repo, parseDigest(digest)), null, `${repo}: the link is gone`);
    }
    const stats = await rebuildIndex({ repositories: after.repositories, manifests: after.manifests, index, log: pino({ level: 'silent' }) });
    assert.equal(stats.skipped, 0);
    assert.equal(stats.manifests, 2);
    assert.equal(stats.tags, 2);
    for (const [repo, tag, digest] of [['app', 'v1', plain.digest], ['bare', 'latest', bare.digest]] as const) {
      assert.match(await fs.readFile(linkFile(repo, digest), 'utf8'), /^application\/vnd\.oci\.image\.manifest\.v1\+json\n/, `${repo}: the link is back`);
      const pulled = await after.manifests.get(repo, tag, null);
      assert.equal(pulled.digest.value, digest);
      assert.equal(pulled.mediaType, OCI_MANIFEST);
      assert.deepEqual((await index.tagDocs(repo)).map((t) => [t.tag, t.digest]), [[tag, digest]]);
    }
  });

  it('still skips a tag whose manifest is gone as well', async () => {
    const image = await pushImage('app', 'v1');
    await crashBetweenSyncs('app', image.digest);
    await fs.rm(blobFile(image.digest));
    const after = await restart();
    const stats = await rebuildIndex({ repositories: after.repositories, manifests: after.manifests, index, log: pino({ level: 'silent' }) });
    assert.equal(stats.skipped, 1);
    assert.equal(stats.tags, 0);
    await assert.rejects(fs.access(linkFile('app', image.digest)), 'no link made for content that is not there');
  });

  it('writes the link again when its commit fails and the tag moved', async () => {
    driver.failures = 1;
    const image = await pushImage('app', 'v1');
    assert.equal(driver.failures, 0, 'the first commit of the link failed');
    assert.match(await fs.readFile(linkFile('app', image.digest), 'utf8'), /^application\/vnd\.oci\.image\.manifest\.v1\+json\n/);
    assert.equal((await manifests.get('app', 'v1', null)).digest.value, image.digest);
    assert.equal((await index.manifest('app', image.digest))?.mediaType, OCI_MANIFEST);
  });

  it('fails the push when the link cannot be written again either, and puts the tag back', async () => {
    const first = await pushImage('app', 'v1');
    driver.failures = 2;
    await assert.rejects(pushImage('app', 'v1', true), /EIO/);
    assert.equal(driver.failures, 0, 'both commits of the link failed');
    assert.equal((await manifests.get('app', 'v1', null)).digest.value, first.digest, 'the tag names the manifest it named before');
    const fresh = await restart();
    assert.equal((await fresh.repositories.resolveTag('app', 'v1'))?.value, first.digest, 'on disk too');
    assert.deepEqual((await index.tagDocs('app')).map((t) => [t.tag, t.digest]), [['v1', first.digest]]);
    // A first push of a tag whose link fails twice leaves no tag at all.
    driver.failures = 2;
    await assert.rejects(pushImage('other', 'v1'), /EIO/);
    assert.equal(await (await restart()).repositories.resolveTag('other', 'v1'), null);
    await assert.rejects(fs.access(path.join(dataDir, 'repositories', 'other', '_manifests', 'tags', 'v1')));
  });
});
