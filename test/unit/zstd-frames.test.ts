/**
 * ZstdFrameCheck (server/registry/layers/zstd-frames.ts): on frames written by Debian's `zstd` (with and
 * without a checksum, a content size, a single segment), concatenated, with a skippable frame between,
 * fed in chunks of every size, the stream is complete exactly where a frame ends and nowhere else.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZstdFrameCheck } from '../../server/registry/layers/zstd-frames.ts';
import { skipUnless } from '../helpers/tools.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-zstd-frames-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `zstd ARGS` of the bytes: from a file (the frame states its size) or from stdin (it does not). */
function zstd(bytes: Buffer, args: string[], from: 'file' | 'stdin'): Buffer {
  const file = path.join(dir, 'input');
  writeFileSync(file, bytes);
  const out = from === 'file'
    ? spawnSync('zstd', ['-q', '-c', ...args, file], { maxBuffer: 64 * 1024 ** 2 })
    : spawnSync('zstd', ['-q', '-c', ...args], { input: bytes, maxBuffer: 64 * 1024 ** 2 });
  assert.equal(out.status, 0, String(out.stderr));
  return out.stdout;
}

function skippable(content: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a53, 0);
  head.writeUInt32LE(content.length, 4);
  return Buffer.concat([head, content]);
}

function completeAfter(stream: Buffer, chunkSize: number): boolean {
  const check = new ZstdFrameCheck();
  for (let at = 0; at < stream.length; at += chunkSize) check.update(stream.subarray(at, at + chunkSize));
  return check.complete();
}

describe('zstd frame check', { skip: skipUnless('zstd') }, () => {
  // Random (raw blocks), one byte over two whole blocks (RLE blocks), repetitive (compressed): 623 KB.
  const data = Buffer.concat([randomBytes(262_144), Buffer.alloc(262_144, 7), Buffer.from('abc'.repeat(33_000))]);

  it('finds every kind of frame complete, in chunks of any size', () => {
    const frames = {
      'checksum, from stdin': zstd(data, [], 'stdin'),
      'no checksum, content size': zstd(data, ['--no-check'], 'file'),
      'level 19, long window': zstd(data, ['-19', '--long=27'], 'file'),
      'single segment (a small file)': zstd(Buffer.from('hello\n'), [], 'file'),
      'empty input': zstd(Buffer.alloc(0), [], 'stdin'),
    };
    for (const [name, frame] of Object.entries(frames)) {
      for (const size of [1, 3, 7, 4096, 65_536, frame.length]) assert.equal(completeAfter(frame, size), true, `${name}, chunks of ${size}`);
    }
  });

  it('is complete exactly at the end of each frame, at no other cut', () => {
    const first = zstd(data, [], 'stdin');
    const skip = skippable(Buffer.from('metadata a decoder passes over'));
    const second = zstd(data.subarray(0, 150_000), ['--no-check'], 'file');
    const stream = Buffer.concat([first, skip, second]);
    const ends = new Set([first.length, first.length + skip.length, stream.length]);
    const cuts = new Set<number>();
    for (let i = 0; i <= 40; i++) [i, first.length - 20 + i, first.length + skip.length - 20 + i, stream.length - i].forEach((c) => cuts.add(c));
    for (let i = 0; i < 300; i++) cuts.add(Math.floor(Math.random() * stream.length));
    for (const cut of cuts) {
      if (cut < 0 || cut > stream.length) continue;
      const prefix = stream.subarray(0, cut);
      assert.equal(completeAfter(prefix, 4093), ends.has(cut), `cut at ${cut} of ${stream.length}`);
    }
  });

  it('a skippable frame alone is no layer; what it does not know it leaves to the decoder', () => {
    assert.equal(completeAfter(skippable(Buffer.from('x')), 16), false, 'no zstd frame yet');
    assert.equal(completeAfter(Buffer.from('not zstd at all'), 16), true, 'another magic: the decoder says what is wrong');
    // A block of the reserved type (3) after a valid header: the decoder's error, not a truncation.
    const reserved = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3, (3 << 1) | (10 << 3), 0, 0]);
    assert.equal(completeAfter(reserved, 4), true);
  });
});
