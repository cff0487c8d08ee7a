/**
 * A large layer's DiffID hashed on a thread of its own (server/registry/layers/layer-worker.ts,
 * worker-pool.ts): real worker threads over an in-memory blob store. The DiffID and every file's
 * sha256 equal those of the one-thread read, for gzip, zstd and plain tar; a digest thread that dies
 * fails the listing with a clear error, keeps nothing and is not remembered as a bad layer; a bad
 * archive still fails as itself; and no thread outlives its read.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { before, describe, it } from 'node:test';
import pino from 'pino';
import { RegistryEvents } from '../../server/registry/events.ts';
import { LayerReadError } from '../../server/registry/layers/archive.ts';
import { LayerIndex } from '../../server/registry/layers/layer-index.ts';
import { defaultDigestThreadMinBytes, LayerWorkers } from '../../server/registry/layers/worker-pool.ts';
import { parseDigest, type Digest } from '../../server/registry/reference.ts';
import type { BlobReader } from '../../server/storage/blob-store.ts';
import type { LayerListingStore } from '../../server/storage/derived-store.ts';
import { compress, packTar, sha256, type Compression, type TarEntry } from '../fixtures/layers.ts';
import { listAll } from '../helpers/layer-listing.ts';

/** Blobs held in memory, sent as the disk store sends them: 1 MiB chunks, with backpressure. */
function memoryBlobs(blobs: Map<string, Buffer>): BlobReader {
  return {
    async open(digest: Digest) {
      const bytes = blobs.get(digest.value);
      if (!bytes) return null;
      return {
        size: bytes.length,
        async sendTo(dest: Writable) {
          async function* cuts() {
            for (let at = 0; at < bytes!.length; at += 1024 * 1024) yield bytes!.subarray(at, at + 1024 * 1024);
          }
          await pipeline(Readable.from(cuts()), dest);
        },
        async close() {},
      };
    },
    async read() { return null; },
    async urlFor() { return null; },
  };
}

// ~10 MiB of incompressible files (several digest chunks, and more than the window of 4 in flight),
// with directories, links and empty files between them.
const ENTRIES: TarEntry[] = [{ name: 'data', type: 'directory' }];
for (let i = 0; i < 40; i++) ENTRIES.push({ name: `data/file-${i}.bin`, content: randomBytes(i % 7 === 0 ? 0 : 200_000 + i * 1000) });
ENTRIES.push({ name: 'data/link', type: 'symlink', linkname: 'file-1.bin' }, { name: 'data/hard', type: 'link', linkname: 'data/file-2.bin' });

const layers = new Map<Compression, { raw: Buffer; digest: string; diffId: string }>();
const blobs = new Map<string, Buffer>();

before(async () => {
  const raw = await packTar(ENTRIES);
  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    const blob = compress(raw, compression);
    layers.set(compression, { raw, digest: sha256(blob), diffId: sha256(raw) });
    blobs.set(sha256(blob), blob);
  }
  const truncated = compress(raw, 'gzip').subarray(0, 5 * 1024 * 1024);
  blobs.set(sha256(truncated), truncated);
});

describe('the DiffID on a thread of its own', () => {
  it('is used by default only where a core is free for it, and for large layers only', () => {
    assert.equal(defaultDigestThreadMinBytes(2, undefined), Infinity, 'not on 2 cores: it costs more than it saves there');
    assert.equal(defaultDigestThreadMinBytes(4, undefined), 8 * 1024 * 1024);
    assert.equal(defaultDigestThreadMinBytes(2, '1'), 8 * 1024 * 1024, 'forced on');
    assert.equal(defaultDigestThreadMinBytes(16, '0'), Infinity, 'forced off');
  });

  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    it(`gives the same DiffID and file digests as one thread (${compression})`, async () => {
      const layer = layers.get(compression)!;
      const split = new LayerWorkers({ blobs: memoryBlobs(blobs), digestThreadMinBytes: 0 });
      const single = new LayerWorkers({ blobs: memoryBlobs(blobs), digestThreadMinBytes: Infinity });
      let most = 0;
      const two = await listAll(split, layer.digest, () => (most = Math.max(most, split.threads)));
      const one = await listAll(single, layer.digest);
      assert.equal(most, 2, 'the listing ran on two threads');
      assert.equal(two.summary.diffId, layer.diffId);
      assert.equal(one.summary.diffId, layer.diffId);
      assert.equal(two.summary.uncompressedSize, layer.raw.length);
      assert.equal(two.lines, one.lines, 'the same entries, with the same sha256 of each file');
      const files = two.lines.trim().split('\n').map((l) => JSON.parse(l) as { path: string; sha256?: string });
      assert.equal(files.find((f) => f.path === 'data/file-3.bin')?.sha256, sha256(ENTRIES.find((e) => e.name === 'data/file-3.bin')!.content as Buffer).slice(7));
      assert.deepEqual([split.threads, single.threads], [0, 0], 'no thread outlives its read');
      await Promise.all([split.close(), single.close()]);
    });
  }

  it('a digest thread that dies fails the listing clearly, keeps nothing, and is tried again next time', async () => {
    const layer = layers.get('zstd')!;
    const workers = new LayerWorkers({ blobs: memoryBlobs(blobs), digestThreadMinBytes: 0, digestExitAfter: 3 * 1024 * 1024 });
    let created = 0;
    let committed = 0;
    let aborted = 0;
    const store: LayerListingStore = {
      async bytes() { return null; },
      async lines() { return null; },
      async create() {
        created += 1;
        return { write: async () => undefined, commit: async () => void (committed += 1), abort: async () => void (aborted += 1) };
      },
      async remove() {},
    };
    const index = new LayerIndex({ workers, store, events: new RegistryEvents(), log: pino({ level: 'silent' }), sizeOf: async () => 1 });
    const digest = parseDigest(layer.digest);
    for (let attempt = 1; attempt <= 2; attempt++) {
      await assert.rejects(index.summary(digest), (err: unknown) => {
        assert.ok(err instanceof LayerReadError);
        assert.equal(err.code, 'ABORTED', 'not the layer\'s fault: not remembered as a bad layer');
        assert.match(err.message, /thread hashing the layer stopped \(exit code 1\)/);
        return true;
      });
      assert.equal(workers.threads, 0, 'both threads stopped');
    }
    assert.deepEqual([created, committed, aborted], [2, 0, 2], 'read again the second time; no listing kept either time');
    index.close();
    await workers.close();
  });

  it('a truncated layer still fails as TRUNCATED, and stops the digest thread too', async () => {
    const workers = new LayerWorkers({ blobs: memoryBlobs(blobs), digestThreadMinBytes: 0 });
    const truncated = [...blobs.entries()].find(([, b]) => b.length === 5 * 1024 * 1024)![0];
    await assert.rejects(listAll(workers, truncated), (err: unknown) => err instanceof LayerReadError && err.code === 'TRUNCATED');
    assert.equal(workers.threads, 0);
    await workers.close();
  });
});
