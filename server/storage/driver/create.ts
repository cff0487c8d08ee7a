/** Makes the configured storage driver (config.ts): the one place that knows all three. */
import type { StorageConfig } from '../config.ts';
import { AzureDriver } from './azure.ts';
import type { StorageDriver } from './driver.ts';
import { FilesystemDriver } from './filesystem.ts';
import { S3Driver } from './s3.ts';

/** `dataDir` is the filesystem driver's root (the data directory, as always). */
export function createDriver(storage: StorageConfig, dataDir: string): StorageDriver {
  switch (storage.driver) {
    case 's3':
      return new S3Driver(storage.s3!);
    case 'azure':
      return new AzureDriver(storage.azure!);
    case 'filesystem':
      return new FilesystemDriver(dataDir);
  }
}
