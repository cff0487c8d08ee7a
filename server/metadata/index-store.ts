/**
 * The metadata index's interface: repositories, tags and manifest summaries for listings (catalog,
 * tags, referrers) and the UI. It is derived data: the files in storage/ are the truth, and
 * registry/reindex.ts rebuilds the index from them whenever it is in doubt. Two implementations:
 * index-db.ts (nedb files in <data>/index/, one server) and postgres/index-store.ts (tables shared by
 * every replica of a cluster, issue 16).
 *
 * What it holds is what listings need, never every descriptor: a manifest's document has a fixed
 * size whatever the manifest lists (its layers and an index's children are read from the manifest
 * itself when a page needs them). Annotations are kept as a JSON string (nedb rejects field names
 * containing '.', and annotation keys always contain dots).
 */

/** Bump when the documents change shape: an index of another version is rebuilt. */
export const INDEX_VERSION = 2;

/** A referrer's annotations are kept up to this size (JSON); larger ones are read from the manifest. */
export const MAX_INDEXED_ANNOTATIONS = 16 * 1024;
/** An index keeps at most this many distinct platforms of its children (real ones have a handful). */
export const MAX_INDEXED_PLATFORMS = 64;

export interface RepositoryDoc {
  _id: string;
  name: string;
  createdAt: Date;
  lastPushAt: Date | null;
}

export interface TagDoc {
  _id: string;
  repo: string;
  tag: string;
  digest: string;
  pushedAt: Date;
}

export interface BlobRef {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ManifestDoc {
  _id: string;
  repo: string;
  digest: string;
  mediaType: string;
  /** Bytes of the manifest itself. */
  size: number;
  /** Config + layers for an image; the children's totals for an index (as far as they are known). */
  totalSize: number;
  artifactType?: string;
  subject?: string;
  config?: BlobRef;
  /** An image's layers, or an index's child manifests: how many (the manifest lists them). */
  descriptorCount: number;
  /** "os/arch[/variant]" read from the image config. */
  platform?: string;
  /** An index: the distinct platforms its children name (at most MAX_INDEXED_PLATFORMS). */
  platforms?: string[];
  /** The image config's "created" time. */
  created?: string;
  /**
   * A referrer's annotations as JSON (see the note at the top), for the referrers listing; absent
   * for other manifests, and when larger than MAX_INDEXED_ANNOTATIONS (then `annotationsInManifest`).
   */
  annotations?: string;
  annotationsInManifest?: boolean;
  pushedAt: Date;
}

export type ManifestSummary = Omit<ManifestDoc, '_id' | 'repo' | 'digest' | 'pushedAt'>;

export interface IndexOpenResult {
  /** Why the index must be rebuilt from storage, or null when it can be used as it is. */
  rebuildReason: string | null;
  /** Its files could not be read (EIO): it is rebuilt in memory and not saved. */
  memoryOnly: boolean;
}

export function tagId(repo: string, tag: string): string {
  return `${repo}:${tag}`;
}

export function manifestId(repo: string, digest: string): string {
  return `${repo}@${digest}`;
}


/** The documents of a whole index, as a rebuild writes them. */
export interface IndexContents {
  repositories: RepositoryDoc[];
  tags: TagDoc[];
  manifests: ManifestDoc[];
}

export interface IndexStore {
  /** Loads (or connects to) the index; reports whether it needs a rebuild. */
  open(): Promise<IndexOpenResult>;
  /** Leaves the index so that the next start can trust it (when it can). */
  close(): Promise<void>;
  /**
   * Runs `work` (a rebuild) while every write to the index waits, here and, for a shared index, on
   * every replica: no write is lost under its replaceAll(). Reads go on meanwhile where they can.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Makes this process's reads and writes wait for `work` (the rebuild at start). */
  holdUntil(work: Promise<unknown>): void;
  /** Resolves once any rebuild in progress (in this process) has finished. */
  ready(): Promise<void>;
  /** Replaces the whole index (a rebuild, inside exclusive()). */
  replaceAll(docs: IndexContents): Promise<void>;
  /** Every manifest document, keyed by id: a rebuild reuses summaries of manifests it still finds. */
  allManifests(): Promise<Map<string, ManifestDoc>>;

  touchRepository(name: string, pushedAt: Date | null): Promise<void>;
  recordManifest(repo: string, digest: string, summary: ManifestSummary, pushedAt: Date): Promise<void>;
  removeManifest(repo: string, digest: string): Promise<void>;
  setTag(repo: string, tag: string, digest: string, pushedAt: Date): Promise<void>;
  removeTag(repo: string, tag: string): Promise<void>;
  removeTagsOf(repo: string, digest: string): Promise<void>;
  /** Forgets a repository and everything indexed under it (deleted, or emptied by garbage collection). */
  removeRepository(name: string): Promise<void>;

  /** Every repository name in lexical order (callers must not modify the array). */
  repositoryNames(): Promise<readonly string[]>;
  hasRepository(name: string): Promise<boolean>;
  /** A repository's tag names in lexical order. */
  tagNames(repo: string): Promise<string[]>;
  referrers(repo: string, subject: string): Promise<ManifestDoc[]>;
  manifest(repo: string, digest: string): Promise<ManifestDoc | null>;
  /** Repository documents: all of them, or the one named. */
  repositoryDocs(name?: string): Promise<RepositoryDoc[]>;
  /** Tag documents: all, of one repository, or of one repository pointing to one digest. */
  tagDocs(repo?: string, digest?: string): Promise<TagDoc[]>;
  /** Manifest documents: all, or of one repository. */
  manifestDocs(repo?: string): Promise<ManifestDoc[]>;
}

/** Plain code-unit order: what the spec's "lexical order" means for tags and repositories. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
