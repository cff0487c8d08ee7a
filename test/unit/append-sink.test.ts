/**
 * The upload sink's direct writes (server/storage/append-sink.ts) on real files: every byte lands once, in
 * order, and `onWritten` (the upload's hash) sees exactly the bytes in the file, whether the writes go
 * direct, fall back to the page cache, fail, or the client hangs up.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { STAGING_BYTES, StagingPool } from '../../server/storage/aligned-buffers.ts';
import { AppendSink, type DirectWrites } from '../../server/storage/append-sink.ts';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-append-sink-'));
after(() => fs.rm(dir, { recursive: true, force: true }));
const pool = new StagingPool(2);
let files = 0;

/** A sink on a fresh file (or `file` at its end), direct where the file system allows it. */
async function open(options: { file?: string; direct?: (handle: FileHandle) => FileHandle } = {}) {
  const file = options.file ?? path.join(dir, `upload-${files++}`);
  const handle = await fs.open(file, constants.O_RDWR | constants.O_CREAT);
  const position = (await handle.stat()).size;
  const seen = createHash('sha256');
  let seenBytes = 0;
  let directCalls = 0;
  let released = 0;
  let direct: DirectWrites | null = null;
  const buffers = pool.acquire();
  assert.ok(buffers, 'aligned staging buffers');
  const directHandle = await fs.open(file, constants.O_WRONLY | constants.O_DIRECT).catch(() => null);
  if (directHandle) {
    const wrapped = options.direct ? options.direct(directHandle) : directHandle;
    const write = wrapped.write.bind(wrapped) as FileHandle['write'];
    wrapped.write = ((...args: Parameters<FileHandle['write']>) => {
      directCalls++;
      return write(...args);
    }) as FileHandle['write'];
    direct = { handle: wrapped, buffers, release: () => released++ };
  }
  let taken = 0;
  const sink = new AppendSink(handle, position, {
    onWritten: (bytes) => {
      seen.update(bytes);
      seenBytes += bytes.length;
    },
    onTaken: (count) => (taken += count),
  }, direct);
  return {
    file,
    sink,
    direct: directHandle !== null,
    get directCalls() {
      return directCalls;
    },
    get released() {
      return released;
    },
    /** Bytes the sink took (progress), staged or landed. */
    get taken() {
      return taken;
    },
    /** The file's bytes and that onWritten saw exactly them. */
    async check(): Promise<Buffer> {
      const bytes = await fs.readFile(file);
      assert.equal(seenBytes, bytes.length - position, 'onWritten saw as many bytes as landed');
      return bytes;
    },
    seenDigest: () => seen.copy().digest('hex'),
  };
}

/** Chunks of awkward sizes, as sockets deliver them. */
function chunked(bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = [65_536, 1, 16_384, 100_003, 7][i % 5]!;
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('AppendSink direct writes', () => {
  it('writes a body spanning several staging buffers whole and in order, the tail through the page cache', async (t) => {
    const s = await open();
    if (!s.direct) return t.skip(`no O_DIRECT on ${os.tmpdir()}`);
    const body = randomBytes(5 * STAGING_BYTES + 12_345);
    await pipeline(Readable.from(chunked(body)), s.sink);
    assert.equal(await s.sink.settled, body.length);
    const bytes = await s.check();
    assert.ok(bytes.equals(body), 'the file holds the body');
    assert.equal(s.seenDigest(), sha(body), 'the hash covers the file');
    assert.equal(s.directCalls, 5, 'each full staging buffer went out in one direct write');
    assert.equal(s.taken, body.length, 'progress counted every byte once');
    assert.equal(s.released, 1, 'the staging buffers went back');
  });

  it('appends at an unaligned end through the page cache only', async () => {
    const first = await open();
    const head = randomBytes(1000);
    await pipeline(Readable.from([head]), first.sink);
    const second = await open({ file: first.file });
    const body = randomBytes(3 * STAGING_BYTES);
    await pipeline(Readable.from(chunked(body)), second.sink);
    assert.equal(second.directCalls, 0);
    assert.ok((await second.check()).equals(Buffer.concat([head, body])));
    assert.equal(second.seenDigest(), sha(body));
    assert.equal(second.taken, body.length);
  });

  it('falls back to ordinary writes when the file refuses a direct one (EINVAL)', async (t) => {
    const s = await open({
      direct: (handle) => {
        handle.write = (() => Promise.reject(Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' }))) as FileHandle['write'];
        return handle;
      },
    });
    if (!s.direct) return t.skip(`no O_DIRECT on ${os.tmpdir()}`);
    const body = randomBytes(3 * STAGING_BYTES + 5);
    await pipeline(Readable.from(chunked(body)), s.sink);
    assert.ok((await s.check()).equals(body));
    assert.equal(s.seenDigest(), sha(body));
    assert.equal(s.directCalls, 1, 'tried once, then no more');
  });

  it('stops at a failed direct write: nothing after it lands, and the hash covers exactly the file', async (t) => {
    let calls = 0;
    const s = await open({
      direct: (handle) => {
        const write = handle.write.bind(handle) as FileHandle['write'];
        handle.write = ((...args: Parameters<FileHandle['write']>) =>
          ++calls === 2 ? Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) : write(...args)) as FileHandle['write'];
        return handle;
      },
    });
    if (!s.direct) return t.skip(`no O_DIRECT on ${os.tmpdir()}`);
    const body = randomBytes(4 * STAGING_BYTES + 99);
    await assert.rejects(pipeline(Readable.from(chunked(body)), s.sink), { code: 'EIO' });
    const landed = await s.sink.settled;
    const bytes = await s.check();
    assert.equal(landed, STAGING_BYTES, 'only the first buffer landed');
    assert.ok(bytes.equals(body.subarray(0, landed)));
    assert.equal(s.seenDigest(), sha(bytes));
  });

  it('keeps the staged bytes of a client that hangs up mid-body', async (t) => {
    const s = await open();
    if (!s.direct) return t.skip(`no O_DIRECT on ${os.tmpdir()}`);
    const source = new PassThrough();
    const piping = pipeline(source, s.sink);
    const sent = randomBytes(STAGING_BYTES + 4321);
    for (const chunk of chunked(sent)) source.write(chunk);
    // Wait until the sink has taken everything (most of it is staged, not yet written), then cut the body off.
    while (s.taken < sent.length) await new Promise((r) => setImmediate(r));
    assert.ok((await fs.stat(s.file)).size < sent.length, 'part of the body was only staged');
    source.destroy(new Error('client went away'));
    await assert.rejects(piping);
    assert.equal(await s.sink.settled, sent.length);
    assert.ok((await s.check()).equals(sent));
    assert.equal(s.seenDigest(), sha(sent));
  });
});
