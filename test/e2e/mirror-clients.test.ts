/**
 * The pull-through cache with the real clients, each configured the way its users configure a mirror,
 * against `berth serve --mirror docker.io=<upstream>` (the upstream: a Docker Hub-like Berth with its own
 * token realm, test/helpers/upstream.ts):
 *   - Docker with --registry-mirror (requests name no upstream), `docker pull alpine` and a multi-arch pull;
 *   - podman and skopeo with a registries.conf mirror of docker.io at <berth>/docker.io (a path prefix),
 *     given per test (--registries-conf, CONTAINERS_REGISTRIES_CONF / REGISTRIES_CONFIG_PATH: never /etc);
 *   - containerd (started here with its own root, state and socket) with `ctr images pull --hosts-dir`,
 *     which sends ?ns=docker.io.
 * Each pull fetches from the upstream once; pulling again fetches nothing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { startContainerd, type Containerd } from '../helpers/containerd.ts';
import { startDockerd, type Dockerd } from '../helpers/dockerd.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';
import { pushLayout, startFakeHub, type FakeHub } from '../helpers/upstream.ts';

const skip = skipUnless('dockerd', 'docker', 'podman', 'skopeo', 'containerd', 'ctr');

describe('pull-through cache with real clients', { skip, timeout: 900_000 }, () => {
  let hub: FakeHub;
  let berth: BerthProcess;
  let work: string;
  let images: Record<FixtureName, Fixture>;

  before(async () => {
    work = await tempDir('berth-mirror-e2e-');
    images = await fixtures();
    hub = await startFakeHub();
    await pushLayout(hub, images.small.dir, 'library/alpine', 'latest');
    await pushLayout(hub, images.tiny.dir, 'library/podman', 'latest');
    await pushLayout(hub, images.many.dir, 'library/skopeo', 'latest');
    await pushLayout(hub, images.small.dir, 'library/containerd', 'latest');
    await pushLayout(hub, images.multi.dir, 'library/multi', 'latest');
    // A second upstream (the same registry, called quay.io) shows that containerd's ns= picks it: without
    // the hint its requests would go to the default upstream, docker.io.
    berth = await startBerth({ dataDir: path.join(work, 'berth'), args: ['--mirror', `docker.io=${hub.url}`, '--mirror', `quay.io=${hub.url}`] });
  });
  after(async () => {
    await berth?.stop();
    await hub?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** Upstream requests that moved content (manifest and blob GETs), since `mark`. */
  const fetchesSince = (mark: number) => hub.requests.slice(mark).filter((r) => r.via === 'registry' && r.method === 'GET' && r.status === 200 && /\/(manifests|blobs)\//.test(r.path)).length;
  const catalog = async () => ((await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
  /**
   * What pulling `fixture` should fetch from the upstream: its manifest, and each of its config and layers
   * the cache does not hold yet (the fixtures share some blobs: a blob is fetched once for all of them).
   */
  const expectedFetches = (fixture: Fixture) => {
    const fetched = new Set(hub.requests.filter((r) => r.method === 'GET' && r.status === 200).map((r) => /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path)?.[1]));
    return 1 + [...fixture.blobs.keys()].filter((d) => d !== fixture.digest && !fetched.has(d)).length;
  };

  describe('Docker with registry-mirrors', () => {
    let dockerd: Dockerd;
    before(async () => {
      dockerd = await startDockerd(path.join(work, 'dockerd'), { args: ['--registry-mirror', berth.url] });
    });
    after(async () => {
      await dockerd?.stop();
    });

    it('docker pull alpine goes through the mirror, then again with nothing fetched', async () => {
      const mark = hub.requests.length;
      const expected = expectedFetches(images.small);
      const out = await dockerd.docker('pull', 'alpine');
      assert.match(out, /docker\.io\/library\/alpine:latest/);
      assert.equal(fetchesSince(mark), expected, 'the manifest, the config and the layer, once each');
      const env = JSON.parse(await dockerd.docker('image', 'inspect', '--format', '{{json .Config.Env}}', 'alpine')) as string[];
      assert.ok(env.includes('FIXTURE=small'));
      assert.ok((await catalog()).includes('docker.io/library/alpine'));

      await dockerd.docker('rmi', 'alpine');
      const warm = hub.requests.length;
      await dockerd.docker('pull', 'alpine');
      assert.equal(hub.requests.length, warm, 'a warm pull within the check interval asks the upstream nothing');
    });

    it('pulls a multi-arch image: the index and this machine\'s platform', async () => {
      const mark = hub.requests.length;
      await dockerd.docker('pull', 'multi');
      const arch = (await dockerd.docker('image', 'inspect', '--format', '{{.Architecture}}', 'multi')).trim();
      // The image has amd64 and arm64: docker takes this machine's.
      assert.equal(arch, process.arch === 'arm64' ? 'arm64' : 'amd64');
      // The index, this platform's manifest, its config and layer: the other platform is never fetched.
      assert.equal(fetchesSince(mark), 4);
      const index = await fetch(`${berth.url}/v2/docker.io/library/multi/manifests/latest`, { headers: { Accept: images.multi.mediaType } });
      assert.equal(index.headers.get('docker-content-digest'), images.multi.digest);
    });
  });

  describe('podman and skopeo with a registries.conf mirror', () => {
    let conf: string;
    let storage: string[];
    before(async () => {
      conf = path.join(work, 'registries.conf');
      await fs.writeFile(conf, [
        'unqualified-search-registries = ["docker.io"]',
        '[[registry]]',
        'prefix = "docker.io"',
        'location = "docker.io"',
        '[[registry.mirror]]',
        `location = "${berth.hostPort}/docker.io"`,
        'insecure = true',
        '',
      ].join('\n'));
      storage = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'), '--storage-driver', 'vfs'];
    });
    after(async () => {
      await run('podman', [...storage, 'system', 'reset', '--force'], { env: { CONTAINERS_REGISTRIES_CONF: conf, REGISTRIES_CONFIG_PATH: conf } }).catch(() => undefined);
    });

    it('podman pull docker.io/library/podman goes through the mirror (a path prefix)', async () => {
      const env = { CONTAINERS_REGISTRIES_CONF: conf, REGISTRIES_CONFIG_PATH: conf };
      const mark = hub.requests.length;
      const expected = expectedFetches(images.tiny);
      await run('podman', [...storage, 'pull', 'docker.io/library/podman:latest'], { env });
      assert.equal(fetchesSince(mark), expected);
      const inspect = JSON.parse(await run('podman', [...storage, 'image', 'inspect', 'docker.io/library/podman:latest'], { env })) as { Config: { Env: string[] } }[];
      assert.ok(inspect[0]!.Config.Env.includes('FIXTURE=tiny'));
      await run('podman', [...storage, 'rmi', 'docker.io/library/podman:latest'], { env });
      const warm = hub.requests.length;
      await run('podman', [...storage, 'pull', 'docker.io/library/podman:latest'], { env });
      assert.equal(hub.requests.length, warm);
    });

    it('skopeo copies through the mirror, a single image and a multi-arch one with --all', async () => {
      const mark = hub.requests.length;
      const expected = expectedFetches(images.many);
      await run('skopeo', ['--registries-conf', conf, 'copy', 'docker://docker.io/library/skopeo:latest', `oci:${path.join(work, 'skopeo-out')}:latest`]);
      assert.equal(fetchesSince(mark), expected);
      const out = JSON.parse(await fs.readFile(path.join(work, 'skopeo-out', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      assert.equal(out.manifests[0]!.digest, images.many.digest);
      await run('skopeo', ['--registries-conf', conf, 'copy', '--all', 'docker://docker.io/library/multi:latest', `oci:${path.join(work, 'skopeo-multi')}:latest`]);
      const multi = JSON.parse(await fs.readFile(path.join(work, 'skopeo-multi', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      assert.equal(multi.manifests[0]!.digest, images.multi.digest, 'the index, byte for byte');
    });
  });

  describe('containerd with hosts.toml', () => {
    let containerd: Containerd;
    let hostsDir: string;
    before(async () => {
      containerd = await startContainerd(path.join(work, 'containerd'));
      hostsDir = path.join(work, 'certs.d');
      await fs.mkdir(path.join(hostsDir, 'quay.io'), { recursive: true });
      await fs.writeFile(path.join(hostsDir, 'quay.io', 'hosts.toml'), [
        'server = "https://quay.io"',
        '',
        `[host."${berth.url}"]`,
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'));
    });
    after(async () => {
      await containerd?.stop();
    });

    it('ctr images pull --hosts-dir asks the mirror with ?ns=<registry>, which picks the upstream', async () => {
      const image = 'quay.io/library/containerd:latest';
      const mark = hub.requests.length;
      const expected = expectedFetches(images.small);
      await containerd.ctr('images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', image);
      // The manifest; its blobs are stored already (Docker's pull brought them) and the manifest vouches for them.
      assert.equal(fetchesSince(mark), expected);
      assert.match(await containerd.ctr('images', 'ls', '-q'), /quay\.io\/library\/containerd:latest/);
      const repositories = await catalog();
      assert.ok(repositories.includes('quay.io/library/containerd'), 'cached under the upstream ns= named');
      assert.ok(!repositories.includes('docker.io/library/containerd'));
      await containerd.ctr('images', 'rm', image);
      await containerd.ctr('content', 'prune', 'references').catch(() => undefined);
      const warm = hub.requests.length;
      await containerd.ctr('images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', image);
      assert.equal(hub.requests.length, warm);
    });
  });
});
