/**
 * The schema of the shared metadata database, as numbered migrations applied at start-up in order,
 * each in its own transaction, and recorded in berth_migrations. Replicas starting at the same time
 * take turns (an advisory lock): the first applies what is missing, the others find it done. A
 * database migrated by a newer Berth (a version this one does not know) is refused with a message:
 * an older replica must not write what it does not understand.
 *
 * Append only: a migration once released is never edited; a change is a new one.
 *
 * Timestamps are timestamptz (the replicas may run in other time zones); names compare in "C" order
 * (the spec's lexical order of tags and repositories: code units); documents whose shape belongs to
 * the code above (a manifest's summary, a webhook endpoint) are jsonb, written by docs.ts.
 */
import type pg from 'pg';
import type { Database } from './database.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The one-key advisory lock the migrations are applied under. */
const MIGRATION_LOCK = '7306318092417859392';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'metadata index, activity, lifecycle, users, webhooks, mirror, shared secrets, cluster state',
    sql: `
      CREATE TABLE berth_replicas (
        id text PRIMARY KEY,
        presence_key integer NOT NULL,
        url text,
        started_at timestamptz NOT NULL,
        clean boolean NOT NULL DEFAULT false
      );
      CREATE TABLE index_state (
        id integer PRIMARY KEY CHECK (id = 1),
        version integer NOT NULL,
        built_at timestamptz NOT NULL
      );
      CREATE TABLE index_repositories (
        name text COLLATE "C" PRIMARY KEY,
        created_at timestamptz NOT NULL,
        last_push_at timestamptz
      );
      CREATE TABLE index_tags (
        repo text COLLATE "C" NOT NULL,
        tag text COLLATE "C" NOT NULL,
        digest text NOT NULL,
        pushed_at timestamptz NOT NULL,
        PRIMARY KEY (repo, tag)
      );
      CREATE INDEX index_tags_digest ON index_tags (repo, digest);
      CREATE TABLE index_manifests (
        repo text COLLATE "C" NOT NULL,
        digest text NOT NULL,
        subject text,
        summary jsonb NOT NULL,
        pushed_at timestamptz NOT NULL,
        PRIMARY KEY (repo, digest)
      );
      CREATE INDEX index_manifests_subject ON index_manifests (repo, subject) WHERE subject IS NOT NULL;

      CREATE TABLE activity (
        id text COLLATE "C" PRIMARY KEY,
        kind text NOT NULL,
        repository text NOT NULL,
        at timestamptz NOT NULL,
        doc jsonb NOT NULL
      );
      CREATE INDEX activity_at ON activity (at DESC, id DESC);
      CREATE INDEX activity_fold ON activity (repository, at DESC);

      CREATE TABLE maintenance_runs (
        id text PRIMARY KEY,
        kind text NOT NULL,
        state text NOT NULL,
        dry_run boolean NOT NULL,
        queued_at timestamptz NOT NULL,
        finished_at timestamptz,
        replica text,
        doc jsonb NOT NULL
      );
      CREATE INDEX maintenance_runs_queued ON maintenance_runs (queued_at DESC);
      CREATE TABLE retention_rules (
        id text PRIMARY KEY,
        created_at timestamptz NOT NULL,
        doc jsonb NOT NULL
      );

      CREATE TABLE auth_users (
        name text COLLATE "C" PRIMARY KEY,
        doc jsonb NOT NULL
      );
      CREATE TABLE auth_credentials (
        id text PRIMARY KEY,
        user_name text COLLATE "C" NOT NULL,
        kind text NOT NULL,
        parent text,
        created_at timestamptz NOT NULL,
        doc jsonb NOT NULL
      );
      CREATE INDEX auth_credentials_user ON auth_credentials (user_name);
      CREATE INDEX auth_credentials_parent ON auth_credentials (parent) WHERE parent IS NOT NULL;

      CREATE TABLE webhook_endpoints (
        id text PRIMARY KEY,
        created_at timestamptz NOT NULL,
        doc jsonb NOT NULL
      );
      CREATE TABLE webhook_states (
        id text PRIMARY KEY,
        doc jsonb NOT NULL
      );
      CREATE TABLE webhook_deliveries (
        id text PRIMARY KEY,
        endpoint_id text NOT NULL,
        seq bigint NOT NULL,
        state text NOT NULL,
        doc jsonb NOT NULL
      );
      CREATE SEQUENCE webhook_delivery_seq;
      CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, seq) WHERE state = 'pending';
      CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, seq DESC);
      CREATE INDEX webhook_deliveries_seq ON webhook_deliveries (seq DESC);

      CREATE TABLE mirror_upstreams (
        name text PRIMARY KEY,
        created_at timestamptz NOT NULL,
        doc jsonb NOT NULL
      );
      CREATE TABLE mirror_credentials (
        upstream text PRIMARY KEY,
        username text NOT NULL,
        password text NOT NULL
      );
      CREATE TABLE mirror_refs (
        id text PRIMARY KEY,
        upstream text NOT NULL,
        repository text NOT NULL,
        reference text NOT NULL,
        used_at timestamptz NOT NULL,
        doc jsonb NOT NULL
      );
      CREATE INDEX mirror_refs_upstream ON mirror_refs (upstream);
      CREATE INDEX mirror_refs_repository ON mirror_refs (repository);
      CREATE TABLE mirror_counters (
        upstream text PRIMARY KEY,
        hits bigint NOT NULL DEFAULT 0,
        misses bigint NOT NULL DEFAULT 0,
        bytes_from_cache bigint NOT NULL DEFAULT 0,
        bytes_fetched bigint NOT NULL DEFAULT 0,
        stale_serves bigint NOT NULL DEFAULT 0,
        upstream_errors bigint NOT NULL DEFAULT 0,
        rate_limit_remaining bigint,
        rate_limit_at timestamptz
      );

      CREATE TABLE shared_secrets (
        name text PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL
      );

      CREATE TABLE blob_uses (
        digest text PRIMARY KEY,
        used_at timestamptz NOT NULL
      );
      CREATE TABLE gc_collections (
        id text PRIMARY KEY,
        replica text NOT NULL,
        presence_key integer NOT NULL,
        started_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'failed logins and known clients shared by the replicas (auth/throttle.ts)',
    sql: `
      CREATE TABLE auth_login_failures (
        key text PRIMARY KEY,
        count integer NOT NULL,
        last_at bigint NOT NULL
      );
      CREATE TABLE auth_known_clients (
        username text NOT NULL,
        prefix text NOT NULL,
        at bigint NOT NULL,
        PRIMARY KEY (username, prefix)
      );
    `,
  },
];

/** Applies the migrations this database lacks; returns the versions applied now. */
export async function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.withOwnClient(async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS berth_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const applied = new Set((await client.query<{ version: number }>('SELECT version FROM berth_migrations')).rows.map((r) => r.version));
      const known = new Set(migrations.map((m) => m.version));
      const newer = [...applied].filter((v) => !known.has(v)).sort((a, b) => b - a);
      if (newer.length > 0) {
        throw new Error(
          `the metadata database (${db.where}) has schema version ${newer[0]}, newer than this Berth knows (${Math.max(...known)}): ` +
            'a newer Berth migrated it; run that version on every replica',
        );
      }
      const done: number[] = [];
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        if (applied.has(migration.version)) continue;
        await inTransaction(client, async () => {
          await client.query(migration.sql);
          await client.query('INSERT INTO berth_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        });
        done.push(migration.version);
      }
      return done;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
  });
}

async function inTransaction(client: pg.Client, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await work();
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
