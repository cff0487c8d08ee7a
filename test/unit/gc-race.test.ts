/**
 * The race the link guard exists for (registry/link-guard.ts): a push that links a blob between the
 * collector's mark and its sweep. The collector's progress listener holds the run between the two
 * steps while the test plays the push, through the real services over real files, so the
 * interleaving is exact instead of left to timing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { after, beforeEach, describe, it } from 'node:test';
import { digestOf } from '../../server/registry/digester.ts';
import type { GcOptions } from '../../server/registry/gc.ts';
import { LinkGuard } from '../../server/registry/link-guard.ts';
import type { RunProgress } from '../../server/metadata/maintenance-db.ts';
import { OCI_CONFIG, OCI_LAYER, descriptor, imageManifest } from '../helpers/registry-client.ts';
import { HOUR_MS, age } from '../helpers/lifecycle.ts';
import { tempDir } from '../helpers/server.ts';
import { openServices, type Services } from '../helpers/services.ts';

const COLLECT: GcOptions = { dryRun: false, untagged: false, graceMs: HOUR_MS };

describe('collection racing pushes', () => {
  const dirs: string[] = [];
  let dataDir: string;
  let clock: number;
  let blobs: Services['blobs'];
  let repositories: Services['repositories'];
  let index: Services['index'];
  let uploads: Services['uploads'];
  let manifests: Services['manifests'];
  let gc: Services['gc'];

  beforeEach(async () => {
    dataDir = await tempDir('berth-gc-race-');
    dirs.push(dataDir);
    clock = Date.now();
    ({ blobs, repositories, index, uploads, manifests, gc } = await openServices(dataDir, { clock: () => clock }));
  });
  after(async () => {
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  async function push(repo: string, content: string): Promise<string> {
    const digest = digestOf(Buffer.from(content));
    await uploads.uploadWhole(repo, digest, Readable.from([Buffer.from(content)]), {});
    return digest.value;
  }

  /** Makes everything so far two hours old, on disk and for the guard's memory of recent pushes. */
  async function twoHoursLater(): Promise<void> {
    await age(dataDir, 2 * HOUR_MS);
    clock += 2 * HOUR_MS;
  }

  /** Runs `race` once, when the collection reaches `phase`, and waits for it before the collection goes on. */
  function at(phase: string, race: () => Promise<void>) {
    let done = false;
    return async (progress: RunProgress) => {
      if (done || progress.phase !== phase) return;
      done = true;
      await race();
    };
  }

  it('keeps a blob mounted into another repository between mark and sweep', async () => {
    const orphan = await push('src', 'a blob no manifest uses');
    await twoHoursLater();
    const report = await gc.collect(COLLECT, at('removing unused layer links', async () => {
      assert.equal(await uploads.mount('dst', 'src', digestOf(Buffer.from('a blob no manifest uses'))), true);
    }));
    assert.deepEqual(report.removed.blobs, [], 'the blob survives');
    assert.ok(report.skipped.some((s) => s.what === 'blob' && s.digest === orphan));
    assert.notEqual(await blobs.file(digestOf(Buffer.from('a blob no manifest uses'))), null);
    assert.equal(await repositories.hasLayer('dst', digestOf(Buffer.from('a blob no manifest uses'))), true);
  });

  it('keeps the blobs of a manifest pushed after its links were removed but before the blobs went', async () => {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux' });
    const layer = 'layer pushed long ago, garbage until a new manifest uses it';
    await push('old', config);
    await push('old', layer);
    await twoHoursLater();
    let manifestDigest = '';
    const report = await gc.collect(COLLECT, at('deleting blobs', async () => {
      // The links in "old" are gone by now; a new push uploads the same content again (stored once,
      // so the existing file is kept) and references it.
      await push('new', config);
      await push('new', layer);
      const manifest = Buffer.from(imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]));
      manifestDigest = (await manifests.put('new', 'v1', undefined, manifest)).digest.value;
    }));
    assert.equal(report.counts.layerLinks, 2, 'the old links went');
    assert.deepEqual(report.removed.blobs, [], 'no blob went: the push used them all');
    const pulled = await manifests.get('new', 'v1', null);
    assert.equal(pulled.digest.value, manifestDigest);
    for (const content of [config, layer]) assert.notEqual(await blobs.file(digestOf(Buffer.from(content))), null);
  });

  it('makes a push that lost the race fail cleanly instead of referencing a deleted blob', async () => {
    const layer = 'layer that goes before the push references it';
    const config = '{"architecture":"arm64","os":"linux"}';
    await push('gone', layer);
    await push('gone', config);
    await twoHoursLater();
    const report = await gc.collect(COLLECT);
    assert.equal(report.counts.blobs, 2);
    // A client that saw the blob before the collection now mounts from where it was, or pushes a
    // manifest over it: both are refused, so it uploads again.
    assert.equal(await uploads.mount('other', 'gone', digestOf(Buffer.from(layer))), false);
    const manifest = Buffer.from(imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]));
    await assert.rejects(manifests.put('gone', 'v1', undefined, manifest), { code: 'MANIFEST_BLOB_UNKNOWN' });
  });

  it('keeps a push that took its locks before a grace-0 collection began and links after its mark', async () => {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', note: 'in flight' });
    const layer = 'layer of a push in flight';
    await push('app', config);
    await push('app', layer);
    await twoHoursLater();
    // The push checks its blobs and holds their locks, then is held up (a slow disk, a busy machine)
    // just before it writes its links: exactly there, and only there.
    let reachedLinks!: () => void;
    const atLinks = new Promise<void>((resolve) => (reachedLinks = resolve));
    let letLink!: () => void;
    const linkMayGo = new Promise<void>((resolve) => (letLink = resolve));
    const stageManifestLink = repositories.stageManifestLink.bind(repositories);
    repositories.stageManifestLink = async (...args) => {
      reachedLinks();
      await linkMayGo;
      return stageManifestLink(...args);
    };
    const manifest = Buffer.from(imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]));
    const pushing = manifests.put('app', 'v1', undefined, manifest);
    await atLinks;
    clock += 1000; // the collection begins a second after the push took its locks
    const report = await gc.collect({ dryRun: false, untagged: false, graceMs: 0 }, at('scanning blobs', async () => {
      // Every repository is marked (none had the manifest yet); before the blob files are listed,
      // the push writes its links and tag and finishes.
      letLink();
      await pushing;
    }));
    assert.deepEqual(report.removed.blobs, [], 'nothing the push references was deleted');
    assert.deepEqual(report.removed.layerLinks, []);
    const pulled = await manifests.get('app', 'v1', null);
    assert.deepEqual(pulled.bytes, manifest);
    for (const content of [config, layer]) {
      assert.notEqual(await blobs.file(digestOf(Buffer.from(content))), null, `${content.slice(0, 20)} is on disk`);
      assert.equal(await repositories.hasLayer('app', digestOf(Buffer.from(content))), true);
    }
  });

  it('counts a digest as in use from the moment a writer asks for it until it is done', async () => {
    let now = 1_000_000;
    const guard = new LinkGuard(() => now);
    let release!: () => void;
    const holding = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const writer = guard.withDigests(['sha256:held'], async () => {
      entered();
      await holding;
    });
    await inside;
    now += 60_000;
    const collection = await guard.beginCollection();
    assert.equal(await collection.inUse('sha256:held', 0), true, 'held by a writer that started before the collection');
    assert.equal(await collection.inUse('sha256:other', 0), false);
    release();
    await writer;
    assert.equal(await collection.inUse('sha256:held', 0), true, 'and used at its end, during the collection');
    await collection.end();
    now += 60_000;
    assert.equal(await (await guard.beginCollection()).inUse('sha256:held', 0), false, 'a later collection owes it nothing');
  });

  it('lets writers with overlapping digests through in any order, and the collector after them', async () => {
    const guard = new LinkGuard();
    const order: string[] = [];
    const hold = (name: string, ms: number) => async () => {
      await new Promise((r) => setTimeout(r, ms));
      order.push(name);
    };
    const collection = await guard.beginCollection();
    await Promise.all([
      guard.withDigests(['sha256:b', 'sha256:a'], hold('writer 1', 20)),
      guard.withDigests(['sha256:a', 'sha256:b'], hold('writer 2', 0)),
      guard.removing('sha256:a', async () => {
        order.push(`collector sees in use: ${await collection.inUse('sha256:a', 0)}`);
      }),
    ]);
    await collection.end();
    assert.deepEqual(order, ['writer 1', 'writer 2', 'collector sees in use: true']);
  });
});
