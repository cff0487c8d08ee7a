/**
 * The metadata index: repositories, tags and manifest summaries in nedb-promises, for listings
 * (catalog, tags, referrers) and the UI. It is derived data: the files in storage/ are the truth, and
 * registry/reindex.ts rebuilds this index from them whenever it is missing, corrupt, of another
 * version, or was not closed cleanly (a crash may have cut it off between a disk write and its record
 * here). nedb keeps every document in memory and appends changes to one file per collection.
 *
 * nedb rejects field names containing '.', and annotation keys always contain dots
 * ("org.opencontainers.image.created"), so annotations are stored as a JSON string.
 *
 * What it holds is what listings need, never every descriptor: a manifest's document has a fixed
 * size whatever the manifest lists (its layers and an index's children are read from the manifest
 * itself when a page needs them). nedb keeps every document in memory and appends every change to
 * its file, so the files are compacted every COMPACT_EVERY_MS and after COMPACT_AFTER_WRITES writes
 * to one collection (a tag pushed again and again otherwise grows its file without end).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import Datastore from 'nedb-promises';
import { isDiskError, openNedb, StoreCorruptError, StoreReadError, unsaved, compact, type NedbOptions } from './nedb-file.ts';
import { writeFileAtomic } from '../storage/files.ts';

/** Bump when the documents change shape: an index of another version is rebuilt. */
const INDEX_VERSION = 2;

/** Compaction of the collections' files: every ten minutes, and after this many writes to one. */
export const COMPACT_EVERY_MS = 10 * 60_000;
export const COMPACT_AFTER_WRITES = 1000;
/** A referrer's annotations are kept up to this size (JSON); larger ones are read from the manifest. */
export const MAX_INDEXED_ANNOTATIONS = 16 * 1024;
/** An index keeps at most this many distinct platforms of its children (real ones have a handful). */
export const MAX_INDEXED_PLATFORMS = 64;

/** The collections, one file each in index/, in the order of the fields below. */
const INDEX_FILES = ['repositories', 'tags', 'manifests'] as const;

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

interface IndexState {
  version: number;
  clean: boolean;
  /** The store the index describes (the driver's location); absent in indexes of older versions. */
  store?: string;
}

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

export class MetadataIndex {
  private readonly dir: string;
  private readonly tmpDir: string;
  private repositories!: Datastore<RepositoryDoc>;
  private tags!: Datastore<TagDoc>;
  private manifests!: Datastore<ManifestDoc>;
  /** Reads and writes wait here while a rebuild runs (see holdUntil). */
  private gate: Promise<unknown> = Promise.resolve();
  /**
   * The sorted repository names, kept between changes: the catalog is read far more often than a
   * repository is created, and sorting a thousand names per request is most of its cost.
   */
  private sortedNames: string[] | null = null;
  private readonly compactAfterWrites: number;
  /** Writes per collection since its file was last compacted. */
  private readonly writes = new Map<Datastore<never>, number>();
  private compactTimer: ReturnType<typeof setInterval> | null = null;

  private readonly options: NedbOptions;
  /** The store this index describes: another one in state.json (the storage settings changed) means a rebuild. */
  private readonly store: string | undefined;
  /** The files could not be read: the index lives in memory only, and its files are left alone. */
  private memoryOnly = false;

  /**
   * `onWriteFailure` hears of every write the disk refused: the index takes them in memory (it is
   * derived, and rebuilt at the next start when its files fell behind), but a full disk is news.
   */
  constructor(dir: string, tmpDir: string, options: { compactAfterWrites?: number; onWriteFailure?: (err: Error, file: string) => void; store?: string } = {}) {
    this.dir = dir;
    this.tmpDir = tmpDir;
    this.store = options.store;
    this.compactAfterWrites = options.compactAfterWrites ?? COMPACT_AFTER_WRITES;
    this.options = { derived: true, ...(options.onWriteFailure ? { onWriteFailure: options.onWriteFailure } : {}) };
  }

  /** Loads the collections; reports whether they need a rebuild. Marks the index in use (not clean). */
  async open(): Promise<IndexOpenResult> {
    await fs.mkdir(this.dir, { recursive: true });
    const state = await this.readState();
    let rebuildReason: string | null = null;
    if (!state) rebuildReason = 'no index yet';
    else if (state.version !== INDEX_VERSION) rebuildReason = `index version ${state.version} is not ${INDEX_VERSION}`;
    else if (!state.clean) rebuildReason = 'the index was not closed cleanly';
    else if (this.store && state.store && state.store !== this.store) rebuildReason = `the storage changed (the index described ${state.store})`;

    // Every load must have finished (each may rewrite its file) before a failed one makes us delete
    // the files: Promise.all would reject on the first failure while the others still write. Damaged
    // contents are a reason to start over. A file the disk cannot read (EIO) is left as it is: the
    // index is built in memory instead (it is derived, so nothing is lost) and not saved while the
    // disk fails; the next start tries the file again.
    this.memoryOnly = false;
    const loads = await Promise.allSettled(INDEX_FILES.map((name) => openNedb(path.join(this.dir, `${name}.db`), this.options)));
    const failure = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason as Error) : null);
    const other = loads.map(failure).find((err) => err && !(err instanceof StoreCorruptError) && !(err instanceof StoreReadError));
    if (other) throw other;
    const corrupt = loads.map(failure).find((err) => err instanceof StoreCorruptError);
    const unreadable = loads.map(failure).find((err): err is StoreReadError => err instanceof StoreReadError);
    if (unreadable) {
      rebuildReason = `${unreadable.message}; the index is rebuilt in memory and not saved until the disk can be read`;
      this.memoryOnly = true;
      this.useStores(INDEX_FILES.map(() => Datastore.create({ inMemoryOnly: true }) as unknown as Datastore<unknown>));
    } else if (corrupt) {
      rebuildReason = `the index is corrupt (${corrupt.message})`;
      await this.clearFiles();
      await this.openStores();
    } else {
      this.useStores(loads.map((r) => (r as PromiseFulfilledResult<Datastore<unknown>>).value));
    }
    await Promise.all([
      this.tags.ensureIndex({ fieldName: 'repo' }),
      this.manifests.ensureIndex({ fieldName: 'repo' }),
      this.manifests.ensureIndex({ fieldName: 'subject', sparse: true }),
    ]);
    try {
      await this.writeState({ version: INDEX_VERSION, clean: false, ...(this.store ? { store: this.store } : {}) });
    } catch (err) {
      if (!isDiskError(err)) throw err;
      // A full disk cannot take the new state.json, but removing the old one needs no space, and "no
      // state" means the same as "not clean" to the next start: rebuild.
      await fs.rm(path.join(this.dir, 'state.json'), { force: true });
    }
    this.compactTimer = setInterval(() => {
      for (const store of this.stores()) this.compactNow(store);
    }, COMPACT_EVERY_MS);
    this.compactTimer.unref();
    return { rebuildReason, memoryOnly: this.memoryOnly };
  }

  /**
   * Compacts the files and marks the index clean, so the next start trusts it; when the disk refused
   * to write a change, it stays marked unclean and the next start rebuilds it.
   */
  async close(): Promise<void> {
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.compactTimer = null;
    if (this.memoryOnly) return;
    const stores = this.stores();
    await Promise.all(stores.map((store) => compact(store)));
    if (stores.some((store) => unsaved(store))) return;
    try {
      await this.writeState({ version: INDEX_VERSION, clean: true, ...(this.store ? { store: this.store } : {}) });
    } catch (err) {
      // A full disk: the old state.json (not clean) or none stays, and the next start rebuilds.
      if (!isDiskError(err)) throw err;
    }
  }

  private stores(): Datastore<never>[] {
    return [this.repositories, this.tags, this.manifests] as unknown as Datastore<never>[];
  }

  /** Counts a write to `store`, compacting its file once enough have piled up. */
  private wrote(store: Datastore<unknown>): void {
    const key = store as unknown as Datastore<never>;
    const count = (this.writes.get(key) ?? 0) + 1;
    if (count < this.compactAfterWrites) this.writes.set(key, count);
    else this.compactNow(key);
  }

  /** Compaction runs in nedb's queue after the writes before it; a failure is retried at the next turn. */
  private compactNow(store: Datastore<never>): void {
    if ((this.writes.get(store) ?? 0) === 0) return;
    this.writes.set(store, 0);
    compact(store).catch(() => this.writes.set(store, this.compactAfterWrites));
  }

  /**
   * Makes every read and write wait for `work` (a rebuild), so nothing reads a half-built index and no
   * write is lost under the rebuild's replaceAll().
   */
  holdUntil(work: Promise<unknown>): void {
    this.gate = work.catch(() => undefined);
  }

  /** Resolves once any rebuild in progress has finished. */
  async ready(): Promise<void> {
    await this.gate;
  }

  /** Replaces the whole index (a rebuild; does not wait for the gate, it is what the gate waits for). */
  async replaceAll(docs: { repositories: RepositoryDoc[]; tags: TagDoc[]; manifests: ManifestDoc[] }): Promise<void> {
    await Promise.all([
      this.repositories.remove({}, { multi: true }),
      this.tags.remove({}, { multi: true }),
      this.manifests.remove({}, { multi: true }),
    ]);
    await Promise.all([
      docs.repositories.length ? this.repositories.insert(docs.repositories) : null,
      docs.tags.length ? this.tags.insert(docs.tags) : null,
      docs.manifests.length ? this.manifests.insert(docs.manifests) : null,
    ]);
    await Promise.all(this.stores().map((store) => compact(store)));
    this.writes.clear();
    this.sortedNames = null;
  }

  /** Every manifest document, keyed by id: a rebuild reuses summaries of manifests it still finds. */
  async allManifests(): Promise<Map<string, ManifestDoc>> {
    const docs = await this.manifests.find<ManifestDoc>({});
    return new Map(docs.map((d) => [d._id, d]));
  }

  // ---- writes ---------------------------------------------------------------------------------

  async touchRepository(name: string, pushedAt: Date | null): Promise<void> {
    await this.gate;
    const existing = await this.repositories.findOne<RepositoryDoc>({ _id: name });
    if (!existing) {
      await this.repositories.insert<RepositoryDoc>({ _id: name, name, createdAt: pushedAt ?? new Date(), lastPushAt: pushedAt });
      this.sortedNames = null;
      this.wrote(this.repositories);
    } else if (pushedAt && (!existing.lastPushAt || existing.lastPushAt < pushedAt)) {
      await this.repositories.update({ _id: name }, { $set: { lastPushAt: pushedAt } });
      this.wrote(this.repositories);
    }
  }

  async recordManifest(repo: string, digest: string, summary: ManifestSummary, pushedAt: Date): Promise<void> {
    await this.gate;
    const doc: ManifestDoc = { ...summary, _id: manifestId(repo, digest), repo, digest, pushedAt };
    await this.manifests.update({ _id: doc._id }, doc, { upsert: true });
    this.wrote(this.manifests);
  }

  async removeManifest(repo: string, digest: string): Promise<void> {
    await this.gate;
    await this.manifests.remove({ _id: manifestId(repo, digest) }, { multi: false });
    this.wrote(this.manifests);
  }

  async setTag(repo: string, tag: string, digest: string, pushedAt: Date): Promise<void> {
    await this.gate;
    const doc: TagDoc = { _id: tagId(repo, tag), repo, tag, digest, pushedAt };
    await this.tags.update({ _id: doc._id }, doc, { upsert: true });
    this.wrote(this.tags);
  }

  async removeTag(repo: string, tag: string): Promise<void> {
    await this.gate;
    await this.tags.remove({ _id: tagId(repo, tag) }, { multi: false });
    this.wrote(this.tags);
  }

  async removeTagsOf(repo: string, digest: string): Promise<void> {
    await this.gate;
    await this.tags.remove({ repo, digest }, { multi: true });
    this.wrote(this.tags);
  }

  /** Forgets a repository and everything indexed under it (deleted, or emptied by garbage collection). */
  async removeRepository(name: string): Promise<void> {
    await this.gate;
    await Promise.all([
      this.tags.remove({ repo: name }, { multi: true }),
      this.manifests.remove({ repo: name }, { multi: true }),
    ]);
    await this.repositories.remove({ _id: name }, { multi: false });
    for (const store of this.stores()) this.wrote(store);
    this.sortedNames = null;
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Every repository name in lexical order (callers must not modify the array). */
  async repositoryNames(): Promise<readonly string[]> {
    await this.gate;
    if (!this.sortedNames) {
      const docs = await this.repositories.find<RepositoryDoc>({}).project({ name: 1, _id: 0 });
      this.sortedNames = docs.map((d: Pick<RepositoryDoc, 'name'>) => d.name).sort(compareCodeUnits);
    }
    return this.sortedNames;
  }

  async hasRepository(name: string): Promise<boolean> {
    await this.gate;
    return (await this.repositories.count({ _id: name })) > 0;
  }

  async tagNames(repo: string): Promise<string[]> {
    await this.gate;
    const docs = await this.tags.find<TagDoc>({ repo }).project({ tag: 1, _id: 0 });
    return docs.map((d: Pick<TagDoc, 'tag'>) => d.tag).sort(compareCodeUnits);
  }

  async referrers(repo: string, subject: string): Promise<ManifestDoc[]> {
    await this.gate;
    return this.manifests.find<ManifestDoc>({ subject, repo });
  }

  async manifest(repo: string, digest: string): Promise<ManifestDoc | null> {
    await this.gate;
    return this.manifests.findOne<ManifestDoc>({ _id: manifestId(repo, digest) });
  }

  /** Repository documents: all of them, or the one named. */
  async repositoryDocs(name?: string): Promise<RepositoryDoc[]> {
    await this.gate;
    return this.repositories.find<RepositoryDoc>(name === undefined ? {} : { _id: name });
  }

  /** Tag documents: all, of one repository, or of one repository pointing to one digest. */
  async tagDocs(repo?: string, digest?: string): Promise<TagDoc[]> {
    await this.gate;
    return this.tags.find<TagDoc>({ ...(repo !== undefined ? { repo } : {}), ...(digest !== undefined ? { digest } : {}) });
  }

  /** Manifest documents: all, or of one repository. */
  async manifestDocs(repo?: string): Promise<ManifestDoc[]> {
    await this.gate;
    return this.manifests.find<ManifestDoc>(repo === undefined ? {} : { repo });
  }

  // ---- files ----------------------------------------------------------------------------------

  private async openStores(): Promise<void> {
    this.useStores(await Promise.all(INDEX_FILES.map((name) => openNedb(path.join(this.dir, `${name}.db`), this.options))));
  }

  private useStores(stores: Datastore<unknown>[]): void {
    [this.repositories, this.tags, this.manifests] = stores as [Datastore<RepositoryDoc>, Datastore<TagDoc>, Datastore<ManifestDoc>];
  }

  private async clearFiles(): Promise<void> {
    for (const name of INDEX_FILES) {
      await fs.rm(path.join(this.dir, `${name}.db`), { force: true });
    }
  }

  private async readState(): Promise<IndexState | null> {
    try {
      const parsed = JSON.parse(await fs.readFile(path.join(this.dir, 'state.json'), 'utf8')) as Partial<IndexState>;
      if (typeof parsed.version !== 'number' || typeof parsed.clean !== 'boolean') return null;
      return { version: parsed.version, clean: parsed.clean, ...(typeof parsed.store === 'string' ? { store: parsed.store } : {}) };
    } catch {
      return null;
    }
  }

  private async writeState(state: IndexState): Promise<void> {
    await writeFileAtomic(this.tmpDir, path.join(this.dir, 'state.json'), JSON.stringify(state));
  }
}

/** Plain code-unit order: what the spec's "lexical order" means for tags and repositories. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

