/**
 * Every store of metadata the registry keeps, behind one choice (config `metadata`):
 *   nedb      (the default) files in the data directory, one server, nothing to install;
 *   postgres  one database shared by every replica of a cluster (issue 16): with a shared storage
 *             driver, `berth serve` instances on different machines or ports form one registry.
 *
 * Which store owns which fact (storage/ owns the bytes, manifests, tags and links: the truth):
 *   index       listings derived from storage, rebuilt by `berth reindex` (index-store.ts)
 *   lifecycle   maintenance runs and retention rules (maintenance-store.ts)
 *   activity    the activity feed (activity-store.ts)
 *   webhooks    endpoints, delivery states and the outbox (webhook-store.ts)
 *   mirror      upstreams added in the UI, their credentials, cached references, counters (mirror-db.ts)
 *   users       users and credentials (auth/store.ts); the token signing key and TLS certificates
 *               (postgres: shared_secrets; nedb: files under auth/ and tls/)
 *   locks, uses the link guard's locks and blob uses (locks.ts): in memory for one server, advisory
 *               locks and a table for a cluster
 *   bus         events between replicas (event-bus.ts): none for one server
 */
import type { Logger } from 'pino';
import type { SigningKey } from '../auth/signing-key.ts';
import type { UserStore } from '../auth/store.ts';
import type { SharedLoginState } from '../auth/throttle.ts';
import type { MetadataConfig } from '../config.ts';
import type { StoragePaths } from '../storage/paths.ts';
import type { CertificateStore } from '../tls/store.ts';
import { ActivityLog } from './activity-db.ts';
import type { ActivityStore } from './activity-store.ts';
import type { EventBus } from './event-bus.ts';
import { MetadataIndex } from './index-db.ts';
import type { IndexStore } from './index-store.ts';
import { LocalLocks, type Locks, type SharedUses } from './locks.ts';
import { MaintenanceStore } from './maintenance-db.ts';
import type { LifecycleStore } from './maintenance-store.ts';
import { NedbMirrorStore, type MirrorStore } from './mirror-db.ts';
import { SharedBlobUses } from './postgres/blob-uses.ts';
import { ClusterLocks } from './postgres/cluster-locks.ts';
import { Database, isMetadataUnavailable, type MetadataView } from './postgres/database.ts';
import { PostgresEventBus } from './postgres/event-bus.ts';
import { PostgresIndex } from './postgres/index-store.ts';
import { PostgresActivityLog } from './postgres/activity-store.ts';
import { PostgresLifecycleStore } from './postgres/lifecycle-store.ts';
import { migrate } from './postgres/migrations.ts';
import { PostgresMirrorStore } from './postgres/mirror-store.ts';
import { SharedSecrets } from './postgres/shared-secrets.ts';
import { PostgresUserStore } from './postgres/user-store.ts';
import { PostgresLoginState } from './postgres/login-state.ts';
import { PostgresWebhookStore } from './postgres/webhook-store.ts';
import { NedbWebhookStore } from './webhook-db.ts';
import type { WebhookStore } from './webhook-store.ts';

export type { MetadataView } from './postgres/database.ts';

export interface MetadataStores {
  readonly driver: MetadataConfig['driver'];
  readonly index: IndexStore;
  readonly lifecycle: LifecycleStore;
  readonly activity: ActivityStore;
  readonly webhooks: WebhookStore;
  readonly mirror: MirrorStore;
  /** Users and credentials; null: the auth service's own files (nedb). */
  readonly users: UserStore | null;
  /** Failed logins and known clients shared by the replicas; null: each process's memory (one server). */
  readonly loginState: SharedLoginState | null;
  /** The token signing key; null: the auth service's key file. */
  readonly signingKey: (() => Promise<SigningKey>) | null;
  /** Where `--tls` keeps its CA and certificates; null: <data>/tls/. */
  readonly certificates: CertificateStore | null;
  readonly locks: Locks;
  /** Other replicas' blob uses; null for one server. */
  readonly uses: SharedUses | null;
  /** Events between replicas; null for one server. */
  readonly bus: EventBus | null;
  /** Runs maintenance once no other replica runs any (registry/maintenance.ts); null for one server. */
  readonly maintenanceTurn: (<T>(signal: AbortSignal, work: () => Promise<T>) => Promise<T>) | null;
  /** Whether the store answers (/healthz, the status page). */
  view(): MetadataView;
  onChange(listener: (view: MetadataView) => void): () => void;
  /** Throws MetadataUnavailableError (503) while the database is known to be away. */
  ensureReachable(): void;
  /** Connects and migrates (postgres); nothing to do for nedb. Its error is one line for the user. */
  connect(): Promise<void>;
  close(): Promise<void>;
}

export interface MetadataDeps {
  paths: StoragePaths;
  log: Logger;
  /** Told of every nedb write the disk refused (storage health). */
  onWriteFailure: (err: Error, file: string) => void;
  /** Which store the nedb index was built from (index-db.ts rebuilds it when that changes). */
  storeDescription?: string;
}

export function createMetadataStores(config: MetadataConfig, deps: MetadataDeps): MetadataStores {
  return config.driver === 'postgres' ? postgresStores(config.url, deps) : nedbStores(deps);
}

export { isMetadataUnavailable };

function nedbStores({ paths, onWriteFailure, storeDescription }: MetadataDeps): MetadataStores {
  const ok: MetadataView = { driver: 'nedb', state: 'ok', where: null, problem: null, since: null };
  return {
    driver: 'nedb',
    index: new MetadataIndex(paths.indexDir, paths.tmpDir, { onWriteFailure, ...(storeDescription !== undefined ? { store: storeDescription } : {}) }),
    lifecycle: new MaintenanceStore(paths.maintenanceDir, onWriteFailure),
    activity: new ActivityLog(paths.activityFile, undefined, onWriteFailure),
    webhooks: new NedbWebhookStore(paths.webhooksDir, onWriteFailure),
    mirror: new NedbMirrorStore(paths.mirrorsDir, onWriteFailure),
    users: null,
    loginState: null,
    signingKey: null,
    certificates: null,
    locks: new LocalLocks(),
    uses: null,
    bus: null,
    maintenanceTurn: null,
    view: () => ok,
    onChange: () => () => undefined,
    ensureReachable: () => undefined,
    connect: async () => undefined,
    close: async () => undefined,
  };
}

function postgresStores(url: string, { log }: MetadataDeps): MetadataStores {
  const db = new Database(url);
  const secrets = new SharedSecrets(db);
  const uses = new SharedBlobUses(db, log);
  const locks = new ClusterLocks(db);
  return {
    driver: 'postgres',
    index: new PostgresIndex(db),
    lifecycle: new PostgresLifecycleStore(db),
    activity: new PostgresActivityLog(db),
    webhooks: new PostgresWebhookStore(db, url, log),
    mirror: new PostgresMirrorStore(db),
    users: new PostgresUserStore(db),
    loginState: new PostgresLoginState(db),
    signingKey: () => secrets.signingKey(),
    certificates: secrets.certificates(),
    locks,
    uses,
    bus: new PostgresEventBus(db),
    maintenanceTurn: (signal, work) => locks.exclusively('maintenance', signal, work),
    view: () => db.view(),
    onChange: (listener) => db.onChange(listener),
    ensureReachable: () => db.ensureReachable(),
    async connect() {
      try {
        const applied = await migrate(db);
        if (applied.length > 0) log.info({ database: db.where, versions: applied }, 'migrated the metadata database');
        await db.startListening();
        await uses.open();
      } catch (err) {
        await db.close();
        const reason = isMetadataUnavailable(err) ? err.message.replace(/; writes are refused.*$/, '') : (err as Error).message;
        throw new Error(`cannot use the metadata database: ${reason}`);
      }
      log.info({ database: db.where, replica: db.replicaId }, 'metadata in PostgreSQL');
    },
    async close() {
      await uses.close().catch(() => undefined);
      await db.close();
    },
  };
}
