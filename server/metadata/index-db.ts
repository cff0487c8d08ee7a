/**
 * The metadata index: repositories, tags and manifest summaries in nedb-promises, for listings
 * (catalog, tags, referrers) and the UI. It is derived data: the files in storage/ are the truth, and
 * registry/reindex.ts rebuilds this index from them whenever it is missing, corrupt, of another
 * version, or was not closed cleanly (a crash may have cut it off between a disk write and its record
 * here). nedb keeps every document in memory and appends changes to one file per collection.
 *
 * nedb rejects field names containing '.', and annotation keys always contain dots
 * ("org.opencontainers.image.created"), so annotations are stored as a JSON string.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import Datastore from 'nedb-promises';
import { writeFileAtomic } from '../storage/files.ts';

/** Bump when the documents change shape: an index of another version is rebuilt. */
const INDEX_VERSION = 1;

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

export interface ChildRef extends BlobRef {
  /** "os/arch[/variant]" when the index names the child's platform. */
  platform?: string;
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
  layers: BlobRef[];
  children: ChildRef[];
  /** "os/arch[/variant]" read from the image config. */
  platform?: string;
  /** The image config's "created" time. */
  created?: string;
  /** JSON of the manifest's annotations (see the note at the top). */
  annotations?: string;
  pushedAt: Date;
}

export type ManifestSummary = Omit<ManifestDoc, '_id' | 'repo' | 'digest' | 'pushedAt'>;

interface IndexState {
  version: number;
  clean: boolean;
}

export interface IndexOpenResult {
  /** Why the index must be rebuilt from storage, or null when it can be used as it is. */
  rebuildReason: string | null;
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

  constructor(dir: string, tmpDir: string) {
    this.dir = dir;
    this.tmpDir = tmpDir;
  }

  /** Loads the collections; reports whether they need a rebuild. Marks the index in use (not clean). */
  async open(): Promise<IndexOpenResult> {
    await fs.mkdir(this.dir, { recursive: true });
    const state = await this.readState();
    let rebuildReason: string | null = null;
    if (!state) rebuildReason = 'no index yet';
    else if (state.version !== INDEX_VERSION) rebuildReason = `index version ${state.version} is not ${INDEX_VERSION}`;
    else if (!state.clean) rebuildReason = 'the index was not closed cleanly';

    this.createStores();
    // Every load must have finished (each rewrites its file) before a failed one makes us delete the
    // files: Promise.all would reject on the first failure while the others still write.
    const loads = await Promise.allSettled([this.repositories.load(), this.tags.load(), this.manifests.load()]);
    const failed = loads.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      rebuildReason = `the index is corrupt (${(failed.reason as Error).message})`;
      await this.clearFiles();
      this.createStores();
      await Promise.all([this.repositories.load(), this.tags.load(), this.manifests.load()]);
    }
    await Promise.all([
      this.tags.ensureIndex({ fieldName: 'repo' }),
      this.manifests.ensureIndex({ fieldName: 'repo' }),
      this.manifests.ensureIndex({ fieldName: 'subject', sparse: true }),
    ]);
    await this.writeState({ version: INDEX_VERSION, clean: false });
    return { rebuildReason };
  }

  /** Compacts the files and marks the index clean, so the next start trusts it. */
  async close(): Promise<void> {
    await Promise.all([this.repositories, this.tags, this.manifests].map((store) => compact(store)));
    await this.writeState({ version: INDEX_VERSION, clean: true });
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
    await Promise.all([this.repositories, this.tags, this.manifests].map((store) => compact(store)));
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
    } else if (pushedAt && (!existing.lastPushAt || existing.lastPushAt < pushedAt)) {
      await this.repositories.update({ _id: name }, { $set: { lastPushAt: pushedAt } });
    }
  }

  async recordManifest(repo: string, digest: string, summary: ManifestSummary, pushedAt: Date): Promise<void> {
    await this.gate;
    const doc: ManifestDoc = { ...summary, _id: manifestId(repo, digest), repo, digest, pushedAt };
    await this.manifests.update({ _id: doc._id }, doc, { upsert: true });
  }

  async removeManifest(repo: string, digest: string): Promise<void> {
    await this.gate;
    await this.manifests.remove({ _id: manifestId(repo, digest) }, { multi: false });
  }

  async setTag(repo: string, tag: string, digest: string, pushedAt: Date): Promise<void> {
    await this.gate;
    const doc: TagDoc = { _id: tagId(repo, tag), repo, tag, digest, pushedAt };
    await this.tags.update({ _id: doc._id }, doc, { upsert: true });
  }

  async removeTag(repo: string, tag: string): Promise<void> {
    await this.gate;
    await this.tags.remove({ _id: tagId(repo, tag) }, { multi: false });
  }

  async removeTagsOf(repo: string, digest: string): Promise<void> {
    await this.gate;
    await this.tags.remove({ repo, digest }, { multi: true });
  }

  /** Forgets a repository and everything indexed under it (deleted, or emptied by garbage collection). */
  async removeRepository(name: string): Promise<void> {
    await this.gate;
    await Promise.all([
      this.tags.remove({ repo: name }, { multi: true }),
      this.manifests.remove({ repo: name }, { multi: true }),
    ]);
    await this.repositories.remove({ _id: name }, { multi: false });
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

  private createStores(): void {
    const store = <T>(name: string) =>
      Datastore.create({ filename: path.join(this.dir, `${name}.db`), autoload: false }) as unknown as Datastore<T>;
    this.repositories = store<RepositoryDoc>('repositories');
    this.tags = store<TagDoc>('tags');
    this.manifests = store<ManifestDoc>('manifests');
  }

  private async clearFiles(): Promise<void> {
    for (const name of ['repositories', 'tags', 'manifests']) {
      await fs.rm(path.join(this.dir, `${name}.db`), { force: true });
    }
  }

  private async readState(): Promise<IndexState | null> {
    try {
      const parsed = JSON.parse(await fs.readFile(path.join(this.dir, 'state.json'), 'utf8')) as Partial<IndexState>;
      if (typeof parsed.version !== 'number' || typeof parsed.clean !== 'boolean') return null;
      return { version: parsed.version, clean: parsed.clean };
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

/**
 * Rewrites a collection's file as one line per document (nedb's crash-safe write: temp file, fsync,
 * rename). nedb-promises forwards to @seald-io/nedb's compactDatafileAsync, which its typings omit.
 */
export function compact<T>(store: Datastore<T>): Promise<void> {
  return (store as unknown as { compactDatafileAsync(): Promise<void> }).compactDatafileAsync();
}

/**
 * Loads a collection that is not derived from anything (history, settings); one nedb cannot read is
 * renamed aside (its new name pushed to `setAside`) and a fresh one started, so a damaged file never
 * keeps the registry from starting.
 */
export async function loadOrSetAside<T>(filename: string, setAside: string[]): Promise<Datastore<T>> {
  const store = Datastore.create({ filename, autoload: false }) as unknown as Datastore<T>;
  try {
    await store.load();
    return store;
  } catch {
    const aside = `${filename}.unreadable-${Date.now()}`;
    await fs.rename(filename, aside);
    setAside.push(aside);
    const fresh = Datastore.create({ filename, autoload: false }) as unknown as Datastore<T>;
    await fresh.load();
    return fresh;
  }
}
