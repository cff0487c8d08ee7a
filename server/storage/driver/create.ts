/**
 * Makes the configured storage driver (config.ts): the one place that knows all three.
 *
 * The S3 and Azure drivers are loaded when first used (a separate chunk of the CLI bundle: scripts/
 * build.js). Their SDKs are most of the bundle: evaluating them at start cost every `berth serve` on a
 * local disk ~15 MB of resident memory (docs/benchmarks.md, "Memory"), for code it never runs.
 */
import type { StorageConfig } from '../config.ts';
import type { ObjectInfo, ObjectReader, ObjectWriter, StagedContent, StorageDriver, StorageLocation, StoredContent, WriterOptions } from './driver.ts';
import { FilesystemDriver } from './filesystem.ts';
import { azureDescribe, azureLocation, s3Describe, s3Location } from './names.ts';

/** `dataDir` is the filesystem driver's root (the data directory, as always). */
export function createDriver(storage: StorageConfig, dataDir: string): StorageDriver {
  switch (storage.driver) {
    case 's3': {
      const settings = storage.s3!;
      return new LazyDriver(s3Location(settings), (path) => s3Describe(settings, path), async () => new (await import('./s3.ts')).S3Driver(settings));
    }
    case 'azure': {
      const settings = storage.azure!;
      return new LazyDriver(azureLocation(settings), (path) => azureDescribe(settings, path), async () => new (await import('./azure.ts')).AzureDriver(settings));
    }
    case 'filesystem':
      return new FilesystemDriver(dataDir);
  }
}

/** An object-store driver made on first use; everything it answers comes from the real one. */
class LazyDriver implements StorageDriver {
  readonly shared = true;
  readonly exactTimes = false;
  readonly location: StorageLocation;
  readonly describe: (path: string) => string;
  private readonly load: () => Promise<StorageDriver>;
  private loading: Promise<StorageDriver> | null = null;

  private loaded: StorageDriver | null = null;

  constructor(location: StorageLocation, describe: (path: string) => string, load: () => Promise<StorageDriver>) {
    const self = this;
    // Held by reference (the status API keeps it): the driver's own words once it is loaded.
    this.location = {
      driver: location.driver,
      get description() {
        return self.loaded?.location.description ?? location.description;
      },
    };
    this.describe = describe;
    this.load = load;
  }

  private driver(): Promise<StorageDriver> {
    this.loading ??= this.load().then((driver) => (this.loaded = driver)).catch((err: unknown) => {
      this.loading = null;
      throw err;
    });
    return this.loading;
  }

  async getContent(path: string, maxBytes?: number): Promise<StoredContent | null> {
    return (await this.driver()).getContent(path, maxBytes);
  }
  async putContent(path: string, content: string | Uint8Array): Promise<void> {
    return (await this.driver()).putContent(path, content);
  }
  async touch(path: string, options?: { soon?: boolean }): Promise<void> {
    return (await this.driver()).touch(path, options);
  }
  async settle(paths: readonly string[]): Promise<void> {
    return (await this.driver()).settle(paths);
  }
  async stageContent(path: string, content: string | Uint8Array): Promise<StagedContent> {
    return (await this.driver()).stageContent(path, content);
  }
  async putFile(path: string, file: string): Promise<void> {
    return (await this.driver()).putFile(path, file);
  }
  async reader(path: string, knownSize?: number): Promise<ObjectReader | null> {
    return (await this.driver()).reader(path, knownSize);
  }
  async readStream(path: string): Promise<NodeJS.ReadableStream | null> {
    return (await this.driver()).readStream(path);
  }
  async stat(path: string): Promise<ObjectInfo | null> {
    return (await this.driver()).stat(path);
  }
  async list(dir: string): Promise<string[]> {
    return (await this.driver()).list(dir);
  }
  async *walk(dir: string): AsyncIterable<ObjectInfo> {
    yield* (await this.driver()).walk(dir);
  }
  async copy(from: string, to: string): Promise<void> {
    return (await this.driver()).copy(from, to);
  }
  async move(from: string, to: string): Promise<void> {
    return (await this.driver()).move(from, to);
  }
  async delete(path: string): Promise<boolean> {
    return (await this.driver()).delete(path);
  }
  async deleteAll(dir: string): Promise<void> {
    return (await this.driver()).deleteAll(dir);
  }
  async pruneEmpty(dir: string, stopAt: string): Promise<void> {
    return (await this.driver()).pruneEmpty(dir, stopAt);
  }
  async writer(path: string, options?: WriterOptions): Promise<ObjectWriter> {
    return (await this.driver()).writer(path, options);
  }
  async writerStat(path: string): Promise<ObjectInfo | null> {
    return (await this.driver()).writerStat(path);
  }
  async abortWriter(path: string): Promise<void> {
    return (await this.driver()).abortWriter(path);
  }
  async urlFor(path: string, expiresInSeconds: number): Promise<string | null> {
    const driver = await this.driver();
    return driver.urlFor ? driver.urlFor(path, expiresInSeconds) : null;
  }
  async check(options?: { create?: boolean }): Promise<void> {
    return (await this.driver()).check(options);
  }
  async close(): Promise<void> {
    // Never used: nothing to release (and no reason to load the SDK now).
    if (this.loading) await (await this.loading).close();
  }
}
