/** Unique and shared bytes per repository (server/registry/usage.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ManifestDoc } from '../../server/metadata/index-db.ts';
import { blobsByRepository, sharing } from '../../server/registry/usage.ts';

function manifest(repo: string, digest: string, layers: [string, number][], config: [string, number] = [`cfg-${digest}`, 10]): ManifestDoc {
  return {
    _id: `${repo}@${digest}`, repo, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, totalSize: 0,
    config: { digest: config[0], size: config[1], mediaType: 'application/vnd.oci.image.config.v1+json' },
    layers: layers.map(([d, size]) => ({ digest: d, size, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' })),
    children: [], pushedAt: new Date(),
  };
}

describe('sharing', () => {
  const docs = [
    manifest('a', 'm1', [['base', 1000], ['app-a', 50]]),
    manifest('a', 'm2', [['base', 1000], ['app-a2', 70]]),
    manifest('b', 'm3', [['base', 1000]]),
  ];

  it('counts each blob once per repository, the manifest bodies included', () => {
    const blobs = blobsByRepository(docs);
    assert.deepEqual([...blobs.get('a')!.keys()].sort(), ['app-a', 'app-a2', 'base', 'cfg-m1', 'cfg-m2', 'm1', 'm2']);
    assert.deepEqual([...blobs.get('b')!.keys()].sort(), ['base', 'cfg-m3', 'm3']);
  });

  it('splits unique from shared, and counts a shared blob once in the totals', () => {
    const s = sharing(blobsByRepository(docs), (_, size) => size);
    assert.deepEqual(s.repositories.get('a'), { name: 'a', totalBytes: 1000 + 50 + 70 + 20 + 200, uniqueBytes: 340, sharedBytes: 1000, blobCount: 7 });
    assert.deepEqual(s.repositories.get('b'), { name: 'b', totalBytes: 1110, uniqueBytes: 110, sharedBytes: 1000, blobCount: 3 });
    assert.equal(s.sharedBytes, 1000);
    assert.equal(s.referencedBytes, 340 + 110 + 1000);
  });

  it('leaves out blobs sizeOf does not know (not on disk)', () => {
    const s = sharing(blobsByRepository(docs), (digest, size) => (digest === 'base' ? null : size));
    assert.equal(s.sharedBytes, 0);
    assert.equal(s.repositories.get('b')!.totalBytes, 110);
  });
});
