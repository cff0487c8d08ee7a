/**
 * The mirror's spool writer (server/mirror/spool-sink.ts) on real files: every byte lands once and in
 * order, `landed` never runs ahead of the file, a slow upstream's bytes reach the file without waiting
 * for more, a failed write fails the stream, and the two buffers go back to the pool only at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { SpoolSink } from '../../server/mirror/spool-sink.ts';
import { BufferPool } from '../../server/storage/buffer-pool.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-spool-sink-'));
after(() => fs.rm(dir, { recursive: true, force: true }));
let files = 0;

const KIB = 1024;

async function open(pool: BufferPool, wrap?: (handle: FileHandle) => void) {
  const file = path.join(dir, `spool-${files++}`);
  const handle = await fs.open(file, 'wx');
  wrap?.(handle);
  const taken: Buffer[] = [];
  const landed: number[] = [];
  let total = 0;
  let onLanded: (() => void) | null = null;
  const sink = new SpoolSink(handle, pool, {
    taken: (chunk) => taken.push(Buffer.from(chunk)),
    landed: (bytes) => {
      total += bytes;
      landed.push(total);
      onLanded?.();
    },
  });
  return {
    file,
    handle,
    sink,
    taken,
    landed,
    get total() {
      return total;
    },
    /** Resolves once `bytes` in all have landed. */
    until(bytes: number): Promise<void> {
      return new Promise((resolve) => {
        const check = () => {
          if (total >= bytes) {
            onLanded = null;
            resolve();
          }
        };
        onLanded = check;
        check();
      });
    },
  };
}

/** `data` cut into pieces of the given sizes, over and over. */
function pieces(data: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at);
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe('spool sink', () => {
  it('writes every byte once and in order, whatever the chunk sizes, and lands nothing before it is in the file', async () => {
    const pool = new BufferPool(256 * KIB, 4);
    const data = randomBytes(3 * 1024 * KIB + 123);
    const spool = await open(pool);
    await pipeline(Readable.from(pieces(data, [1, 7, 64 * KIB, 300 * KIB, 5, 600 * KIB, 16 * KIB])), spool.sink);
    await spool.handle.close();
    assert.deepEqual(await fs.readFile(spool.file), data);
    assert.equal(spool.total, data.length);
    assert.deepEqual(Buffer.concat(spool.taken), data, 'taken sees the body in order');
    assert.ok(spool.landed.every((t, i) => i === 0 || t > spool.landed[i - 1]!), 'landings only grow');
    assert.ok(spool.landed.length > 1, 'landed in several writes');
  });

  it('never tells of bytes the file does not hold yet', async () => {
    const pool = new BufferPool(64 * KIB, 4);
    const data = randomBytes(1024 * KIB);
    const file = path.join(dir, `spool-${files++}`);
    const handle = await fs.open(file, 'wx');
    let total = 0;
    const behind: string[] = [];
    const sink = new SpoolSink(handle, pool, {
      taken: () => undefined,
      landed: (bytes) => {
        total += bytes;
        // Synchronous on purpose: the file's size at the moment of the landing.
        const size = statSize(file);
        if (size < total) behind.push(`${total} landed, ${size} in the file`);
      },
    });
    await pipeline(Readable.from(pieces(data, [10 * KIB, 100 * KIB, 3])), sink);
    await handle.close();
    assert.deepEqual(behind, []);
    assert.equal(total, data.length);
  });

  it('writes a slow upstream\'s bytes without waiting for more', async () => {
    const pool = new BufferPool(1024 * KIB, 4);
    const spool = await open(pool);
    const body = new PassThrough();
    const done = pipeline(body, spool.sink);
    // Each small chunk must reach the file while the next has not been sent: a writer that waits to
    // fill its buffer would never get there.
    let sent = 0;
    for (const size of [1, 100, 4 * KIB, 10]) {
      body.write(randomBytes(size));
      sent += size;
      await spool.until(sent);
      assert.equal((await fs.stat(spool.file)).size, sent);
    }
    body.end();
    await done;
    await spool.handle.close();
    assert.equal(spool.total, sent);
  });

  it('fails the stream when a write fails, and lands nothing after it', async () => {
    const pool = new BufferPool(64 * KIB, 4);
    let writes = 0;
    const spool = await open(pool, (handle) => {
      const write = handle.write.bind(handle) as FileHandle['write'];
      handle.write = ((...args: Parameters<FileHandle['write']>) => {
        if (++writes === 3) return Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
        return write(...args);
      }) as FileHandle['write'];
    });
    const data = randomBytes(1024 * KIB);
    await assert.rejects(pipeline(Readable.from(pieces(data, [64 * KIB])), spool.sink), /no space left on device/);
    await spool.handle.close();
    assert.equal(spool.total, 2 * 64 * KIB, 'the two writes before the failure, not one byte more');
    assert.deepEqual((await fs.readFile(spool.file)).subarray(0, spool.total), data.subarray(0, spool.total));
  });

  it('gives its two buffers back once finished or destroyed, not before', async () => {
    const pool = new BufferPool(64 * KIB, 4);
    const a = pool.acquire();
    const b = pool.acquire();
    pool.release(a);
    pool.release(b);
    const spool = await open(pool);
    // While the sink lives the pool has none of them.
    const other = pool.acquire();
    assert.ok(other !== a && other !== b, 'the sink holds both buffers');
    await pipeline(Readable.from([randomBytes(200 * KIB)]), spool.sink);
    await new Promise<void>((resolve) => (spool.sink.destroyed ? resolve() : spool.sink.once('close', () => resolve())));
    const back = new Set([pool.acquire(), pool.acquire()]);
    assert.ok(back.has(a) && back.has(b), 'both buffers are back in the pool');
    await spool.handle.close();
    for (const buffer of back) pool.release(buffer);

    const destroyed = await open(pool);
    const body = new PassThrough();
    const piping = pipeline(body, destroyed.sink).catch((err: Error) => err);
    body.write(randomBytes(10 * KIB));
    await destroyed.until(10 * KIB);
    destroyed.sink.destroy(new Error('the upstream reset the connection'));
    assert.match(String(await piping), /reset the connection/);
    await new Promise<void>((resolve) => (destroyed.sink.closed ? resolve() : destroyed.sink.once('close', () => resolve())));
    const again = new Set([pool.acquire(), pool.acquire()]);
    assert.ok(again.has(a) && again.has(b), 'a destroyed sink gives its buffers back too');
    await destroyed.handle.close();
  });
});

function statSize(file: string): number {
  return statSync(file).size;
}
