/**
 * createRegistry(config): the only door into the server. It composes storage, the metadata index,
 * the registry services and the HTTP app, and owns their lifecycle (listen, graceful close).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ConfigError, type BerthConfig } from './config.ts';
import { createApp } from './http/app.ts';
import type { RegistryServices } from './http/context.ts';
import { createLogger } from './log.ts';
import { createMetadataStores, type MetadataStores } from './metadata/stores.ts';
import { ClusterEvents } from './registry/cluster-events.ts';
import { ActivityService } from './registry/activity.ts';
import { selfUrl } from './self-url.ts';
import { ImageService } from './registry/images.ts';
import { ArtifactService } from './registry/artifacts.ts';
import { InspectService } from './registry/inspect.ts';
import { LayerIndex } from './registry/layers/layer-index.ts';
import { LayerWorkers } from './registry/layers/worker-pool.ts';
import { FsLayerListingStore } from './storage/derived-store.ts';
import { RepositoryService } from './registry/repositories.ts';
import { UploadMonitor } from './registry/upload-monitor.ts';
import { DiskUsageService } from './registry/usage.ts';
import { BlobService } from './registry/blobs.ts';
import { RegistryEvents } from './registry/events.ts';
import { GarbageCollector } from './registry/gc.ts';
import { LinkGuard } from './registry/link-guard.ts';
import { ListingService } from './registry/listings.ts';
import { MaintenanceService } from './registry/maintenance.ts';
import { MAX_MANIFEST_BYTES, ManifestService } from './registry/manifests.ts';
import { purgeUploads } from './registry/purge-uploads.ts';
import { rebuildIndex } from './registry/reindex.ts';
import { deleteRepository } from './registry/repository-delete.ts';
import { RetentionService } from './registry/retention.ts';
import { Scrubber } from './registry/scrub.ts';
import { UploadService } from './registry/uploads.ts';
import { RegistryMetrics } from './registry/metrics.ts';
import { Scheduler, systemClock, type Clock } from './scheduler.ts';
import { DriverBlobStore } from './storage/blob-store.ts';
import { StoreChanges } from './storage/cache.ts';
import { createDriver } from './storage/driver/create.ts';
import { StorageCopyService } from './registry/storage-copy.ts';
import { isStorageError, type StorageDriver } from './storage/driver/driver.ts';
import { DataDirLock } from './storage/lock.ts';
import { keys, StoragePaths } from './storage/paths.ts';
import { DriverRepositoryStore } from './storage/repository-store.ts';
import { DriverUploadStore } from './storage/upload-store.ts';
import { volumeSpace } from './storage/volume.ts';
import { DataDirError, prepareDataDir as prepareDirectory, probeWritable } from './storage/data-dir.ts';
import { SpaceReserve } from './storage/reserve.ts';
import { findSetAside, StoreReadError } from './metadata/nedb-file.ts';
import type { SetAsideStore } from './metadata/maintenance-db.ts';
import { StorageHealth } from './registry/storage-health.ts';
import { continueWhenRead } from './http/expect-continue.ts';
import { ManifestAnswers } from './http/manifest-answers.ts';
import { hostCheck } from './http/request-origin.ts';
import type { ManagementServices } from './http/api/routes.ts';
import { AuthError } from './auth/errors.ts';
import { AuthService } from './auth/service.ts';
import { UserAdmin } from './registry/user-admin.ts';
import { RegistryError } from './registry/errors.ts';
import { subjectNames } from './tls/names.ts';
import { DEFAULT_QUEUE_CAP, WebhookService } from './webhooks/service.ts';
import { ensureCertificates, loadOwnCertificate, TlsFiles, type TlsMaterial } from './tls/store.ts';
import { MirrorService } from './mirror/service.ts';

/**
 * How long a replica of a cluster trusts what it saw in the shared store (a tag's digest, a link, a
 * blob's size), and so how long a write that removed or moved something waits before its answer
 * (storage/cache.ts: StoreChanges). Measured: docs/benchmarks.md ("A cluster").
 */
const CLUSTER_CACHE_TTL_MS = 1000;

/** A start-up failure with a message meant for the user, one line. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export interface Registry {
  readonly config: BerthConfig;
  readonly services: RegistryServices;
  /** The services behind the management API (/api/). */
  readonly manage: ManagementServices;
  readonly events: RegistryEvents;
  readonly webhooks: WebhookService;
  readonly log: Logger;
  /** Where the objects live (storage/driver/): for tests and `berth storage`, which look at the store itself. */
  readonly driver: StorageDriver;
  /** The Node request listener (for embedding or tests with their own server). */
  callback(): http.RequestListener;
  /** The HTTP (or, with TLS, HTTPS) server while listening. */
  readonly server: http.Server | https.Server | null;
  /** Registry auth (users, tokens), or null when auth is off. */
  readonly auth: AuthService | null;
  /** The metadata stores (nedb files, or a cluster's PostgreSQL database). */
  readonly metadata: MetadataStores;
  /**
   * Prepares the data directory, takes its lock and starts listening. `initialAdmin` is set on the first
   * start with auth on when Berth generated the admin password: show it once, never log it.
   */
  listen(): Promise<{ url: string; host: string; port: number; initialAdmin?: { name: string; password: string }; setAside: SetAsideStore[] }>;
  /**
   * Prepares the data directory, takes its lock and opens the stores, without listening: for CLI
   * commands that work on the directory directly. Resolves once the index is ready.
   */
  open(): Promise<{ setAside: SetAsideStore[] }>;
  /** Resolves when the metadata index is loaded (or rebuilt); it starts loading once listen() listens, or in open(). */
  indexReady(): Promise<void>;
  /** Stops accepting connections, lets in-flight requests finish (up to the grace period), closes the index. */
  close(): Promise<void>;
}

export interface RegistryDeps {
  log?: Logger;
  /** The storage driver (tests inject one); default: the one config.storage names. */
  driver?: StorageDriver;
  /** The scheduler's and the webhook worker's clock (tests drive it). */
  clock?: Clock;
  /** The webhook retries' jitter (tests fix it). */
  random?: () => number;
  /** The auth service's clock: token and refresh expiry, throttling (tests age them). */
  authNow?: () => number;
}

export function createRegistry(config: BerthConfig, deps: RegistryDeps = {}): Registry {
  const log = deps.log ?? createLogger(config.logLevel);
  const paths = new StoragePaths(config.dataDir);
  const events = new RegistryEvents();
  const storage = new StorageHealth({
    dataDir: paths.root,
    volume: volumeSpace,
    probe: () => probeWritable(paths.tmpDir),
    setAside: () => findSetAside([paths.root, paths.maintenanceDir, paths.authDir, paths.webhooksDir]),
    events,
    log,
  });
  const diskRefused = (err: Error, file: string) => storage.noted(err, file);
  const driver = deps.driver ?? createDriver(config.storage, paths.root);
  // nedb files in the data directory, or the PostgreSQL database of a cluster (metadata/stores.ts).
  const metadata = createMetadataStores(config.metadata, { paths, log, onWriteFailure: diskRefused, storeDescription: driver.location.description });
  // Replicas of a cluster change the store behind each other's backs: what one saw is trusted briefly.
  const changes = metadata.driver === 'postgres' ? new StoreChanges(CLUSTER_CACHE_TTL_MS) : null;
  const cache = changes ? { cacheTtlMs: CLUSTER_CACHE_TTL_MS, changes } : {};
  const blobStore = new DriverBlobStore(driver, cache);
  const repositoryStore = new DriverRepositoryStore(driver, cache);
  const uploadStore = new DriverUploadStore(driver);
  const index = metadata.index;
  const maintenanceStore = metadata.lifecycle;
  const guard = new LinkGuard(Date.now, { locks: metadata.locks, shared: metadata.uses });
  const clock = deps.clock ?? systemClock;
  const reserve = new SpaceReserve(paths.reserveFile);
  /** Set when close() begins: event streams end, and the request log names requests cut off by it. */
  let stopping = false;

  const manifests = new ManifestService({ blobs: blobStore, repositories: repositoryStore, index, events, guard });
  // The data directory's disk health speaks for uploads only when they are written to that disk.
  const uploadDisk = driver.location.driver === 'filesystem' ? storage : undefined;
  const uploads = new UploadService({ uploads: uploadStore, blobs: blobStore, repositories: repositoryStore, index, events, guard, storage: uploadDisk });
  const retention = new RetentionService({ store: maintenanceStore, repositories: repositoryStore, manifests });
  const collector = new GarbageCollector({ blobs: blobStore, repositories: repositoryStore, index, manifests, guard, events, log });
  const maintenance = new MaintenanceService({
    store: maintenanceStore,
    gc: collector,
    scrubber: new Scrubber({ blobs: blobStore, repositories: repositoryStore, manifests, guard, fetchedOnDemand: (repo) => mirror.isCached(repo) }),
    retention,
    purgeUploads: (options) => purgeUploads({ uploads: uploadStore, service: uploads }, options),
    async reindex() {
      // Index writes wait while the rebuild runs (on every replica of a cluster), so none is lost under its replaceAll().
      await index.ready();
      return index.exclusive(() => rebuildIndex({ repositories: repositoryStore, manifests, index, log }));
    },
    events,
    log,
    ...(changes ? { changes } : {}),
    ...(metadata.maintenanceTurn ? { exclusive: metadata.maintenanceTurn } : {}),
  });
  const scheduler = new Scheduler(
    [
      {
        name: 'gc',
        intervalMs: config.gcIntervalMs,
        lastRunAt: async () => (await maintenanceStore.lastFinished('gc'))?.getTime() ?? null,
        run: async () => {
          await maintenance.run({ kind: 'gc', options: { dryRun: false, untagged: config.gcUntagged, graceSeconds: config.gcGraceMs / 1000 } }, 'schedule');
        },
      },
      {
        name: 'purge-uploads',
        intervalMs: config.uploadPurgeIntervalMs,
        lastRunAt: async () => (await maintenanceStore.lastFinished('purge-uploads'))?.getTime() ?? null,
        run: async () => {
          await maintenance.run({ kind: 'purge-uploads', options: { dryRun: false, olderThanSeconds: config.uploadPurgeAgeMs / 1000 } }, 'schedule');
        },
      },
      {
        name: 'retention',
        intervalMs: config.retentionIntervalMs,
        lastRunAt: async () => (await maintenanceStore.lastFinished('retention'))?.getTime() ?? null,
        run: async () => {
          await maintenance.run({ kind: 'retention', options: { dryRun: false } }, 'schedule');
        },
      },
    ],
    clock,
    log,
  );
  // The pull-through cache (mirror/): it routes nothing until an upstream is configured or added in the UI.
  const mirror = new MirrorService({
    configured: config.mirrors,
    store: metadata.mirror,
    manifests,
    repositories: repositoryStore,
    blobs: blobStore,
    index,
    guard,
    events,
    deleteRepository: (name) => services.lifecycle.deleteRepository(name),
    spoolDir: paths.tmpDir,
    log,
    clock,
    maxManifestBytes: MAX_MANIFEST_BYTES,
  });
  const services: RegistryServices = {
    blobs: new BlobService({ blobs: blobStore, repositories: repositoryStore, events, guard, redirect: config.storage.redirect }),
    uploads,
    manifests,
    listings: new ListingService({ index, manifests }),
    mirror,
    lifecycle: {
      maintenance,
      retention,
      deleteRepository: (name) => deleteRepository({ repositories: repositoryStore, index, guard, events }, name),
      nextRuns: () => scheduler.nextRuns(),
      settings: {
        gcIntervalMs: config.gcIntervalMs,
        gcGraceMs: config.gcGraceMs,
        gcUntagged: config.gcUntagged,
        uploadPurgeAgeMs: config.uploadPurgeAgeMs,
        uploadPurgeIntervalMs: config.uploadPurgeIntervalMs,
        retentionIntervalMs: config.retentionIntervalMs,
      },
    },
  };
  let url: string | null = null;
  const authOptions = {
    dir: paths.authDir, anonymousPull: config.anonymousPull, ...(deps.authNow ? { now: deps.authNow } : {}),
    ...(metadata.users ? { store: metadata.users } : {}), ...(metadata.signingKey ? { signingKey: metadata.signingKey } : {}),
    ...(metadata.loginState ? { loginState: metadata.loginState } : {}),
  };
  const auth = config.auth === 'token' ? new AuthService(authOptions) : null;
  /**
   * With auth off the users are still managed (ready for when it is turned on): their store is opened
   * on first use, by this process, which holds the data directory's lock (nedb: one writer per file).
   */
  let idleUsers: Promise<AuthService> | null = null;
  const userStore = (): Promise<AuthService> => {
    if (auth) return Promise.resolve(auth);
    if (!idleUsers) {
      const opening = (async () => {
        const store = new AuthService(authOptions);
        try {
          await store.open();
        } catch (err) {
          log.error({ err, dir: paths.authDir }, 'cannot open the user store');
          throw new RegistryError('UNAVAILABLE', { message: 'the users (<data>/auth) cannot be opened; the server log says why' });
        }
        return store;
      })();
      opening.catch(() => {
        if (idleUsers === opening) idleUsers = null;
      });
      idleUsers = opening;
    }
    return idleUsers;
  };
  const activityLog = metadata.activity;
  const repositories = new RepositoryService({ index, repositories: repositoryStore, manifests, events, deleteRepository: services.lifecycle.deleteRepository });
  const uploadMonitor = new UploadMonitor(services.uploads);
  // Inside images (issue 15): layers are read by worker threads through the blob store's stream.
  const layerWorkers = new LayerWorkers({ blobs: blobStore });
  const layerIndex = new LayerIndex({ workers: layerWorkers, store: new FsLayerListingStore(paths), events, log, sizeOf: (d) => blobStore.stat(d) });
  const manage: ManagementServices = {
    repositories,
    images: new ImageService({ manifests, blobs: blobStore, repositories: repositoryStore, index, listings: services.listings }),
    usage: new DiskUsageService({
      blobs: blobStore,
      index,
      manifests,
      dataDir: paths.root,
      volume: async (dir) => (driver.location.driver === 'filesystem' ? volumeSpace(dir) : null),
      storage: driver.location,
      countObjects: async () => {
        let objects = 0;
        let bytes = 0;
        for (const dir of [keys.blobs, keys.repositories, keys.uploads, keys.quarantine]) {
          for await (const object of driver.walk(dir)) {
            objects += 1;
            bytes += object.size;
          }
        }
        return { objects, bytes };
      },
      reclaimable: async () => {
        const plan = await collector.collect({ dryRun: true, untagged: config.gcUntagged, graceMs: config.gcGraceMs });
        return { nowBytes: plan.bytesFreed, afterGraceBytes: plan.bytesFreed + plan.protected.bytes, graceSeconds: plan.graceSeconds };
      },
      cached: (repo) => mirror.isCached(repo),
    }),
    activity: new ActivityService({ log: activityLog, events, index, monitor: uploadMonitor, logger: log }),
    uploadMonitor,
    selfTest: {
      baseUrl: () => (url ? selfUrl(url) : null),
      deleteRepository: (name) => repositories.delete(name),
      // The registry vouches for its own test: a short-lived token for the test repository only.
      authorization: async (repository) => {
        if (!auth) return null;
        const principal = { subject: 'berth-self-test', grantSets: [[{ repository, actions: ['pull' as const, 'push' as const, 'delete' as const] }]], viaCredential: null };
        const { token } = await auth.issue(principal, [{ type: 'repository', name: repository, actions: ['pull', 'push', 'delete'] }]);
        return `Bearer ${token}`;
      },
      ca: () => caCertificate,
    },
    tls: { caCertificate: () => caCertificate },
    users: new UserAdmin({ auth: userStore, authEnabled: auth !== null }),
    inspect: new InspectService({ manifests, blobs: blobStore, repositories: repositoryStore, layers: layerIndex, workers: layerWorkers }),
    artifacts: new ArtifactService({ manifests, repositories: repositoryStore, listings: services.listings, blobs: blobStore, index }),
    storageCopy: new StorageCopyService({ source: driver, dataDir: paths.root, log }),
  };
  const webhooks = new WebhookService({
    store: metadata.webhooks,
    events,
    configured: config.webhooks ?? [],
    queueCap: config.webhookQueueCap ?? DEFAULT_QUEUE_CAP,
    run: (id) => maintenance.get(id),
    registryUrl: () => (url ? selfUrl(url) : null),
    clock: deps.clock ?? systemClock,
    log,
    ...(deps.random ? { random: deps.random } : {}),
  });
  manage.webhooks = webhooks;
  let webhooksOpened = false;
  let activityOpened = false;
  // A cluster: events relayed to and from the other replicas (the UI's stream, caches).
  const cluster = metadata.bus ? new ClusterEvents({ events, bus: metadata.bus, flushActivity: () => manage.activity.flush(), log }) : null;
  if (cluster) {
    events.onRemote('blob-freed', (e) => manifests.evict(e.digest));
    events.onRemote('mirror-changed', (e) => {
      mirror.changedElsewhere(e.upstream).catch((err: unknown) => log.warn({ err, upstream: e.upstream }, 'mirror: could not reload what another replica changed'));
    });
  }
  /** Where --tls keeps Berth's own CA and certificates: <data>/tls/, or a cluster's database. */
  const certificates = metadata.certificates ?? new TlsFiles(paths.tlsDir);
  /** The CA of Berth's own certificates while serving HTTPS with them (PEM), for clients to trust. */
  let caCertificate: string | null = null;

  async function closeWebhooks(): Promise<void> {
    if (!webhooksOpened) return;
    webhooksOpened = false;
    await webhooks.close().catch((err) => log.error({ err }, 'closing the webhooks failed'));
  }

  async function closeActivity(): Promise<void> {
    if (!activityOpened) return;
    activityOpened = false;
    await manage.activity.stop();
    await activityLog.close().catch((err) => log.error({ err }, 'closing the activity log failed'));
  }
  let indexLoaded = false;
  const indexReady = () => indexLoaded;
  const metrics = new RegistryMetrics({ events, uploadsInProgress: () => uploads.receivingUploads().length, indexReady, registries: [webhooks.metrics.registry], mirrors: () => mirror.metrics(), metadataUp: () => metadata.view().state === 'ok' });
  const app = createApp({
    services,
    events,
    log,
    info: { config, startedAt: new Date(), url: () => url, storage: () => storage.view(), stopping: () => stopping },
    management: { token: config.managementToken },
    auth,
    manage,
    uiDir: config.uiDir ?? null,
    operations: { metrics, dataDir: paths.root, indexReady, storage: () => storage.view(), checkStorage: () => driver.check({ create: false }), metadata: () => metadata.view() },
    storage,
    stopping: () => stopping,
    metadata: metadata.driver === 'postgres' ? metadata : null,
    changes,
  });
  // Manifest GETs and HEADs answered again from memory (http/manifest-answers.ts): only while auth is
  // off and this server is alone over its store.
  let mirrorChanges = 0;
  events.on('mirror-changed', () => {
    mirrorChanges += 1;
  });
  const answers = auth || changes ? null : new ManifestAnswers({
    version: () => repositoryStore.generation + manifests.evictions + mirrorChanges,
    versionOf: (repository) => repositoryStore.generationOf(repository) + manifests.evictions + mirrorChanges,
    open: () => !stopping && !webhooks.takesPulls(),
    namesUs: hostCheck({ bindHost: config.host, allowedHosts: config.allowedHosts }),
    metrics,
    events,
    log,
    stopping: () => stopping,
  });
  const listener = () => (answers ? answers.wrap(app.callback()) : app.callback());
  // A collection or an upload purge may have made room.
  events.on('maintenance', (event) => {
    if (event.state === 'succeeded') storage.recheck();
  });
  let server: http.Server | https.Server | null = null;
  let certificateCheck: NodeJS.Timeout | null = null;
  let lock: DataDirLock | null = null;
  let indexOpened: Promise<void> | null = null;
  let storesOpened = false;

  async function openIndex(): Promise<void> {
    const { rebuildReason, memoryOnly } = await index.open();
    if (!rebuildReason) return;
    if (memoryOnly) log.error({ reason: rebuildReason }, 'the metadata index cannot be read from disk; rebuilding it in memory (listings work, the disk may be failing)');
    else log.info({ reason: rebuildReason }, 'rebuilding the metadata index from storage');
    const stats = await index.exclusive(() => rebuildIndex({ repositories: repositoryStore, manifests, index, log }));
    log.info(stats, 'metadata index rebuilt');
  }

  /**
   * Starts loading the index (rebuilt in the background when needed); every read and write of it waits
   * until it is ready. The server starts it once it listens: parsing a large index keeps the event loop
   * busy for a while, and `/v2/`, pulls and pushes need only the files, not the index.
   */
  function startIndex(): void {
    indexOpened = openIndex();
    index.holdUntil(indexOpened);
    indexOpened.then(
      () => (indexLoaded = true),
      (err) => log.error({ err }, 'the metadata index could not be opened'),
    );
  }

  /** Store files set aside at this start (their contents could not be read), for the console. */
  const setAsideNow: SetAsideStore[] = [];

  /** Data directory, lock and the maintenance store. */
  async function openStores(): Promise<void> {
    await prepareDataDir();
    try {
      await metadata.connect();
    } catch (err) {
      await lock?.release();
      throw new StartupError((err as Error).message);
    }
    try {
      const { setAside } = await maintenanceStore.open();
      for (const store of setAside) reportSetAside(store);
    } catch (err) {
      await metadata.close().catch(() => undefined);
      await lock?.release();
      throw new StartupError(storeProblem(err, `cannot open the maintenance store in ${paths.maintenanceDir}`));
    }
    try {
      const { setAside } = await webhooks.open();
      for (const store of setAside) reportSetAside(store);
      webhooksOpened = true;
    } catch (err) {
      await maintenanceStore.close().catch(() => undefined);
      await metadata.close().catch(() => undefined);
      await lock?.release();
      throw new StartupError(storeProblem(err, `cannot open the webhooks in ${paths.webhooksDir}`));
    }
    try {
      await mirror.open();
    } catch (err) {
      await maintenanceStore.close().catch(() => undefined);
      await closeWebhooks();
      await metadata.close().catch(() => undefined);
      await lock?.release();
      throw new StartupError(storeProblem(err, `cannot open the mirror state in ${paths.mirrorsDir}`));
    }
    storesOpened = true;
    // Room again for the bookkeeping reserve, if it was used up by a start on a full disk.
    void volumeSpace(paths.root).then((space) => reserve.restore(space), () => undefined);
  }

  function reportSetAside(store: SetAsideStore): void {
    setAsideNow.push(store);
    log.error(
      { file: store.file, keptAs: store.keptAs, badLines: store.badLines, lines: store.lines, kept: store.salvaged },
      `could not read ${store.file} (${store.badLines} of ${store.lines} lines damaged); it was set aside as ${store.keptAs} ` +
        `and the ${store.salvaged} entries that could be read were kept. To restore it: stop Berth, repair the file, move it back, start Berth`,
    );
  }

  async function prepareDataDir(): Promise<void> {
    try {
      // The objects' folders (blobs/, repositories/, uploads/) are the filesystem driver's (its check()).
      await prepareDirectory(paths.root, [paths.tmpDir, paths.indexDir, paths.maintenanceDir]);
    } catch (err) {
      if (err instanceof DataDirError) throw new StartupError(err.message);
      throw err;
    }
    // On a disk full to the last block the lock file could not be written: give up the reserve for it.
    if (await reserve.releaseIfLow(await volumeSpace(paths.root).catch(() => null))) {
      log.warn({ dataDir: paths.root }, 'the disk holding the data directory is full: used the space Berth keeps in reserve to start');
    }
    try {
      lock = await DataDirLock.acquire(paths.lockFile);
    } catch (err) {
      const full = (err as NodeJS.ErrnoException).code === 'ENOSPC';
      throw new StartupError(`cannot use data directory ${paths.root}: ${full ? 'the disk holding it is full (not even the lock file fits); free some space and start again' : (err as Error).message}`);
    }
    // Temp files left by a crash were never renamed into place: nothing refers to them.
    for (const entry of await fs.readdir(paths.tmpDir)) await fs.rm(`${paths.tmpDir}/${entry}`, { force: true, recursive: true });
    // The store answers, its bucket exists (created when allowed), the credentials work: else one line.
    try {
      await driver.check();
    } catch (err) {
      await lock?.release();
      lock = null;
      throw new StartupError(isStorageError(err) ? `storage: ${err.message}` : `storage ${driver.location.description}: ${(err as Error).message}`);
    }
  }

  /** Opens the user store; on the first start, creates `admin` (returned when its password was generated). */
  async function openAuth(): Promise<{ name: string; password: string; generated: boolean } | undefined> {
    if (!auth) return undefined;
    try {
      await auth.open();
      const created = await auth.ensureInitialAdmin(config.adminPassword ?? undefined);
      if (created) log.info({ user: created.name }, 'created the first user; it may do everything (*:admin)');
      return created ?? undefined;
    } catch (err) {
      // A password the rules refuse is a bad setting (exit 2, as README promises for configuration).
      if (err instanceof AuthError) throw err.kind === 'invalid-input' ? new ConfigError(`BERTH_ADMIN_PASSWORD: ${err.message}`) : new StartupError(err.message);
      throw new StartupError(`cannot open the users in ${paths.authDir}: ${(err as Error).message}`);
    }
  }

  /** The certificate to serve: bring-your-own, or Berth's own (made or renewed as needed). */
  async function tlsMaterial(): Promise<TlsMaterial> {
    try {
      if (config.tlsCert && config.tlsKey) return await loadOwnCertificate(config.tlsCert, config.tlsKey);
      const material = await ensureCertificates(certificates, subjectNames(config.host));
      caCertificate = material.ca;
      // A cluster keeps its CA in the database; its certificate (public) is also written where
      // `berth tls trust-help` and the maintenance commands look for it.
      if (!(certificates instanceof TlsFiles) && material.ca) await writeCaCopy(material.ca);
      if (material.issued === 'ca') {
        log.warn({ ca: certificates instanceof TlsFiles ? certificates.caCert : 'in the metadata database', reason: material.caReason ?? 'there was none' },
          'made a new local CA: clients must trust it, again if they trusted the previous one (berth tls trust-help)');
      }
      else if (material.issued) log.info('issued a new server certificate');
      return material;
    } catch (err) {
      throw new StartupError((err as Error).message);
    }
  }

  async function writeCaCopy(ca: string): Promise<void> {
    await fs.mkdir(paths.tlsDir, { recursive: true });
    await fs.writeFile(new TlsFiles(paths.tlsDir).caCert, ca, { mode: 0o644 });
  }

  /**
   * Berth's own certificate follows the machine: every 10 minutes the names (a laptop joins another
   * network) and the expiry are checked, and a new certificate is swapped in without a restart.
   */
  function watchCertificate(s: https.Server): void {
    if (config.tlsCert) return;
    certificateCheck = setInterval(() => {
      ensureCertificates(certificates, subjectNames(config.host)).then(
        (m) => {
          if (!m.issued) return;
          s.setSecureContext({ cert: m.cert, key: m.key });
          caCertificate = m.ca;
          if (!(certificates instanceof TlsFiles) && m.ca) void writeCaCopy(m.ca).catch(() => undefined);
          if (m.issued === 'ca') log.warn({ reason: m.caReason }, 'made a new local CA: clients must trust it again (berth tls trust-help)');
          else log.info({ issued: m.issued }, 're-issued the server certificate');
        },
        (err) => log.error({ err }, 'renewing the server certificate failed'),
      );
    }, 10 * 60_000);
    certificateCheck.unref();
  }

  function listenOn(s: http.Server | https.Server): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        s.off('listening', onListening);
        reject(listenError(err, config));
      };
      const onListening = () => {
        s.off('error', onError);
        resolve(s.address() as AddressInfo);
      };
      s.once('error', onError);
      s.once('listening', onListening);
      s.listen(config.port, config.host);
    });
  }

  return {
    config,
    services,
    manage,
    events,
    webhooks,
    log,
    driver,
    callback: () => app.callback(),
    get server() {
      return server;
    },
    auth,
    metadata,

    async open() {
      await openStores();
      startIndex();
      try {
        await indexOpened;
      } catch (err) {
        throw new StartupError(storeProblem(err, 'cannot open the metadata index'));
      }
      return { setAside: [...setAsideNow] };
    },

    async listen() {
      if (!storesOpened) await openStores();
      try {
        const { setAside } = await activityLog.open();
        if (setAside) reportSetAside(setAside);
      } catch (err) {
        await maintenanceStore.close().catch(() => undefined);
        storesOpened = false;
        await metadata.close().catch(() => undefined);
        await lock?.release();
        throw new StartupError(storeProblem(err, 'cannot open the activity log'));
      }
      manage.activity.start();
      activityOpened = true;
      await cluster?.start();
      // Uploads may take as long as they take: no request timeout (Node's default of 300 s would cut
      // a multi-gigabyte push). Slow-header clients are still cut after headersTimeout, and a body
      // that stops arriving after bodyIdleTimeoutMs (http/request-bodies.ts).
      const timeouts = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 30_000 };
      let address: AddressInfo;
      let createdAdmin: { name: string; password: string; generated: boolean } | undefined;
      try {
        createdAdmin = await openAuth();
        if (config.tls) {
          const { cert, key } = await tlsMaterial();
          const secure = https.createServer({ ...timeouts, cert, key }, listener());
          continueWhenRead(secure, app.callback());
          server = secure;
          address = await listenOn(secure);
          watchCertificate(secure);
        } else {
          server = http.createServer(timeouts, listener());
          continueWhenRead(server, app.callback());
          address = await listenOn(server);
        }
        // In the same turn as 'listening': no request can reach the index before its gate is set.
        if (!indexOpened) startIndex();
      } catch (err) {
        server = null;
        // The first admin this start made is removed with the start that failed (a port in use, a bad
        // certificate): its generated password is printed only once listening, so it would stay with a
        // password no one was shown. The next start makes it again and prints that one. Not with a shared
        // store (a cluster): another replica may have started on that admin meanwhile.
        if (createdAdmin && !cluster) await auth?.removeUser(createdAdmin.name).catch((e: unknown) => log.error({ err: e }, 'could not remove the first user after the failed start'));
        await maintenanceStore.close().catch(() => undefined);
        await closeWebhooks();
        await mirror.close().catch(() => undefined);
        storesOpened = false;
        await closeActivity();
        await auth?.close().catch(() => undefined);
        await metadata.close().catch(() => undefined);
        await lock?.release();
        throw err;
      }
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;
      await lock?.update({ url });
      log.info({ url, dataDir: paths.root, storage: driver.location.description, auth: config.auth, tls: config.tls }, 'Berth registry listening');
      await scheduler.start();
      webhooks.start(url);
      const initialAdmin = createdAdmin?.generated ? { name: createdAdmin.name, password: createdAdmin.password } : undefined;
      return { url, host: address.address, port: address.port, ...(initialAdmin ? { initialAdmin } : {}), setAside: [...setAsideNow] };
    },

    indexReady: () => index.ready(),

    async close() {
      // First, so the UI's live connection ends now (its 'Live' goes off) instead of being a request in
      // flight that the grace period waits for; streams asked for after this end at once.
      stopping = true;
      events.emit('stopping', {});
      storage.stop();
      if (certificateCheck) clearInterval(certificateCheck);
      certificateCheck = null;
      scheduler.stop();
      // A run in progress stops at its next safe point; queued ones are recorded as interrupted.
      await maintenance.close();
      // So does a copy to another store (what it copied stays, verified; run again, it resumes).
      await manage.storageCopy.close();
      if (server) {
        const s = server;
        server = null;
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        // Node closes the connections idle when close() is called, not those that become idle later:
        // a response finishing just after the signal would keep its connection, and the stop, waiting
        // for the grace period.
        s.closeIdleConnections();
        const idle = setInterval(() => s.closeIdleConnections(), 100);
        const timer = setTimeout(() => {
          const cut = uploads.receivingUploads();
          if (cut.length > 0) {
            log.warn(
              { uploads: cut.map((u) => ({ repository: u.repository, id: u.id, bytes: u.size })) },
              `the ${config.shutdownGraceSeconds} s shutdown grace period is over: cutting off ${cut.length} upload(s) still receiving; their clients must push again`,
            );
          } else {
            // Said even when no upload is cut: a download or a client that keeps its connection open
            // held the stop this long, which an operator timing restarts wants to know.
            log.info(`the ${config.shutdownGraceSeconds} s shutdown grace period is over: closing the connections still open`);
          }
          s.closeAllConnections();
        }, config.shutdownGraceSeconds * 1000);
        await closed;
        clearTimeout(timer);
        clearInterval(idle);
      }
      await cluster?.stop().catch((err: unknown) => log.error({ err }, 'stopping the cluster events failed'));
      await closeActivity();
      layerIndex.close();
      await layerWorkers.close();
      // Blob fills still running (their clients gone) stop here; nothing half-fetched is committed.
      if (storesOpened) await mirror.close().catch((err) => log.error({ err }, 'closing the mirror failed'));
      if (indexOpened) {
        await indexOpened.catch(() => undefined);
        indexLoaded = false;
        await index.close().catch((err) => log.error({ err }, 'closing the metadata index failed'));
        indexOpened = null;
      }
      if (storesOpened) {
        storesOpened = false;
        await maintenanceStore.close().catch((err) => log.error({ err }, 'closing the maintenance store failed'));
        await closeWebhooks();
      }
      await auth?.close().catch((err) => log.error({ err }, 'closing the user store failed'));
      if (idleUsers) {
        const opened = idleUsers;
        idleUsers = null;
        await opened.then((store) => store.close()).catch((err) => log.error({ err }, 'closing the user store failed'));
      }
      await metadata.close().catch((err) => log.error({ err }, 'closing the metadata database failed'));
      await lock?.release();
      lock = null;
      metrics.close();
      await driver.close().catch(() => undefined);
    },
  };
}

/**
 * A store that could not be opened, in one line. A file the disk cannot read is left exactly where it
 * is (nothing is set aside for a disk error), and the line says so.
 */
function storeProblem(err: unknown, what: string): string {
  if (err instanceof StoreReadError) {
    const why = err.code === 'EIO'
      ? 'the disk reported an I/O error (EIO); it may be failing: check it (dmesg, fsck)'
      : err.code === 'EACCES' || err.code === 'EPERM'
        ? `permission denied (${err.code}); give the file back to the user running Berth`
        : `${err.code} (${err.message})`;
    return `${what}: cannot read ${err.file}: ${why}. Nothing was changed or moved`;
  }
  return `${what}: ${(err as Error).message}`;
}

function listenError(err: NodeJS.ErrnoException, config: BerthConfig): Error {
  const where = `${config.host}:${config.port}`;
  if (err.code === 'EADDRINUSE') {
    const airplay = config.port === 5000 && process.platform === 'darwin'
      ? ' (on macOS the AirPlay Receiver listens on 5000: turn it off in System Settings > General > AirDrop & Handoff, or use --port 5001)'
      : '';
    return new StartupError(`port ${config.port} on ${config.host} is already in use${airplay}; choose another with --port`);
  }
  if (err.code === 'EACCES') return new StartupError(`not allowed to listen on ${where}: ports below 1024 need privileges; use --port 5000`);
  if (err.code === 'EADDRNOTAVAIL') return new StartupError(`cannot listen on ${where}: ${config.host} is not an address of this machine`);
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') return new StartupError(`cannot listen on ${where}: host name ${config.host} does not resolve`);
  return new StartupError(`cannot listen on ${where}: ${err.message}`);
}
