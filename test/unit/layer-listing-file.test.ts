/**
 * The stored layer listing read back (server/registry/layers/layer-index.ts, storage/derived-store.ts):
 * JSON lines turned into the inside of a JSON array without parsing them, and split into lines, with
 * lines, and UTF-8 characters, cut anywhere by the chunks they arrive in; and a disk that cannot take
 * a listing, which must not be remembered as a fault of the layer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { RegistryEvents } from '../../server/registry/events.ts';
import type { ListSummary } from '../../server/registry/layers/archive.ts';
import { LayerIndex, linesAsJsonArray } from '../../server/registry/layers/layer-index.ts';
import type { LayerWorkers } from '../../server/registry/layers/worker-pool.ts';
import { parseDigest } from '../../server/registry/reference.ts';
import { splitLines, type LayerListingStore } from '../../server/storage/derived-store.ts';

const ENTRIES = [
  { path: 'etc/motd', type: 'file', size: 8 },
  { path: 'usr/share/dünya/ümlaut-😀.txt', type: 'file', size: 1 },
  { path: 'var', type: 'dir', size: 0 },
];
const FILE = `${ENTRIES.map((e) => JSON.stringify(e)).join('\n')}\n${JSON.stringify({ v: 2, summary: { entryCount: 3 } })}\n`;

async function* cut(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString('utf8');
}

const notSummary = (line: Buffer) => !line.toString().startsWith('{"v":');

describe('stored listing lines', () => {
  for (const size of [1, 2, 3, 7, 64, 100_000]) {
    it(`becomes a JSON array without the summary line, in chunks of ${size} bytes`, async () => {
      const inside = await collect(linesAsJsonArray(cut(Buffer.from(FILE), size), notSummary));
      assert.deepEqual(JSON.parse(`[${inside}]`), ENTRIES);
    });

    it(`splits into lines, characters whole, in chunks of ${size} bytes`, async () => {
      const lines: string[] = [];
      for await (const line of splitLines(cut(Buffer.from(FILE), size))) lines.push(line);
      assert.deepEqual(lines.slice(0, 3).map((l) => JSON.parse(l)), ENTRIES);
      assert.equal(lines.length, 4);
    });
  }

  it('an empty listing is an empty array; a file without a final newline loses nothing', async () => {
    assert.equal(await collect(linesAsJsonArray(cut(Buffer.from('{"v":2}\n'), 3), notSummary)), '');
    const unterminated = FILE.slice(0, -1);
    assert.deepEqual(JSON.parse(`[${await collect(linesAsJsonArray(cut(Buffer.from(unterminated), 5), notSummary))}]`), ENTRIES);
  });
});

describe('a listing the disk cannot take', () => {
  it('fails with the disk\'s own error, keeps nothing, and is tried again next time', async () => {
    let lists = 0;
    let aborted = 0;
    const workers = {
      async list(_digest: unknown, onLines: (bytes: Uint8Array) => Promise<void>): Promise<ListSummary> {
        lists += 1;
        await onLines(Buffer.from(`${JSON.stringify(ENTRIES[0])}\n`));
        return { compression: 'gzip', diffId: 'sha256:x', uncompressedSize: 1, entryCount: 1, addedBytes: 8, whiteouts: 0, rejected: [], rejectedCount: 0 };
      },
    } as unknown as LayerWorkers;
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const store: LayerListingStore = {
      async bytes() { return null; },
      async lines() { return null; },
      async create() {
        return { write: async () => { throw full; }, commit: async () => undefined, abort: async () => void (aborted += 1) };
      },
      async remove() {},
    };
    const index = new LayerIndex({ workers, store, events: new RegistryEvents(), log: pino({ level: 'silent' }), sizeOf: async () => 1 });
    const digest = parseDigest(`sha256:${'3'.repeat(64)}`);
    await assert.rejects(index.summary(digest), (err: NodeJS.ErrnoException) => err.code === 'ENOSPC');
    await assert.rejects(index.summary(digest), (err: NodeJS.ErrnoException) => err.code === 'ENOSPC');
    assert.deepEqual([lists, aborted], [2, 2], 'read again the second time (not remembered as a bad layer), the partial file dropped each time');
    index.close();
  });
});
