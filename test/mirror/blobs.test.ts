/**
 * Blobs through the pull-through cache (server/mirror/blob-fill.ts): one upstream GET per blob for any
 * number of concurrent clients, streamed to all of them while it is written; nothing committed from a
 * truncated or wrong body; a fill that goes on when its client hangs up; Range on cached and filling blobs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobFiles } from '../helpers/blob-files.ts';
import { pullImage, startMirror, type MirrorServer } from '../helpers/mirror.ts';
import { Client, waitFor } from '../helpers/registry-client.ts';
import { pushRandomImage, startFakeHub, type FakeHub, type PushedImage } from '../helpers/upstream.ts';
import type { MirrorsOverview } from '../../server/registry/api-types.ts';

const MiB = 1024 * 1024;

describe('mirror blobs', () => {
  let hub: FakeHub;
  let mirror: MirrorServer;
  let client: Client;

  before(async () => {
    hub = await startFakeHub();
    mirror = await startMirror(hub);
    client = new Client(mirror.url);
  });
  after(async () => {
    await mirror?.close({ remove: true });
    await hub?.close();
  });

  const gets = (digest: string) => hub.count('GET', new RegExp(`/blobs/${digest}$`));
  const stored = async (digest: string) => (await blobFiles(mirror.dataDir)).has(digest);
  const spools = async () => (await fs.readdir(path.join(mirror.dataDir, 'tmp'))).filter((f) => f.startsWith('fill-'));
  const counters = async () => ((await (await client.fetch('/api/mirrors')).json()) as MirrorsOverview).upstreams[0]!.counters;
  const layersOf = (image: PushedImage) => {
    const manifest = JSON.parse(image.manifests.get(image.digest)!.toString('utf8')) as { layers: { digest: string }[] };
    return manifest.layers.map((l) => l.digest);
  };

  it('20 concurrent cold pulls make one upstream GET per blob; the other pulls follow the fills', async () => {
    const image = await pushRandomImage(hub, 'library/big', 'latest', [4 * MiB, 3 * MiB]);
    // Slow bodies, so that the 20 pulls overlap the fills rather than find them done.
    hub.fault({ method: 'GET', path: /\/blobs\// }, { kind: 'trickle', chunk: 256 * 1024, everyMs: 15 });
    const before = await counters();
    try {
      const pulls = await Promise.all(Array.from({ length: 20 }, () => pullImage(mirror.url, 'library/big', 'latest')));
      for (const pulled of pulls) assert.equal(pulled.digest, image.digest);
    } finally {
      hub.clearFaults();
    }
    for (const digest of image.blobs.keys()) assert.equal(gets(digest), 1, `one GET of ${digest}`);
    assert.equal(hub.count('GET', /\/v2\/library\/big\/manifests\//), 1, 'one manifest GET');
    for (const digest of image.blobs.keys()) await waitFor(() => stored(digest), `${digest} to be committed`);
    const imageBytes = [...image.blobs.values()].reduce((s, b) => s + b.length, 0) + image.manifests.get(image.digest)!.length;
    // Fetched bytes are counted as each fill ends, just after it committed.
    await waitFor(async () => (await counters()).bytesFetched - before.bytesFetched === imageBytes, 'the fetched bytes to be counted: exactly the image, once');
    const after = await counters();
    assert.equal(after.misses - before.misses, 1 + image.blobs.size, 'one miss per manifest and blob');
    assert.equal(after.hits - before.hits, 19 * (1 + image.blobs.size), 'every other request a hit');
  });

  it('commits nothing from a truncated body, and fetches it whole on the next request', async () => {
    const image = await pushRandomImage(hub, 'library/cut', 'latest', [2 * MiB]);
    const [layer] = layersOf(image);
    hub.fault({ method: 'GET', path: new RegExp(`/blobs/${layer}$`) }, { kind: 'truncate', bytes: MiB }, 1);
    await assert.rejects(pullImage(mirror.url, 'library/cut', 'latest'), /fetch failed|terminated|other side closed/);
    await waitFor(async () => (await spools()).length === 0, 'the spool file to go');
    assert.equal(await stored(layer!), false, 'the truncated blob is not in the store');
    assert.equal((await client.headBlob('docker.io/library/cut', layer!)).status, 200, 'HEAD asks the upstream, which has it');
    assert.equal(await stored(layer!), false, 'a HEAD fetches nothing');
    await pullImage(mirror.url, 'library/cut', 'latest');
    assert.equal(gets(layer!), 2);
    await waitFor(() => stored(layer!), 'the whole blob to be committed');
  });

  it('never hands out the last byte of a body whose digest is wrong, and commits nothing', async () => {
    const image = await pushRandomImage(hub, 'library/wrong', 'latest', [MiB]);
    const [layer] = layersOf(image);
    hub.fault({ method: 'GET', path: new RegExp(`/blobs/${layer}$`) }, { kind: 'corrupt' }, 1);
    const res = await client.getBlob('library/wrong', layer!);
    assert.equal(res.status, 200);
    await assert.rejects(res.arrayBuffer(), 'the body is cut off before its end');
    await waitFor(async () => (await spools()).length === 0, 'the spool file to go');
    assert.equal(await stored(layer!), false);
    const activity = await (await client.fetch('/api/activity')).json() as { entries: { kind: string; note?: string }[] };
    assert.ok(activity.entries.some((e) => e.kind === 'upstream-error' && /digest .* for blob .*discarded/.test(e.note ?? '')), 'the failure is in the activity feed');
  });

  it('goes on filling when the client hangs up mid-blob', async () => {
    const image = await pushRandomImage(hub, 'library/hangup', 'latest', [3 * MiB]);
    const [layer] = layersOf(image);
    hub.fault({ method: 'GET', path: new RegExp(`/blobs/${layer}$`) }, { kind: 'trickle', chunk: 128 * 1024, everyMs: 20 }, 1);
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${mirror.url}/v2/library/hangup/blobs/${layer}`, (res) => {
        let got = 0;
        res.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (got >= 256 * 1024) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', () => undefined);
      setTimeout(() => reject(new Error('no bytes arrived')), 20_000).unref();
    });
    await waitFor(() => stored(layer!), 'the fill to complete without its client', 20_000);
    assert.equal(gets(layer!), 1);
    const mark = hub.requests.length;
    const res = await client.getBlob('library/hangup', layer!);
    assert.equal(Buffer.from(await res.arrayBuffer()).equals(image.blobs.get(layer!)!), true);
    assert.equal(hub.requests.length, mark, 'served from the cache');
  });

  it('answers Range requests on cached and on filling blobs', async () => {
    const image = await pushRandomImage(hub, 'library/ranges', 'latest', [2 * MiB]);
    const [layer] = layersOf(image);
    const bytes = image.blobs.get(layer!)!;
    hub.fault({ method: 'GET', path: new RegExp(`/blobs/${layer}$`) }, { kind: 'trickle', chunk: 128 * 1024, everyMs: 20 }, 1);
    // A first client starts the fill; a Range request for the tail waits for those bytes.
    const whole = client.getBlob('library/ranges', layer!).then(async (r) => Buffer.from(await r.arrayBuffer()));
    await waitFor(() => gets(layer!) === 1, 'the fill to start');
    const start = bytes.length - 1000;
    const tail = await client.getBlob('library/ranges', layer!, { Range: `bytes=${start}-` });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get('content-range'), `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(start)));
    assert.ok((await whole).equals(bytes));
    await waitFor(() => stored(layer!), 'the fill to commit');
    const middle = await client.getBlob('library/ranges', layer!, { Range: 'bytes=100-199' });
    assert.equal(middle.status, 206);
    assert.ok(Buffer.from(await middle.arrayBuffer()).equals(bytes.subarray(100, 200)));
    assert.equal(gets(layer!), 1);
  });

  it('does not hand out a stored blob under a cache name unless the upstream or a cached manifest vouches for it', async () => {
    // A private blob pushed here by someone: knowing its digest must not make it readable through the cache.
    const secret = await client.pushBlob('private/app', `secret ${Math.random()}`);
    const res = await client.getBlob('docker.io/library/alpine', secret);
    assert.equal(res.status, 404, 'the upstream does not have it: no answer from the local store');
    assert.equal(hub.count('GET', new RegExp(`/blobs/${secret}$`)), 1, 'the upstream was asked');
  });
});
