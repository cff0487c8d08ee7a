/** The driver test suite (driver-suite.ts) against all three drivers, on real servers (scripts/test.js starts them). */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { StorageConfig } from '../../server/storage/config.ts';
import { AzureDriver } from '../../server/storage/driver/azure.ts';
import type { StorageDriver } from '../../server/storage/driver/driver.ts';
import { FilesystemDriver } from '../../server/storage/driver/filesystem.ts';
import { S3Driver } from '../../server/storage/driver/s3.ts';
import { waitFor } from '../helpers/registry-client.ts';
import { freshStorage, missingServer } from '../helpers/storage.ts';
import { driverSuite } from './driver-suite.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const fsRoots = new WeakMap<StorageDriver, string>();
/** The filesystem driver on a fresh temp folder (or the folder of `sameAs`). */
function filesystem(options: { directWrites?: boolean } = {}) {
  return {
    skip: null,
    presigns: false,
    make({ sameAs }: { sameAs?: StorageDriver } = {}) {
      let root = sameAs ? fsRoots.get(sameAs) : undefined;
      if (!root) dirs.push((root = mkdtempSync(path.join(os.tmpdir(), 'berth-driver-'))));
      const driver = new FilesystemDriver(root, options);
      fsRoots.set(driver, root);
      return driver;
    },
  };
}

driverSuite('filesystem', filesystem());
// Uploads on local disks go direct (O_DIRECT, append-sink.ts) where the file system allows; the same
// suite with direct writes off covers file systems that refuse them (tmpfs) and other platforms.
driverSuite('filesystem, buffered writes', filesystem({ directWrites: false }));

describe("storage driver: filesystem's deferred folder syncs and staged writes", () => {
  const make = () => filesystem().make() as FilesystemDriver;

  it('settle syncs the folders of the links named; the timer, within a second, those no one settled', async () => {
    const driver = make();
    await driver.touch('r/_layers/a/link', { soon: true });
    await driver.touch('r/_layers/b/link', { soon: true });
    assert.equal(driver.unsyncedFolders, 2);
    await driver.settle(['r/_layers/a/link']);
    assert.equal(driver.unsyncedFolders, 1);
    await waitFor(() => driver.unsyncedFolders === 0, 'the timer to sync the folder no request settled');
    await driver.touch('r/_layers/c/link');
    assert.equal(driver.unsyncedFolders, 0, 'a touch without soon syncs its folder itself');
    await driver.close();
  });

  it('a folder removed before its sync has nothing left to sync; close() syncs what is left', async () => {
    const driver = make();
    await driver.touch('gone/_layers/a/link', { soon: true });
    await driver.deleteAll('gone');
    await driver.settle(['gone/_layers/a/link']);
    assert.equal(driver.unsyncedFolders, 0);
    await driver.touch('kept/_layers/a/link', { soon: true });
    await driver.close();
    assert.equal(driver.unsyncedFolders, 0);
  });

  it('staged writes leave nothing in tmp/, committed or discarded, and work before tmp/ exists', async () => {
    const driver = make();
    const staged = await driver.stageContent('r/tags/x', 'one');
    assert.equal((await readdir(driver.tmpDir)).length, 1, 'the synced temp file');
    const dropped = await driver.stageContent('r/tags/y', 'two');
    await staged.commit();
    await dropped.discard();
    assert.deepEqual(await readdir(driver.tmpDir), []);
    await assert.rejects(staged.commit(), /committed or discarded already/);
    assert.equal((await driver.getContent('r/tags/x'))?.bytes.toString(), 'one');
    await driver.close();
  });
});

/** S3 and Azure: a fresh prefix per driver, or the prefix of `sameAs`. */
function objectStore(driver: 's3' | 'azure', build: (storage: StorageConfig, pageSize?: number) => StorageDriver) {
  const stores = new WeakMap<StorageDriver, StorageConfig>();
  return {
    skip: missingServer(driver),
    presigns: true,
    make({ pageSize, sameAs }: { pageSize?: number; sameAs?: StorageDriver } = {}) {
      const storage = (sameAs && stores.get(sameAs)) || freshStorage(driver);
      const made = build(storage, pageSize);
      stores.set(made, storage);
      return made;
    },
  };
}

driverSuite('s3', objectStore('s3', (storage, pageSize) => new S3Driver(storage.s3!, pageSize ? { pageSize } : {})));
driverSuite('azure', objectStore('azure', (storage, pageSize) => new AzureDriver(storage.azure!, pageSize ? { pageSize } : {})));

/**
 * S3's CopyObject stops at 5 GiB; above it a completed upload reaches its content address by UploadPartCopy.
 * The limits are made small here so that megabytes take the same path: the object's ETag then carries the
 * part count, as every multipart-completed S3 object's does.
 */
describe('storage driver: s3 copies above the single-request limit in server-side parts', { skip: missingServer('s3') ?? false }, () => {
  const MiB = 1024 * 1024;
  const storage = freshStorage('s3');
  const limits = { single: 5 * MiB, part: 5 * MiB };
  const driver = new S3Driver(storage.s3!, { copyLimits: limits });
  const s3 = new S3Client({
    region: storage.s3!.region,
    endpoint: storage.s3!.endpoint!,
    forcePathStyle: true,
    credentials: { accessKeyId: storage.s3!.accessKeyId!, secretAccessKey: storage.s3!.secretAccessKey! },
  });
  after(async () => {
    await driver.deleteAll('t').catch(() => undefined);
    await driver.close();
    s3.destroy();
  });
  const etag = async (p: string) =>
    (await s3.send(new HeadObjectCommand({ Bucket: storage.s3!.bucket, Key: `${storage.s3!.prefix}/${p}` }))).ETag ?? '';

  it('copy() of a 12 MiB object copies three parts; one at the limit is a single copy', async () => {
    const big = randomBytes(12 * MiB + 3);
    await driver.putContent('t/big', big);
    await driver.copy('t/big', 't/big-copy');
    assert.ok((await driver.getContent('t/big-copy'))?.bytes.equals(big), 'the copy has the same bytes');
    assert.match(await etag('t/big-copy'), /-3"?$/, 'three parts copied');
    const limit = randomBytes(5 * MiB);
    await driver.putContent('t/limit', limit);
    await driver.copy('t/limit', 't/limit-copy');
    assert.ok((await driver.getContent('t/limit-copy'))?.bytes.equals(limit));
    assert.doesNotMatch(await etag('t/limit-copy'), /-\d+"?$/, 'one CopyObject');
  });

  it('an upload committed above the limit reaches its target by part copies, whole', async () => {
    const bytes = randomBytes(11 * MiB + 7);
    const writer = await driver.writer('t/u/data');
    await pipeline(PassThrough.from([bytes.subarray(0, 6 * MiB), bytes.subarray(6 * MiB)]), writer.sink);
    await writer.commit('t/u/blob');
    assert.ok((await driver.getContent('t/u/blob'))?.bytes.equals(bytes));
    assert.match(await etag('t/u/blob'), /-3"?$/);
    assert.equal(await driver.writerStat('t/u/data'), null, 'the unfinished object is gone');
  });
});
