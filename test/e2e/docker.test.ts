/** Docker itself against `berth serve`: docker load, tag, push, rmi, pull (and a multi-layer image). */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { loadOciLayout, startDockerd, type Dockerd } from '../helpers/dockerd.ts';
import { tempDir } from '../helpers/server.ts';
import { skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('dockerd', 'docker', 'skopeo');

describe('docker end to end', { skip, timeout: 600_000 }, () => {
  let berth: BerthProcess;
  let dockerd: Dockerd;
  let work: string;
  let images: Record<FixtureName, Fixture>;

  before(async () => {
    work = await tempDir('berth-docker-');
    images = await fixtures();
    berth = await startBerth({ dataDir: path.join(work, 'berth') });
    dockerd = await startDockerd(path.join(work, 'dockerd'));
  });
  after(async () => {
    await dockerd?.stop();
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** docker load of a fixture: skopeo turns the OCI layout into a docker-archive first. */
  function load(name: FixtureName): Promise<string> {
    return loadOciLayout(dockerd, images[name].dir, `fixtures/${name}:latest`, work);
  }

  for (const name of ['small', 'many'] as const) {
    it(`pushes the ${name} image, removes it locally and pulls it back`, async () => {
      const ref = await load(name);
      const target = `localhost:${berth.port}/docker/${name}:v1`;
      await dockerd.docker('tag', ref, target);
      const pushed = await dockerd.docker('push', target);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
      assert.ok(digest, pushed);
      const imageId = (await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).trim();

      await dockerd.docker('rmi', target, ref);
      await assert.rejects(dockerd.docker('inspect', target));

      const pulled = await dockerd.docker('pull', target);
      assert.match(pulled, new RegExp(`Digest: ${digest}`));
      assert.equal((await dockerd.docker('inspect', '--format', '{{.Id}}', target)).trim(), imageId, 'same image id after the round trip');
      const config = JSON.parse(await dockerd.docker('inspect', '--format', '{{json .Config}}', target)) as { Env: string[] };
      assert.ok(config.Env.includes(`FIXTURE=${name}`));

      const res = await fetch(`${berth.url}/v2/docker/${name}/tags/list`);
      assert.deepEqual(await res.json(), { name: `docker/${name}`, tags: ['v1'] });
    });
  }

  it('pulls by digest', async () => {
    const res = await fetch(`${berth.url}/v2/docker/small/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    const digest = res.headers.get('docker-content-digest');
    assert.ok(digest);
    const out = await dockerd.docker('pull', `localhost:${berth.port}/docker/small@${digest}`);
    assert.match(out, new RegExp(digest));
  });
});
