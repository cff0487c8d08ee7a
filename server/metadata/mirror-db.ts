/**
 * The pull-through cache's own state (mirror/), behind one small interface so that a shared database can
 * replace the nedb files here when several replicas serve one bucket:
 *   - upstreams added in the UI (settings the user typed; those of the config file are not stored);
 *   - their credentials, in a separate file of mode 0600 that nothing else reads, never logged;
 *   - per cached reference (a tag, or a digest pulled by digest): which manifest it resolved to, when it
 *     was last checked against the upstream and last used, and whether it is being served stale;
 *   - per upstream, running totals of the counters (hits, misses, bytes, stale serves, errors).
 * None of it is derived from the files of storage/: the cached content itself is ordinary repository
 * content (docker.io/library/alpine) and lives there; losing this store loses only check times, use times
 * and counters (a cached tag is then checked at its next pull and kept for another keep period).
 * Layout (storage/paths.ts): <data>/mirrors/{upstreams,refs,counters}.db and credentials.json.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type Datastore from 'nedb-promises';
import type { MirrorConfig } from '../config.ts';
import { writePrivateFile } from '../storage/files.ts';
import { compact, isDiskError, openNedb, setAside, StoreCorruptError, type NedbOptions } from './nedb-file.ts';

/** An upstream defined in the UI: the settings of a configured one (config.ts MirrorConfig), and when. */
export interface UpstreamDoc extends MirrorConfig {
  _id: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface UpstreamCredentials {
  username: string;
  password: string;
}

/** What the cache knows of one reference of a cached repository. */
export interface CachedRefDoc {
  _id: string;
  upstream: string;
  /** The cache repository (docker.io/library/alpine). */
  repository: string;
  /** A tag, or a digest the client pulled by digest. */
  reference: string;
  /** The manifest it resolved to when last fetched or checked. */
  digest: string;
  fetchedAt: Date;
  /** The last time the upstream confirmed (or gave) the digest; null: never checked since fetched by digest. */
  checkedAt: Date | null;
  /** The last time a client pulled it: expiry drops references unused for the upstream's keep period. */
  usedAt: Date;
  /** Set while the upstream fails and the cached copy is served instead. */
  staleSince: Date | null;
  lastError: string | null;
}

export interface CounterTotals {
  hits: number;
  misses: number;
  bytesFromCache: number;
  bytesFetched: number;
  staleServes: number;
  upstreamErrors: number;
  /** The last RateLimit-Remaining the upstream sent (Docker Hub: pulls left in its window). */
  rateLimitRemaining: number | null;
  rateLimitAt: Date | null;
}

export function emptyCounters(): CounterTotals {
  return { hits: 0, misses: 0, bytesFromCache: 0, bytesFetched: 0, staleServes: 0, upstreamErrors: 0, rateLimitRemaining: null, rateLimitAt: null };
}

export interface MirrorStore {
  /** Loads the store; a collection that cannot be read is set aside (named in the result) and started anew. */
  open(): Promise<{ setAside: string[] }>;
  /** Writes what is pending and compacts. */
  close(): Promise<void>;

  upstreams(): Promise<UpstreamDoc[]>;
  saveUpstream(doc: UpstreamDoc): Promise<void>;
  removeUpstream(name: string): Promise<void>;
  credentials(upstream: string): Promise<UpstreamCredentials | null>;
  /** Null removes them. */
  setCredentials(upstream: string, credentials: UpstreamCredentials | null): Promise<void>;

  cachedRef(repository: string, reference: string): Promise<CachedRefDoc | null>;
  saveCachedRef(doc: Omit<CachedRefDoc, '_id'>): Promise<void>;
  /** Records a use; written behind (a pull storm is not a write storm), read back at once by cachedRef(). */
  touchCachedRef(repository: string, reference: string, at: Date): void;
  /** Every cached reference, or one upstream's. */
  cachedRefs(upstream?: string): Promise<CachedRefDoc[]>;
  /** Forgets references: of one repository (all, or the ones named), or of a whole upstream. */
  removeCachedRefs(filter: { upstream: string } | { repository: string; references?: string[] }): Promise<number>;

  counters(): Promise<Map<string, CounterTotals>>;
  saveCounters(upstream: string, totals: CounterTotals): Promise<void>;
  removeCounters(upstream: string): Promise<void>;
}

/** How often recorded uses are written out (and on close). */
const TOUCH_FLUSH_MS = 15_000;

interface CounterDoc extends CounterTotals {
  _id: string;
}

export function cachedRefId(repository: string, reference: string): string {
  return `${repository}@@${reference}`;
}

export class NedbMirrorStore implements MirrorStore {
  private readonly dir: string;
  private readonly options: NedbOptions;
  private upstreamDocs!: Datastore<UpstreamDoc>;
  private refs!: Datastore<CachedRefDoc>;
  private counterDocs!: Datastore<CounterDoc>;
  private credentialsCache: Record<string, UpstreamCredentials> | null = null;
  /** Uses not yet written: id -> time. */
  private readonly touched = new Map<string, Date>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private opened = false;

  /** `onWriteFailure` hears of every write the disk refused (metadata/nedb-file.ts). */
  constructor(dir: string, onWriteFailure?: (err: Error, file: string) => void) {
    this.dir = dir;
    this.options = onWriteFailure ? { onWriteFailure } : {};
  }

  private get credentialsFile(): string {
    return path.join(this.dir, 'credentials.json');
  }

  async open(): Promise<{ setAside: string[] }> {
    await fs.mkdir(this.dir, { recursive: true });
    const setAside: string[] = [];
    this.upstreamDocs = await this.load<UpstreamDoc>('upstreams', setAside);
    this.refs = await this.load<CachedRefDoc>('refs', setAside);
    this.counterDocs = await this.load<CounterDoc>('counters', setAside);
    for (const fieldName of ['upstream', 'repository']) {
      try {
        await this.refs.ensureIndex({ fieldName });
      } catch (err) {
        if (!isDiskError(err)) throw err; // a full disk: the index lives in memory meanwhile
      }
    }
    this.opened = true;
    return { setAside };
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.flush();
    await Promise.all([compact(this.upstreamDocs), compact(this.refs), compact(this.counterDocs)]);
  }

  // ---- upstreams ------------------------------------------------------------------------------

  async upstreams(): Promise<UpstreamDoc[]> {
    return this.upstreamDocs.find<UpstreamDoc>({}).sort({ createdAt: 1 });
  }

  async saveUpstream(doc: UpstreamDoc): Promise<void> {
    await this.upstreamDocs.update({ _id: doc._id }, doc, { upsert: true });
    await compact(this.upstreamDocs);
  }

  async removeUpstream(name: string): Promise<void> {
    await this.upstreamDocs.remove({ _id: name }, { multi: false });
    await compact(this.upstreamDocs);
  }

  async credentials(upstream: string): Promise<UpstreamCredentials | null> {
    return (await this.readCredentials())[upstream] ?? null;
  }

  async setCredentials(upstream: string, credentials: UpstreamCredentials | null): Promise<void> {
    const all = { ...(await this.readCredentials()) };
    if (credentials) all[upstream] = { username: credentials.username, password: credentials.password };
    else delete all[upstream];
    // Mode 0600 from the moment the file exists (files.ts): nobody else on the machine reads them.
    await writePrivateFile(this.credentialsFile, `${JSON.stringify(all, null, 2)}\n`);
    this.credentialsCache = all;
  }

  private async readCredentials(): Promise<Record<string, UpstreamCredentials>> {
    if (this.credentialsCache) return this.credentialsCache;
    try {
      const parsed = JSON.parse(await fs.readFile(this.credentialsFile, 'utf8')) as unknown;
      const out: Record<string, UpstreamCredentials> = {};
      if (typeof parsed === 'object' && parsed !== null) {
        for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
          const v = value as Partial<UpstreamCredentials> | null;
          if (typeof v?.username === 'string' && typeof v.password === 'string') out[name] = { username: v.username, password: v.password };
        }
      }
      this.credentialsCache = out;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the upstream credentials in ${this.credentialsFile}: ${(err as Error).message}`);
      this.credentialsCache = {};
    }
    return this.credentialsCache;
  }

  // ---- cached references ----------------------------------------------------------------------

  async cachedRef(repository: string, reference: string): Promise<CachedRefDoc | null> {
    const id = cachedRefId(repository, reference);
    const doc = await this.refs.findOne<CachedRefDoc>({ _id: id });
    const used = this.touched.get(id);
    return doc && used && used > doc.usedAt ? { ...doc, usedAt: used } : doc;
  }

  async saveCachedRef(doc: Omit<CachedRefDoc, '_id'>): Promise<void> {
    const id = cachedRefId(doc.repository, doc.reference);
    const used = this.touched.get(id);
    const full: CachedRefDoc = { ...doc, _id: id, usedAt: used && used > doc.usedAt ? used : doc.usedAt };
    this.touched.delete(id);
    await this.refs.update({ _id: id }, full, { upsert: true });
  }

  touchCachedRef(repository: string, reference: string, at: Date): void {
    this.touched.set(cachedRefId(repository, reference), at);
    if (!this.flushTimer && this.opened) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        void this.flush();
      }, TOUCH_FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  async cachedRefs(upstream?: string): Promise<CachedRefDoc[]> {
    await this.flush();
    return this.refs.find<CachedRefDoc>(upstream === undefined ? {} : { upstream });
  }

  async removeCachedRefs(filter: { upstream: string } | { repository: string; references?: string[] }): Promise<number> {
    await this.flush();
    if ('upstream' in filter) return this.refs.remove({ upstream: filter.upstream }, { multi: true });
    const query = filter.references ? { repository: filter.repository, reference: { $in: filter.references } } : { repository: filter.repository };
    return this.refs.remove(query, { multi: true });
  }

  /** Writes the recorded uses, one after another (never two flushes at once). */
  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.touched.size === 0 || !this.opened) return;
      const batch = [...this.touched];
      this.touched.clear();
      for (const [id, at] of batch) {
        await this.refs.update({ _id: id, usedAt: { $lt: at } }, { $set: { usedAt: at } }, { multi: false });
      }
    });
    return this.flushing;
  }

  // ---- counters -------------------------------------------------------------------------------

  async counters(): Promise<Map<string, CounterTotals>> {
    const docs = await this.counterDocs.find<CounterDoc>({});
    return new Map(docs.map(({ _id, ...totals }) => [_id, { ...emptyCounters(), ...totals }]));
  }

  async saveCounters(upstream: string, totals: CounterTotals): Promise<void> {
    await this.counterDocs.update({ _id: upstream }, { ...totals, _id: upstream }, { upsert: true });
  }

  async removeCounters(upstream: string): Promise<void> {
    await this.counterDocs.remove({ _id: upstream }, { multi: false });
  }

  // ---- files ----------------------------------------------------------------------------------

  /** A collection whose contents cannot be read is moved aside (its documents that parse are kept). */
  private async load<T>(name: string, setAsideFiles: string[]): Promise<Datastore<T>> {
    const file = path.join(this.dir, `${name}.db`);
    try {
      return await openNedb<T>(file, this.options);
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      const { db, keptAs } = await setAside<T>(file, this.options);
      setAsideFiles.push(keptAs);
      return db;
    }
  }


}
