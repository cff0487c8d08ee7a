/**
 * The metadata index (../index-store.ts) in the shared database, for every replica of a cluster.
 *
 * Each write is one statement (an upsert or a delete), so replicas writing at once never lose each
 * other's changes. A rebuild runs in one transaction that first locks the three tables in EXCLUSIVE
 * mode: writes on every replica wait until it commits (no write is lost under its replace), while reads
 * go on, seeing the old index until the new one is committed whole.
 *
 * When to rebuild: there is no index yet, it is of another version, or a replica stopped without
 * closing (killed, crashed: a write may have reached storage and not the index). Every replica
 * registers in berth_replicas and holds its presence lock (database.ts) while it runs, and removes its
 * row when it closes; a row whose replica holds no presence lock is one that died, and the replica that
 * finds it (and removes it, so only one does) rebuilds.
 */
import type pg from 'pg';
import {
  compareCodeUnits, INDEX_VERSION, manifestId, tagId,
  type IndexContents, type IndexOpenResult, type IndexStore, type ManifestDoc, type ManifestSummary, type RepositoryDoc, type TagDoc,
} from '../index-store.ts';
import type { Database } from './database.ts';

/** Rows per INSERT of a rebuild. */
const BATCH = 2000;

type Queryable = Pick<pg.ClientBase, 'query'>;

interface ManifestRow {
  repo: string;
  digest: string;
  summary: ManifestSummary;
  pushed_at: Date;
}

export class PostgresIndex implements IndexStore {
  private readonly db: Database;
  /** The rebuild's own connection while it runs (its transaction holds the table locks). */
  private rebuilding: pg.Client | null = null;
  private gate: Promise<unknown> = Promise.resolve();

  constructor(db: Database) {
    this.db = db;
  }

  async open(): Promise<IndexOpenResult> {
    await this.db.query('INSERT INTO berth_replicas (id, presence_key, started_at) VALUES ($1, $2, now())', [this.db.replicaId, this.db.presenceKey]);
    const others = await this.db.query<{ id: string; presence_key: number; clean: boolean }>('SELECT id, presence_key, clean FROM berth_replicas WHERE id <> $1', [this.db.replicaId]);
    const dead: string[] = [];
    for (const row of others) if (!(await this.db.replicaAlive(row.presence_key))) dead.push(row.id);
    const removed = dead.length > 0
      ? await this.db.query<{ id: string }>('DELETE FROM berth_replicas WHERE id = ANY($1) RETURNING id', [dead])
      : [];
    const [state] = await this.db.query<{ version: number }>('SELECT version FROM index_state WHERE id = 1');
    let rebuildReason: string | null = null;
    if (!state) rebuildReason = 'no index yet';
    else if (state.version !== INDEX_VERSION) rebuildReason = `index version ${state.version} is not ${INDEX_VERSION}`;
    else if (removed.length > 0) rebuildReason = `${removed.length === 1 ? 'a replica' : `${removed.length} replicas`} stopped without closing`;
    return { rebuildReason, memoryOnly: false };
  }

  async close(): Promise<void> {
    await this.db.query('DELETE FROM berth_replicas WHERE id = $1', [this.db.replicaId]).catch(() => undefined);
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const running = this.db.withOwnClient(async (client) => {
      await client.query('BEGIN');
      try {
        await client.query('LOCK TABLE index_repositories, index_tags, index_manifests IN EXCLUSIVE MODE');
        this.rebuilding = client;
        const result = await work();
        await client.query(
          `INSERT INTO index_state (id, version, built_at) VALUES (1, $1, now())
           ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, built_at = EXCLUDED.built_at`,
          [INDEX_VERSION],
        );
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        this.rebuilding = null;
      }
    });
    return running;
  }

  holdUntil(work: Promise<unknown>): void {
    this.gate = work.catch(() => undefined);
  }

  async ready(): Promise<void> {
    await this.gate;
  }

  async replaceAll(docs: IndexContents): Promise<void> {
    const client = this.rebuilding;
    if (!client) throw new Error('replaceAll() runs inside exclusive()');
    await client.query('DELETE FROM index_tags');
    await client.query('DELETE FROM index_manifests');
    await client.query('DELETE FROM index_repositories');
    for (let i = 0; i < docs.repositories.length; i += BATCH) {
      const part = docs.repositories.slice(i, i + BATCH);
      await client.query(
        'INSERT INTO index_repositories (name, created_at, last_push_at) SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])',
        [part.map((r) => r.name), part.map((r) => r.createdAt), part.map((r) => r.lastPushAt)],
      );
    }
    for (let i = 0; i < docs.tags.length; i += BATCH) {
      const part = docs.tags.slice(i, i + BATCH);
      await client.query(
        'INSERT INTO index_tags (repo, tag, digest, pushed_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])',
        [part.map((t) => t.repo), part.map((t) => t.tag), part.map((t) => t.digest), part.map((t) => t.pushedAt)],
      );
    }
    for (let i = 0; i < docs.manifests.length; i += BATCH) {
      const part = docs.manifests.slice(i, i + BATCH);
      await client.query(
        'INSERT INTO index_manifests (repo, digest, subject, summary, pushed_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])',
        [part.map((m) => m.repo), part.map((m) => m.digest), part.map((m) => m.subject ?? null), part.map((m) => JSON.stringify(summaryOf(m))), part.map((m) => m.pushedAt)],
      );
    }
  }

  async allManifests(): Promise<Map<string, ManifestDoc>> {
    const source: Queryable = this.rebuilding ?? { query: (text: string) => this.db.query(text).then((rows) => ({ rows })) } as unknown as Queryable;
    const { rows } = await source.query<ManifestRow>('SELECT repo, digest, summary, pushed_at FROM index_manifests');
    return new Map(rows.map((r) => [manifestId(r.repo, r.digest), manifestDoc(r)]));
  }

  // ---- writes ---------------------------------------------------------------------------------

  async touchRepository(name: string, pushedAt: Date | null): Promise<void> {
    await this.db.query(
      `INSERT INTO index_repositories (name, created_at, last_push_at) VALUES ($1, COALESCE($2, now()), $2)
       ON CONFLICT (name) DO UPDATE SET last_push_at = GREATEST(index_repositories.last_push_at, EXCLUDED.last_push_at)
       WHERE EXCLUDED.last_push_at IS NOT NULL`,
      [name, pushedAt],
    );
  }

  async recordManifest(repo: string, digest: string, summary: ManifestSummary, pushedAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO index_manifests (repo, digest, subject, summary, pushed_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (repo, digest) DO UPDATE SET subject = EXCLUDED.subject, summary = EXCLUDED.summary, pushed_at = EXCLUDED.pushed_at`,
      [repo, digest, summary.subject ?? null, JSON.stringify(summaryOf(summary)), pushedAt],
    );
  }

  async removeManifest(repo: string, digest: string): Promise<void> {
    await this.db.query('DELETE FROM index_manifests WHERE repo = $1 AND digest = $2', [repo, digest]);
  }

  async setTag(repo: string, tag: string, digest: string, pushedAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO index_tags (repo, tag, digest, pushed_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (repo, tag) DO UPDATE SET digest = EXCLUDED.digest, pushed_at = EXCLUDED.pushed_at`,
      [repo, tag, digest, pushedAt],
    );
  }

  async removeTag(repo: string, tag: string): Promise<void> {
    await this.db.query('DELETE FROM index_tags WHERE repo = $1 AND tag = $2', [repo, tag]);
  }

  async removeTagsOf(repo: string, digest: string): Promise<void> {
    await this.db.query('DELETE FROM index_tags WHERE repo = $1 AND digest = $2', [repo, digest]);
  }

  async removeRepository(name: string): Promise<void> {
    await this.db.query(
      `WITH t AS (DELETE FROM index_tags WHERE repo = $1), m AS (DELETE FROM index_manifests WHERE repo = $1)
       DELETE FROM index_repositories WHERE name = $1`,
      [name],
    );
  }

  // ---- reads ----------------------------------------------------------------------------------

  async repositoryNames(): Promise<readonly string[]> {
    await this.gate;
    const rows = await this.db.query<{ name: string }>('SELECT name FROM index_repositories ORDER BY name');
    // "C" collation orders bytes; repository names are ASCII, so that is code-unit order.
    return rows.map((r) => r.name);
  }

  async hasRepository(name: string): Promise<boolean> {
    await this.gate;
    return (await this.db.query('SELECT 1 FROM index_repositories WHERE name = $1', [name])).length > 0;
  }

  async tagNames(repo: string): Promise<string[]> {
    await this.gate;
    const rows = await this.db.query<{ tag: string }>('SELECT tag FROM index_tags WHERE repo = $1', [repo]);
    return rows.map((r) => r.tag).sort(compareCodeUnits);
  }

  async referrers(repo: string, subject: string): Promise<ManifestDoc[]> {
    await this.gate;
    const rows = await this.db.query<ManifestRow>('SELECT repo, digest, summary, pushed_at FROM index_manifests WHERE repo = $1 AND subject = $2', [repo, subject]);
    return rows.map(manifestDoc);
  }

  async manifest(repo: string, digest: string): Promise<ManifestDoc | null> {
    await this.gate;
    const [row] = await this.db.query<ManifestRow>('SELECT repo, digest, summary, pushed_at FROM index_manifests WHERE repo = $1 AND digest = $2', [repo, digest]);
    return row ? manifestDoc(row) : null;
  }

  async repositoryDocs(name?: string): Promise<RepositoryDoc[]> {
    await this.gate;
    const rows = await this.db.query<{ name: string; created_at: Date; last_push_at: Date | null }>(
      name === undefined ? 'SELECT * FROM index_repositories' : 'SELECT * FROM index_repositories WHERE name = $1',
      name === undefined ? [] : [name],
    );
    return rows.map((r) => ({ _id: r.name, name: r.name, createdAt: r.created_at, lastPushAt: r.last_push_at }));
  }

  async tagDocs(repo?: string, digest?: string): Promise<TagDoc[]> {
    await this.gate;
    const conditions: string[] = [];
    const values: string[] = [];
    if (repo !== undefined) conditions.push(`repo = $${values.push(repo)}`);
    if (digest !== undefined) conditions.push(`digest = $${values.push(digest)}`);
    const rows = await this.db.query<{ repo: string; tag: string; digest: string; pushed_at: Date }>(
      `SELECT * FROM index_tags${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''}`,
      values,
    );
    return rows.map((r) => ({ _id: tagId(r.repo, r.tag), repo: r.repo, tag: r.tag, digest: r.digest, pushedAt: r.pushed_at }));
  }

  async manifestDocs(repo?: string): Promise<ManifestDoc[]> {
    await this.gate;
    const rows = await this.db.query<ManifestRow>(
      repo === undefined ? 'SELECT repo, digest, summary, pushed_at FROM index_manifests' : 'SELECT repo, digest, summary, pushed_at FROM index_manifests WHERE repo = $1',
      repo === undefined ? [] : [repo],
    );
    return rows.map(manifestDoc);
  }
}

/** The summary fields of a manifest document (what the jsonb column holds). */
function summaryOf(doc: ManifestSummary | ManifestDoc): ManifestSummary {
  const { _id, repo, digest, pushedAt, ...summary } = doc as ManifestDoc;
  void _id, repo, digest, pushedAt;
  return summary;
}

function manifestDoc(row: ManifestRow): ManifestDoc {
  return { ...row.summary, _id: manifestId(row.repo, row.digest), repo: row.repo, digest: row.digest, pushedAt: row.pushed_at };
}
