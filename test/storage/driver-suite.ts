/**
 * The driver test suite (like Distribution's registry/storage/driver/testsuites): one set of
 * behaviours every storage driver must show, run against the filesystem, S3 (Swift + s3api, which
 * refuses parts under 5 MiB as S3 does) and Azure (Azurite) by drivers.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import type { ObjectWriter, StorageDriver } from '../../server/storage/driver/driver.ts';

export interface DriverFactory {
  /** A driver on a fresh, empty store (or on the store of `sameAs`); `pageSize` makes listings paginate early. */
  make(options?: { pageSize?: number; sameAs?: StorageDriver }): StorageDriver;
  /** Why the suite cannot run here, or null. */
  skip: string | null;
  /** Whether the driver can presign URLs. */
  presigns: boolean;
}

const MiB = 1024 * 1024;

/** Collects what a sink receives. */
class Collect extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    // A copy: the filesystem driver reuses its send buffers once a write has been called back.
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Byte-for-byte equality without a megabyte-long diff on failure. */
function sameBytes(actual: Buffer | null, expected: Buffer, what = 'bytes'): void {
  assert.ok(actual, `${what}: nothing`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(actual.equals(expected), `${what}: content differs`);
}

async function send(driver: StorageDriver, key: string, range?: { start: number; end: number }): Promise<Buffer | null> {
  const reader = await driver.reader(key);
  if (!reader) return null;
  const out = new Collect();
  await reader.sendTo(out, range);
  return out.bytes;
}

async function readAll(stream: NodeJS.ReadableStream | null): Promise<Buffer | null> {
  if (!stream) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `parts` through one writer each (like PATCHes), persisting after each. */
async function appendEach(driver: StorageDriver, key: string, parts: Buffer[]): Promise<number> {
  let size: number | null = null;
  for (const part of parts) {
    const writer = await driver.writer(key);
    if (size !== null) assert.equal(writer.offset, size, 'a writer opens at the persisted size');
    await pipeline(PassThrough.from([part]), writer.sink);
    size = await writer.persist();
  }
  return size ?? 0;
}

async function write(writer: ObjectWriter, bytes: Buffer): Promise<void> {
  await pipeline(PassThrough.from([bytes]), writer.sink);
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

export function driverSuite(name: string, factory: DriverFactory): void {
  describe(`storage driver: ${name}`, { skip: factory.skip ?? false }, () => {
    const drivers: StorageDriver[] = [];
    const make = (options?: { pageSize?: number; sameAs?: StorageDriver }) => {
      const d = factory.make(options);
      drivers.push(d);
      return d;
    };
    after(async () => {
      for (const d of drivers) {
        await d.deleteAll('t').catch(() => undefined);
        await d.close();
      }
    });

    it('stores small objects whole and reads them back, with their time; a missing one is null', async () => {
      const driver = make();
      await driver.check();
      const before = Date.now() - 2000;
      await driver.putContent('t/a/one', 'hello');
      const content = await driver.getContent('t/a/one');
      assert.equal(content?.bytes.toString(), 'hello');
      assert.ok(content!.modifiedAt.getTime() >= before && content!.modifiedAt.getTime() <= Date.now() + 2000);
      await driver.putContent('t/a/one', Buffer.from('replaced'));
      assert.equal((await driver.getContent('t/a/one'))?.bytes.toString(), 'replaced');
      assert.equal(await driver.getContent('t/a/one', 3), null, 'larger than maxBytes');
      assert.equal(await driver.getContent('t/a/missing'), null);
      assert.deepEqual(await driver.stat('t/a/one').then((s) => s && { path: s.path, size: s.size }), { path: 't/a/one', size: 8 });
      assert.equal(await driver.stat('t/a/missing'), null);
      assert.equal(await driver.stat('t/a'), null, 'a directory is not an object');
    });

    it('touch creates an empty marker object and renews an existing one', async () => {
      const driver = make();
      await driver.touch('t/links/x');
      const first = await driver.stat('t/links/x');
      assert.equal(first?.size, 0);
      await driver.touch('t/links/x');
      const second = await driver.stat('t/links/x');
      assert.equal(second?.size, 0);
      assert.ok(second!.modifiedAt.getTime() >= first!.modifiedAt.getTime());
    });

    it('touch with soon makes the object at once, and settle (of it or of anything) resolves', async () => {
      const driver = make();
      await driver.touch('t/soon/a/link', { soon: true });
      await driver.touch('t/soon/b/link', { soon: true });
      assert.equal((await driver.stat('t/soon/a/link'))?.size, 0);
      assert.deepEqual(await driver.list('t/soon'), ['a', 'b']);
      await driver.settle(['t/soon/a/link', 't/soon/b/link', 't/soon/never/link']);
      await driver.settle([]);
      await driver.touch('t/soon/a/link', { soon: true });
      assert.equal((await driver.stat('t/soon/a/link'))?.size, 0, 'an existing one stays as it was');
    });

    it('staged content is out of sight until committed, then whole, in the order committed; discarded, never', async () => {
      const driver = make();
      await driver.putContent('t/staged/tag', 'old');
      const [first, second, dropped] = await Promise.all([
        driver.stageContent('t/staged/revision', 'revision'),
        driver.stageContent('t/staged/tag', Buffer.from('new')),
        driver.stageContent('t/staged/dropped', 'never'),
      ]);
      assert.equal(await driver.getContent('t/staged/revision'), null);
      assert.equal((await driver.getContent('t/staged/tag'))?.bytes.toString(), 'old');
      await first.commit();
      assert.equal((await driver.getContent('t/staged/revision'))?.bytes.toString(), 'revision');
      assert.equal((await driver.getContent('t/staged/tag'))?.bytes.toString(), 'old');
      await second.commit();
      assert.equal((await driver.getContent('t/staged/tag'))?.bytes.toString(), 'new');
      await dropped.discard();
      await second.discard(); // after its commit: nothing to drop
      assert.equal(await driver.getContent('t/staged/dropped'), null);
      assert.equal((await driver.getContent('t/staged/tag'))?.bytes.toString(), 'new');
      assert.deepEqual(await driver.list('t/staged'), ['revision', 'tag']);
    });

    it('lists the names directly under a directory, and walks every object below it, across pages', async () => {
      const driver = make({ pageSize: 2 });
      for (const key of ['t/l/b', 't/l/a', 't/l/sub/x', 't/l/sub/deeper/y', 't/l/c', 't/l/d', 't/lx/not-under']) await driver.putContent(key, key);
      assert.deepEqual(await driver.list('t/l'), ['a', 'b', 'c', 'd', 'sub']);
      assert.deepEqual(await driver.list('t/l/sub'), ['deeper', 'x']);
      assert.deepEqual(await driver.list('t/nothing'), []);
      const walked = [];
      for await (const o of driver.walk('t/l')) walked.push([o.path, o.size]);
      walked.sort();
      assert.deepEqual(walked, [['t/l/a', 5], ['t/l/b', 5], ['t/l/c', 5], ['t/l/d', 5], ['t/l/sub/deeper/y', 16], ['t/l/sub/x', 9]]);
    });

    it('streams an object whole or by range, and opens a missing one as null', async () => {
      const driver = make();
      const bytes = randomBytes(3 * MiB + 17);
      await driver.putContent('t/r/blob', bytes);
      sameBytes(await send(driver, 't/r/blob'), bytes);
      sameBytes(await send(driver, 't/r/blob', { start: 5, end: 1000 }), bytes.subarray(5, 1001));
      sameBytes(await send(driver, 't/r/blob', { start: bytes.length - 1, end: bytes.length - 1 }), bytes.subarray(-1));
      sameBytes(await readAll(await driver.readStream('t/r/blob')), bytes);
      const known = await driver.reader('t/r/blob', bytes.length);
      assert.equal(known?.size, bytes.length);
      await known?.close();
      await driver.putContent('t/r/empty', '');
      sameBytes(await send(driver, 't/r/empty'), Buffer.alloc(0));
      assert.equal(await driver.reader('t/r/missing'), null);
      assert.equal(await driver.readStream('t/r/missing'), null);
    });

    it('copies and moves server-side, deletes one object or a whole directory', async () => {
      const driver = make();
      await driver.putContent('t/c/src', 'content');
      await driver.copy('t/c/src', 't/c/copy');
      assert.equal((await driver.getContent('t/c/copy'))?.bytes.toString(), 'content');
      await driver.move('t/c/copy', 't/c/moved/here');
      assert.equal(await driver.stat('t/c/copy'), null);
      assert.equal((await driver.getContent('t/c/moved/here'))?.bytes.toString(), 'content');
      assert.equal(await driver.delete('t/c/src'), true);
      assert.equal(await driver.delete('t/c/src'), false, 'deleting what is gone says so');
      await driver.deleteAll('t/c');
      assert.deepEqual(await driver.list('t/c'), []);
    });

    it('moves a local file into the store (whole), consuming the file', async () => {
      const driver = make();
      const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'berth-putfile-')), 'spool');
      const bytes = randomBytes(6 * MiB + 3);
      await fs.writeFile(file, bytes);
      await driver.putFile('t/f/blob', file);
      sameBytes(await send(driver, 't/f/blob'), bytes);
      await assert.rejects(fs.access(file));
      await fs.rm(path.dirname(file), { recursive: true, force: true });
    });

    it('appends across writers and processes, gathers small chunks, and commits the whole object at the target', async () => {
      const driver = make();
      const parts = [Buffer.from('abc'), randomBytes(2 * MiB), randomBytes(6 * MiB + 5), Buffer.from('x'), randomBytes(5 * MiB)];
      const key = 't/u/one/data';
      // Half through this driver, half through another one on the same store (a restart, a replica).
      await appendEach(driver, key, parts.slice(0, 3));
      const other = make({ sameAs: driver });
      const size = await appendEach(other, key, parts.slice(3));
      const total = Buffer.concat(parts);
      assert.equal(size, total.length);
      assert.equal((await driver.writerStat(key))?.size, total.length);
      assert.equal(await driver.stat('t/u/one/blob'), null, 'nothing at the target before the commit');
      const seen: Buffer[] = [];
      const last = await driver.writer(key, { onWritten: (b) => seen.push(Buffer.from(b)) });
      await write(last, Buffer.from('end'));
      await last.commit('t/u/one/blob');
      assert.deepEqual(Buffer.concat(seen), Buffer.from('end'), 'onWritten saw every accepted byte');
      sameBytes(await send(driver, 't/u/one/blob'), Buffer.concat([total, Buffer.from('end')]));
      assert.equal(await driver.writerStat(key), null, 'the unfinished object is gone after the commit');
    });

    it('continues an upload in a second driver instance on the same store', async () => {
      const first = make();
      const second = make({ sameAs: first });
      const a = randomBytes(7 * MiB + 1);
      const b = randomBytes(1234);
      await appendEach(first, 't/u/two/data', [a]);
      const writer = await second.writer('t/u/two/data');
      assert.equal(writer.offset, a.length);
      await write(writer, b);
      await writer.commit('t/u/two/blob');
      sameBytes(await send(first, 't/u/two/blob'), Buffer.concat([a, b]));
    });

    it('discard drops what a writer received: the object stays as it was when opened', async () => {
      const driver = make();
      const key = 't/u/three/data';
      const kept = randomBytes(1000);
      await appendEach(driver, key, [kept]);
      const writer = await driver.writer(key);
      await write(writer, randomBytes(6 * MiB));
      await writer.discard();
      assert.equal((await driver.writerStat(key))?.size, kept.length);
      const again = await driver.writer(key);
      assert.equal(again.offset, kept.length);
      await write(again, Buffer.from('!'));
      await again.commit('t/u/three/blob');
      sameBytes(await send(driver, 't/u/three/blob'), Buffer.concat([kept, Buffer.from('!')]));
    });

    it('commits an empty upload as an empty object, and aborts an abandoned one', async () => {
      const driver = make();
      const empty = await driver.writer('t/u/four/data');
      empty.sink.end();
      await empty.commit('t/u/four/blob');
      assert.equal((await driver.stat('t/u/four/blob'))?.size, 0);
      await appendEach(driver, 't/u/five/data', [randomBytes(6 * MiB)]);
      await driver.abortWriter('t/u/five/data');
      assert.equal(await driver.writerStat('t/u/five/data'), null);
    });

    it('a writer whose sink was cut off persists exactly the bytes it accepted', async () => {
      const driver = make();
      const writer = await driver.writer('t/u/six/data');
      const source = new PassThrough();
      const piping = pipeline(source, writer.sink);
      source.write(randomBytes(1000));
      await new Promise((r) => setImmediate(r));
      source.destroy(new Error('client went away'));
      await assert.rejects(piping);
      const size = await writer.persist();
      assert.equal(size, await writer.settled);
      assert.equal((await driver.writerStat('t/u/six/data'))?.size, size);
    });

    it('checks the store, creating a missing bucket or container when allowed', async () => {
      const driver = make();
      await driver.check();
      await driver.check({ create: false });
    });

    if (factory.presigns) {
      it('presigns a URL a client can GET, with Range, for a while', async () => {
        const driver = make();
        const bytes = randomBytes(4096);
        await driver.putContent('t/p/blob', bytes);
        const url = await driver.urlFor!('t/p/blob', 300);
        assert.ok(url);
        const whole = await get(url);
        assert.equal(whole.status, 200);
        assert.deepEqual(whole.body, bytes);
        const part = await get(url, { Range: 'bytes=10-19' });
        assert.equal(part.status, 206);
        assert.deepEqual(part.body, bytes.subarray(10, 20));
      });
    }
  });
}
