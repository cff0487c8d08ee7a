/** skopeo against `berth serve`: push, pull back byte-identical, multi-arch with --all, list-tags, delete. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('skopeo');

/** Every blob file of an OCI layout, digest -> bytes. */
async function layoutBlobs(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const blobDir = path.join(dir, 'blobs', 'sha256');
  for (const hex of await fs.readdir(blobDir)) out.set(`sha256:${hex}`, await fs.readFile(path.join(blobDir, hex)));
  return out;
}

describe('skopeo end to end', { skip }, () => {
  let berth: BerthProcess;
  let work: string;
  let images: Record<FixtureName, Fixture>;

  before(async () => {
    work = await tempDir('berth-skopeo-');
    images = await fixtures();
    berth = await startBerth({ dataDir: path.join(work, 'data') });
  });
  after(async () => {
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  async function pushAndPull(name: FixtureName, repo: string, all = false): Promise<void> {
    const image = images[name];
    const flags = all ? ['--all'] : [];
    await run('skopeo', ['copy', ...flags, '--dest-tls-verify=false', `oci:${image.dir}:latest`, `docker://${berth.hostPort}/${repo}:v1`]);
    const out = path.join(work, `pulled-${name}`);
    await run('skopeo', ['copy', ...flags, '--src-tls-verify=false', `docker://${berth.hostPort}/${repo}:v1`, `oci:${out}:latest`]);
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, image.digest, 'the pulled manifest is the pushed one');
    const source = await layoutBlobs(image.dir);
    const pulled = await layoutBlobs(out);
    assert.deepEqual([...pulled.keys()].sort(), [...source.keys()].sort());
    for (const [digest, bytes] of source) assert.ok(pulled.get(digest)!.equals(bytes), `${digest} byte-identical`);
  }

  it('pushes and pulls a one-layer image byte-identical', async () => {
    await pushAndPull('small', 'skopeo/small');
  });

  it('pushes and pulls an eight-layer image byte-identical', async () => {
    await pushAndPull('many', 'skopeo/many');
  });

  it('pushes and pulls a multi-arch index with --all', async () => {
    await pushAndPull('multi', 'skopeo/multi', true);
    const raw = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${berth.hostPort}/skopeo/multi:v1`])) as {
      mediaType: string;
      manifests: { platform: { architecture: string } }[];
    };
    assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(raw.manifests.map((m) => m.platform.architecture), ['amd64', 'arm64']);
  });

  it('copies between repositories of the registry (cross-repository mount)', async () => {
    await run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false',
      `docker://${berth.hostPort}/skopeo/small:v1`, `docker://${berth.hostPort}/skopeo/small-copy:v2`]);
    const inspect = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', `docker://${berth.hostPort}/skopeo/small-copy:v2`])) as { Digest: string };
    assert.equal(inspect.Digest, images.small.digest);
  });

  it('lists tags and deletes an image', async () => {
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images.tiny.dir}:latest`, `docker://${berth.hostPort}/skopeo/tiny:a`]);
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images.tiny.dir}:latest`, `docker://${berth.hostPort}/skopeo/tiny:b`]);
    const tags = JSON.parse(await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${berth.hostPort}/skopeo/tiny`])) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['a', 'b']);
    // skopeo delete resolves the tag and deletes the manifest by digest: every tag of it goes.
    await run('skopeo', ['delete', '--tls-verify=false', `docker://${berth.hostPort}/skopeo/tiny:a`]);
    const after = JSON.parse(await run('skopeo', ['list-tags', '--tls-verify=false', `docker://${berth.hostPort}/skopeo/tiny`])) as { Tags: string[] };
    assert.deepEqual(after.Tags, []);
    await assert.rejects(run('skopeo', ['inspect', '--tls-verify=false', `docker://${berth.hostPort}/skopeo/tiny:b`]), /manifest unknown/i);
  });
});
