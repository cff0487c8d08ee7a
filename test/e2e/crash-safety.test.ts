/**
 * kill -9 during concurrent pushes, then restart on the same data directory: every image whose
 * manifest PUT returned 201 pulls back byte-identical, no partial blob is visible, every tag points
 * to complete content, and pushing everything again completes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ActivityFeed } from '../../server/registry/api-types.ts';
import { pseudoRandom } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';

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

/**
 * One HTTP request with a body streamed in 64 KiB pieces (chunked, like docker and podman send).
 * With `holdAfter`, it stops sending once that many bytes are written and never ends: a client
 * certainly mid-upload, however slow or fast the machine is, when the server dies.
 */
function send(url: string, method: string, body: Buffer | null, headers: Record<string, string> = {}, holdAfter = Infinity): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
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
        if (offset >= holdAfter) return;
        const piece = body.subarray(offset, offset + 65536);
        offset += piece.length;
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

async function pushBlob(base: string, repo: string, bytes: Buffer, holdAfter = Infinity): Promise<void> {
  const start = await send(`${base}/v2/${repo}/blobs/uploads/`, 'POST', null);
  assert.equal(start.status, 202);
  const location = new URL(start.headers.location!, base);
  const patch = await send(location.toString(), 'PATCH', bytes, {}, holdAfter);
  assert.equal(patch.status, 202);
  const done = new URL(patch.headers.location!, base);
  done.searchParams.set('digest', sha256(bytes));
  assert.equal((await send(done.toString(), 'PUT', null)).status, 201);
}

/** Pushes the image; with `holdAfter`, its first layer's upload stops after that many bytes and hangs. */
async function pushImage(base: string, image: TestImage, holdAfter = Infinity): Promise<number> {
  for (const [i, layer] of image.layers.entries()) await pushBlob(base, image.repo, layer, i === 0 ? holdAfter : Infinity);
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

/** Every file in the blob store holds exactly the content its name promises. */
async function assertNoPartialBlobs(dataDir: string): Promise<number> {
  const root = path.join(dataDir, 'blobs', 'sha256');
  let count = 0;
  for (const prefix of await fs.readdir(root)) {
    for (const hex of await fs.readdir(path.join(root, prefix))) {
      const bytes = await fs.readFile(path.join(root, prefix, hex));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), hex, `blob file ${hex} is complete`);
      count++;
    }
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
    // A push that sends half its first layer and then hangs: it is mid-upload when the server dies.
    const half = slow.layers[0]!.length >> 1;
    const slowPush = pushImage(base, slow, half).then(() => completed.add(slow.repo), () => undefined);

    // Waited for: two finished pushes, and the server holding the hanging upload's bytes.
    const uploading = async () => {
      const feed = (await (await fetch(`${base}/api/activity?limit=1`)).json()) as ActivityFeed;
      return feed.uploads.some((u) => u.repository === slow.repo && u.bytes >= half);
    };
    const deadline = Date.now() + 120_000;
    while (!(completed.size >= 2 && (await uploading())) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(completed.size >= 2, 'some pushes completed before the crash');
    assert.ok(await uploading(), 'the server has half a layer of the hanging push');
    await berth.kill9();
    await Promise.all([...pushes, slowPush]);
    assert.ok(!completed.has(slow.repo), 'the hanging push was cut by the crash');

    berth = await startBerth({ dataDir });
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
    assert.equal((await fetch(`${berth.url}/v2/${slow.repo}/blobs/${sha256(slow.layers[0]!)}`, { method: 'HEAD' })).status, 404, 'the cut blob is not visible');
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
