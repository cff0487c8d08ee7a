/**
 * The pull-through cache over time and in the management API: expiry of what nobody pulls (then garbage
 * collection frees the bytes), clearing an upstream's cache, cached bytes apart from pushed ones on the
 * disk usage page, a scrub that does not count unpulled platforms as missing, upstreams added in the UI
 * (kept across restarts), and the activity feed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ActivityFeed, DiskUsage, MirrorExpiryReport, MirrorsOverview, UpstreamView } from '../../server/registry/api-types.ts';
import { apiCall, blobFiles, runGc, runScrub } from '../helpers/lifecycle.ts';
import { committed, pullImage, startMirror } from '../helpers/mirror.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import { startServer } from '../helpers/server.ts';
import { pushRandomImage, startFakeHub, type FakeHub, type PushedImage } from '../helpers/upstream.ts';

const DAY_MS = 24 * 60 * 60_000;

describe('mirror lifecycle', () => {
  let hub: FakeHub;
  let alpine: PushedImage;
  let multi: PushedImage;

  before(async () => {
    hub = await startFakeHub();
    alpine = await pushRandomImage(hub, 'library/alpine', 'latest', [50_000]);
    multi = await pushRandomImage(hub, 'library/multi', 'latest', [40_000, 30_000], { platforms: ['linux/amd64', 'linux/arm64'] });
  });
  after(async () => {
    await hub?.close();
  });

  const overview = async (client: Client) => (await (await client.fetch('/api/mirrors')).json()) as MirrorsOverview;

  it('drops cached tags nobody pulled for the keep period; the next garbage collection frees their bytes', async () => {
    const mirror = await startMirror(hub, { keepMs: DAY_MS });
    const client = new Client(mirror.url);
    try {
      await pullImage(mirror.url, 'library/alpine', 'latest');
      const pulledMulti = await pullImage(mirror.url, 'library/multi', 'latest');
      const multiBlobs = [multi.digest, pulledMulti.manifest, ...pulledMulti.blobs];
      const before = await committed(mirror.dataDir, [...multiBlobs, ...alpine.blobs.keys()]);
      mirror.clock.advance(DAY_MS / 2);
      await pullImage(mirror.url, 'library/alpine', 'latest');
      mirror.clock.advance(DAY_MS / 2 + 60_000);

      const expired = await apiCall(client, 'POST', '/api/mirrors/expire');
      assert.equal(expired.status, 200);
      const report = (await expired.json()) as MirrorExpiryReport;
      assert.deepEqual(report.dropped, [{ upstream: 'docker.io', repository: 'docker.io/library/multi', reference: 'latest' }]);
      assert.deepEqual(report.repositories, ['docker.io/library/multi']);
      const { repositories } = await client.catalog();
      assert.ok(repositories.includes('docker.io/library/alpine') && !repositories.includes('docker.io/library/multi'));

      const gc = await runGc(client, { grace: '0s' });
      const freed = multiBlobs.reduce((sum, d) => sum + before.get(d)!, 0);
      assert.equal(gc.bytesFreed, freed, 'exactly the expired image\'s bytes');
      const afterGc = await blobFiles(mirror.dataDir);
      for (const digest of multiBlobs) assert.ok(!afterGc.has(digest), `${digest} freed`);
      for (const digest of alpine.blobs.keys()) assert.ok(afterGc.has(digest), 'the image still in use stays');
      assert.deepEqual((await overview(client)).cached.map((c) => `${c.repository}:${c.reference}`), ['docker.io/library/alpine:latest']);
    } finally {
      await mirror.close({ remove: true });
    }
  });

  it('clears one upstream\'s cache, shows cached bytes apart from pushed ones, and scrubs clean with platforms nobody pulled', async () => {
    const mirror = await startMirror(hub);
    const client = new Client(mirror.url);
    try {
      const pushed = await client.pushImage('team/app', 'v1', { layer: 'x'.repeat(10_000) });
      const pulled = await pullImage(mirror.url, 'library/multi', 'latest');
      await committed(mirror.dataDir, pulled.blobs);
      const scrub = await runScrub(client);
      assert.deepEqual(scrub.missing, [], 'the arm64 platform nobody pulled is not missing');
      assert.equal(scrub.clean, true);

      const usage = (await (await client.fetch('/api/disk-usage')).json()) as DiskUsage;
      const cachedRepo = usage.repositories.find((r) => r.name === 'docker.io/library/multi')!;
      assert.equal(cachedRepo.cached, true);
      assert.equal(usage.repositories.find((r) => r.name === 'team/app')!.cached, undefined);
      assert.equal(usage.cachedBytes, cachedRepo.totalBytes);
      assert.equal(usage.referencedBytes - usage.cachedBytes, pushed.size + Buffer.byteLength(pushed.config) + pushed.layer.length);
      const view = (await overview(client)).upstreams[0]!;
      assert.equal(view.cached.bytes, cachedRepo.totalBytes, 'the Mirrors page counts the same bytes');

      const cleared = await apiCall(client, 'POST', '/api/mirrors/docker.io/clear');
      assert.deepEqual(((await cleared.json()) as { repositories: string[] }).repositories, ['docker.io/library/multi']);
      assert.deepEqual((await client.catalog()).repositories, ['team/app']);
      assert.deepEqual((await overview(client)).cached, []);
      assert.equal((await runGc(client, { grace: '0s' })).bytesFreed, cachedRepo.totalBytes);
    } finally {
      await mirror.close({ remove: true });
    }
  });

  it('clearing an upstream while a blob is being fetched waits for it, so no link of it outlives the clear', async () => {
    const image = await pushRandomImage(hub, 'library/clearing', 'latest', [60_000]);
    const manifest = JSON.parse(image.manifests.get(image.digest)!.toString()) as { layers: { digest: string }[] };
    const layer = manifest.layers[0]!.digest;
    const mirror = await startMirror(hub);
    const client = new Client(mirror.url);
    try {
      const pulled = await fetch(`${mirror.url}/v2/library/clearing/manifests/latest`, { headers: { Accept: image.mediaType } });
      assert.equal(pulled.status, 200);
      await pulled.arrayBuffer();
      // 60 pieces of 1,000 bytes every 50 ms: the fill runs for ~3 s, the clear arrives in its first.
      hub.fault({ method: 'GET', path: new RegExp(`/blobs/${layer}$`) }, { kind: 'trickle', chunk: 1000, everyMs: 50 }, 1);
      const res = await fetch(`${mirror.url}/v2/library/clearing/blobs/${layer}`);
      assert.equal(res.status, 200);
      const body = res.arrayBuffer();

      const cleared = await apiCall(client, 'POST', '/api/mirrors/docker.io/clear');
      assert.equal(cleared.status, 200);
      assert.deepEqual(((await cleared.json()) as { repositories: string[] }).repositories, ['docker.io/library/clearing']);
      // The fill had finished (committed, linked) before the repositories went: nothing links it after.
      assert.ok((await blobFiles(mirror.dataDir)).has(layer), 'the clear answered once the fill in progress had committed');
      assert.deepEqual(Buffer.from(await body), image.blobs.get(layer), 'the client got the whole blob');
      assert.deepEqual((await client.catalog()).repositories, []);
      await runGc(client, { grace: '0s' });
      assert.ok(!(await blobFiles(mirror.dataDir)).has(layer), 'nothing links the fetched layer any more: the collection freed it');
    } finally {
      await mirror.close({ remove: true });
    }
  });

  it('records fetches, stale serves and failures in the activity feed', async () => {
    const mirror = await startMirror(hub, { checkIntervalMs: 1000 });
    const client = new Client(mirror.url);
    try {
      const pulled = await pullImage(mirror.url, 'library/alpine', 'latest');
      await hub.stop();
      try {
        mirror.clock.advance(5000);
        await pullImage(mirror.url, 'library/alpine', 'latest');
        assert.equal((await client.getManifest('library/nothing', 'latest')).status, 503);
      } finally {
        await hub.start();
      }
      const feed = (await (await client.fetch('/api/activity')).json()) as ActivityFeed;
      const cache = feed.entries.find((e) => e.kind === 'cache')!;
      assert.equal(cache.repository, 'docker.io/library/alpine');
      assert.deepEqual(cache.tags, ['latest']);
      assert.equal(cache.upstream, 'docker.io');
      assert.equal(cache.bytes, pulled.bytes + alpine.manifests.get(alpine.digest)!.length, 'the manifest and blob bytes fetched');
      const stale = feed.entries.find((e) => e.kind === 'stale')!;
      assert.match(stale.note!, /docker\.io is unreachable/);
      const failed = feed.entries.find((e) => e.kind === 'upstream-error')!;
      assert.equal(failed.repository, 'docker.io/library/nothing');
      assert.ok(feed.entries.some((e) => e.kind === 'pull' && e.repository === 'docker.io/library/alpine'), 'pulls through the cache are pulls too');
    } finally {
      await mirror.close({ remove: true });
    }
  });

  it('adds, changes and removes upstreams in the API, kept across restarts', async () => {
    const server = await startServer();
    let client = new Client(server.url);
    let restarted: Awaited<ReturnType<typeof startServer>> | null = null;
    try {
      const bad = await apiCall(client, 'POST', '/api/mirrors', { name: 'ghcr', url: 'ftp://x' });
      assert.deepEqual(((await expectError(bad, 400, 'BAD_REQUEST')).detail as { fields: string[] }).fields, ['name']);
      const badUrl = await apiCall(client, 'POST', '/api/mirrors', { name: 'ghcr.io', url: 'https://user:pw@ghcr.io' });
      assert.deepEqual(((await expectError(badUrl, 400, 'BAD_REQUEST')).detail as { fields: string[] }).fields, ['url']);
      const badKeep = await apiCall(client, 'POST', '/api/mirrors', { name: 'ghcr.io', url: hub.url, keep: '3600' });
      assert.deepEqual(((await expectError(badKeep, 400, 'BAD_REQUEST')).detail as { fields: string[] }).fields, ['keep']);

      const created = await apiCall(client, 'POST', '/api/mirrors', { name: 'ghcr.io', url: hub.url, aliases: ['ghcr.io:443'], keep: '2d' });
      assert.equal(created.status, 201);
      const view = (await created.json()) as UpstreamView;
      assert.equal(view.source, 'ui');
      assert.equal(view.keepSeconds, 2 * 86400);
      assert.equal(view.default, true, 'the only upstream serves requests without a hint');
      await expectError(await apiCall(client, 'POST', '/api/mirrors', { name: 'ghcr.io', url: hub.url }), 400, 'BAD_REQUEST');

      await pullImage(server.url, 'library/alpine', 'latest', { query: 'ns=ghcr.io' });
      await pullImage(server.url, 'ghcr.io/library/alpine', 'latest');
      const changed = await apiCall(client, 'PUT', '/api/mirrors/ghcr.io', { checkInterval: '1m', enabled: false });
      assert.equal(((await changed.json()) as UpstreamView).checkIntervalSeconds, 60);

      await server.close();
      restarted = await startServer({ dataDir: server.dataDir });
      client = new Client(restarted.url);
      const kept = (await overview(client)).upstreams;
      assert.deepEqual(kept.map((u) => [u.name, u.enabled, u.checkIntervalSeconds]), [['ghcr.io', false, 60]]);
      const mark = hub.requests.length;
      await pullImage(restarted.url, 'ghcr.io/library/alpine', 'latest');
      assert.equal(hub.requests.length, mark, 'turned off: served from the cache, the upstream left alone');
      const off = await client.getManifest('ghcr.io/library/busybox', 'latest');
      assert.match((await expectError(off, 503, 'UNAVAILABLE')).message, /the upstream ghcr\.io is turned off/);

      assert.equal((await apiCall(client, 'DELETE', '/api/mirrors/ghcr.io')).status, 204);
      assert.deepEqual((await overview(client)).upstreams, []);
      assert.deepEqual((await client.catalog()).repositories, [], 'its cache went with it');
      const push = await client.pushImage('ghcr.io/mine', 'v1');
      assert.match(push.digest, /^sha256:/, 'no longer a cache namespace');
    } finally {
      await (restarted ?? server).close({ remove: true });
    }
  });
});
