/**
 * The nedb index is derived data: delete it (or corrupt it) while the server is stopped, and the
 * restarted server rebuilds the same catalog, tags, referrers and sizes from the files on disk.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetadataIndex, type ManifestDoc } from '../../server/metadata/index-db.ts';
import { fixtures } from '../fixtures/images.ts';
import { startBerth } from '../helpers/berth-process.ts';
import { Client, OCI_EMPTY, OCI_MANIFEST, descriptor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

interface Snapshot {
  catalog: unknown;
  tags: Record<string, unknown>;
  referrers: unknown;
  manifests: Omit<ManifestDoc, '_id'>[];
  repositories: { name: string; lastPushAt: string | null }[];
}

async function apiSnapshot(url: string, subject: string): Promise<Pick<Snapshot, 'catalog' | 'tags' | 'referrers'>> {
  const catalog = (await (await fetch(`${url}/v2/_catalog`)).json()) as { repositories: string[] };
  const tags: Record<string, unknown> = {};
  for (const repo of catalog.repositories) tags[repo] = await (await fetch(`${url}/v2/${repo}/tags/list`)).json();
  const referrers = await (await fetch(`${url}/v2/rebuild/artifacts/referrers/${subject}`)).json();
  return { catalog, tags, referrers };
}

/** The index documents, read with the server stopped (nedb has one owner at a time). */
async function indexDocs(dataDir: string): Promise<Pick<Snapshot, 'manifests' | 'repositories'>> {
  const index = new MetadataIndex(path.join(dataDir, 'index'), path.join(dataDir, 'tmp'));
  await index.open();
  const manifests = [...(await index.allManifests()).values()]
    .map(({ _id, ...doc }) => ({ ...doc, pushedAt: new Date(doc.pushedAt) }))
    .sort((a, b) => (a.repo + a.digest < b.repo + b.digest ? -1 : 1));
  const repositories = [];
  for (const name of await index.repositoryNames()) repositories.push({ name, lastPushAt: null });
  await index.close();
  return { manifests, repositories };
}

describe('index rebuild from disk', { skip: skipUnless('skopeo'), timeout: 300_000 }, () => {
  let work: string;
  let dataDir: string;
  let subject: string;
  let before_: Snapshot;

  before(async () => {
    work = await tempDir('berth-reindex-');
    dataDir = path.join(work, 'data');
    const images = await fixtures();
    const berth = await startBerth({ dataDir });
    for (const name of ['tiny', 'small', 'many'] as const) {
      await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images[name].dir}:latest`, `docker://${berth.hostPort}/rebuild/${name}:v1`]);
    }
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${images.multi.dir}:latest`, `docker://${berth.hostPort}/rebuild/multi:v1`]);
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images.tiny.dir}:latest`, `docker://${berth.hostPort}/rebuild/nested/deeper/tiny:Latest`]);
    // An artifact referring to an image, to check referrers come back too.
    const client = new Client(berth.url);
    const image = await client.pushImage('rebuild/artifacts', 'subject');
    subject = image.digest;
    await client.pushBlob('rebuild/artifacts', '{}');
    const sbom = await client.pushBlob('rebuild/artifacts', 'sbom');
    const artifact = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: descriptor(OCI_EMPTY, '{}'),
      layers: [{ mediaType: 'application/spdx+json', digest: sbom, size: 4 }],
      subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.size },
      annotations: { 'org.example.kind': 'sbom' },
    };
    assert.equal((await client.putManifest('rebuild/artifacts', 'sbom', artifact)).status, 201);
    const catalogBefore = await (await fetch(`${berth.url}/v2/_catalog`)).json();
    assert.equal(await berth.stop(), 0);
    // Take the snapshot through a restart on the intact index.
    const again = await startBerth({ dataDir });
    const url = again.url;
    const partial = await apiSnapshot(url, subject).catch(() => null);
    await again.stop();
    assert.ok(partial);
    before_ = { ...partial, ...(await indexDocs(dataDir)) };
    assert.deepEqual(before_.catalog, catalogBefore);
    assert.equal(before_.manifests.length, 9, 'manifest summaries indexed (multi is an index and two images)');
  });
  after(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  async function restartAndCompare(): Promise<void> {
    const berth = await startBerth({ dataDir });
    const url = berth.url;
    const api = await apiSnapshot(url, subject).catch((err) => err as Error);
    assert.equal(await berth.stop(), 0);
    assert.ok(!(api instanceof Error), String(api));
    const docs = await indexDocs(dataDir);
    assert.deepEqual(api.catalog, before_.catalog);
    assert.deepEqual(api.tags, before_.tags);
    assert.deepEqual(api.referrers, before_.referrers);
    assert.deepEqual(docs.repositories, before_.repositories);
    assert.deepEqual(docs.manifests, before_.manifests, 'sizes, platforms and push times come back the same');
  }

  it('rebuilds a deleted index', async () => {
    await fs.rm(path.join(dataDir, 'index'), { recursive: true, force: true });
    await restartAndCompare();
  });

  it('rebuilds a corrupt index', async () => {
    await fs.writeFile(path.join(dataDir, 'index', 'tags.db'), 'not json\n'.repeat(100));
    await restartAndCompare();
  });

  it('rebuilds an index that was not closed cleanly', async () => {
    const berth = await startBerth({ dataDir });
    await fetch(`${berth.url}/v2/_catalog`); // answers once the index is open
    await berth.kill9();
    const state = JSON.parse(await fs.readFile(path.join(dataDir, 'index', 'state.json'), 'utf8')) as { clean: boolean };
    assert.equal(state.clean, false, 'a killed server leaves the index marked in use');
    await restartAndCompare();
  });
});
