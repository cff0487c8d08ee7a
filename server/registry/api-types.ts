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
  /**
   * What a garbage collection with the configured settings would free now (its dry run): unreferenced
   * blobs older than the grace window, which protects pushes in progress.
   */
  reclaimableByGcBytes: number;
  volume: { freeBytes: number; totalBytes: number };
  repositories: RepositoryUsage[];
}

export type ActivityKind = 'push' | 'pull' | 'delete';

export interface ActivityEntry {
  id: string;
  kind: ActivityKind;
  repository: string;
  tags: string[];
  digests: string[];
  /** Manifests this entry covers (events close together in time are folded into one entry). */
  count: number;
  /** Push: size of the image pushed, when known. */
  bytes: number | null;
  /** Delete: the whole repository was deleted. */
  repositoryDeleted: boolean;
  firstAt: string;
  at: string;
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
  | 'manifest-deleted' | 'tag-deleted' | 'repository-deleted' | 'uploads';

export interface UploadsEvent {
  uploads: UploadProgress[];
}
