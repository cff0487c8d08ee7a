/**
 * Reading layers (server/registry/layers/archive.ts) with every zstd decoder Berth may use: zlib's own
 * (Node 22.15+; on Node 20 its tests are skipped here and run in scripts/test.js's newer-Node pass), the
 * `zstd` program in a process of its own (the fast path on Node 20) and fzstd (the portable one). All
 * must list the same entries and DiffID as gzip, and turn truncated, corrupt and over-large-window
 * frames into the same error codes, a stream cut off between two blocks included (zlib's zstd on Node 22
 * lets that pass: zstd-frames.ts). Also: a listing streams out entry by entry (nothing kept), and
 * stopping early (a file found) ends the zstd process; given the layer's file, the zstd program reads it itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { LayerEntry } from '../../server/registry/inspect-types.ts';
import { extractFile, LayerReadError, listLayer, NATIVE_ZSTD, type ReadOptions } from '../../server/registry/layers/archive.ts';
import { findExecutable } from '../../server/registry/layers/worker-pool.ts';
import { packTar, sha256, zstd, type TarEntry } from '../fixtures/layers.ts';
import { skipUnless } from '../helpers/tools.ts';

const skipZstd = skipUnless('zstd');

const ENTRIES: TarEntry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/os-release', content: 'NAME=Berth\n' },
  { name: 'etc/.wh.motd' },
  { name: 'usr/bin/tool', content: randomBytes(300_000), mode: 0o755 },
  { name: 'usr/bin/sh', type: 'symlink', linkname: 'tool' },
  { name: 'usr/bin/tool2', type: 'link', linkname: 'usr/bin/tool' },
  { name: 'var/cache/.wh..wh..opq' },
  ...Array.from({ length: 200 }, (_, i) => ({ name: `data/file-${i}.txt`, content: `line ${i}\n`.repeat(i) })),
];

async function* chunked(bytes: Buffer, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function list(blob: Buffer, options: ReadOptions): Promise<{ entries: LayerEntry[]; diffId: string; whiteouts: number; entryCount: number }> {
  const entries: LayerEntry[] = [];
  const summary = await listLayer(chunked(blob), (e) => void entries.push(e), options);
  return { entries, diffId: summary.diffId, whiteouts: summary.whiteouts, entryCount: summary.entryCount };
}

async function errorCode(blob: Buffer, options: ReadOptions): Promise<string> {
  try {
    await list(blob, options);
  } catch (err) {
    assert.ok(err instanceof LayerReadError, `a LayerReadError, not ${String(err)}`);
    return `${err.code}: ${err.message}`;
  }
  return 'no error';
}

/**
 * One zstd frame written by hand (RFC 8878 §3.1.1): no content size, no checksum, a 128 KiB window, and
 * each part a raw block of its own, the last one flagged. Where one block ends is then known exactly.
 */
function rawBlockFrame(parts: Buffer[]): { frame: Buffer; blockEnds: number[] } {
  const out: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3])];
  const blockEnds: number[] = [];
  let length = 6;
  parts.forEach((part, i) => {
    assert.ok(part.length <= 128 * 1024);
    const header = (part.length << 3) | (i === parts.length - 1 ? 1 : 0);
    out.push(Buffer.from([header & 0xff, (header >>> 8) & 0xff, header >>> 16]), part);
    length += 3 + part.length;
    blockEnds.push(length);
  });
  return { frame: Buffer.concat(out), blockEnds };
}

const cpuZstd = { zlibZstd: false } as const;

describe('zstd layers on every decoder', { skip: skipZstd }, () => {
  const decoders: [string, () => ReadOptions, string | false][] = [
    ["zlib's zstd", () => ({}), NATIVE_ZSTD ? false : 'this Node has no zstd in zlib (Node 22.15+ has): the newer-Node pass of scripts/test.js runs it'],
    ['the zstd program', () => ({ zstdCommand: findExecutable('zstd'), ...cpuZstd }), false],
    ['fzstd (no zstd program)', () => ({ zstdCommand: null, ...cpuZstd }), false],
  ];

  it('finds the zstd program on PATH, and none on an empty PATH', () => {
    assert.match(findExecutable('zstd') ?? '', /\/zstd$/);
    assert.equal(findExecutable('zstd', ''), null);
  });

  for (const [name, options, skip] of decoders) {
    it(`${name}: lists what gzip lists, with the same DiffID`, { skip }, async () => {
      const raw = await packTar(ENTRIES);
      const fromGzip = await list(gzipSync(raw), {});
      const fromZstd = await list(zstd(raw), options());
      assert.equal(fromZstd.diffId, sha256(raw));
      assert.deepEqual(fromZstd, fromGzip);
      assert.equal(fromZstd.entryCount, ENTRIES.length);
      assert.equal(fromZstd.whiteouts, 2);
      assert.deepEqual(fromZstd.entries.find((e) => e.path === 'usr/bin/tool2'), {
        path: 'usr/bin/tool2', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: fromZstd.entries[0]!.mtime, linkTarget: 'usr/bin/tool',
      });
    });

    it(`${name}: a cut-off layer is TRUNCATED, flipped bytes CORRUPT`, { skip }, async () => {
      const blob = zstd(await packTar(ENTRIES));
      assert.match(await errorCode(blob.subarray(0, Math.floor(blob.length / 2)), options()), /^TRUNCATED: /);
      const corrupt = Buffer.from(blob);
      for (let at = 200; at < corrupt.length - 100; at += 997) corrupt[at] = corrupt[at]! ^ 0x5a;
      assert.match(await errorCode(corrupt, options()), /^(CORRUPT|TRUNCATED): /);
      assert.match(await errorCode(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.from('not a frame at all, just words')]), options()), /^(CORRUPT|TRUNCATED|UNSUPPORTED): /);
    });

    it(`${name}: a layer cut off where a block and a tar entry both end is TRUNCATED`, { skip }, async () => {
      // Two files of 512 + 130,560 bytes: each tar entry fills one 128 KiB block exactly.
      const raw = await packTar([
        { name: 'one.bin', content: randomBytes(130_560) },
        { name: 'two.bin', content: randomBytes(130_560) },
      ]);
      const parts = [raw.subarray(0, 131_072), raw.subarray(131_072, 262_144), raw.subarray(262_144)];
      const { frame, blockEnds } = rawBlockFrame(parts);
      const whole = await list(frame, options());
      assert.deepEqual(whole.entries.map((e) => [e.path, e.size]), [['one.bin', 130_560], ['two.bin', 130_560]]);
      assert.equal(whole.diffId, sha256(raw));
      // The tar is whole up to each of these ends (no end-of-archive blocks, which tar may omit); the frame is not.
      for (const end of blockEnds.slice(0, -1)) assert.match(await errorCode(frame.subarray(0, end), options()), /^TRUNCATED: /, `cut at ${end}`);
      assert.match(await errorCode(frame.subarray(0, blockEnds.at(-1)! - 1), options()), /^TRUNCATED: /);
    });

    it(`${name}: stops reading once the wanted file is found`, { skip }, async () => {
      const blob = zstd(await packTar(ENTRIES));
      let handed = 0;
      async function* endless(): AsyncGenerator<Uint8Array> {
        // The real layer, then more bytes forever: only stopping at the file ends the read.
        for await (const chunk of chunked(blob, 4096)) {
          handed += chunk.byteLength;
          yield chunk;
        }
        for (;;) {
          await new Promise((resolve) => setImmediate(resolve));
          yield new Uint8Array(4096);
        }
      }
      const parts: Buffer[] = [];
      const entry = await extractFile(endless(), 'etc/os-release', async (chunk) => void parts.push(Buffer.from(chunk)), options());
      assert.equal(Buffer.concat(parts).toString(), 'NAME=Berth\n');
      assert.equal(entry.size, 11);
      assert.ok(handed <= blob.length, 'nothing past the layer was needed');
    });
  }

  // zlib and the program refuse windows over 128 MiB; fzstd takes up to 2 GiB, so it is left out here.
  for (const [name, options, skip] of decoders.slice(0, 2)) {
    it(`${name}: a frame whose window is over its memory limit is UNSUPPORTED`, { skip }, async () => {
      // --long=30 on a stream of unknown size writes a 1 GiB window into the frame header.
      const out = spawnSync('zstd', ['-q', '--long=30', '-c'], { input: await packTar(ENTRIES), maxBuffer: 1024 ** 3 });
      assert.equal(out.status, 0);
      assert.match(await errorCode(out.stdout, options()), /^UNSUPPORTED: .*window/i);
    });
  }

  it('the zstd program given the layer\'s file reads it itself: only the head comes from the source', async () => {
    const raw = await packTar(ENTRIES);
    const blob = zstd(raw);
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-zstd-fd-'));
    await fs.writeFile(path.join(dir, 'layer.tar.zst'), blob);
    // Opened for reading as the filesystem driver opens a blob: at offset 0, where the program starts.
    const handle = await fs.open(path.join(dir, 'layer.tar.zst'), 'r');
    try {
      let pulled = 0;
      async function* headOnly(): AsyncGenerator<Uint8Array> {
        for await (const chunk of chunked(blob, 512)) {
          pulled += 1;
          yield chunk;
        }
      }
      const entries: LayerEntry[] = [];
      const summary = await listLayer(headOnly(), (e) => void entries.push(e), { zstdCommand: findExecutable('zstd'), zstdStdin: handle.fd, ...cpuZstd });
      assert.equal(pulled, 1, 'the source gave the head that told the compression, and nothing more');
      assert.equal(summary.diffId, sha256(raw));
      assert.deepEqual(entries, (await list(gzipSync(raw), {})).entries);
    } finally {
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a program that is not there is a clear error, not a crash', async () => {
    const blob = zstd(await packTar(ENTRIES));
    assert.match(await errorCode(blob, { zstdCommand: '/nonexistent/zstd', ...cpuZstd }), /^ABORTED: could not run \/nonexistent\/zstd: .*ENOENT/);
  });
});

describe('listing as a stream', () => {
  it('hands entries over one by one and waits while the receiver is busy', async () => {
    const raw = await packTar(ENTRIES);
    let busy = false;
    let overlapped = false;
    let seen = 0;
    const summary = await listLayer(chunked(gzipSync(raw)), async () => {
      if (busy) overlapped = true;
      busy = true;
      await new Promise((resolve) => setImmediate(resolve));
      busy = false;
      seen += 1;
    });
    assert.equal(overlapped, false, 'the next entry waited for the previous one to be taken');
    assert.equal(seen, summary.entryCount);
    assert.equal(summary.addedBytes, ENTRIES.reduce((s, e) => s + (e.content ? Buffer.from(e.content).length : 0), 0));
  });
});
