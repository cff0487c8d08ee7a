/**
 * server/storage/files.ts: the shared file primitives, whose metadata calls are synchronous and whose
 * reads and writes go to the thread pool above SYNC_BYTES. Both sides of that line, on a real directory,
 * and on a real read-only tmpfs for the errors.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeDirNow, readSmallFile, statOrNull, SYNC_BYTES, touchDurable, writeFileAtomic } from '../../server/storage/files.ts';
import { mountTmpfs, skipUnlessRoot, type Tmpfs } from '../helpers/mounts.ts';
import { tempDir } from '../helpers/server.ts';

/** Bytes no two offsets of which repeat within a few KiB, so a misplaced chunk shows. */
const pattern = (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + (i >> 12)) & 0xff));

describe('file primitives', () => {
  let dir: string;
  let tmp: string;
  before(async () => {
    dir = await tempDir('berth-files-');
    tmp = path.join(dir, 'tmp');
    await fs.mkdir(tmp);
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  for (const size of [0, 43, SYNC_BYTES, SYNC_BYTES + 1, 5 * SYNC_BYTES + 123]) {
    it(`writes ${size} bytes atomically into folders it makes, and reads them back whole`, async () => {
      const target = path.join(dir, `w${size}`, 'a', 'b', 'file');
      const bytes = pattern(size);
      await writeFileAtomic(tmp, target, bytes);
      assert.deepEqual(await fs.readFile(target), bytes);
      const read = await readSmallFile(target, Infinity);
      assert.ok(read);
      assert.deepEqual(read.bytes, bytes);
      assert.equal(read.modifiedAt.getTime(), (await fs.stat(target)).mtime.getTime());
      assert.deepEqual(await fs.readdir(tmp), [], 'no temp file is left behind');
    });
  }

  it('replaces a file: the new content, never a mix', async () => {
    const target = path.join(dir, 'replaced');
    await writeFileAtomic(tmp, target, pattern(3 * SYNC_BYTES));
    await writeFileAtomic(tmp, target, 'short');
    assert.equal(await fs.readFile(target, 'utf8'), 'short');
  });

  it('reads nothing for a missing file, a folder, a path through a file, or a file over the limit', async () => {
    const file = path.join(dir, 'ten');
    await fs.writeFile(file, '0123456789');
    assert.equal(await readSmallFile(path.join(dir, 'missing'), Infinity), null);
    assert.equal(await readSmallFile(dir, Infinity), null);
    assert.equal(await readSmallFile(path.join(file, 'below'), Infinity), null);
    assert.equal(await readSmallFile(file, 9), null);
    assert.equal((await readSmallFile(file, 10))?.bytes.toString(), '0123456789');
  });

  it('makes a link and its folders; a second touch keeps it', async () => {
    const link = path.join(dir, 'repo', '_layers', 'sha256', 'abc');
    await touchDurable(link);
    await touchDurable(link);
    assert.equal((await fs.stat(link)).size, 0);
  });

  it('stats: null for nothing there (also through a file), the real error otherwise', async () => {
    const file = path.join(dir, 'ten');
    assert.equal(statOrNull(path.join(dir, 'missing')), null);
    assert.equal(statOrNull(path.join(file, 'below')), null);
    assert.equal(statOrNull(file)?.size, 10);
    assert.throws(() => statOrNull(`${dir}/${'x'.repeat(300)}`), { code: 'ENAMETOOLONG' });
  });

  it('mkdir -p names a file in the way', async () => {
    const file = path.join(dir, 'ten');
    assert.throws(() => makeDirNow(path.join(file, 'sub')), { code: 'ENOTDIR' });
    assert.throws(() => makeDirNow(file), { code: 'EEXIST' });
    makeDirNow(path.join(dir, 'p', 'q', 'r'));
    makeDirNow(path.join(dir, 'p', 'q', 'r'));
    assert.ok((await fs.stat(path.join(dir, 'p', 'q', 'r'))).isDirectory());
  });
});

describe('file primitives on a read-only disk', { skip: skipUnlessRoot('mount', 'umount') }, () => {
  let disk: Tmpfs;
  before(async () => {
    disk = await mountTmpfs(await tempDir('berth-files-ro-'), 4 * 1024 * 1024);
    await fs.mkdir(path.join(disk.dir, 'tmp'));
    await fs.writeFile(path.join(disk.dir, 'kept'), 'before');
    await disk.remount('ro');
  });
  after(async () => {
    await disk.unmount();
    await fs.rm(disk.dir, { recursive: true, force: true });
  });

  it('reports EROFS (not ENOENT) for a folder, a link and a write, and changes nothing', async () => {
    assert.throws(() => makeDirNow(path.join(disk.dir, 'a', 'b')), { code: 'EROFS' });
    await assert.rejects(touchDurable(path.join(disk.dir, 'a', 'link')), { code: 'EROFS' });
    await assert.rejects(writeFileAtomic(path.join(disk.dir, 'tmp'), path.join(disk.dir, 'kept'), 'after'), { code: 'EROFS' });
    assert.equal(await fs.readFile(path.join(disk.dir, 'kept'), 'utf8'), 'before');
    assert.deepEqual((await fs.readdir(disk.dir)).sort(), ['kept', 'tmp']);
  });
});
