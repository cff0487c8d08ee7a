/**
 * Issue 16: three `berth serve` replicas behind HAProxy (deploy/haproxy.cfg, round-robin) over one S3
 * bucket (Swift + s3api) and one PostgreSQL database, as docs/deploy.md runs them. Nothing is sticky:
 * pushes and pulls through the load balancer (skopeo, podman, Docker) land on any replica, a chunked upload's PATCHes on three,
 * and what one replica did the others see (listings, activity, the live event stream). Then the hard
 * cases: collections on one replica while others take pushes, kill -9 of a replica during eight
 * concurrent pushes, and PostgreSQL stopped and started again under running replicas.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, pseudoRandom } from '../fixtures/images.ts';
import { runBerth } from '../helpers/berth-process.ts';
import { clusterSkip, startCluster, type Cluster } from '../helpers/cluster.ts';
import { apiCall } from '../helpers/lifecycle.ts';
import { Client, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, describe as describeResponse, expectError, sha256, waitFor } from '../helpers/registry-client.ts';
import { loadOciLayout, startDockerd } from '../helpers/dockerd.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = clusterSkip();

interface TestImage {
  repo: string;
  tag: string;
  layers: Buffer[];
  config: Buffer;
  manifest: Buffer;
}

function makeImage(repo: string, tag: string, seed: string, layerBytes: number, layers = 2): TestImage {
  const parts = Array.from({ length: layers }, (_, j) => pseudoRandom(`${seed}-${j}`, layerBytes + j));
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: parts.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
  }));
  return { repo, tag, layers: parts, config, manifest };
}

/** POST, one streamed PATCH, PUT ?digest= (what docker and podman do); each request may land anywhere. */
async function pushBlob(client: Client, repo: string, bytes: Buffer): Promise<void> {
  const location = await client.startUpload(repo);
  const patched = await client.streamChunk(location, bytes);
  assert.equal(patched.status, 202, await describeResponse(patched));
  const done = await client.finishUpload(patched.headers.get('location')!, sha256(bytes));
  assert.equal(done.status, 201, await describeResponse(done));
}

async function pushImage(client: Client, image: TestImage): Promise<void> {
  for (const blob of [...image.layers, image.config]) await pushBlob(client, image.repo, blob);
  const res = await client.fetch(`/v2/${image.repo}/manifests/${image.tag}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: image.manifest });
  assert.equal(res.status, 201, await describeResponse(res));
}

/** The image pulls back complete and byte-identical. */
async function assertPulls(client: Client, image: TestImage, what: string): Promise<void> {
  const res = await client.getManifest(image.repo, image.tag, OCI_MANIFEST);
  assert.equal(res.status, 200, `${what}: manifest ${image.repo}:${image.tag}: ${await describeResponse(res)}`);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(image.manifest), `${what}: the manifest is the pushed one`);
  for (const blob of [...image.layers, image.config]) {
    const got = await client.getBlob(image.repo, sha256(blob));
    assert.equal(got.status, 200, `${what}: blob ${sha256(blob)} of ${image.repo}`);
    assert.equal(createHash('sha256').update(Buffer.from(await got.arrayBuffer())).digest('hex'), sha256(blob).slice(7), `${what}: blob bytes`);
  }
}

/** Reads server-sent events from `url` until `match` returns true for one; resolves with its data. */
function awaitEvent(url: string, match: (name: string, data: unknown) => boolean, timeoutMs = 30_000): { ready: Promise<void>; event: Promise<unknown> } {
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const event = new Promise<unknown>((resolve, reject) => {
    const req = http.get(url, (res) => {
      ready();
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffer += text;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name && data && match(name, JSON.parse(data))) {
            clearTimeout(timer);
            req.destroy();
            resolve(JSON.parse(data));
          }
        }
      });
    });
    req.on('error', () => undefined);
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no matching event on ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  return { ready: readyP, event };
}

describe('a cluster: three replicas behind HAProxy over S3 and PostgreSQL', { skip, timeout: 900_000 }, () => {
  let cluster: Cluster;
  let lb: Client;
  const replica = (i: number) => new Client(cluster.replicas[i]!.url);

  before(async () => {
    cluster = await startCluster();
    lb = new Client(cluster.lb.url);
  });
  after(async () => {
    await cluster?.stop();
  });

  it('skopeo pushes and pulls an eight-layer image through the load balancer, byte-identical', async () => {
    const images = await fixtures();
    const image = images.many;
    const out = path.join(cluster.work, 'pulled-many');
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${image.dir}:latest`, `docker://${cluster.lb.hostPort}/skopeo/many:v1`]);
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${cluster.lb.hostPort}/skopeo/many:v1`, `oci:${out}:latest`]);
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, image.digest, 'the pulled manifest is the pushed one');
    const blobDir = path.join(image.dir, 'blobs', 'sha256');
    for (const hex of await fs.readdir(blobDir)) {
      const pulled = await fs.readFile(path.join(out, 'blobs', 'sha256', hex));
      assert.ok(pulled.equals(await fs.readFile(path.join(blobDir, hex))), `sha256:${hex} byte-identical`);
    }
    // Every replica knows the tag (the shared index), whichever replica took the manifest.
    for (let i = 0; i < 3; i++) assert.deepEqual((await replica(i).listTags('skopeo/many')).tags, ['v1'], `replica ${i + 1} lists the tag`);
  });

  /**
   * The manifest `digest` of repo:tag as each replica serves it (its bytes hash to the digest), with
   * every blob it names, each hashing to its own digest: the image is whole on every replica.
   */
  async function assertEveryReplicaServes(repo: string, tag: string, digest: string, layers: number): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const res = await replica(i).getManifest(repo, tag, [OCI_MANIFEST, DOCKER_MANIFEST]);
      assert.equal(res.status, 200, `replica ${i + 1}: ${await describeResponse(res)}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(sha256(bytes), digest, `replica ${i + 1} serves the pushed manifest`);
      const manifest = JSON.parse(bytes.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
      assert.equal(manifest.layers.length, layers);
      for (const blob of [manifest.config, ...manifest.layers]) {
        const got = await replica(i).getBlob(repo, blob.digest);
        assert.equal(got.status, 200, `replica ${i + 1}: blob ${blob.digest}`);
        assert.equal(sha256(Buffer.from(await got.arrayBuffer())), blob.digest, `replica ${i + 1}: the bytes of ${blob.digest}`);
      }
    }
  }

  it('podman pushes and pulls an eight-layer image through the load balancer, digest-identical', { skip: skipUnless('podman') }, async () => {
    const images = await fixtures();
    const root = path.join(cluster.work, 'podman');
    // Private container storage and registries.conf: nothing of the machine's own is read or changed.
    const storage = ['--root', path.join(root, 'storage'), '--runroot', path.join(root, 'run'), '--storage-driver', 'vfs'];
    const conf = path.join(root, 'registries.conf');
    await fs.mkdir(root, { recursive: true });
    await fs.writeFile(conf, '');
    const podman = (...args: string[]) => run('podman', [...storage, ...args], { env: { CONTAINERS_REGISTRIES_CONF: conf, REGISTRIES_CONFIG_PATH: conf } });
    try {
      await podman('pull', `oci:${images.many.dir}:latest`);
      const id = (await podman('images', '--format', '{{.ID}}', '--noheading', '--no-trunc')).trim().split('\n')[0]!;
      const target = `${cluster.lb.hostPort}/podman/many:v1`;
      await podman('tag', id, target);
      const digestFile = path.join(root, 'digest');
      await podman('push', '--tls-verify=false', '--digestfile', digestFile, target);
      const digest = (await fs.readFile(digestFile, 'utf8')).trim();
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      await assertEveryReplicaServes('podman/many', 'v1', digest, 8);

      await podman('rmi', '--force', id);
      await assert.rejects(podman('image', 'inspect', target), 'the image is gone locally');
      await podman('pull', '--tls-verify=false', target);
      const [pulled] = JSON.parse(await podman('image', 'inspect', target)) as { Id: string; Digest: string; Config: { Env: string[] } }[];
      assert.equal(pulled!.Digest, digest, 'podman pulled the manifest it pushed');
      assert.equal(`sha256:${pulled!.Id.replace(/^sha256:/, '')}`, `sha256:${id.replace(/^sha256:/, '')}`, 'the same image (config) after the round trip');
      assert.ok(pulled!.Config.Env.includes('FIXTURE=many'));
    } finally {
      await podman('system', 'reset', '--force').catch(() => undefined);
    }
  });

  it('docker pushes and pulls an eight-layer image through the load balancer (127.0.0.1: insecure to Docker by default), digest-identical', { skip: skipUnless('dockerd', 'docker', 'skopeo') }, async () => {
    const images = await fixtures();
    const root = path.join(cluster.work, 'docker');
    const dockerd = await startDockerd(root);
    try {
      const ref = await loadOciLayout(dockerd, images.many.dir, 'fixtures/many:latest', root);
      const imageId = (await dockerd.docker('inspect', '--format', '{{.Id}}', ref)).trim();
      const target = `${cluster.lb.hostPort}/docker/many:v1`;
      await dockerd.docker('tag', ref, target);
      const pushed = await dockerd.docker('push', target);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
      assert.ok(digest, pushed);
      await assertEveryReplicaServes('docker/many', 'v1', digest, 8);

      await dockerd.docker('rmi', target, ref);
      await assert.rejects(dockerd.docker('inspect', target), 'the image is gone locally');
      const pulled = await dockerd.docker('pull', target);
      assert.match(pulled, new RegExp(`Digest: ${digest}`));
      assert.equal((await dockerd.docker('inspect', '--format', '{{.Id}}', target)).trim(), imageId, 'the same image id after the round trip');
      const repoDigests = JSON.parse(await dockerd.docker('inspect', '--format', '{{json .RepoDigests}}', target)) as string[];
      assert.ok(repoDigests.includes(`${cluster.lb.hostPort}/docker/many@${digest}`), repoDigests.join(', '));
    } finally {
      await dockerd.stop();
    }
  });

  it('a chunked upload whose PATCHes alternate between replicas completes and verifies its digest', async () => {
    const chunks = [pseudoRandom('alt-0', 3 * 1024 * 1024), pseudoRandom('alt-1', 2 * 1024 * 1024 + 17), pseudoRandom('alt-2', 1024 * 1024 + 5)];
    const whole = Buffer.concat(chunks);
    let location = await replica(0).startUpload('alternate/blob');
    let offset = 0;
    for (const [n, chunk] of chunks.entries()) {
      const res = await replica((n + 1) % 3).pushChunk(location, chunk, [offset, offset + chunk.length - 1]);
      assert.equal(res.status, 202, `PATCH ${n + 1} on replica ${((n + 1) % 3) + 1}: ${await describeResponse(res)}`);
      offset += chunk.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`, 'the Range counts every replica\'s chunks');
      location = res.headers.get('location')!;
    }
    const status = await replica(2).uploadStatus(location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${whole.length - 1}`);
    // A wrong digest is refused, whichever replica completes; the session stays usable.
    await expectError(await replica(1).finishUpload(location, sha256('not these bytes')), 400, 'DIGEST_INVALID');
    const done = await replica(1).finishUpload(location, sha256(whole));
    assert.equal(done.status, 201, await describeResponse(done));
    for (let i = 0; i < 3; i++) {
      const got = await replica(i).getBlob('alternate/blob', sha256(whole));
      assert.equal(got.status, 200);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(whole), `replica ${i + 1} serves the bytes`);
    }
  });

  it('a push on one replica shows on the others: the live event stream, the activity, the catalog', async () => {
    const stream = awaitEvent(`${cluster.replicas[2]!.url}/api/events`, (name, data) => name === 'manifest-pushed' && (data as { repository?: string }).repository === 'live/app');
    await stream.ready;
    await replica(0).pushImage('live/app', 'v1', { layer: 'live layer' });
    const event = (await stream.event) as { repository: string; tag?: string };
    assert.equal(event.repository, 'live/app', 'replica 3 streamed the push replica 1 took');
    await waitFor(async () => {
      const feed = (await (await replica(1).fetch('/api/activity')).json()) as { entries: { kind: string; repository: string; tags: string[] }[] };
      return feed.entries.some((e) => e.kind === 'push' && e.repository === 'live/app' && e.tags.includes('v1'));
    }, 'replica 2\'s activity shows the push on replica 1');
    assert.ok((await replica(2).catalog()).repositories.includes('live/app'));
  });

  it('/healthz reports the metadata store and the storage separately', async () => {
    for (let i = 0; i < 3; i++) {
      const body = (await (await replica(i).fetch('/healthz')).json()) as { status: string; store: string; metadata: { driver: string; state: string; where: string } };
      assert.equal(body.status, 'ok');
      assert.equal(body.store, 'reachable', 'the object store answers');
      assert.deepEqual({ driver: body.metadata.driver, state: body.metadata.state }, { driver: 'postgres', state: 'ok' });
      assert.match(body.metadata.where, /^127\.0\.0\.1:\d+\/berth$/, 'where, without credentials');
    }
  });

  it('collections on one replica while the others take pushes lose nothing, and run one at a time', async () => {
    const images = Array.from({ length: 12 }, (_, i) => makeImage(`gc/app${i % 4}`, `t${i}`, `gc-${i}`, 256 * 1024 + i));
    // Unreferenced blobs a collection removes, so it has work to do while the pushes run.
    for (let i = 0; i < 6; i++) await pushBlob(replica(0), 'gc/junk', pseudoRandom(`junk-${i}`, 100_000 + i));
    let pushing = true;
    // With a grace of 0 s a push whose layers were uploaded before a collection began and whose manifest
    // comes after may be refused (MANIFEST_BLOB_UNKNOWN: the client pushes again); a push that was
    // answered 201 must never lose anything.
    const refused: TestImage[] = [];
    const pushes = (async () => {
      try {
        for (const [i, image] of images.entries()) {
          try {
            await pushImage(replica(1 + (i % 2)), image);
          } catch (err) {
            assert.match((err as Error).message, /MANIFEST_BLOB_UNKNOWN/);
            refused.push(image);
          }
        }
      } finally {
        pushing = false;
      }
    })();
    const runs: string[] = [];
    const collect = async (i: number) => {
      const res = await apiCall(replica(i), 'POST', '/api/gc', { untagged: true, grace: '0s', wait: true });
      assert.equal(res.status, 200, await describeResponse(res));
      const run = (await res.json()) as { id: string; state: string };
      assert.equal(run.state, 'succeeded', JSON.stringify(run));
      runs.push(run.id);
    };
    // Collections on replica 1 back to back while the pushes run, and one on replica 2 beside them.
    await Promise.all([
      (async () => {
        while (pushing) await collect(0);
      })(),
      collect(1),
      pushes,
    ]);
    await collect(0);
    assert.ok(refused.length < images.length, 'pushes completed during the collections');
    for (const image of images) if (!refused.includes(image)) await assertPulls(lb, image, 'a push answered 201 during the collections');
    for (const image of refused) await pushImage(lb, image);
    for (const image of images) await assertPulls(lb, image, 'after the collections');
    assert.equal((await lb.getBlob('gc/junk', sha256(pseudoRandom('junk-0', 100_000)))).status, 404, 'the collections removed the unreferenced blobs');
    // One at a time across the cluster: no two runs overlap.
    const list = (await (await replica(2).fetch('/api/runs?kind=gc')).json()) as { runs: { id: string; startedAt: string; finishedAt: string }[] };
    const ours = list.runs.filter((r) => runs.includes(r.id)).sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    assert.equal(ours.length, runs.length, 'every replica lists every run');
    for (let i = 1; i < ours.length; i++) {
      assert.ok(Date.parse(ours[i]!.startedAt) >= Date.parse(ours[i - 1]!.finishedAt), `run ${i + 1} started after run ${i} finished`);
    }
  });

  it('kill -9 of a replica during eight concurrent pushes: the others keep serving, completed pushes pull back, retries succeed', async () => {
    const images = Array.from({ length: 8 }, (_, i) => makeImage(`crash/app${i}`, 'v1', `crash-${i}`, 2 * 1024 * 1024 + i, 3));
    let finished = 0;
    let inFlightAtKill = -1;
    const pushes = images.map((image) => pushImage(lb, image).then(() => true, () => false).finally(() => (finished += 1)));
    // Once the first push completed, with the others under way on every replica, replica 2 dies.
    await Promise.race(pushes);
    inFlightAtKill = images.length - finished;
    await cluster.replicas[1]!.kill9();
    const outcomes = await Promise.all(pushes);
    assert.ok(inFlightAtKill > 0, 'pushes were in flight when the replica died');
    const completed = images.filter((_, i) => outcomes[i]);
    // The load balancer keeps serving through the two that live.
    assert.equal((await lb.fetch('/v2/')).status, 200);
    for (const image of completed) await assertPulls(lb, image, 'a push completed before or during the kill');
    for (const [i, image] of images.entries()) if (!outcomes[i]) await pushImage(lb, image);
    for (const image of images) await assertPulls(lb, image, 'after the retries');
    // The killed replica comes back and serves what the others stored meanwhile.
    await cluster.restart(1);
    for (const image of images) await assertPulls(replica(1), image, 'on the restarted replica');
  });

  it('berth reindex with BERTH_METADATA_URL rebuilds the shared index from the bucket while the replicas run', async () => {
    const before = (await lb.catalog()).repositories;
    assert.ok(before.includes('skopeo/many'));
    // The index lost: listings are empty on every replica until the rebuild.
    await cluster.pg.psql('DELETE FROM index_tags; DELETE FROM index_manifests; DELETE FROM index_repositories', 'berth');
    assert.deepEqual((await replica(0).catalog()).repositories, []);
    const rebuilt = await runBerth(['reindex', '--data', path.join(cluster.work, 'reindex-cli')], cluster.env);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    for (let i = 0; i < 3; i++) assert.deepEqual((await replica(i).catalog()).repositories, before, `replica ${i + 1} lists every repository again`);
    assert.deepEqual((await replica(2).listTags('skopeo/many')).tags, ['v1']);
  });

  it('PostgreSQL stopped: writes answer 503 with a clear error, reads keep working, and it recovers without a restart', async () => {
    const before = await replica(0).pushImage('outage/app', 'v1', { layer: 'before the outage' });
    await cluster.pg.stop();
    try {
      for (let i = 0; i < 3; i++) {
        const r = replica(i);
        const res = await r.fetch('/v2/outage/app/blobs/uploads/', { method: 'POST' });
        const error = await expectError(res, 503, 'UNAVAILABLE');
        assert.match(error.message, /metadata database/, `replica ${i + 1} says what is missing`);
        const manifest = await r.fetch('/v2/outage/app/manifests/v2', { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: before.bytes });
        await expectError(manifest, 503, 'UNAVAILABLE');
        // Reads of what storage holds still work.
        const blob = await r.getBlob('outage/app', before.manifest.layers[0]!.digest);
        assert.equal(blob.status, 200, `replica ${i + 1} serves blobs`);
        const pulled = await r.getManifest('outage/app', before.digest, OCI_MANIFEST);
        assert.equal(pulled.status, 200, `replica ${i + 1} serves manifests by digest`);
        const health = await r.fetch('/healthz');
        assert.equal(health.status, 200, 'degraded, not down: a load balancer keeps it for reads');
        const body = (await health.json()) as { status: string; metadata: { state: string }; problem: string };
        assert.equal(body.status, 'degraded');
        assert.equal(body.metadata.state, 'unreachable');
        assert.match(body.problem, /metadata database/);
        assert.match(await (await r.fetch('/metrics')).text(), /^berth_metadata_up 0$/m, 'the gauge to alert on');
      }
    } finally {
      await cluster.pg.start();
    }
    // Back without a restart: every replica takes pushes again once it sees the database.
    for (let i = 0; i < 3; i++) {
      await waitFor(async () => (await (await replica(i).fetch('/healthz')).json() as { status: string }).status === 'ok', `replica ${i + 1} healthy again`);
      await replica(i).pushImage('outage/app', `after${i}`, { layer: `after the outage ${i}` });
    }
    assert.deepEqual((await lb.listTags('outage/app')).tags.sort(), ['after0', 'after1', 'after2', 'v1']);
  });
});

describe('a cluster with registry auth and TLS: the signing key and the CA are shared', { skip, timeout: 300_000 }, () => {
  let cluster: Cluster;
  before(async () => {
    cluster = await startCluster({ replicas: 2, haproxy: false, tls: true, env: { BERTH_AUTH: 'token', BERTH_ADMIN_PASSWORD: 'cluster-admin-password' } });
  });
  after(async () => {
    await cluster?.stop();
  });

  /** `from`: the client's own loopback address (127.0.0.x), so that logins come from several addresses. */
  function get(url: string, ca: string, headers: Record<string, string> = {}, from?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.get(url, { ca, headers, ...(from ? { localAddress: from } : {}) }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
    });
  }

  it('both replicas serve certificates of one CA, and a token one issued opens the other', async () => {
    const [one, two] = cluster.replicas;
    const ca = await fs.readFile(path.join(cluster.work, 'replica1', 'tls', 'ca.crt'), 'utf8');
    assert.equal(await fs.readFile(path.join(cluster.work, 'replica2', 'tls', 'ca.crt'), 'utf8'), ca, 'one CA for the cluster');
    const basic = `Basic ${Buffer.from('admin:cluster-admin-password').toString('base64')}`;
    const issued = await get(`${one!.url}/token?service=berth&scope=repository:shared/app:pull,push`, ca, { Authorization: basic });
    assert.equal(issued.status, 200, issued.body);
    const { token } = JSON.parse(issued.body) as { token: string };
    // Verified against the first replica's CA: the second presents a certificate of the same CA.
    const v2 = await get(`${two!.url}/v2/`, ca, { Authorization: `Bearer ${token}` });
    assert.equal(v2.status, 200, `replica 2 accepts replica 1's token: ${v2.body}`);
    const tags = await get(`${two!.url}/v2/shared/app/tags/list`, ca, { Authorization: `Bearer ${token}` });
    assert.equal(tags.status, 404, 'authorised (the repository does not exist yet)');
  });

  it('failed logins count on every replica, and a user known at an address on one is known on all', async () => {
    const [one, two] = cluster.replicas;
    const ca = await fs.readFile(path.join(cluster.work, 'replica1', 'tls', 'ca.crt'), 'utf8');
    for (const user of ['dora', 'eve']) {
      const added = await runBerth(['user', 'add', user, '--password-stdin', '--data', path.join(cluster.work, `cli-${user}`)], cluster.env, `${user}-password-123\n`);
      assert.equal(added.code, 0, added.stderr);
    }
    const login = (replica: typeof one, user: string, password: string, from: string) =>
      get(`${replica!.url}/token?service=berth&scope=repository:${user}/app:pull`, ca, { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }, from);
    // dora logs in through replica 1 from 127.0.0.1: she is known there.
    assert.equal((await login(one, 'dora', 'dora-password-123', '127.0.0.1')).status, 200);
    // Ten guesses of each password through replica 1, from addresses of their own (the address throttle stays out of it).
    for (let i = 0; i < 10; i++) {
      assert.equal((await login(one, 'dora', `guess-${i}`, '127.0.0.2')).status, 401);
      assert.equal((await login(one, 'eve', `guess-${i}`, '127.0.0.3')).status, 401);
    }
    // Through replica 2: eve, known nowhere, waits (replica 2 counts replica 1's failures) ...
    const eve = await login(two, 'eve', 'eve-password-123', '127.0.0.1');
    assert.equal(eve.status, 429, `eve's name is throttled on replica 2 too: ${eve.body}`);
    // ... and dora, known at 127.0.0.1 through replica 1, is not locked out by the guesses.
    const dora = await login(two, 'dora', 'dora-password-123', '127.0.0.1');
    assert.equal(dora.status, 200, `dora logs in through replica 2: ${dora.body}`);
  });

  it('berth user add with BERTH_METADATA_URL changes the shared users while the replicas run', async () => {
    const data = path.join(cluster.work, 'admin-cli');
    const added = await runBerth(['user', 'add', 'carol', '--password-stdin', '--data', data], cluster.env, 'carol-password-123\n');
    assert.equal(added.code, 0, added.stderr);
    const ca = await fs.readFile(path.join(cluster.work, 'replica1', 'tls', 'ca.crt'), 'utf8');
    for (const replica of cluster.replicas) {
      const basic = `Basic ${Buffer.from('carol:carol-password-123').toString('base64')}`;
      const issued = await get(`${replica.url}/token?service=berth&scope=repository:carol/app:pull`, ca, { Authorization: basic });
      assert.equal(issued.status, 200, `carol logs in on ${replica.url}: ${issued.body}`);
    }
  });
});
