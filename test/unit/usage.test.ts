/** Unique and shared bytes per repository (server/registry/usage.ts). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ManifestDoc } from '../../server/metadata/index-db.ts';
import type { ParsedManifest } from '../../server/registry/manifest.ts';
import { parseDigest } from '../../server/registry/reference.ts';
import { blobsByRepository, sharing, type StoredManifests } from '../../server/registry/usage.ts';

/** A digest named for the test: `d('base')`. */
const d = (name: string) => `sha256:${createHash('sha256').update(name).digest('hex')}`;
const names = new Map<string, string>();
const named = (name: string) => {
  names.set(d(name), name);
  return d(name);
};

/** The manifests' layers, as storage would give them. */
const layersOf = new Map<string, [string, number][]>();
const stored: StoredManifests = {
  async parseStored(_repo, digest) {
    const layers = layersOf.get(digest.value);
    if (!layers) throw new Error('not stored');
    return { manifest: { layers: layers.map(([l, size]) => ({ digest: parseDigest(d(l)), size, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' })) } as unknown as ParsedManifest };
  },
};

function manifest(repo: string, name: string, layers: [string, number][], config: [string, number] = [`cfg-${name}`, 10]): ManifestDoc {
  layersOf.set(named(name), layers);
  for (const [l] of layers) named(l);
  return {
    _id: `${repo}@${d(name)}`, repo, digest: d(name), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, totalSize: 0,
    config: { digest: named(config[0]), size: config[1], mediaType: 'application/vnd.oci.image.config.v1+json' },
    descriptorCount: layers.length, pushedAt: new Date(),
  };
}

describe('sharing', () => {
  const docs = [
    manifest('a', 'm1', [['base', 1000], ['app-a', 50], ['base', 1000]]),
    manifest('a', 'm2', [['base', 1000], ['app-a2', 70]]),
    manifest('b', 'm3', [['base', 1000]]),
  ];
  const keys = (blobs: Map<string, number>) => [...blobs.keys()].map((k) => names.get(k)).sort();

  it('counts each blob once per repository, the manifest bodies included, reading the layers from the manifests', async () => {
    const blobs = await blobsByRepository(docs, stored);
    assert.deepEqual(keys(blobs.get('a')!), ['app-a', 'app-a2', 'base', 'cfg-m1', 'cfg-m2', 'm1', 'm2']);
    assert.deepEqual(keys(blobs.get('b')!), ['base', 'cfg-m3', 'm3']);
  });

  it('counts a manifest it cannot read with its config only', async () => {
    const unreadable = { ...manifest('c', 'gone', [['lost', 5]]), digest: d('never stored') };
    assert.deepEqual(keys((await blobsByRepository([unreadable], stored)).get('c')!).length, 2);
  });

  it('splits unique from shared, and counts a shared blob once in the totals', async () => {
    const s = sharing(await blobsByRepository(docs, stored), (_, size) => size);
    assert.deepEqual(s.repositories.get('a'), { name: 'a', totalBytes: 1000 + 50 + 70 + 20 + 200, uniqueBytes: 340, sharedBytes: 1000, blobCount: 7 });
    assert.deepEqual(s.repositories.get('b'), { name: 'b', totalBytes: 1110, uniqueBytes: 110, sharedBytes: 1000, blobCount: 3 });
    assert.equal(s.sharedBytes, 1000);
    assert.equal(s.referencedBytes, 340 + 110 + 1000);
  });

  it('leaves out blobs sizeOf does not know (not on disk)', async () => {
    const s = sharing(await blobsByRepository(docs, stored), (digest, size) => (digest === d('base') ? null : size));
    assert.equal(s.sharedBytes, 0);
    assert.equal(s.repositories.get('b')!.totalBytes, 110);
  });
});
