/**
 * The pull-through cache's state (../mirror-db.ts MirrorStore) in the shared database: upstreams added
 * in the UI, their credentials (a table of their own: nothing else reads it), cached references, and
 * counters that every replica adds to. Uses of a cached reference are written behind (a pull storm is
 * not a write storm), as with nedb.
 */
import { emptyCounters, cachedRefId, type CachedRefDoc, type CounterTotals, type MirrorStore, type UpstreamCredentials, type UpstreamDoc } from '../mirror-db.ts';
import type { Database } from './database.ts';
import { decodeDoc, encodeDoc } from './docs.ts';

const TOUCH_FLUSH_MS = 15_000;

interface CounterRow {
  upstream: string;
  hits: number;
  misses: number;
  bytes_from_cache: number;
  bytes_fetched: number;
  stale_serves: number;
  upstream_errors: number;
  rate_limit_remaining: number | null;
  rate_limit_at: Date | null;
}

export class PostgresMirrorStore implements MirrorStore {
  private readonly db: Database;
  private readonly touched = new Map<string, Date>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(db: Database) {
    this.db = db;
  }

  async open(): Promise<{ setAside: string[] }> {
    return { setAside: [] };
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.flush().catch(() => undefined);
  }

  async upstreams(): Promise<UpstreamDoc[]> {
    const rows = await this.db.query<{ name: string; doc: unknown }>('SELECT name, doc FROM mirror_upstreams ORDER BY created_at');
    return rows.map((r) => decodeDoc<UpstreamDoc>(r.doc, r.name));
  }

  async saveUpstream(doc: UpstreamDoc): Promise<void> {
    await this.db.query(
      'INSERT INTO mirror_upstreams (name, created_at, doc) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc',
      [doc._id, doc.createdAt, encodeDoc(doc)],
    );
  }

  async removeUpstream(name: string): Promise<void> {
    await this.db.query('DELETE FROM mirror_upstreams WHERE name = $1', [name]);
  }

  async credentials(upstream: string): Promise<UpstreamCredentials | null> {
    const [row] = await this.db.query<{ username: string; password: string }>('SELECT username, password FROM mirror_credentials WHERE upstream = $1', [upstream]);
    return row ? { username: row.username, password: row.password } : null;
  }

  async setCredentials(upstream: string, credentials: UpstreamCredentials | null): Promise<void> {
    if (!credentials) {
      await this.db.query('DELETE FROM mirror_credentials WHERE upstream = $1', [upstream]);
      return;
    }
    await this.db.query(
      'INSERT INTO mirror_credentials (upstream, username, password) VALUES ($1, $2, $3) ON CONFLICT (upstream) DO UPDATE SET username = EXCLUDED.username, password = EXCLUDED.password',
      [upstream, credentials.username, credentials.password],
    );
  }

  async cachedRef(repository: string, reference: string): Promise<CachedRefDoc | null> {
    const id = cachedRefId(repository, reference);
    const [row] = await this.db.query<{ id: string; doc: unknown; used_at: Date }>('SELECT id, doc, used_at FROM mirror_refs WHERE id = $1', [id]);
    if (!row) return null;
    const doc = { ...decodeDoc<CachedRefDoc>(row.doc, row.id), usedAt: row.used_at };
    const used = this.touched.get(id);
    return used && used > doc.usedAt ? { ...doc, usedAt: used } : doc;
  }

  async saveCachedRef(doc: Omit<CachedRefDoc, '_id'>): Promise<void> {
    const id = cachedRefId(doc.repository, doc.reference);
    const used = this.touched.get(id);
    const full: CachedRefDoc = { ...doc, _id: id, usedAt: used && used > doc.usedAt ? used : doc.usedAt };
    this.touched.delete(id);
    await this.db.query(
      `INSERT INTO mirror_refs (id, upstream, repository, reference, used_at, doc) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET upstream = EXCLUDED.upstream, used_at = GREATEST(mirror_refs.used_at, EXCLUDED.used_at), doc = EXCLUDED.doc`,
      [id, full.upstream, full.repository, full.reference, full.usedAt, encodeDoc(full)],
    );
  }

  touchCachedRef(repository: string, reference: string, at: Date): void {
    this.touched.set(cachedRefId(repository, reference), at);
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        void this.flush().catch(() => undefined);
      }, TOUCH_FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  async cachedRefs(upstream?: string): Promise<CachedRefDoc[]> {
    await this.flush().catch(() => undefined);
    const rows = upstream === undefined
      ? await this.db.query<{ id: string; doc: unknown; used_at: Date }>('SELECT id, doc, used_at FROM mirror_refs')
      : await this.db.query<{ id: string; doc: unknown; used_at: Date }>('SELECT id, doc, used_at FROM mirror_refs WHERE upstream = $1', [upstream]);
    return rows.map((r) => ({ ...decodeDoc<CachedRefDoc>(r.doc, r.id), usedAt: r.used_at }));
  }

  async removeCachedRefs(filter: { upstream: string } | { repository: string; references?: string[] }): Promise<number> {
    await this.flush().catch(() => undefined);
    if ('upstream' in filter) return (await this.db.query('DELETE FROM mirror_refs WHERE upstream = $1 RETURNING id', [filter.upstream])).length;
    if (filter.references) {
      return (await this.db.query('DELETE FROM mirror_refs WHERE repository = $1 AND reference = ANY($2) RETURNING id', [filter.repository, filter.references])).length;
    }
    return (await this.db.query('DELETE FROM mirror_refs WHERE repository = $1 RETURNING id', [filter.repository])).length;
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(async () => {
      if (this.touched.size === 0) return;
      const batch = [...this.touched];
      this.touched.clear();
      await this.db.query(
        'UPDATE mirror_refs SET used_at = u.at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) WHERE mirror_refs.id = u.id AND mirror_refs.used_at < u.at',
        [batch.map(([id]) => id), batch.map(([, at]) => at)],
      );
    });
    return this.flushing;
  }

  async counters(): Promise<Map<string, CounterTotals>> {
    const rows = await this.db.query<CounterRow>('SELECT * FROM mirror_counters');
    return new Map(rows.map((r) => [r.upstream, totalsOf(r)]));
  }

  async addCounters(upstream: string, delta: CounterTotals): Promise<CounterTotals> {
    const [row] = await this.db.query<CounterRow>(
      `INSERT INTO mirror_counters AS c (upstream, hits, misses, bytes_from_cache, bytes_fetched, stale_serves, upstream_errors, rate_limit_remaining, rate_limit_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (upstream) DO UPDATE SET
         hits = c.hits + EXCLUDED.hits, misses = c.misses + EXCLUDED.misses,
         bytes_from_cache = c.bytes_from_cache + EXCLUDED.bytes_from_cache, bytes_fetched = c.bytes_fetched + EXCLUDED.bytes_fetched,
         stale_serves = c.stale_serves + EXCLUDED.stale_serves, upstream_errors = c.upstream_errors + EXCLUDED.upstream_errors,
         rate_limit_remaining = CASE WHEN EXCLUDED.rate_limit_at IS NULL THEN c.rate_limit_remaining ELSE EXCLUDED.rate_limit_remaining END,
         rate_limit_at = COALESCE(EXCLUDED.rate_limit_at, c.rate_limit_at)
       RETURNING *`,
      [upstream, delta.hits, delta.misses, delta.bytesFromCache, delta.bytesFetched, delta.staleServes, delta.upstreamErrors, delta.rateLimitRemaining, delta.rateLimitAt],
    );
    return row ? totalsOf(row) : emptyCounters();
  }

  async removeCounters(upstream: string): Promise<void> {
    await this.db.query('DELETE FROM mirror_counters WHERE upstream = $1', [upstream]);
  }
}

function totalsOf(r: CounterRow): CounterTotals {
  return {
    hits: r.hits, misses: r.misses, bytesFromCache: r.bytes_from_cache, bytesFetched: r.bytes_fetched,
    staleServes: r.stale_serves, upstreamErrors: r.upstream_errors, rateLimitRemaining: r.rate_limit_remaining, rateLimitAt: r.rate_limit_at,
  };
}
