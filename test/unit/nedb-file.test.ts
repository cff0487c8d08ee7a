/** nedb files through server/metadata/nedb-file.ts: damaged contents, torn appends, and a full disk (a real tmpfs). */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MaintenanceStore, type RetentionRuleDoc } from '../../server/metadata/maintenance-db.ts';
import { compact, findSetAside, openNedb, setAside, StoreCorruptError, unsaved } from '../../server/metadata/nedb-file.ts';
import { fillDisk, mountTmpfs, skipUnlessRoot, type Tmpfs } from '../helpers/mounts.ts';
import { tempDir } from '../helpers/server.ts';

interface Doc {
  _id: string;
  n: number;
  at: Date;
}

const line = (doc: Doc) => JSON.stringify({ ...doc, at: { $$date: doc.at.getTime() } });
const doc = (i: number): Doc => ({ _id: `d${i}`, n: i, at: new Date(Date.UTC(2026, 0, i + 1)) });

describe('nedb files with damaged contents', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('berth-nedb-');
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('drops a last line cut off by a crash, and keeps every other document', async () => {
    const file = path.join(dir, 'torn.db');
    await fs.writeFile(file, `${line(doc(1))}\n${line(doc(2))}\n{"_id":"d3","n":`);
    const db = await openNedb<Doc>(file);
    assert.deepEqual((await db.find<Doc>({}).sort({ n: 1 })).map((d) => d.n), [1, 2]);
    assert.equal((await fs.readFile(file, 'utf8')).split('\n').filter(Boolean).length, 2, 'rewritten without the torn line');
  });

  it('refuses lines that do not parse in the middle of a file (StoreCorruptError), and touches nothing', async () => {
    const file = path.join(dir, 'damaged.db');
    const text = `${line(doc(1))}\nthis is not json\n${line(doc(2))}\n`;
    await fs.writeFile(file, text);
    await assert.rejects(openNedb<Doc>(file), (err: unknown) => err instanceof StoreCorruptError && err.badLines === 1 && err.lines === 3);
    assert.equal(await fs.readFile(file, 'utf8'), text);
  });

  it('sets a damaged file aside as it was and opens a new one with the documents that still parse', async () => {
    const file = path.join(dir, 'damaged.db');
    const before = await fs.readFile(file, 'utf8');
    const { db, keptAs, salvaged } = await setAside<Doc>(file, {}, new Date('2026-05-01T10:20:30.456Z'));
    assert.equal(keptAs, `${file}.unreadable-2026-05-01T10-20-30-456Z`);
    assert.equal(await fs.readFile(keptAs, 'utf8'), before);
    assert.equal(salvaged, 2);
    const docs = await db.find<Doc>({}).sort({ n: 1 });
    assert.deepEqual(docs, [doc(1), doc(2)], 'dates come back as dates');
    assert.deepEqual(await findSetAside([dir]), [{ file, keptAs, at: '2026-05-01T10:20:30.456Z' }]);
  });
});

describe('nedb appends', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('berth-nedb-append-');
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('are one line per change, read back as written: dates, nested documents, updates and removals', async () => {
    const file = path.join(dir, 'appends.db');
    const db = await openNedb<Doc & { nested?: { at: Date; list: unknown[] } }>(file);
    const nested = { at: new Date(Date.UTC(2026, 4, 1, 12, 30)), list: [1, 'two', { three: null }, new Date(Date.UTC(2026, 0, 2))] };
    await db.insert([doc(1), doc(2), { ...doc(3), nested }]);
    await db.update({ _id: 'd2' }, { $set: { n: 20 } });
    await db.remove({ _id: 'd1' }, {});
    const lines = (await fs.readFile(file, 'utf8')).split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a newline');
    assert.equal(lines.length, 5, 'three inserts, one update, one removal: one line each');
    assert.deepEqual(JSON.parse(lines[0]!), { _id: 'd1', n: 1, at: { $$date: doc(1).at.getTime() } });
    assert.deepEqual(JSON.parse(lines[4]!), { $$deleted: true, _id: 'd1' });

    const again = await openNedb<Doc>(file);
    assert.deepEqual(await again.find({}).sort({ n: 1 }), [{ ...doc(3), nested }, { ...doc(2), n: 20 }]);
  });
});

describe('nedb files on a full disk', { skip: skipUnlessRoot('mount', 'umount') }, () => {
  let disk: Tmpfs;
  let filler: string;
  before(async () => {
    disk = await mountTmpfs(path.join(await tempDir('berth-nedb-full-'), 'disk'), 4 * 1024 * 1024);
    filler = path.join(disk.dir, 'filler');
  });
  after(async () => {
    await disk?.unmount();
    await fs.rm(path.dirname(disk.dir), { recursive: true, force: true });
  });

  it('opens a store when its rewrite at load does not fit, and leaves no partial copy', async () => {
    const file = path.join(disk.dir, 'store.db');
    // Many dead lines: nedb rewrites such a file at load, which needs room for the whole copy.
    await fs.writeFile(file, Array.from({ length: 200 }, (_, i) => line({ ...doc(1), n: i })).join('\n') + '\n');
    await fillDisk(filler);
    const db = await openNedb<Doc>(file);
    assert.deepEqual((await db.find<Doc>({})).map((d) => d.n), [199]);
    await assert.rejects(fs.access(`${file}~`), 'the partial rewrite is gone');
  });

  it('an append the disk refuses is cut off the file, which stays whole; memory keeps it until it fits', async () => {
    const file = path.join(disk.dir, 'store.db');
    const db = await openNedb<Doc>(file);
    const before = await fs.readFile(file);
    // Long enough to need a new block of the full disk.
    await assert.rejects(db.insert({ ...doc(7), pad: 'x'.repeat(8192) } as Doc), { code: 'ENOSPC' });
    assert.deepEqual(await fs.readFile(file), before, 'no half line left in the file');
    assert.equal(unsaved(db), true);
    assert.equal(await compact(db), false, 'a rewrite does not fit either');
    assert.deepEqual(await fs.readFile(file), before);
    await fs.rm(filler);
    assert.equal(await compact(db), true, 'with room, memory is written');
    const reopened = await openNedb<Doc>(file);
    assert.deepEqual((await reopened.find<Doc>({}).sort({ n: 1 })).map((d) => d.n), [7, 199]);
  });

  it('a derived store takes a refused append as done, and says so', async () => {
    const file = path.join(disk.dir, 'derived.db');
    const refused: string[] = [];
    const db = await openNedb<Doc>(file, { derived: true, onWriteFailure: (err) => refused.push((err as NodeJS.ErrnoException).code!) });
    await fillDisk(filler);
    await db.insert({ ...doc(1), pad: 'x'.repeat(8192) } as Doc);
    assert.deepEqual(refused, ['ENOSPC']);
    assert.equal(unsaved(db), true);
    assert.equal((await db.find<Doc>({})).length, 1, 'memory has it');
    await fs.rm(filler);
  });

  it('a retention rule the disk refuses is not saved, not even in memory', async () => {
    const store = new MaintenanceStore(path.join(disk.dir, 'maintenance'));
    await store.open();
    const rule = (id: string): RetentionRuleDoc => ({
      _id: id, repositories: `${id}/*`, keepLast: 3, keepDays: null, keepTags: 'x'.repeat(8192), enabled: true, createdAt: new Date(), updatedAt: new Date(),
    });
    await store.saveRule(rule('kept'));
    await fillDisk(filler);
    await assert.rejects(store.saveRule(rule('refused')), { code: 'ENOSPC' });
    assert.deepEqual((await store.listRules()).map((r) => r._id), ['kept']);
    await fs.rm(filler);
    await store.close();
    const reopened = new MaintenanceStore(path.join(disk.dir, 'maintenance'));
    await reopened.open();
    assert.deepEqual((await reopened.listRules()).map((r) => r._id), ['kept']);
    await reopened.close();
  });
});
