/**
 * Maintenance runs and retention rules (../maintenance-store.ts) in the shared database. A run records
 * the replica that runs it: at start, runs left queued or running by a replica that is gone (no
 * presence lock: database.ts) are recorded as interrupted, never those another live replica runs.
 */
import { RUN_HISTORY_LIMIT, type LifecycleStore, type RetentionRuleDoc, type RunDoc, type RunKind } from '../maintenance-store.ts';
import type { Database } from './database.ts';
import { decodeDoc, encodeDoc } from './docs.ts';

interface Row {
  id: string;
  doc: unknown;
}

export class PostgresLifecycleStore implements LifecycleStore {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async open(): Promise<{ setAside: [] }> {
    const unfinished = await this.db.query<{ id: string; replica: string | null; presence_key: number | null; doc: unknown }>(
      `SELECT r.id, r.replica, p.presence_key, r.doc FROM maintenance_runs r LEFT JOIN berth_replicas p ON p.id = r.replica
       WHERE r.state IN ('queued', 'running')`,
    );
    for (const row of unfinished) {
      if (row.replica !== this.db.replicaId && row.presence_key !== null && (await this.db.replicaAlive(row.presence_key))) continue;
      const doc = decodeDoc<RunDoc>(row.doc, row.id);
      await this.saveRun({ ...doc, state: 'interrupted', error: 'Berth stopped before the run finished', progress: null });
    }
    return { setAside: [] };
  }

  async close(): Promise<void> {}

  async saveRun(run: RunDoc): Promise<boolean> {
    const dryRun = (run.options as { dryRun?: unknown }).dryRun === true;
    await this.db.query(
      `INSERT INTO maintenance_runs (id, kind, state, dry_run, queued_at, finished_at, replica, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, finished_at = EXCLUDED.finished_at, doc = EXCLUDED.doc`,
      [run._id, run.kind, run.state, dryRun, run.queuedAt, run.finishedAt, this.db.replicaId, encodeDoc(run)],
    );
    if (run.state === 'succeeded' || run.state === 'failed') {
      await this.db.query('DELETE FROM maintenance_runs WHERE id IN (SELECT id FROM maintenance_runs ORDER BY queued_at DESC OFFSET $1)', [RUN_HISTORY_LIMIT]);
    }
    return true;
  }

  async run(id: string): Promise<RunDoc | null> {
    const [row] = await this.db.query<Row>('SELECT id, doc FROM maintenance_runs WHERE id = $1', [id]);
    return row ? decodeDoc<RunDoc>(row.doc, row.id) : null;
  }

  async listRuns(filter: { kind?: RunKind; limit: number }): Promise<RunDoc[]> {
    const rows = filter.kind
      ? await this.db.query<Row>('SELECT id, doc FROM maintenance_runs WHERE kind = $1 ORDER BY queued_at DESC LIMIT $2', [filter.kind, filter.limit])
      : await this.db.query<Row>('SELECT id, doc FROM maintenance_runs ORDER BY queued_at DESC LIMIT $1', [filter.limit]);
    return rows.map((r) => decodeDoc<RunDoc>(r.doc, r.id));
  }

  async lastFinished(kind: RunKind): Promise<Date | null> {
    const [row] = await this.db.query<{ finished_at: Date }>(
      `SELECT finished_at FROM maintenance_runs WHERE kind = $1 AND state IN ('succeeded', 'failed') AND NOT dry_run ORDER BY finished_at DESC LIMIT 1`,
      [kind],
    );
    return row?.finished_at ?? null;
  }

  async listRules(): Promise<RetentionRuleDoc[]> {
    const rows = await this.db.query<Row>('SELECT id, doc FROM retention_rules ORDER BY created_at');
    return rows.map((r) => decodeDoc<RetentionRuleDoc>(r.doc, r.id));
  }

  async rule(id: string): Promise<RetentionRuleDoc | null> {
    const [row] = await this.db.query<Row>('SELECT id, doc FROM retention_rules WHERE id = $1', [id]);
    return row ? decodeDoc<RetentionRuleDoc>(row.doc, row.id) : null;
  }

  async saveRule(rule: RetentionRuleDoc): Promise<void> {
    await this.db.query(
      'INSERT INTO retention_rules (id, created_at, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc',
      [rule._id, rule.createdAt, encodeDoc(rule)],
    );
  }

  async removeRule(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM retention_rules WHERE id = $1 RETURNING id', [id])).length > 0;
  }
}
