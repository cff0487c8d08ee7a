/**
 * The metadata index's files stay the size of what they hold (metadata/index-db.ts): nedb appends
 * every change, so without compaction a tag pushed again and again grows its file without end (the
 * report: 30 pushes of one manifest to one tag, manifests.db 67 -> 169 MB).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { MetadataIndex, type ManifestSummary } from '../../server/metadata/index-db.ts';
import { tempDir } from '../helpers/server.ts';

const SUMMARY: ManifestSummary = { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1234, totalSize: 99, descriptorCount: 20_000 };
const DIGEST = `sha256:${'a'.repeat(64)}`;

async function lines(file: string): Promise<number> {
  return (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean).length;
}

describe('metadata index files', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  it('are compacted after a number of writes to a collection, so pushing one tag again and again does not grow them', async () => {
    const dir = await tempDir('berth-index-');
    dirs.push(dir);
    const index = new MetadataIndex(path.join(dir, 'index'), dir, { compactAfterWrites: 10 });
    await index.open();
    for (let i = 0; i < 95; i++) {
      await index.recordManifest('app', DIGEST, SUMMARY, new Date());
      await index.setTag('app', 'latest', DIGEST, new Date());
    }
    await index.ready();
    // Compaction runs in nedb's queue: a read after it waits for it.
    await index.manifestDocs();
    const manifestLines = await lines(path.join(dir, 'index', 'manifests.db'));
    const tagLines = await lines(path.join(dir, 'index', 'tags.db'));
    // One line per document and per index definition, plus the writes since the last compaction.
    assert.ok(manifestLines <= 3 + 10, `manifests.db has ${manifestLines} lines for one document`);
    assert.ok(tagLines <= 2 + 10, `tags.db has ${tagLines} lines for one document`);
    await index.close();
    assert.equal(await lines(path.join(dir, 'index', 'manifests.db')), 3);
  });

  it('hold a fixed-size document per manifest, whatever it lists', async () => {
    const dir = await tempDir('berth-index-');
    dirs.push(dir);
    const index = new MetadataIndex(path.join(dir, 'index'), dir);
    await index.open();
    await index.recordManifest('app', DIGEST, SUMMARY, new Date());
    await index.close();
    const size = (await fs.stat(path.join(dir, 'index', 'manifests.db'))).size;
    assert.ok(size < 512, `${size} bytes for a manifest of 20,000 layers`);
  });
});
