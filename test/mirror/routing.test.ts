/**
 * Which requests the pull-through cache answers (server/mirror/router.ts): the three ways clients ask a
 * mirror, Docker Hub's library/ names, local repositories winning, pushes into a cache namespace
 * refused, and no upstream contacted for a host that is not configured.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, expectError } from '../helpers/registry-client.ts';
import { pullImage, startMirror, type MirrorServer } from '../helpers/mirror.ts';
import { pushRandomImage, startFakeHub, type FakeHub, type PushedImage } from '../helpers/upstream.ts';

describe('mirror routing', () => {
  let hub: FakeHub;
  let mirror: MirrorServer;
  let client: Client;
  let alpine: PushedImage;

  before(async () => {
    hub = await startFakeHub();
    alpine = await pushRandomImage(hub, 'library/alpine', 'latest', [4096, 2048]);
    await pushRandomImage(hub, 'team/app', 'v1', [1024]);
    mirror = await startMirror(hub);
    client = new Client(mirror.url);
  });
  after(async () => {
    await mirror?.close({ remove: true });
    await hub?.close();
  });

  it('serves Docker registry-mirrors requests (no hint) from the default upstream, stored under its name', async () => {
    const pulled = await pullImage(mirror.url, 'library/alpine', 'latest');
    assert.equal(pulled.digest, alpine.digest);
    // The cached copy is ordinary repository content under docker.io/, pullable by that name.
    const { tags } = await client.listTags('docker.io/library/alpine');
    assert.deepEqual(tags, ['latest']);
    assert.equal((await pullImage(mirror.url, 'docker.io/library/alpine', 'latest')).digest, alpine.digest);
  });

  it('serves containerd requests with ?ns= and podman path prefixes, aliases included', async () => {
    assert.equal((await pullImage(mirror.url, 'team/app', 'v1', { query: 'ns=docker.io' })).blobs.length, 2);
    assert.equal((await pullImage(mirror.url, 'docker.io/team/app', 'v1')).blobs.length, 2);
    assert.equal((await pullImage(mirror.url, 'registry-1.docker.io/team/app', 'v1')).blobs.length, 2);
    assert.equal((await pullImage(mirror.url, 'team/app', 'v1', { query: 'ns=index.docker.io' })).blobs.length, 2);
    const { repositories } = await client.catalog();
    assert.ok(repositories.includes('docker.io/team/app'));
    assert.ok(!repositories.includes('registry-1.docker.io/team/app'), 'aliases share the upstream name\'s cache');
  });

  it('reads Docker Hub one-segment names as library/NAME', async () => {
    assert.equal((await pullImage(mirror.url, 'docker.io/alpine', 'latest')).digest, alpine.digest);
    assert.equal((await pullImage(mirror.url, 'alpine', 'latest', { query: 'ns=docker.io' })).digest, alpine.digest);
    const { tags } = await client.listTags('docker.io/library/alpine');
    assert.deepEqual(tags, ['latest']);
  });

  it('lets a local repository of the same name win over the cache', async () => {
    const local = await client.pushImage('library/alpine', 'latest');
    const res = await client.getManifest('library/alpine', 'latest');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), local.digest);
    const viaNs = await client.fetch('/v2/library/alpine/manifests/latest?ns=docker.io');
    assert.equal(viaNs.headers.get('docker-content-digest'), local.digest);
    // ...while the cache stays reachable by its own name.
    const cached = await client.getManifest('docker.io/library/alpine', 'latest');
    assert.equal(cached.headers.get('docker-content-digest'), alpine.digest);
  });

  it('refuses pushes into a cache namespace with DENIED', async () => {
    const start = await client.fetch('/v2/docker.io/library/alpine/blobs/uploads/', { method: 'POST' });
    const error = await expectError(start, 403, 'DENIED');
    assert.match(error.message, /pull-through cache of docker\.io.*read-only/);
    await expectError(await client.putManifest('docker.io/library/alpine', 'mine', '{}'), 403, 'DENIED');
    await expectError(await client.fetch('/v2/docker.io/library/alpine/manifests/latest', { method: 'DELETE' }), 403, 'DENIED');
    await expectError(await client.fetch('/v2/registry-1.docker.io/x/blobs/uploads/', { method: 'POST' }), 403, 'DENIED');
    const hinted = await client.fetch('/v2/library/busybox/blobs/uploads/?ns=docker.io', { method: 'POST' });
    assert.match((await expectError(hinted, 403, 'DENIED')).message, /pulls only/);
  });

  it('never contacts a host that is not a configured upstream', async () => {
    const before = hub.requests.length;
    await expectError(await client.fetch('/v2/library/nothing/manifests/latest?ns=ghcr.io'), 404, 'NAME_UNKNOWN');
    await expectError(await client.fetch('/v2/ghcr.io/owner/app/manifests/latest'), 404, 'NAME_UNKNOWN');
    await expectError(await client.fetch('/v2/quay.io/owner/app/blobs/sha256:' + 'a'.repeat(64) + '?ns=quay.io'), 404, 'BLOB_UNKNOWN');
    assert.equal(hub.requests.length, before, 'no request reached the upstream');
  });
});
