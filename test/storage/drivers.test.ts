/** The driver test suite (driver-suite.ts) against all three drivers, on real servers (scripts/test.js starts them). */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type { StorageConfig } from '../../server/storage/config.ts';
import { AzureDriver } from '../../server/storage/driver/azure.ts';
import type { StorageDriver } from '../../server/storage/driver/driver.ts';
import { FilesystemDriver } from '../../server/storage/driver/filesystem.ts';
import { S3Driver } from '../../server/storage/driver/s3.ts';
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
