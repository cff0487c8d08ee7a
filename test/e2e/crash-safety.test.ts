/**
 * kill -9 during concurrent pushes, then restart on the same data directory (and store: this file runs
 * on every storage driver, scripts/test.js): every image whose manifest PUT returned 201 pulls back
 * byte-identical, no partial blob is visible, every tag points to complete content, a chunked upload
 * cut by the crash resumes from the Range the store kept, and pushing everything again completes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pseudoRandom } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { driverFor } from '../helpers/storage.ts';

interface TestImage {
  repo: string;
  layers: Buffer[];
  config: Buffer;
  manifest: Buffer;
}

function makeImage(i: number, layerMiB: number): TestImage {
  const layers = [0, 1, 2].map((j) => pseudoRandom(`crash-${i}-${j}`, layerMiB * 1024 * 1024 + i * 1000 + j));
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] }, n: i }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
  }));
  return { repo: `crash/image${i}`, layers, config, manifest };
}

/** One HTTP request with a body streamed in 64 KiB pieces (chunked, like docker and podman send). */
function send(url: string, method: string, body: Buffer | null, headers: Record<string, string> = {}, pauseMs = 0, onStarted?: () => void): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: body ? headers : { ...headers, 'Content-Length': '0' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    if (!body) {
      req.end();
      return;
    }
    let offset = 0;
    const pump = () => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + 65536);
        offset += piece.length;
        if (pauseMs > 0) {
          req.write(piece);
          onStarted?.();
          setTimeout(pump, pauseMs);
          return;
        }
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

async function pushBlob(base: string, repo: string, bytes: Buffer, pauseMs = 0, onStarted?: () => void): Promise<void> {
  const start = await send(`${base}/v2/${repo}/blobs/uploads/`, 'POST', null);
  assert.equal(start.status, 202);
  const location = new URL(start.headers.location!, base);
  const patch = await send(location.toString(), 'PATCH', bytes, {}, pauseMs, onStarted);
  assert.equal(patch.status, 202);
  const done = new URL(patch.headers.location!, base);
  done.searchParams.set('digest', sha256(bytes));
  assert.equal((await send(done.toString(), 'PUT', null)).status, 201);
}

/** `beforeLastLayer` may hold the last layer back; `onLastLayer` is told once its bytes flow. */
async function pushImage(base: string, image: TestImage, pauseMs = 0, hooks: { beforeLastLayer?: () => Promise<void>; onLastLayer?: () => void } = {}): Promise<number> {
  for (const [i, layer] of image.layers.entries()) {
    const last = i === image.layers.length - 1;
    if (last) await hooks.beforeLastLayer?.();
    await pushBlob(base, image.repo, layer, pauseMs, last ? hooks.onLastLayer : undefined);
  }
  await pushBlob(base, image.repo, image.config);
  const res = await send(`${base}/v2/${image.repo}/manifests/v1`, 'PUT', image.manifest, { 'Content-Type': OCI_MANIFEST });
  return res.status;
}

async function fetchBytes(url: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(url, { headers: { Accept: OCI_MANIFEST } });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Every tag of every repository resolves to a manifest whose blobs are all complete. */
async function assertEveryTagComplete(base: string): Promise<number> {
  const { repositories } = (await (await fetch(`${base}/v2/_catalog`)).json()) as { repositories: string[] };
  let checked = 0;
  for (const repo of repositories) {
    const { tags } = (await (await fetch(`${base}/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    for (const tag of tags) {
      const manifest = await fetchBytes(`${base}/v2/${repo}/manifests/${tag}`);
      assert.equal(manifest.status, 200, `${repo}:${tag} resolves`);
      const parsed = JSON.parse(manifest.bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [parsed.config, ...parsed.layers]) {
        const blob = await fetchBytes(`${base}/v2/${repo}/blobs/${d.digest}`);
        assert.equal(blob.status, 200, `${repo}:${tag} blob ${d.digest}`);
        assert.equal(sha256(blob.bytes), d.digest, `${repo}:${tag} blob ${d.digest} is complete`);
      }
      checked++;
    }
  }
  return checked;
}

/** Every object in the blob store holds exactly the content its name promises (read past Berth). */
async function assertNoPartialBlobs(dataDir: string): Promise<number> {
  const driver = driverFor(dataDir);
  let count = 0;
  try {
    for await (const object of driver.walk('blobs')) {
      const hex = object.path.slice(object.path.lastIndexOf('/') + 1);
      const hash = createHash('sha256');
      for await (const chunk of (await driver.readStream(object.path))!) hash.update(chunk as Buffer);
      assert.equal(hash.digest('hex'), hex, `blob ${hex} is complete`);
      count++;
    }
  } finally {
    await driver.close();
  }
  return count;
}

describe('crash safety', { timeout: 300_000 }, () => {
  let work: string;
  let berth: BerthProcess | undefined;
  after(async () => {
    await berth?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('survives kill -9 during concurrent pushes', async () => {
    work = await tempDir('berth-crash-');
    const dataDir = path.join(work, 'data');
    berth = await startBerth({ dataDir });
    const base = berth.url;

    const images = Array.from({ length: 6 }, (_, i) => makeImage(i, 3 + (i % 3) * 3));
    const slow = makeImage(99, 2);
    const completed = new Set<string>();
    const pushes = images.map((image, i) =>
      new Promise((r) => setTimeout(r, i * 40))
        .then(() => pushImage(base, image))
        .then((status) => {
          if (status === 201) completed.add(image.repo);
        })
        .catch(() => undefined),
    );
    // A push that trickles its last layer only once two images are complete: it is certainly mid-upload
    // when the server dies (however fast the store is).
    let twoDone!: () => void;
    const twoCompleted = new Promise<void>((resolve) => (twoDone = resolve));
    let lastLayerFlowing = false;
    const slowPush = pushImage(base, slow, 20, { beforeLastLayer: () => twoCompleted, onLastLayer: () => (lastLayerFlowing = true) }).catch(() => undefined);
    // A chunked upload with 7 MiB acknowledged (more than a part of the object stores) when the server dies.
    const chunked = pseudoRandom('crash-chunked', 9 * 1024 * 1024 + 7);
    const opened = await send(`${base}/v2/crash/chunked/blobs/uploads/`, 'POST', null);
    const session = new URL(opened.headers.location!, base);
    const acknowledged = 7 * 1024 * 1024;
    const firstChunk = await send(session.toString(), 'PATCH', chunked.subarray(0, acknowledged), { 'Content-Range': `0-${acknowledged - 1}`, 'Content-Length': String(acknowledged) });
    assert.equal(firstChunk.status, 202);

    const deadline = Date.now() + 120_000;
    while (completed.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(completed.size >= 2, 'some pushes completed before the crash');
    twoDone();
    while (!lastLayerFlowing && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(lastLayerFlowing, 'the trickling push is sending its last layer');
    await berth.kill9();
    await Promise.all([...pushes, slowPush]);
    assert.ok(!completed.has(slow.repo), 'the trickling push was cut by the crash');

    berth = await startBerth({ dataDir });
    // The chunked session is where the store left it: resume it and complete.
    const resumedAt = new URL(session.pathname, berth.url);
    const state = await send(resumedAt.toString(), 'GET', null);
    assert.equal(state.status, 204);
    assert.equal(state.headers.range, `0-${acknowledged - 1}`, 'the acknowledged bytes survived kill -9');
    const rest = await send(resumedAt.toString(), 'PATCH', chunked.subarray(acknowledged), { 'Content-Range': `${acknowledged}-${chunked.length - 1}`, 'Content-Length': String(chunked.length - acknowledged) });
    assert.equal(rest.status, 202);
    const finish = new URL(rest.headers.location!, berth.url);
    finish.searchParams.set('digest', sha256(chunked));
    assert.equal((await send(finish.toString(), 'PUT', null)).status, 201);
    assert.ok((await fetchBytes(`${berth.url}/v2/crash/chunked/blobs/${sha256(chunked)}`)).bytes.equals(chunked), 'the resumed blob is byte-identical');
    for (const repo of completed) {
      const image = images.find((im) => im.repo === repo)!;
      const manifest = await fetchBytes(`${berth.url}/v2/${repo}/manifests/v1`);
      assert.equal(manifest.status, 200, `${repo}:v1 survived`);
      assert.ok(manifest.bytes.equals(image.manifest), `${repo}:v1 manifest byte-identical`);
      for (const layer of [...image.layers, image.config]) {
        const blob = await fetchBytes(`${berth.url}/v2/${repo}/blobs/${sha256(layer)}`);
        assert.equal(blob.status, 200);
        assert.ok(blob.bytes.equals(layer), `${repo} blob byte-identical`);
      }
    }
    const lastSlowLayer = slow.layers[slow.layers.length - 1]!;
    assert.equal((await fetch(`${berth.url}/v2/${slow.repo}/blobs/${sha256(lastSlowLayer)}`, { method: 'HEAD' })).status, 404, 'the cut blob is not visible');
    assert.ok((await assertNoPartialBlobs(dataDir)) > 0);
    assert.ok((await assertEveryTagComplete(berth.url)) >= completed.size);
    const { repositories } = (await (await fetch(`${berth.url}/v2/_catalog`)).json()) as { repositories: string[] };
    for (const repo of completed) assert.ok(repositories.includes(repo), `${repo} in the catalog after restart`);

    // Everything pushes again, interrupted images included.
    for (const image of [...images, slow]) assert.equal(await pushImage(berth.url, image), 201, `${image.repo} re-push`);
    assert.equal(await assertEveryTagComplete(berth.url), images.length + 1);
    await assertNoPartialBlobs(dataDir);
  });
});
