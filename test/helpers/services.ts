/**
 * The registry's services over real files in one data directory, built in process the way the server
 * builds them (server/index.ts), for tests that drive them directly: collections raced by pushes,
 * crash states made on disk.
 */
import fs from 'node:fs/promises';
import { pino } from 'pino';
import { MetadataIndex } from '../../server/metadata/index-db.ts';
import { RegistryEvents } from '../../server/registry/events.ts';
import { GarbageCollector } from '../../server/registry/gc.ts';
import { LinkGuard } from '../../server/registry/link-guard.ts';
import { ManifestService } from '../../server/registry/manifests.ts';
import { UploadService } from '../../server/registry/uploads.ts';
import { DriverBlobStore } from '../../server/storage/blob-store.ts';
import { FilesystemDriver } from '../../server/storage/driver/filesystem.ts';
import { StoragePaths } from '../../server/storage/paths.ts';
import { DriverRepositoryStore } from '../../server/storage/repository-store.ts';
import { DriverUploadStore } from '../../server/storage/upload-store.ts';

export interface Services {
  blobs: DriverBlobStore;
  repositories: DriverRepositoryStore;
  index: MetadataIndex;
  uploads: UploadService;
  manifests: ManifestService;
  gc: GarbageCollector;
}

/**
 * Opens the services on `dataDir` (its tmp/ and index/ made when missing) through `driver`, with
 * `clock` as the link guard's time. Pass `index` to share one already open (nedb has one owner).
 */
export async function openServices(dataDir: string, options: { driver?: FilesystemDriver; clock?: () => number; index?: MetadataIndex } = {}): Promise<Services> {
  const paths = new StoragePaths(dataDir);
  for (const dir of [paths.tmpDir, paths.indexDir]) await fs.mkdir(dir, { recursive: true });
  const driver = options.driver ?? new FilesystemDriver(dataDir);
  const guard = new LinkGuard(options.clock ?? Date.now);
  const events = new RegistryEvents();
  const blobs = new DriverBlobStore(driver);
  const repositories = new DriverRepositoryStore(driver);
  let index = options.index;
  if (!index) {
    index = new MetadataIndex(paths.indexDir, paths.tmpDir);
    await index.open();
  }
  const manifests = new ManifestService({ blobs, repositories, index, events, guard });
  const uploads = new UploadService({ uploads: new DriverUploadStore(driver), blobs, repositories, index, events, guard });
  const gc = new GarbageCollector({ blobs, repositories, index, manifests, guard, events, log: pino({ level: 'silent' }) });
  return { blobs, repositories, index, uploads, manifests, gc };
}
