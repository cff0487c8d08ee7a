/** podman and buildah against `berth serve` (both need --tls-verify=false for a plain-HTTP registry). */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

describe('podman and buildah end to end', { skip: skipUnless('podman', 'buildah', 'skopeo'), timeout: 600_000 }, () => {
  let berth: BerthProcess;
  let work: string;
  let images: Record<FixtureName, Fixture>;
  /** Private container storage, so the tests never touch the machine's own images. */
  let storageArgs: string[];

  before(async () => {
    work = await tempDir('berth-podman-');
    images = await fixtures();
    berth = await startBerth({ dataDir: path.join(work, 'berth') });
    storageArgs = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'), '--storage-driver', 'vfs'];
  });
  after(async () => {
    await berth?.stop();
    await run('podman', [...storageArgs, 'system', 'reset', '--force']).catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  });

  const podman = (...args: string[]) => run('podman', [...storageArgs, ...args]);
  const buildah = (...args: string[]) => run('buildah', [...storageArgs, ...args]);

  it('podman pushes, removes and pulls an image back', async () => {
    await podman('pull', `oci:${images.small.dir}:latest`);
    const id = (await podman('images', '--format', '{{.ID}}', '--noheading')).trim().split('\n')[0]!;
    const target = `${berth.hostPort}/podman/small:v1`;
    await podman('tag', id, target);
    await podman('push', '--tls-verify=false', target);
    await podman('rmi', '--force', id);
    await podman('pull', '--tls-verify=false', target);
    const inspect = JSON.parse(await podman('image', 'inspect', target)) as { Config: { Env: string[] } }[];
    assert.ok(inspect[0]!.Config.Env.includes('FIXTURE=small'));
    const tags = (await (await fetch(`${berth.url}/v2/podman/small/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
  });

  it('buildah pushes an image it built from a fixture', async () => {
    const container = (await buildah('from', `oci:${images.tiny.dir}:latest`)).trim().split('\n').pop()!;
    await buildah('config', '--label', 'built-by=buildah', container);
    await buildah('commit', container, 'localhost/buildah-tiny:latest');
    await buildah('push', '--tls-verify=false', 'localhost/buildah-tiny:latest', `docker://${berth.hostPort}/buildah/tiny:v1`);
    const inspect = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', `docker://${berth.hostPort}/buildah/tiny:v1`])) as { Labels: Record<string, string> };
    assert.equal(inspect.Labels['built-by'], 'buildah');
  });
});
