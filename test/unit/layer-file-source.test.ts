/**
 * A layer that is a local file (ObjectReader.fd, the filesystem driver) is read by the worker itself
 * and, when zstd, by the `zstd` program straight from the open descriptor: nothing is streamed through
 * the registry's thread (worker-pool.ts, layer-worker.ts, archive.ts). Real worker threads over the
 * real FilesystemDriver: the listing and every file's sha256 equal the streamed read's for gzip, zstd
 * and plain tar, with the DiffID thread on or off; extracting one file works; a cut-off or corrupt
 * layer fails as itself; a file shorter than its size fails as ABORTED (not the layer's fault); a
 * cancelled read leaves no worker and no zstd program running; and the descriptor is closed when the
 * read ends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LayerReadError, NATIVE_ZSTD } from '../../server/registry/layers/archive.ts';
import { findExecutable, LayerWorkers } from '../../server/registry/layers/worker-pool.ts';
import { parseDigest, type Digest } from '../../server/registry/reference.ts';
import type { BlobReader, OpenBlob } from '../../server/storage/blob-store.ts';
import { FilesystemDriver } from '../../server/storage/driver/filesystem.ts';
import { compress, packTar, sha256, type Compression, type TarEntry } from '../fixtures/layers.ts';
import { listAll } from '../helpers/layer-listing.ts';
import { waitFor } from '../helpers/registry-client.ts';
import { skipUnless } from '../helpers/tools.ts';

const root = mkdtempSync(path.join(tmpdir(), 'berth-layer-fd-'));
const driver = new FilesystemDriver(root);

/**
 * Blobs as the filesystem driver opens them. `streamOnly` hides the descriptor (a bucket's reader);
 * otherwise sending is a failure: the worker must read the file itself. `opened` records each reader.
 */
function fileBlobs(options: { streamOnly?: boolean; sizeOf?: (size: number) => number } = {}): BlobReader & { opened: OpenBlob[] } {
  const opened: OpenBlob[] = [];
  return {
    opened,
    async open(digest: Digest) {
      const reader = await driver.reader(`blobs/${digest.hex}`);
      if (!reader) return null;
      opened.push(reader);
      const size = options.sizeOf ? options.sizeOf(reader.size) : reader.size;
      if (options.streamOnly) return { size, sendTo: (dest: Writable) => reader.sendTo(dest), close: () => reader.close() };
      return {
        size,
        fd: reader.fd!,
        sendTo: async () => assert.fail('a local file is read by the worker, not sent'),
        close: () => reader.close(),
      };
    },
    async read() { return null; },
    async urlFor() { return null; },
  };
}

/** This process's `zstd` children that are still running (not zombies), from /proc. */
function zstdChildren(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (comm === 'zstd' && Number(ppid) === process.pid && state !== 'Z') found.push(Number(name));
    } catch {
      // gone since the listing
    }
  }
  return found;
}

// ~9 MiB of files (more than one 1 MiB read, and past the DiffID thread's window), links and empty files.
const ENTRIES: TarEntry[] = [{ name: 'data', type: 'directory' }];
for (let i = 0; i < 36; i++) ENTRIES.push({ name: `data/file-${i}.bin`, content: randomBytes(i % 7 === 0 ? 0 : 200_000 + i * 1000) });
ENTRIES.push({ name: 'data/link', type: 'symlink', linkname: 'file-1.bin' }, { name: 'data/hard', type: 'link', linkname: 'data/file-2.bin' });
ENTRIES.push({ name: 'etc/motd', content: 'hello from a file\n' });

const layers = new Map<Compression, { raw: Buffer; blob: Buffer; digest: string; diffId: string }>();

async function store(blob: Buffer): Promise<string> {
  const digest = sha256(blob);
  await driver.putContent(`blobs/${parseDigest(digest).hex}`, blob);
  return digest;
}

before(async () => {
  const raw = await packTar(ENTRIES);
  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    const blob = compress(raw, compression);
    layers.set(compression, { raw, blob, digest: await store(blob), diffId: sha256(raw) });
  }
});

after(() => rmSync(root, { recursive: true, force: true }));

describe('a layer read from its local file', { skip: skipUnless('zstd') }, () => {
  it('the filesystem driver gives the open file\'s descriptor, readable by position until closed', async () => {
    const layer = layers.get('none')!;
    const reader = (await driver.reader(`blobs/${parseDigest(layer.digest).hex}`))!;
    assert.equal(typeof reader.fd, 'number');
    const head = Buffer.alloc(512);
    assert.equal(readSync(reader.fd!, head, 0, 512, 0), 512);
    assert.deepEqual(head, layer.blob.subarray(0, 512));
    await reader.close();
  });

  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    for (const split of [false, true]) {
      it(`lists what the streamed read lists (${compression}${split ? ', DiffID thread' : ''})`, async () => {
        const layer = layers.get(compression)!;
        const digestThreadMinBytes = split ? 0 : Infinity;
        const files = fileBlobs();
        const fromFile = new LayerWorkers({ blobs: files, digestThreadMinBytes });
        const streamed = new LayerWorkers({ blobs: fileBlobs({ streamOnly: true }), digestThreadMinBytes });
        const a = await listAll(fromFile, layer.digest);
        const b = await listAll(streamed, layer.digest);
        assert.equal(files.opened.length, 1);
        assert.equal(a.summary.diffId, layer.diffId);
        assert.equal(a.summary.uncompressedSize, layer.raw.length);
        assert.equal(a.summary.compression, compression);
        assert.deepEqual(a.summary, b.summary);
        assert.equal(a.lines, b.lines, 'the same entries, with the same sha256 of each file');
        const motd = a.lines.trim().split('\n').map((l) => JSON.parse(l) as { path: string; sha256?: string }).find((e) => e.path === 'etc/motd');
        assert.equal(`sha256:${motd?.sha256}`, sha256('hello from a file\n'));
        assert.equal(fromFile.threads, 0, 'no thread outlives its read');
        await Promise.all([fromFile.close(), streamed.close()]);
      });
    }
  }

  for (const compression of ['gzip', 'zstd'] as const) {
    it(`extracts one file (${compression})`, async () => {
      const workers = new LayerWorkers({ blobs: fileBlobs() });
      const parts: Buffer[] = [];
      const entry = await workers.extract(parseDigest(layers.get(compression)!.digest), 'data/file-5.bin', async (chunk) => void parts.push(Buffer.from(chunk)));
      assert.deepEqual(Buffer.concat(parts), ENTRIES.find((e) => e.name === 'data/file-5.bin')!.content);
      assert.equal(entry.size, parts.reduce((n, p) => n + p.length, 0));
      await workers.close();
    });
  }

  it('a cut-off zstd layer is TRUNCATED and a corrupt one CORRUPT, read from the file (by the zstd program, or zlib where it has zstd)', async () => {
    assert.ok(NATIVE_ZSTD || findExecutable('zstd'));
    const blob = layers.get('zstd')!.blob;
    const cut = await store(blob.subarray(0, Math.floor(blob.length / 2)));
    const corrupt = Buffer.from(blob);
    for (let at = 200; at < corrupt.length - 100; at += 997) corrupt[at] = corrupt[at]! ^ 0x5a;
    const workers = new LayerWorkers({ blobs: fileBlobs() });
    await assert.rejects(listAll(workers, cut), (err: unknown) => err instanceof LayerReadError && err.code === 'TRUNCATED' && /cut off/.test(err.message));
    await assert.rejects(listAll(workers, await store(corrupt)), (err: unknown) => err instanceof LayerReadError && /^(CORRUPT|TRUNCATED)$/.test(err.code));
    await workers.close();
  });

  it('a zstd program that is not there is ABORTED, not a bad layer', { skip: NATIVE_ZSTD ? 'this Node decodes zstd in zlib: no program runs' : false }, async () => {
    const workers = new LayerWorkers({ blobs: fileBlobs(), zstdCommand: '/nonexistent/zstd' });
    await assert.rejects(listAll(workers, layers.get('zstd')!.digest), (err: unknown) => err instanceof LayerReadError && err.code === 'ABORTED' && /could not run/.test(err.message));
    await workers.close();
  });

  it('a file shorter than its size is ABORTED (the disk\'s fault, not the layer\'s)', async () => {
    const workers = new LayerWorkers({ blobs: fileBlobs({ sizeOf: (size) => size + 4096 }) });
    await assert.rejects(listAll(workers, layers.get('gzip')!.digest), (err: unknown) => err instanceof LayerReadError && err.code === 'ABORTED' && /ended at byte/.test(err.message));
    await workers.close();
  });

  it('a read cancelled mid-way stops the worker, and the zstd program reading the file where one runs', async () => {
    // 20,000 files of 1 KiB: more lines than the receiver's window, more tar than the socket holds.
    const many: TarEntry[] = Array.from({ length: 20_000 }, (_, i) => ({ name: `many/f${i}`, content: randomBytes(1024) }));
    const digest = await store(compress(await packTar(many), 'zstd'));
    const workers = new LayerWorkers({ blobs: fileBlobs() });
    const controller = new AbortController();
    let release: () => void = () => undefined;
    let batches = 0;
    const listing = workers.list(parseDigest(digest), async () => {
      batches += 1;
      await new Promise<void>((resolve) => (release = resolve));
    }, controller.signal);
    listing.catch(() => undefined);
    // Where zlib has zstd (Node 22.15+) no program runs: the worker decodes.
    await waitFor(() => batches === 1 && zstdChildren().length === (NATIVE_ZSTD ? 0 : 1), 'the listing under way, the zstd program running');
    controller.abort();
    await assert.rejects(listing, (err: unknown) => err instanceof LayerReadError && err.code === 'ABORTED');
    release();
    await waitFor(() => zstdChildren().length === 0 && workers.threads === 0, 'no zstd program and no worker left');
    await workers.close();
  });

  it('the descriptor is closed once the read ends', async () => {
    const files = fileBlobs();
    const workers = new LayerWorkers({ blobs: files });
    await listAll(workers, layers.get('zstd')!.digest);
    const fd = files.opened[0]!.fd!;
    // The number may belong to another file opened since; it must not be the blob's.
    const target = await fs.readlink(`/proc/self/fd/${fd}`).catch(() => null);
    assert.ok(target === null || !target.includes(parseDigest(layers.get('zstd')!.digest).hex), `fd ${fd} is still the blob file`);
    await workers.close();
  });
});
