/**
 * The shapes of the image inspection API (/api/.../files, /diff, /artifacts: issue 15), JSON-ready like
 * api-types.ts and, like it, importing nothing: tsconfig.web.json includes it for the renderer.
 */

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/**
 * An entry of a layer's tar (image-spec layer.md): a whiteout is ".wh.<name>" (path: the hidden
 * path), an opaque marker ".wh..wh..opq" (path: the directory whose lower contents it hides).
 */
export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'whiteout' | 'opaque';

/** What a layer entry and a path of the merged tree both say about a file. */
export interface FileAttributes {
  /** Permission and special bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content (regular files; 0 otherwise). */
  size: number;
  /** Symlink: its target as written; hard link: the path (normalised) it links to. */
  linkTarget?: string;
  /** Seconds since the epoch. */
  mtime: number;
  /** sha256 (hex) of a regular file's content. */
  sha256?: string;
}

export interface LayerEntry extends FileAttributes {
  /** Relative to the root, no leading "/" ("etc/os-release"). */
  path: string;
  type: LayerEntryType;
}

/** An entry left out of a listing, and why (a path escaping the root with ".."). */
export interface RejectedEntry {
  path: string;
  reason: string;
}

export type LayerState = 'ready' | 'error';

/** What is known of a layer once it was read, without its entries. */
export interface LayerSummary {
  digest: string;
  compression: LayerCompression;
  compressedSize: number;
  uncompressedSize: number;
  /** sha256 of the uncompressed bytes, computed while reading. */
  diffId: string;
  entryCount: number;
  /** Bytes of the regular files it holds. */
  addedBytes: number;
  /** Whiteouts and opaque-directory markers among the entries. */
  whiteouts: number;
  /** Entries left out (the first 1,000), and how many there were. */
  rejected: RejectedEntry[];
  rejectedCount: number;
}

/** One layer's listing (GET .../-/layers/<digest>). */
export interface LayerListingView extends LayerSummary {
  entries: LayerEntry[];
}

export interface LayerProblem {
  code: 'CORRUPT' | 'TRUNCATED' | 'UNSUPPORTED' | 'TOO_LARGE' | 'MISSING' | 'DIFF_ID_MISMATCH' | 'FOREIGN';
  message: string;
}

/** A layer of an image with its listing's summary. */
export interface ImageLayerView {
  index: number;
  digest: string;
  mediaType: string;
  size: number;
  /** The config's rootfs.diff_ids[index]. */
  expectedDiffId: string | null;
  diffId: string | null;
  compression: LayerCompression | null;
  uncompressedSize: number | null;
  entries: number | null;
  /** Bytes of regular files this layer adds. */
  addedBytes: number | null;
  /** The config history entry that made it ("created_by"). */
  createdBy: string | null;
  rejected: RejectedEntry[];
  problem: LayerProblem | null;
}

/** The attributes of a path of the merged file system; `size` of a directory: the regular files below it. */
export interface MergedAttributes extends FileAttributes {
  name: string;
  type: Exclude<LayerEntryType, 'whiteout' | 'opaque'>;
  /** Index of the layer that wrote this path last. */
  layer: number;
  /** A lower layer had this path too (it was changed, not added, by `layer`). */
  changed: boolean;
}

/** A path of the merged file system (all layers applied in order). */
export interface FsNode extends MergedAttributes {
  path: string;
  /** Directories: entries directly below. */
  children?: number;
}

export interface PlatformChoice {
  platform: string;
  digest: string;
}

/** Which image of a reference: the manifest itself, or the child of an index for the platform. */
export interface ResolvedImage {
  repository: string;
  reference: string;
  /** The image manifest's digest. */
  digest: string;
  /** The index the platform was picked from, when the reference named one. */
  index: string | null;
  platform: string | null;
}

/** GET .../-/manifests/<ref>/files: the merged tree, one directory (or a search) at a time. */
export interface ImageFilesView {
  image: ResolvedImage;
  layers: ImageLayerView[];
  /** Regular files and bytes of the merged file system. */
  totals: { files: number; directories: number; bytes: number };
  /** Bytes in lower layers hidden by later ones (overwritten or deleted): shipped, never visible. */
  wasted: { bytes: number; files: number; top: WastedPath[] };
  /** The directory listed ("" for the root), and its children. */
  path: string;
  nodes: FsNode[];
  /** With ?search=: matching paths (at most `limit`), and whether more matched. */
  search: { query: string; truncated: boolean } | null;
}

export interface WastedPath {
  path: string;
  /** Bytes in lower layers hidden at this path. */
  bytes: number;
  /** Layers that wrote it. */
  layers: number[];
  /** Hidden by a later version, or deleted. */
  how: 'overwritten' | 'deleted';
}

/** GET .../-/manifests/<ref>/file?path=: one path, and its content when it is text. */
export interface FileView {
  image: ResolvedImage;
  node: FsNode;
  /** What the first bytes say: "text", "ELF executable", "gzip archive", ... */
  kind: string;
  /** UTF-8 text (at most `limit` bytes of it), or null for binary content and non-files. */
  text: string | null;
  truncated: boolean;
  /** Where to download the file. */
  downloadUrl: string | null;
}

export type ChangeKind = 'content' | 'type' | 'mode' | 'owner' | 'link' | 'mtime';

export interface FsChange {
  path: string;
  type: string;
  /** Added, removed: the size; changed: after minus before. */
  sizeDelta: number;
  size: number;
  /** Changed: what differs. */
  changes?: ChangeKind[];
  before?: { type: string; mode: number; uid: number; gid: number; size: number; linkTarget?: string };
  after?: { type: string; mode: number; uid: number; gid: number; size: number; linkTarget?: string };
}

export interface ConfigChange {
  field: string;
  before: string | null;
  after: string | null;
}

/** GET /api/diff: what changed from one image to another. */
export interface ImageDiff {
  from: ResolvedImage;
  to: ResolvedImage;
  timestamps: boolean;
  config: ConfigChange[];
  layers: {
    shared: { digest: string; size: number }[];
    onlyFrom: { digest: string; size: number }[];
    onlyTo: { digest: string; size: number }[];
  };
  files: { added: FsChange[]; removed: FsChange[]; changed: FsChange[] };
  summary: { added: number; removed: number; changed: number; sizeDelta: number };
}

export type ArtifactKind = 'signature' | 'sbom' | 'attestation' | 'other';

export interface SignatureView {
  format: 'cosign' | 'notation';
  /** Cosign: the image digest the signed payload names; must equal the image's. */
  signedDigest: string | null;
  /** Cosign: the docker-reference in the payload. */
  identity: string | null;
  /** Certificate (keyless cosign, Notation x5c): subject, issuer, validity, SHA-256 fingerprint. */
  certificate: { subject: string; issuer: string; validFrom: string; validTo: string; fingerprint: string; emails?: string[] } | null;
  /** Notation: the signing agent and signed time; cosign: the payload's "optional" annotations. */
  details: Record<string, string>;
  /** The layer (cosign: one per signature) this is. */
  layerDigest: string;
  /** Base64 signature (cosign). */
  signature: string | null;
}

export interface ArtifactView {
  kind: ArtifactKind;
  /**
   * Where it was found: the referrers API, cosign's tag schema (sha256-<hex>.sig|.att|.sbom), or an
   * attestation manifest inside the image's index (docker buildx --sbom / --provenance).
   */
  via: 'referrers' | 'tag' | 'index';
  tag: string | null;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  annotations: Record<string, string>;
  created: string | null;
  signatures: SignatureView[];
  /** SBOM: its format and counts (packages: GET .../sbom/<digest>). */
  sbom: { format: 'spdx' | 'cyclonedx'; packages: number; name: string | null } | null;
  /** Attestations: the in-toto predicate types. */
  predicateTypes: string[];
  /** A SLSA provenance predicate: who built it, how, when, from what (the first 50 materials). */
  provenance: { builder: string | null; buildType: string | null; started: string | null; finished: string | null; materials: string[] } | null;
  /** Index attestations: the image (of the index) they describe, and its platform. */
  attests: { digest: string; platform: string | null } | null;
}

export interface ArtifactsView {
  subject: { repository: string; digest: string };
  artifacts: ArtifactView[];
  counts: Record<ArtifactKind, number>;
}

export interface SbomPackage {
  name: string;
  version: string | null;
  type: string | null;
  purl: string | null;
  licenses: string[];
  supplier: string | null;
}

export interface SbomView {
  digest: string;
  format: 'spdx' | 'cyclonedx';
  specVersion: string | null;
  name: string | null;
  created: string | null;
  tools: string[];
  packages: SbomPackage[];
  truncated: boolean;
}

export interface VerificationResult {
  artifact: string;
  layerDigest: string;
  verified: boolean;
  /** Why not, in words (wrong key, payload names another image, not ECDSA P-256 ...). */
  reason: string | null;
}

export interface VerifyView {
  subject: string;
  keyFingerprint: string;
  results: VerificationResult[];
  /** At least one signature verified with the key and names this image. */
  verified: boolean;
}
