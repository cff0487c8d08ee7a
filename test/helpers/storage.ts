/**
 * Which storage driver the tests run on, and a fresh store for each test server. scripts/test.js runs
 * the registry's HTTP suite and the real-client end-to-end tests once per driver, with
 * BERTH_TEST_STORAGE=filesystem|s3|azure and the shared servers it started for the run
 * (scripts/storage-servers.js: Swift + s3api, Azurite) in BERTH_TEST_S3_* / BERTH_TEST_AZURE_*.
 * Each test server gets its own prefix in the run's bucket or container, so servers never see each
 * other's objects; a restart on the same data directory finds the same prefix again.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { storageDefaults, type StorageConfig } from '../../server/storage/config.ts';
import { createDriver } from '../../server/storage/driver/create.ts';
import type { DriverName, StorageDriver } from '../../server/storage/driver/driver.ts';

export const TEST_DRIVER = (process.env.BERTH_TEST_STORAGE || 'filesystem') as DriverName;

/** Part size for tests: S3's minimum, so that a few MiB exercise multipart uploads. */
const TEST_PART_BYTES = 5 * 1024 * 1024;

export function s3Available(): boolean {
  return Boolean(process.env.BERTH_TEST_S3_ENDPOINT);
}

export function azureAvailable(): boolean {
  return Boolean(process.env.BERTH_TEST_AZURE_CONNECTION_STRING);
}

/** Why a test that needs this driver's server cannot run, or null when it can. */
export function missingServer(driver: DriverName): string | null {
  if (driver === 's3' && !s3Available()) return 'no S3 server (run through scripts/test.js, which starts Swift + s3api)';
  if (driver === 'azure' && !azureAvailable()) return 'no Azure server (run through scripts/test.js, which starts Azurite)';
  return null;
}

/** Settings for a new, empty store on `driver` (a fresh prefix in the run's bucket or container). */
export function freshStorage(driver: DriverName, options: { prefix?: string; partBytes?: number } = {}): StorageConfig {
  const prefix = options.prefix ?? `t-${randomUUID()}`;
  const partBytes = options.partBytes ?? TEST_PART_BYTES;
  if (driver === 's3') {
    const env = process.env;
    return {
      ...storageDefaults(),
      driver: 's3',
      s3: {
        endpoint: env.BERTH_TEST_S3_ENDPOINT!,
        bucket: env.BERTH_TEST_S3_BUCKET!,
        region: env.BERTH_TEST_S3_REGION || 'us-east-1',
        prefix,
        forcePathStyle: true,
        accessKeyId: env.BERTH_TEST_S3_ACCESS_KEY_ID!,
        secretAccessKey: env.BERTH_TEST_S3_SECRET_ACCESS_KEY!,
        partBytes,
        createBucket: true,
      },
    };
  }
  if (driver === 'azure') {
    return {
      ...storageDefaults(),
      driver: 'azure',
      azure: {
        connectionString: process.env.BERTH_TEST_AZURE_CONNECTION_STRING!,
        account: null,
        accountKey: null,
        sasToken: null,
        endpoint: null,
        container: process.env.BERTH_TEST_AZURE_CONTAINER!,
        prefix,
        partBytes,
        createContainer: true,
      },
    };
  }
  return storageDefaults();
}

const byDataDir = new Map<string, StorageConfig>();

/** The store of the test server on `dataDir`: made on first use, the same on every restart. */
export function storageFor(dataDir: string, driver: DriverName = TEST_DRIVER): StorageConfig {
  const key = path.resolve(dataDir);
  let storage = byDataDir.get(key);
  if (!storage) byDataDir.set(key, (storage = freshStorage(driver)));
  return storage;
}

/** A driver on the same store (to look at the objects behind a server's back). */
export function driverFor(dataDir: string): StorageDriver {
  return createDriver(storageFor(dataDir), dataDir);
}

/** The BERTH_STORAGE_* (and credentials) a `berth serve` child needs for the store of `dataDir`. */
export function storageEnv(dataDir: string): NodeJS.ProcessEnv {
  return envOf(storageFor(dataDir));
}

/** The BERTH_STORAGE_* (and credentials) that select `storage`. */
export function envOf(storage: StorageConfig): NodeJS.ProcessEnv {
  if (storage.driver === 's3') {
    const s3 = storage.s3!;
    return {
      BERTH_STORAGE_DRIVER: 's3',
      BERTH_STORAGE_S3_ENDPOINT: s3.endpoint!,
      BERTH_STORAGE_S3_BUCKET: s3.bucket,
      BERTH_STORAGE_S3_REGION: s3.region,
      BERTH_STORAGE_S3_PREFIX: s3.prefix,
      BERTH_STORAGE_S3_FORCE_PATH_STYLE: 'true',
      BERTH_STORAGE_S3_PART_SIZE: String(s3.partBytes),
      AWS_ACCESS_KEY_ID: s3.accessKeyId!,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey!,
    };
  }
  if (storage.driver === 'azure') {
    const azure = storage.azure!;
    return {
      BERTH_STORAGE_DRIVER: 'azure',
      BERTH_STORAGE_AZURE_CONNECTION_STRING: azure.connectionString!,
      BERTH_STORAGE_AZURE_CONTAINER: azure.container,
      BERTH_STORAGE_AZURE_PREFIX: azure.prefix,
      BERTH_STORAGE_AZURE_PART_SIZE: String(azure.partBytes),
    };
  }
  return {};
}
