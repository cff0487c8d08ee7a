/**
 * The activity log (../activity-store.ts) in the shared database: every replica writes its entries and
 * every replica's UI reads them all. Entries beyond MAX_ENTRIES (the nedb log's cap) are pruned every
 * PRUNE_EVERY inserts of this replica.
 */
import { randomBytes } from 'node:crypto';
import type { ActivityKind } from '../../registry/api-types.ts';
import { MAX_ENTRIES } from '../activity-db.ts';
import type { ActivityCursor, ActivityDoc, ActivityStore, NewActivity } from '../activity-store.ts';
import type { Database } from './database.ts';
import { decodeDoc, encodeDoc } from './docs.ts';

const PRUNE_EVERY = 500;

interface Row {
  id: string;
  doc: unknown;
}

export class PostgresActivityLog implements ActivityStore {
  readonly shared = true;
  private readonly db: Database;
  private readonly max: number;
  private inserts = 0;

  constructor(db: Database, max = MAX_ENTRIES) {
    this.db = db;
    this.max = max;
  }

  async open(): Promise<{ setAside: null }> {
    return { setAside: null };
  }

  async close(): Promise<void> {}

  async insert(entry: NewActivity): Promise<ActivityDoc> {
    // The id orders entries of the same instant (the cursor's tie-break): 16 letters and digits, as nedb's.
    const doc: ActivityDoc = { ...entry, _id: randomBytes(12).toString('base64url').replace(/[-_]/g, 'x').slice(0, 16) };
    await this.db.query('INSERT INTO activity (id, kind, repository, at, doc) VALUES ($1, $2, $3, $4, $5)', [doc._id, doc.kind, doc.repository, doc.at, encodeDoc(doc)]);
    if (++this.inserts >= PRUNE_EVERY) {
      this.inserts = 0;
      await this.db.query('DELETE FROM activity WHERE id IN (SELECT id FROM activity ORDER BY at DESC, id DESC OFFSET $1)', [this.max]);
    }
    return doc;
  }

  async update(doc: ActivityDoc): Promise<void> {
    await this.db.query('UPDATE activity SET at = $2, doc = $3 WHERE id = $1', [doc._id, doc.at, encodeDoc(doc)]);
  }

  async recent(limit: number, before?: ActivityCursor): Promise<ActivityDoc[]> {
    const rows = before
      ? await this.db.query<Row>('SELECT id, doc FROM activity WHERE (at, id) < ($1, $2) ORDER BY at DESC, id DESC LIMIT $3', [before.at, before.id, limit])
      : await this.db.query<Row>('SELECT id, doc FROM activity ORDER BY at DESC, id DESC LIMIT $1', [limit]);
    return rows.map((r) => decodeDoc<ActivityDoc>(r.doc, r.id));
  }

  async latest(repository: string, kinds: readonly ActivityKind[], since: Date): Promise<ActivityDoc | null> {
    const [row] = await this.db.query<Row>(
      'SELECT id, doc FROM activity WHERE repository = $1 AND kind = ANY($2::text[]) AND at >= $3 ORDER BY at DESC LIMIT 1',
      [repository, [...kinds], since],
    );
    return row ? decodeDoc<ActivityDoc>(row.doc, row.id) : null;
  }
}
