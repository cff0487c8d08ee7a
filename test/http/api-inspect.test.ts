/**
 * Inside images through the management API (issue 15), against a real server: layer listings read by
 * worker threads (gzip, zstd, none), the merged tree with whiteouts, opaque directories and links,
 * file view and download, bad layers (path escape, truncated, corrupt, wrong DiffID), the derived
 * cache's lifetime, platforms, and the diff of two images.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { FileView, FsNode, ImageDiff, ImageFilesView, LayerListingView } from '../../server/registry/inspect-types.ts';
import { LONG_NAME, layer, pushImage, sha256, whiteoutImage, type Compression } from '../fixtures/layers.ts';
import { startApiServer, type ApiTestServer } from '../helpers/api-client.ts';
import { storeTimesPast } from '../helpers/blob-files.ts';
import { skipUnless } from '../helpers/tools.ts';
import { singleProcess } from '../helpers/server.ts';

const skipZstd = skipUnless('zstd');

describe('image files API', () => {
  let t: ApiTestServer;

  before(async () => {
    t = await startApiServer();
  });
  after(async () => {
    await t.server.close({ remove: true });
  });

  const files = (repo: string, ref: string, query = '') => t.api.json<ImageFilesView>(`/api/repositories/${repo}/-/manifests/${ref}/files${query}`);
  const byName = (nodes: FsNode[]) => new Map(nodes.map((n) => [n.name, n]));

  async function checkWhiteoutTree(repo: string, compression: Compression): Promise<void> {
    const spec = await whiteoutImage(compression);
    await pushImage(t.registry, repo, 'v1', spec);
    const root = await files(repo, 'v1');
    assert.deepEqual(root.layers.map((l) => [l.compression, l.problem, l.diffId === l.expectedDiffId]), [[compression, null, true], [compression, null, true]]);
    assert.deepEqual(root.nodes.map((n) => n.name), ['app', 'bin', 'etc', 'opt', 'run']);

    const etc = byName((await files(repo, 'v1', '?path=/etc')).nodes);
    assert.deepEqual([...etc.keys()], ['os-release'], 'the whiteout .wh.motd removed motd');
    const release = etc.get('os-release')!;
    assert.deepEqual([release.mode, release.layer, release.changed, release.size], [0o600, 1, true, 'NAME=Berth\nVERSION=2\n'.length]);

    const bin = byName((await files(repo, 'v1', '?path=bin')).nodes);
    assert.deepEqual([...bin.keys()].sort(), ['sh', 'tool', 'tool-hardlink']);
    assert.equal(bin.get('sh')!.type, 'symlink');
    assert.equal(bin.get('sh')!.linkTarget, 'tool');
    assert.equal(bin.get('tool-hardlink')!.type, 'hardlink');
    assert.equal(bin.get('tool-hardlink')!.linkTarget, 'bin/tool');
    assert.equal(bin.get('tool-hardlink')!.size, 10, 'a hard link has its target size');
    assert.equal(bin.get('tool')!.mode, 0o755);

    const cache = await files(repo, 'v1', '?path=app/cache');
    assert.deepEqual(cache.nodes.map((n) => n.name), ['fresh.txt'], 'the opaque marker hid every lower child, sub-directories too');
    const app = byName((await files(repo, 'v1', '?path=app')).nodes);
    assert.equal(app.get('cache')!.mode, 0o700, 'a directory over a directory takes the new attributes');
    assert.equal(app.get('keep.txt')!.uid, 1000);
    assert.equal(app.get('cache')!.size, 6, 'directory sizes sum the files below');

    const found = await files(repo, 'v1', `?search=${encodeURIComponent('a-very-long-file-name')}`);
    assert.deepEqual(found.nodes.map((n) => n.path), [LONG_NAME], 'PAX long names are read whole');
    assert.equal(found.search?.truncated, false);

    const motd = 'welcome\n'.length;
    const oldRelease = 'NAME=Berth\nVERSION=1\n'.length;
    assert.equal(root.wasted.bytes, 3000 + 5000 + 7000 + motd + oldRelease);
    assert.deepEqual(root.wasted.top.map((w) => [w.path, w.how]).slice(0, 3), [['app/cache/sub/b.bin', 'deleted'], ['app/cache/a.bin', 'deleted'], ['bin/old-tool', 'deleted']]);
    assert.equal(root.wasted.top.find((w) => w.path === 'etc/os-release')?.how, 'overwritten');
    assert.equal(root.totals.files, 5, 'os-release, tool, fresh.txt, keep.txt, the long name');
  }

  it('merges gzip layers with whiteouts, an opaque directory, links and a PAX long name', async () => {
    await checkWhiteoutTree('inside/gzip', 'gzip');
  });

  it('reads zstd layers the same way', { skip: skipZstd }, async () => {
    await checkWhiteoutTree('inside/zstd', 'zstd');
  });

  it('reads uncompressed layers the same way', async () => {
    await checkWhiteoutTree('inside/plain', 'none');
  });

  it('shows text, names binaries, downloads a file and a hard link from their layer', async () => {
    await pushImage(t.registry, 'inside/view', 'v1', await whiteoutImage());
    const text = await t.api.json<FileView>(`/api/repositories/inside/view/-/manifests/v1/file?path=/etc/os-release`);
    assert.equal(text.text, 'NAME=Berth\nVERSION=2\n');
    assert.equal(text.kind, 'text');
    const binary = await t.api.json<FileView>(`/api/repositories/inside/view/-/manifests/v1/file?path=/bin/tool`);
    assert.equal(binary.text, null);
    assert.equal(binary.kind, 'ELF executable or library');
    assert.equal(binary.node.size, 10);
    const link = await t.api.json<FileView>(`/api/repositories/inside/view/-/manifests/v1/file?path=/bin/sh`);
    assert.equal(link.kind, 'symbolic link to tool');
    assert.equal(link.downloadUrl, null);

    for (const p of ['/bin/tool', '/bin/tool-hardlink']) {
      const res = await t.api.fetch(`/api/repositories/inside/view/-/manifests/v1/download?path=${encodeURIComponent(p)}`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="tool(-hardlink)?"/);
      assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]);
    }
    const dir = await t.api.fetch('/api/repositories/inside/view/-/manifests/v1/download?path=/etc');
    assert.equal(dir.status, 400);
    assert.match((await dir.json() as { errors: { message: string }[] }).errors[0]!.message, /directory, not a file/);
    const missing = await t.api.fetch('/api/repositories/inside/view/-/manifests/v1/file?path=/etc/motd');
    assert.equal(missing.status, 404);
    const escape = await t.api.fetch('/api/repositories/inside/view/-/manifests/v1/file?path=/etc/../../x');
    assert.equal(escape.status, 400);
  });

  it('lists one layer, with a path escaping the root rejected and the rest kept', async () => {
    const evil = await layer([
      { name: 'ok.txt', content: 'fine\n' },
      { name: '../../etc/passwd', content: 'root::0:0::/:/bin/sh\n' },
      { name: 'a/../../escape', content: 'no' },
      { name: 'link', type: 'link', linkname: '../outside' },
      { name: './dot/./x', content: 'x' },
    ]);
    await pushImage(t.registry, 'inside/evil', 'v1', { layers: [evil] });
    const listing = await t.api.json<LayerListingView>(`/api/repositories/inside/evil/-/layers/${evil.digest}`);
    assert.deepEqual(listing.entries.map((e) => e.path), ['ok.txt', 'dot/x']);
    assert.deepEqual(listing.rejected.map((r) => r.path), ['../../etc/passwd', 'a/../../escape', 'link']);
    assert.match(listing.rejected[0]!.reason, /climbs out of the layer's root/);
    const root = await files('inside/evil', 'v1');
    assert.deepEqual(root.layers[0]!.rejected.length, 3);
    assert.deepEqual(root.nodes.map((n) => n.name), ['dot', 'ok.txt']);
  });

  it('reports truncated and corrupt layers clearly and keeps serving', async () => {
    const good = await layer([{ name: 'good.txt', content: 'good\n' }]);
    const big = await layer([{ name: 'big.bin', content: Buffer.alloc(200_000, 7) }]);
    const truncated = { ...big, blob: big.blob.subarray(0, Math.floor(big.blob.length / 2)) };
    truncated.digest = sha256(truncated.blob);
    const corruptBytes = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.from('this is not deflate data at all, just text')]);
    const corrupt = { ...good, blob: corruptBytes, digest: sha256(corruptBytes) };
    const notTar = gzipSync(Buffer.from('plain text, no tar headers here\n'.repeat(40)));
    const garbage = { ...good, blob: notTar, digest: sha256(notTar) };
    await pushImage(t.registry, 'inside/broken', 'v1', { layers: [good, truncated, corrupt, garbage] });
    const root = await files('inside/broken', 'v1');
    assert.deepEqual(root.layers.map((l) => l.problem?.code ?? null), [null, 'TRUNCATED', 'CORRUPT', 'CORRUPT']);
    assert.match(root.layers[1]!.problem!.message, /ends too early/);
    assert.deepEqual(root.nodes.map((n) => n.name), ['good.txt'], 'the readable layers still make a tree');
    const res = await t.api.fetch(`/api/repositories/inside/broken/-/layers/${truncated.digest}`);
    assert.equal(res.status, 422);
    const body = await res.json() as { errors: { code: string; detail: { problem: string } }[] };
    assert.equal(body.errors[0]!.code, 'CONTENT_INVALID');
    assert.equal(body.errors[0]!.detail.problem, 'TRUNCATED');
    assert.equal((await t.registry.fetch('/v2/')).status, 200, 'the registry still answers');
  });

  it('checks each layer against the config diff_ids while reading it', async () => {
    const a = await layer([{ name: 'a.txt', content: 'a' }]);
    await pushImage(t.registry, 'inside/diffid', 'v1', { layers: [a], diffIds: [sha256('something else')] });
    const root = await files('inside/diffid', 'v1');
    assert.equal(root.layers[0]!.problem?.code, 'DIFF_ID_MISMATCH');
    assert.equal(root.layers[0]!.diffId, a.diffId);
  });

  it('keeps listings under derived/ and drops them when garbage collection frees the blob', { skip: singleProcess('it reads or removes the data directory of the one server it started; each replica has its own') }, async () => {
    const only = await layer([{ name: 'only-here.txt', content: `unique ${Date.now()}` }]);
    const digest = await pushImage(t.registry, 'inside/gc', 'v1', { layers: [only] });
    await files('inside/gc', 'v1');
    const cached = path.join(t.server.dataDir, 'derived', 'layers', 'sha256', `${only.digest.slice(7)}.json.gz`);
    await fs.access(cached);
    await t.api.json(`/api/repositories/inside/gc/-/manifests/${digest}`, { method: 'DELETE' });
    await storeTimesPast(t.server.registry.driver);
    const run = await t.api.json<{ state: string; result: { removed: { blobs: { digest: string }[] } } }>('/api/gc', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grace: '0s', untagged: true, wait: true }),
    });
    assert.equal(run.state, 'succeeded');
    assert.ok(run.result.removed.blobs.some((b) => b.digest === only.digest), 'the collection freed the layer');
    await assert.rejects(fs.access(cached), /ENOENT/);
  });

  it('reads a layer again when its stored listing is of an older format or was deleted, and reuses it after a restart', { skip: singleProcess('it reads or removes the data directory of the one server it started; each replica has its own') }, async () => {
    const one = await layer([{ name: 'a.txt', content: 'a\n' }, { name: 'b/', type: 'directory' }, { name: 'b/c.txt', content: 'c\n' }]);
    await pushImage(t.registry, 'inside/stored', 'v1', { layers: [one] });
    const cached = path.join(t.server.dataDir, 'derived', 'layers', 'sha256', `${one.digest.slice(7)}.json.gz`);
    // A listing as the first format wrote it (one JSON object): not trusted, read again.
    await fs.mkdir(path.dirname(cached), { recursive: true });
    await fs.writeFile(cached, gzipSync(JSON.stringify({ v: 1, digest: one.digest, entries: [] })));
    const layerUrl = `/api/repositories/inside/stored/-/layers/${one.digest}`;
    const first = await t.api.json<LayerListingView>(layerUrl);
    assert.deepEqual(first.entries.map((e) => e.path), ['a.txt', 'b', 'b/c.txt']);
    assert.deepEqual([first.entryCount, first.addedBytes, first.whiteouts, first.diffId], [3, 4, 0, one.diffId]);
    const lines = gunzipSync(await fs.readFile(cached)).toString().trim().split('\n');
    assert.equal(lines.length, 4, 'three entry lines and the summary line');
    assert.deepEqual(JSON.parse(lines[3]!).summary.entryCount, 3);
    // The derived folder is always safe to delete: the listing is made again.
    await fs.rm(path.join(t.server.dataDir, 'derived'), { recursive: true });
    assert.deepEqual((await t.api.json<LayerListingView>(layerUrl)).entries.map((e) => e.path), ['a.txt', 'b', 'b/c.txt']);
    await fs.access(cached);
    // A server started on a copy of the local data (as after a restart), over the same storage (a
    // bucket keeps its blobs under the first server's prefix), reads the stored listing, with no
    // worker: a line added to the file shows up.
    await fs.appendFile(cached, gzipSync(`${JSON.stringify({ path: 'only-in-the-file', type: 'file', mode: 420, uid: 0, gid: 0, size: 0, mtime: 0 })}\n`));
    const copy = `${t.server.dataDir}-restarted`;
    await fs.cp(t.server.dataDir, copy, { recursive: true, filter: (from) => !/berth\.(lock|sock)$/.test(from) });
    const second = await startApiServer({ dataDir: copy, port: 0, storage: t.server.registry.config.storage });
    try {
      const again = await second.api.json<LayerListingView>(layerUrl);
      assert.deepEqual(again.entries.map((e) => e.path), ['a.txt', 'b', 'b/c.txt', 'only-in-the-file'], 'read from the file, not listed again');
    } finally {
      await second.server.close({ remove: true });
    }
  });

  it('needs a platform for a multi-platform index, and takes one', async () => {
    const amd = await layer([{ name: 'arch', content: 'amd64\n' }]);
    const arm = await layer([{ name: 'arch', content: 'arm64\n' }]);
    const amdDigest = await pushImage(t.registry, 'inside/multi', 'amd', { layers: [amd] });
    const armDigest = await pushImage(t.registry, 'inside/multi', 'arm', { layers: [arm], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const manifests = await Promise.all([amdDigest, armDigest].map(async (d) => Buffer.from(await (await t.registry.getManifest('inside/multi', d)).arrayBuffer())));
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amdDigest, size: manifests[0]!.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: armDigest, size: manifests[1]!.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    });
    await t.registry.pushManifest('inside/multi', 'latest', index, 'application/vnd.oci.image.index.v1+json');
    const res = await t.api.fetch('/api/repositories/inside/multi/-/manifests/latest/files');
    assert.equal(res.status, 400);
    assert.match((await res.json() as { errors: { message: string }[] }).errors[0]!.message, /pick a platform \(linux\/amd64, linux\/arm64\/v8\)/);
    const arm64 = await files('inside/multi', 'latest', '?platform=linux/arm64');
    assert.equal(arm64.image.platform, 'linux/arm64/v8');
    assert.equal(arm64.image.digest, armDigest);
    const view = await t.api.json<FileView>('/api/repositories/inside/multi/-/manifests/latest/file?path=arch&platform=linux/arm64/v8');
    assert.equal(view.text, 'arm64\n');
  });

  it('diffs two images: config, layers and files, timestamps ignored unless asked', async () => {
    const base = await layer([{ name: 'etc/', type: 'directory' }, { name: 'etc/conf', content: 'a=1\n' }, { name: 'etc/same', content: 'same' }, { name: 'old.txt', content: 'old' }]);
    const next = await layer([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/conf', content: 'a=2\n' },
      { name: 'etc/same', content: 'same', mtime: new Date('2030-01-01T00:00:00Z') },
      { name: 'new.txt', content: 'brand new' },
      { name: 'script.sh', content: '#!/bin/sh\n', mode: 0o755 },
    ]);
    const scriptBefore = await layer([{ name: 'script.sh', content: '#!/bin/sh\n', mode: 0o644 }]);
    await pushImage(t.registry, 'inside/diff-a', 'v1', { layers: [base, scriptBefore], config: { Env: ['PATH=/bin', 'MODE=dev'], Cmd: ['run'] } });
    await pushImage(t.registry, 'inside/diff-b', 'v2', { layers: [(await layer([{ name: 'etc/', type: 'directory' }])), next], config: { Env: ['PATH=/bin', 'MODE=prod'], Cmd: ['run'], User: 'app' } });
    const diff = await t.api.json<ImageDiff>(`/api/diff?from=inside/diff-a:v1&to=inside/diff-b:v2`);
    assert.deepEqual(diff.config, [{ field: 'user', before: null, after: 'app' }, { field: 'env.MODE', before: 'dev', after: 'prod' }]);
    assert.deepEqual(diff.files.added.map((c) => c.path), ['new.txt']);
    assert.deepEqual(diff.files.removed.map((c) => c.path), ['old.txt']);
    assert.deepEqual(diff.files.changed.map((c) => [c.path, c.changes]), [['etc/conf', ['content']], ['script.sh', ['mode']]]);
    assert.equal(diff.summary.sizeDelta, 'brand new'.length - 'old'.length);
    assert.equal(diff.layers.shared.length, 0);
    const withTimes = await t.api.json<ImageDiff>(`/api/diff?from=inside/diff-a:v1&to=inside/diff-b:v2&timestamps=1`);
    assert.deepEqual(withTimes.files.changed.map((c) => c.path), ['etc/conf', 'etc/same', 'script.sh']);
    const bad = await t.api.fetch('/api/diff?from=inside/diff-a:v1');
    assert.equal(bad.status, 400);
  });
});

