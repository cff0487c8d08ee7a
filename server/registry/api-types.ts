/**
 * The shapes the management API (/api/) answers with: JSON-ready (times are ISO 8601 strings, sizes
 * are bytes). The services in registry/ build them and the UI reads them, so this file imports nothing:
 * tsconfig.web.json includes it and the renderer imports its types.
 */

/** How clients reach this registry ("host:port" forms, without a scheme). */
export interface ClientAddresses {
  /** From this machine, and from rootful Docker Engine on it. */
  localhost: string;
  /** From Docker Desktop, Colima, OrbStack: the daemon runs in a VM where `localhost` is the VM. */
  dockerDesktop: string;
  /** From Podman machine (macOS, Windows). */
  podmanMachine: string;
  /** From other machines: one per non-internal IPv4 address, only when Berth listens beyond loopback. */
  lan: string[];
  /** Berth listens on loopback only: other machines (and Linux containers) cannot reach it. */
  loopbackOnly: boolean;
}

export interface StatusView {
  version: string;
  url: string | null;
  host: string;
  port: number;
  dataDir: string;
  logLevel: string;
  shutdownGraceSeconds: number;
  startedAt: string;
  addresses: ClientAddresses;
  /** HTTPS; caCertificateUrl serves the CA of Berth's own certificates (null with your own certificate). */
  tls: { enabled: boolean; caCertificateUrl: string | null };
  /** Registry authentication (token auth) is on. */
  auth: { enabled: boolean };
  /** How the disk of the data directory is doing (also the live `storage` event). */
  storage: StorageView;
}

/**
 * Whether the registry can store what it is sent. `full`: the volume has (next to) no space left, or a
 * write failed for lack of space and nothing has freed space since; `read-only`, `not-writable` (the
 * permissions), `failing` (I/O errors): writes fail. Pulls are served in every state.
 */
export interface StorageView {
  state: 'ok' | 'full' | 'read-only' | 'not-writable' | 'failing';
  freeBytes: number | null;
  totalBytes: number | null;
  /** What is wrong in a few words ("The registry's disk is full"), then what to do about it; null while ok. */
  headline: string | null;
  problem: string | null;
  /** When the problem was first seen (ISO 8601), or null. */
  since: string | null;
  /** Store files Berth set aside because their contents could not be read, oldest first. */
  setAside: SetAsideView[];
}

export interface SetAsideView {
  /** The store file (`<data>/maintenance/retention.db`) and what it holds ("retention rules"). */
  file: string;
  holds: string;
  /** Where the damaged file was moved, and when. */
  keptAs: string;
  at: string;
  /** How to get its contents back. */
  restore: string;
}

export interface RepositorySummary {
  name: string;
  tagCount: number;
  manifestCount: number;
  /** Bytes of every blob the repository's manifests use (configs, layers, the manifests), each once. */
  totalSize: number;
  /** Of totalSize: blobs no other repository uses. */
  uniqueSize: number;
  /** Of totalSize: blobs at least one other repository uses too. */
  sharedSize: number;
  createdAt: string;
  lastPushAt: string | null;
}

export const REPOSITORY_SORTS = ['name', 'size', 'pushed'] as const;
export type RepositorySort = (typeof REPOSITORY_SORTS)[number];

export interface RepositoryList {
  /** Repositories matching the query, before limit/offset. */
  matched: number;
  /** Repositories in the registry. */
  total: number;
  repositories: RepositorySummary[];
}

export type ManifestKind = 'image' | 'index' | 'artifact';

export interface ManifestRow {
  digest: string;
  mediaType: string;
  kind: ManifestKind;
  artifactType: string | null;
  /** Config + layers (image), children's totals (index). */
  size: number;
  /** "os/arch[/variant]" of the image, or of each child of an index. */
  platforms: string[];
  /** The image config's "created" time. */
  created: string | null;
  pushedAt: string;
}

export interface TagRow extends ManifestRow {
  tag: string;
  /** When the tag was last pointed at its manifest. */
  taggedAt: string;
}

export interface RepositoryDetail extends RepositorySummary {
  tags: TagRow[];
  /** Manifests no tag points to, that are not part of an index and refer to no subject. */
  untagged: ManifestRow[];
}

export interface DescriptorView {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Non-distributable layers are fetched from these URLs, not from the registry. */
  urls?: string[];
}

export interface PlatformView extends DescriptorView {
  platform: string | null;
  /** Attestations (buildx provenance, SBOM) are listed in an index as platform unknown/unknown. */
  attestation: boolean;
  /** The child manifest is in the repository (a partial push may leave it out). */
  present: boolean;
  /** Total size of the child image when known. */
  totalSize: number | null;
}

export interface HistoryView {
  created: string | null;
  createdBy: string | null;
  comment: string | null;
  emptyLayer: boolean;
}

export interface ImageConfigView {
  os: string | null;
  architecture: string | null;
  variant: string | null;
  created: string | null;
  author: string | null;
  user: string | null;
  workingDir: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
  stopSignal: string | null;
  history: HistoryView[];
}

export interface ImageDetail {
  repository: string;
  digest: string;
  mediaType: string;
  kind: ManifestKind;
  artifactType: string | null;
  /** Bytes of the manifest itself. */
  manifestSize: number;
  /** Config + layers (image), children's totals (index). */
  totalSize: number;
  pushedAt: string | null;
  tags: string[];
  annotations: Record<string, string>;
  subject: DescriptorView | null;
  /** Indexes in this repository that list this manifest. */
  parents: string[];
  /** Index: its manifests. */
  platforms: PlatformView[];
  /** Image: the config descriptor, its layers and what the config says. */
  config: DescriptorView | null;
  layers: DescriptorView[];
  image: ImageConfigView | null;
  /**
   * When it was created: the config's "created" of an image; for an index its created annotation, or
   * the newest of its platform images' (null when none says).
   */
  created: string | null;
  /** Manifests whose subject is this one (signatures, SBOMs, attestations). */
  referrers: DescriptorView[];
  /** The manifest exactly as stored. */
  raw: string;
}

export interface RepositoryUsage {
  name: string;
  /** Bytes on disk used by this repository's blobs, each blob once. */
  totalBytes: number;
  uniqueBytes: number;
  sharedBytes: number;
  blobCount: number;
  /** The repository is the pull-through cache of an upstream (docker.io/library/alpine). */
  cached?: boolean;
}

export interface DiskUsage {
  dataDir: string;
  /** Every blob file in the store (layers, configs, manifests), as the files on disk hold them. */
  bytesOnDisk: number;
  blobCount: number;
  /** Blobs at least one manifest uses, each counted once however many repositories share it. */
  referencedBytes: number;
  /** Blobs no manifest uses (left by deletes and unfinished pushes). */
  unreferencedBytes: number;
  /** Blobs used by two or more repositories, counted once. */
  sharedBytes: number;
  /** Of referencedBytes: blobs only the pull-through cache's repositories use (the rest was pushed here). */
  cachedBytes: number;
  /**
   * What a garbage collection with the configured settings would free now (its dry run): unreferenced
   * blobs older than the grace window, which protects pushes in progress.
   */
  reclaimableByGcBytes: number;
  /**
   * What it would free once the grace window has passed: the above plus the unreferenced blobs still
   * inside the window (or in use by a push right now, which may yet reference them).
   */
  reclaimableAfterGraceBytes: number;
  /** The configured grace window (gcGrace) the two figures above are about. */
  gcGraceSeconds: number;
  /** The disk of the data directory, when the blobs are on it (filesystem driver); null for a bucket. */
  volume: { freeBytes: number; totalBytes: number } | null;
  /** Where the objects are: the driver, its location, and every object Berth keeps there (uploads included). */
  storage: { driver: 'filesystem' | 's3' | 'azure'; location: string; objects: number; bytes: number };
  repositories: RepositoryUsage[];
}

/** cache: fetched from an upstream into the pull-through cache; stale: served cached while the upstream failed; upstream-error: it failed and nothing cached could stand in. */
export type ActivityKind = 'push' | 'pull' | 'delete' | 'cache' | 'stale' | 'upstream-error';

export interface ActivityEntry {
  id: string;
  kind: ActivityKind;
  repository: string;
  tags: string[];
  digests: string[];
  /** Manifests this entry covers (events close together in time are folded into one entry). */
  count: number;
  /** Push: size of the image pushed, when known; cache: bytes fetched from the upstream. */
  bytes: number | null;
  /** Delete: the whole repository was deleted. */
  repositoryDeleted: boolean;
  firstAt: string;
  at: string;
  /** Pull-through cache entries: the upstream, and (stale, upstream-error) what it failed with. */
  upstream?: string;
  note?: string;
}

export interface UploadProgress {
  id: string;
  repository: string;
  /** Bytes received so far. */
  bytes: number;
  /** Bytes per second over the last few seconds. */
  rate: number;
  startedAt: string;
  /** A request is streaming bytes right now (otherwise the client is between requests). */
  receiving: boolean;
  lastDataAt: string;
}

export interface ActivityFeed {
  entries: ActivityEntry[];
  /** Pass as `before` for older entries; null at the end. */
  next: string | null;
  uploads: UploadProgress[];
}

export interface DeleteResult {
  repository: string;
  tags: string[];
  manifests: number;
  /** Layer links removed (a repository delete); blobs stay until garbage collection. */
  layers: number;
  /** Blob bytes stay on disk until garbage collection frees the unreferenced ones. */
  note: string;
}

export type SelfTestStepStatus = 'running' | 'passed' | 'failed' | 'skipped';

/** One line of the self-test's stream (application/x-ndjson). */
export interface SelfTestStep {
  step: number;
  of: number;
  id: string;
  title: string;
  status: SelfTestStepStatus;
  detail?: string;
  ms?: number;
}

export interface SelfTestSummary {
  done: true;
  ok: boolean;
  repository: string;
  ms: number;
}

/**
 * The events on GET /api/events: every registry event by its name in registry/events.ts (the UI
 * refreshes what they touch), and `uploads`, the progress of uploads every second while there are any
 * (and once more when they end).
 */
export type LiveEventName =
  | 'blob-pushed' | 'blob-mounted' | 'blob-deleted' | 'manifest-pushed' | 'manifest-pulled'
  | 'manifest-deleted' | 'tag-deleted' | 'repository-deleted' | 'uploads' | 'maintenance' | 'storage' | 'stopping'
  | 'mirror-fetched' | 'mirror-stale' | 'mirror-error' | 'mirror-changed';

export interface UploadsEvent {
  uploads: UploadProgress[];
}

// ---- the storage lifecycle (issue 6): maintenance runs and their reports ---------------------------

// Kinds, states, triggers and progress mirror the run store's (metadata/maintenance-db.ts, which sits
// below registry/ and cannot import from here); registry/maintenance.ts's toJson checks they still fit.
export type MaintenanceKind = 'gc' | 'scrub' | 'purge-uploads' | 'reindex' | 'retention';
export type MaintenanceState = 'queued' | 'running' | 'succeeded' | 'failed' | 'interrupted';
/**
 * Who started a run: the web UI, another client of the management API, the scheduler, or the CLI (on
 * the directory itself or through a running server). The UI and the CLI say who they are in the
 * X-Berth-Client header (http/api/guard.ts).
 */
export type MaintenanceTrigger = 'ui' | 'api' | 'schedule' | 'cli';

export interface MaintenanceProgress {
  /** What the run is doing now, in words ("scanning repositories", "deleting blobs"). */
  phase: string;
  done: number;
  total: number;
}

/** A maintenance run as GET /api/runs/<id> shows it; `result` is MaintenanceResults[kind] once it succeeded. */
export interface MaintenanceRun {
  id: string;
  kind: MaintenanceKind;
  trigger: MaintenanceTrigger;
  state: MaintenanceState;
  options: object;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  progress: MaintenanceProgress | null;
  result: object | null;
  error: string | null;
}

/** The `maintenance` live event: a run was queued, progressed or finished (its result: GET /api/runs/<id>). */
export interface MaintenanceEvent {
  id: string;
  kind: MaintenanceKind;
  state: MaintenanceState;
  progress: MaintenanceProgress | null;
}

/** GET /api/maintenance: the lifecycle settings (config.ts), the schedule, and the latest runs. */
export interface MaintenanceOverview {
  settings: {
    /** Null: no scheduled collection. */
    gcIntervalSeconds: number | null;
    gcGraceSeconds: number;
    gcUntagged: boolean;
    uploadPurgeAgeSeconds: number;
    uploadPurgeIntervalSeconds: number | null;
    retentionIntervalSeconds: number | null;
  };
  /** When each scheduled task runs next; tasks that are off are absent. */
  nextRuns: Partial<Record<MaintenanceKind, string>>;
  /** The run in progress, if any. */
  current: MaintenanceRun | null;
  /** The newest run of each kind. */
  last: Record<MaintenanceKind, MaintenanceRun | null>;
}

/** The `detail` of a 400 that is about particular fields of the request body (shown next to them). */
export interface FieldErrorDetail {
  fields: string[];
}

export interface GcManifestRef {
  repository: string;
  digest: string;
}

export interface GcBlobRef {
  digest: string;
  size: number;
}

export interface GcSkipped {
  what: 'manifest' | 'layer-link' | 'blob' | 'repository';
  repository?: string;
  digest?: string;
  reason: string;
}

/** What a garbage collection removed (registry/gc.ts); a dry run: what it would remove. */
export interface GcReport {
  dryRun: boolean;
  untagged: boolean;
  graceSeconds: number;
  /** Bytes of the blob files removed (a dry run: that would be removed). */
  bytesFreed: number;
  removed: {
    manifests: GcManifestRef[];
    layerLinks: GcManifestRef[];
    blobs: GcBlobRef[];
    repositories: string[];
  };
  /** Exact counts (the lists above stop at LIST_LIMIT entries each). */
  counts: { manifests: number; layerLinks: number; blobs: number; repositories: number };
  truncated: boolean;
  /** What was looked at. */
  scanned: { repositories: number; manifests: number; blobs: number; bytes: number };
  /** Blobs kept because something references them. */
  kept: { blobs: number; bytes: number };
  /** Unreferenced blobs kept because they are younger than the grace window or in use by a push. */
  protected: { blobs: number; bytes: number };
  /** Real run only: planned removals that a push made unsafe by the time their turn came. */
  skipped: GcSkipped[];
  warnings: string[];
}

export interface CorruptBlob {
  digest: string;
  size: number;
  /** The digest of the bytes actually found. */
  actual: string;
  /** Where the file was moved (null: it vanished before it could be moved). */
  quarantinedTo: string | null;
  /** Who references it: pulls of these now fail until the content is pushed again. */
  usedBy: { repository: string; as: 'manifest' | 'layer' }[];
}

export interface MissingContent {
  repository: string;
  /** The tag or manifest digest whose content is incomplete. */
  reference: string;
  /** What is missing. */
  digest: string;
  problem: string;
}

/** What an integrity scrub found (registry/scrub.ts). */
export interface ScrubReport {
  checked: { blobs: number; bytes: number; repositories: number; manifests: number; tags: number };
  corrupt: CorruptBlob[];
  missing: MissingContent[];
  /** No corrupt file, nothing missing. */
  clean: boolean;
}

export interface PurgedUpload {
  id: string;
  /** Null for a folder a crash left without its session file. */
  repository: string | null;
  size: number;
  lastActivity: string;
}

/** What upload purging removed (registry/purge-uploads.ts). */
export interface PurgeReport {
  dryRun: boolean;
  olderThanSeconds: number;
  /** Sessions removed (a dry run: that would be). */
  removed: PurgedUpload[];
  bytesFreed: number;
  /** Sessions younger than the age, or receiving bytes right now. */
  kept: number;
}

/** What an index rebuild found on disk (registry/reindex.ts). */
export interface RebuildStats {
  repositories: number;
  manifests: number;
  tags: number;
  skipped: number;
  ms: number;
}

/** A retention rule (registry/retention.ts); patterns are Berth's one dialect (server/name-pattern.ts). */
export interface RetentionRule {
  id: string;
  repositories: string;
  keepLast: number | null;
  keepDays: number | null;
  keepTags: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface RetentionCandidate {
  repository: string;
  tag: string;
  digest: string;
  pushedAt: string;
}

/** What applying the retention rules untagged (a dry run: would untag). */
export interface RetentionReport {
  dryRun: boolean;
  /** The tags untagged (a dry run: that would be). */
  untagged: RetentionCandidate[];
  /** Tags of matching repositories that the rules keep. */
  kept: number;
  /** Repositories at least one enabled rule matched. */
  repositories: number;
  rules: number;
  /** Real run only: tags pushed again (or removed) since the plan, left alone. */
  skipped: RetentionCandidate[];
}

/** What each kind of run reports as its `result`. */
export interface MaintenanceResults {
  gc: GcReport;
  scrub: ScrubReport;
  'purge-uploads': PurgeReport;
  reindex: RebuildStats;
  retention: RetentionReport;
}

// ---- users and tokens (management API /api/users, /api/tokens; registry/user-admin.ts) -------------

export type PermissionAction = 'pull' | 'push' | 'delete' | 'admin';

/** A repository pattern (`*` matches any characters, `/` included) with the actions it allows. */
export interface PermissionView {
  repository: string;
  actions: PermissionAction[];
}

export interface UserView {
  name: string;
  /** A robot account has no password: it logs in with its access tokens only. */
  kind: 'user' | 'robot';
  permissions: PermissionView[];
  /** Has `*:admin`: may manage the registry (this API and the UI) and list the catalog. */
  admin: boolean;
  createdAt: string;
  /** Access tokens and logins it holds. */
  tokens: number;
}

export interface UserList {
  /** Registry authentication is on: users and tokens decide who may push and pull. Off: they wait. */
  authEnabled: boolean;
  users: UserView[];
}

/** POST /api/users: the user, and the password Berth generated (shown once; null when one was given). */
export interface CreatedUser {
  user: UserView;
  password: string | null;
}

/** PUT /api/users/<name>/password: the generated password (shown once), or null when one was given. */
export interface PasswordChange {
  password: string | null;
}

/**
 * robot: an access token of a robot account; personal: a user's access token (used as their password);
 * login: a refresh token a client keeps after logging in (docker login, the UI's sign-in).
 */
export type TokenKind = 'robot' | 'personal' | 'login';

export interface TokenView {
  /** The public id, used to revoke it; never the secret. */
  id: string;
  kind: TokenKind;
  user: string;
  /** Its name (access tokens), or the client it was issued to (logins: "docker", "berth-ui"). */
  label: string;
  /** Narrower than its user's, or null: the user's own. */
  permissions: PermissionView[] | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  expired: boolean;
}

export interface TokenList {
  authEnabled: boolean;
  tokens: TokenView[];
}

/** POST /api/tokens: the token, and its secret, shown this once and stored only as a hash. */
export interface CreatedToken {
  token: TokenView;
  secret: string;
}

/** POST /api/users/htpasswd: what an htpasswd file gave. */
export interface HtpasswdImport {
  added: string[];
  /** Users that existed and took the file's password (replace: true). */
  replaced: string[];
  /** Users that existed and were left alone (replace: false). */
  existing: string[];
  /** Lines that could not be imported, with why and how to fix them. */
  skipped: { line: number; name: string | null; reason: string }[];
}

// ---- the pull-through cache (issue 12, server/mirror/) ---------------------------------------------

/** Counters of one upstream since it was added (kept across restarts). */
export interface MirrorCountersView {
  /** Requests answered from the cache (or from a fill another request started). */
  hits: number;
  /** Requests that fetched from the upstream. */
  misses: number;
  bytesFromCache: number;
  bytesFetched: number;
  /** Cached tags served while the upstream failed. */
  staleServes: number;
  upstreamErrors: number;
  /** The last RateLimit-Remaining the upstream sent (Docker Hub: pulls left), and when. */
  rateLimitRemaining: number | null;
  rateLimitAt: string | null;
}

/** An upstream as the management API shows it; credentials are never shown, only whether they are set. */
export interface UpstreamView {
  name: string;
  url: string;
  aliases: string[];
  checkIntervalSeconds: number;
  keepSeconds: number;
  enabled: boolean;
  /** Serves Docker's registry-mirrors requests (which name no upstream). */
  default: boolean;
  trustedRealms: string[];
  timeoutSeconds: number;
  /** 'config': from the config file, BERTH_MIRRORS or --mirror (change it there); 'ui': added in the UI. */
  source: 'config' | 'ui';
  credentials: { username: string } | null;
  counters: MirrorCountersView;
  cached: { repositories: number; references: number; stale: number; bytes: number };
}

/** A cached tag (or a manifest pulled by digest) of an upstream. */
export interface CachedReferenceView {
  upstream: string;
  /** The cache repository (docker.io/library/alpine). */
  repository: string;
  reference: string;
  digest: string;
  mediaType: string | null;
  /** Config + layers, or an index's children, as the manifest declares them (not all need be fetched). */
  size: number | null;
  fetchedAt: string;
  checkedAt: string | null;
  usedAt: string;
  /** Dropped at the next expiry run after this, unless pulled again. */
  expiresAt: string;
  staleSince: string | null;
  lastError: string | null;
}

export interface BlobFillView {
  upstream: string;
  digest: string;
  size: number | null;
  received: number;
}

/** GET /api/mirrors. */
export interface MirrorsOverview {
  upstreams: UpstreamView[];
  cached: CachedReferenceView[];
  /** Blobs being fetched from upstreams right now. */
  fills: BlobFillView[];
}

/** POST /api/mirrors, PUT /api/mirrors/<name>: durations as "5m", "7d". */
export interface UpstreamInput {
  name?: string;
  url?: string;
  aliases?: string[];
  checkInterval?: string;
  keep?: string;
  enabled?: boolean;
  default?: boolean;
  trustedRealms?: string[];
  timeout?: string;
}

/** What an expiry run dropped (POST /api/mirrors/expire; it also runs every hour). */
export interface MirrorExpiryReport {
  /** Tags and digests dropped, with the repository they were in. */
  dropped: { upstream: string; repository: string; reference: string }[];
  manifests: number;
  repositories: string[];
}

/**
 * GET /api/storage/copy: the copy of this registry's store to another one (registry/storage-copy.ts),
 * started by POST /api/storage/copy {storage, dataDir?}; "idle" until the first. Stores are named by
 * their location only (never their credentials).
 */
export interface StorageCopyStatus {
  state: 'idle' | 'running' | 'succeeded' | 'failed';
  from: string;
  to: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  progress: { phase: 'blobs' | 'links' | 'tags' | 'done'; done: number; total: number; bytesDone: number; bytesTotal: number } | null;
  result: {
    /** `gone`: deleted from the source (by a collection) before its turn. */
    blobs: { copied: number; skipped: number; gone: number; bytesCopied: number };
    links: { copied: number; skipped: number };
    tags: { copied: number; skipped: number };
    /** Source blobs whose bytes do not match their digest: not copied (run a scrub). */
    corrupt: { digest: string; actual: string }[];
    ms: number;
  } | null;
  error: string | null;
}
