/**
 * Manifests through the pull-through cache (server/mirror/manifests.ts): digests held are served with no
 * upstream call, tags within their check interval too; after it a HEAD, and a GET only when the tag
 * moved; when the upstream is down, slow, rate-limited or failing, cached tags are served stale
 * (counted, shown) and what was never cached fails with an error naming the upstream's failure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, expectError } from '../helpers/registry-client.ts';
import { MANIFEST_ACCEPT, pullImage, startMirror, type MirrorServer } from '../helpers/mirror.ts';
import { pushRandomImage, startFakeHub, type FakeHub, type PushedImage } from '../helpers/upstream.ts';
import type { MirrorsOverview } from '../../server/registry/api-types.ts';

const INTERVAL_MS = 5 * 60_000;

describe('mirror manifests', () => {
  let hub: FakeHub;
  let mirror: MirrorServer;
  let client: Client;
  let first: PushedImage;

  before(async () => {
    hub = await startFakeHub();
    first = await pushRandomImage(hub, 'library/alpine', 'latest', [3000, 1000]);
    mirror = await startMirror(hub, { checkIntervalMs: INTERVAL_MS });
    client = new Client(mirror.url);
  });
  after(async () => {
    await mirror?.close({ remove: true });
    await hub?.close();
  });

  /** Upstream registry requests since `mark` (hub.requests.length at that point), as "METHOD kind". */
  const since = (mark: number) =>
    hub.requests.slice(mark).filter((r) => r.via === 'registry').map((r) => `${r.method} ${/\/manifests\//.test(r.path) ? 'manifest' : /\/blobs\//.test(r.path) ? 'blob' : r.path}`);
  const overview = async () => (await (await client.fetch('/api/mirrors')).json()) as MirrorsOverview;

  it('fetches a cold image once, then serves warm pulls within the interval with zero upstream calls', async () => {
    const cold = await pullImage(mirror.url, 'library/alpine', 'latest');
    assert.equal(cold.digest, first.digest);
    let mark = hub.requests.length;
    for (let i = 0; i < 3; i++) await pullImage(mirror.url, 'library/alpine', 'latest');
    assert.deepEqual(since(mark), [], 'warm pulls reach the upstream not once');
    mark = hub.requests.length;
    await pullImage(mirror.url, 'library/alpine', first.digest);
    assert.deepEqual(since(mark), [], 'a digest held is served without asking');
    const counters = (await overview()).upstreams[0]!.counters;
    assert.equal(counters.misses, 4, 'manifest + 2 layers + config fetched once');
    assert.ok(counters.hits >= 16, `hits counted (${counters.hits})`);
    assert.equal(counters.rateLimitRemaining, 99, 'the RateLimit-Remaining of the one manifest GET');
  });

  it('after the interval asks with a HEAD and fetches nothing when the tag did not move', async () => {
    mirror.clock.advance(INTERVAL_MS + 1000);
    const mark = hub.requests.length;
    await pullImage(mirror.url, 'library/alpine', 'latest');
    assert.deepEqual(since(mark), ['HEAD manifest']);
  });

  it('sees a tag moved upstream after the interval: HEAD, then GET by the new digest', async () => {
    const moved = await pushRandomImage(hub, 'library/alpine', 'latest', [2000]);
    assert.equal((await pullImage(mirror.url, 'library/alpine', 'latest')).digest, first.digest, 'within the interval the cached tag stands');
    mirror.clock.advance(INTERVAL_MS + 1000);
    const mark = hub.requests.length;
    const pulled = await pullImage(mirror.url, 'library/alpine', 'latest');
    assert.equal(pulled.digest, moved.digest);
    assert.deepEqual(since(mark), ['HEAD manifest', 'GET manifest', 'GET blob', 'GET blob']);
    const getByDigest = hub.requests.slice(mark).find((r) => r.method === 'GET' && /manifests/.test(r.path));
    assert.match(getByDigest!.path, /manifests\/sha256:/, 'fetched by the digest the HEAD named');
    // The old manifest is still cached: pulling it by digest asks nothing.
    const again = hub.requests.length;
    await pullImage(mirror.url, 'docker.io/library/alpine', first.digest);
    assert.deepEqual(since(again), []);
  });

  it('serves cached tags and digests stale while the upstream is down, and names the failure for the uncached', async () => {
    await hub.stop();
    try {
      mirror.clock.advance(INTERVAL_MS + 1000);
      const stale = await pullImage(mirror.url, 'library/alpine', 'latest');
      assert.notEqual(stale.digest, first.digest);
      await pullImage(mirror.url, 'library/alpine', first.digest);
      const view = await overview();
      const entry = view.cached.find((c) => c.repository === 'docker.io/library/alpine' && c.reference === 'latest')!;
      assert.ok(entry.staleSince, 'shown as stale');
      assert.match(entry.lastError!, /docker\.io is unreachable \(connect ECONNREFUSED/);
      assert.equal(view.upstreams[0]!.counters.staleServes, 1);
      assert.equal(view.upstreams[0]!.cached.stale, 1);

      const uncached = await client.getManifest('library/busybox', 'latest', MANIFEST_ACCEPT);
      const error = await expectError(uncached, 503, 'UNAVAILABLE');
      assert.match(error.message, /^manifest library\/busybox:latest is not cached, and docker\.io is unreachable \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/);
      const blob = await client.getBlob('library/busybox', `sha256:${'b'.repeat(64)}`);
      assert.match((await expectError(blob, 503, 'UNAVAILABLE')).message, /is not cached, and docker\.io is unreachable/);
    } finally {
      await hub.start();
    }
    // Back up: the next check clears the stale mark.
    mirror.clock.advance(INTERVAL_MS + 60_000);
    await pullImage(mirror.url, 'library/alpine', 'latest');
    const entry = (await overview()).cached.find((c) => c.repository === 'docker.io/library/alpine' && c.reference === 'latest')!;
    assert.equal(entry.staleSince, null);
    assert.equal(entry.lastError, null);
  });

  for (const [label, fault] of [
    ['answers 429', { kind: 'status', status: 429, retryAfter: 60 }],
    ['answers 500', { kind: 'status', status: 500 }],
    ['is slower than the timeout', { kind: 'slow', delayMs: 3000 }],
    ['resets the connection', { kind: 'reset' }],
  ] as const) {
    it(`serves the cached tag stale when the upstream ${label}`, async () => {
      mirror.clock.advance(10 * 60_000);
      hub.fault({ path: /manifests/ }, fault);
      try {
        const before = (await overview()).upstreams[0]!.counters;
        const res = await client.getManifest('library/alpine', 'latest', MANIFEST_ACCEPT);
        assert.equal(res.status, 200);
        const after = (await overview()).upstreams[0]!.counters;
        assert.equal(after.staleServes, before.staleServes + 1);
        assert.equal(after.upstreamErrors, before.upstreamErrors + 1);
        const never = await client.getManifest('library/never', 'latest', MANIFEST_ACCEPT);
        if (fault.kind === 'status' && fault.status === 429) {
          const error = await expectError(never, 429, 'TOOMANYREQUESTS');
          assert.match(error.message, /docker\.io refused manifest library\/never:latest: too many requests \(429, retry after 60 s\)/);
          assert.equal(never.headers.get('retry-after'), '60');
        } else {
          const error = await expectError(never, 503, 'UNAVAILABLE');
          const why = fault.kind === 'slow' ? /did not answer within 2 s/ : fault.kind === 'reset' ? /is unreachable \(socket hang up\)/ : /failed to serve manifest library\/never:latest \(UNAVAILABLE: fault switch: 500\)/;
          assert.match(error.message, why);
        }
      } finally {
        hub.clearFaults();
      }
    });
  }

  it('does not ask a failing upstream again at every pull: cached tags are served at once for a while', async () => {
    mirror.clock.advance(10 * 60_000);
    hub.fault({ path: /manifests/ }, { kind: 'status', status: 503 });
    try {
      await pullImage(mirror.url, 'library/alpine', 'latest');
      const mark = hub.requests.length;
      await pullImage(mirror.url, 'library/alpine', 'latest');
      assert.deepEqual(since(mark), [], 'within the back-off the upstream is left alone');
    } finally {
      hub.clearFaults();
    }
    mirror.clock.advance(60_000);
    const mark = hub.requests.length;
    await pullImage(mirror.url, 'library/alpine', 'latest');
    assert.deepEqual(since(mark), ['HEAD manifest']);
  });

  it('passes the upstream\'s 404 on for an image it does not have', async () => {
    const res = await client.getManifest('library/alpine', 'no-such-tag', MANIFEST_ACCEPT);
    const error = await expectError(res, 404, 'MANIFEST_UNKNOWN');
    assert.match(error.message, /docker\.io has no manifest library\/alpine:no-such-tag \(MANIFEST_UNKNOWN/);
  });

  it('answers a client HEAD by tag like a GET (Docker resolves tags with HEAD)', async () => {
    const res = await client.headManifest('library/alpine', 'latest', MANIFEST_ACCEPT);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('docker-content-digest') ?? '', /^sha256:/);
  });

  it('exports the counters in /metrics', async () => {
    const text = await (await client.fetch('/metrics')).text();
    assert.match(text, /berth_mirror_requests_total\{upstream="docker\.io",result="hit"\} [1-9]\d*/);
    assert.match(text, /berth_mirror_requests_total\{upstream="docker\.io",result="miss"\} [1-9]\d*/);
    assert.match(text, /berth_mirror_requests_total\{upstream="docker\.io",result="stale"\} [1-9]\d*/);
    assert.match(text, /berth_mirror_bytes_total\{upstream="docker\.io",source="upstream"\} [1-9]\d*/);
    assert.match(text, /berth_mirror_upstream_errors_total\{upstream="docker\.io"\} [1-9]\d*/);
    assert.match(text, /berth_mirror_ratelimit_remaining\{upstream="docker\.io"\} \d+/);
  });
});
