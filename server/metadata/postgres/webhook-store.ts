/**
 * The webhook store (../webhook-store.ts) in the shared database. Every replica records the deliveries
 * of the events it causes; one replica at a time, the one holding the delivery lease (an advisory lock
 * on a connection of its own), sends them, so each goes out in order and once per attempt as with one
 * server. When that replica goes, its connection closes, the lock is free, and another replica takes
 * the lease within LEASE_POLL_MS and goes on from the outbox.
 *
 * Changes are announced on the `berth_webhooks` channel: endpoints (each replica reloads them),
 * the outbox (the leader looks at its queues), states (replicas reload delivery counters, debounced).
 * Durability: a delivery is committed (on the database's disk, per its fsync settings) before enqueue()
 * resolves, which is stronger than the nedb store's write(2).
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import type {
  DeliveryDoc, DeliveryState, EndpointDoc, EndpointStateDoc, NewDelivery, WebhookChange, WebhookCluster, WebhookStore,
} from '../webhook-store.ts';
import { LOG_PER_ENDPOINT } from '../webhook-store.ts';
import type { Database } from './database.ts';
import { decodeDoc, encodeDoc } from './docs.ts';

const CHANNEL = 'berth_webhooks';
const LEADER_LOCK = '6989586621679009793';
const LEASE_POLL_MS = 2000;
const LENGTHS_EVERY_MS = 5000;
const PRUNE_EVERY = 200;
const STATES_NOTIFY_MS = 1000;

interface DeliveryRow {
  id: string;
  seq: number;
  doc: unknown;
}

export class PostgresWebhookStore implements WebhookStore, WebhookCluster {
  readonly cluster: WebhookCluster = this;
  private readonly db: Database;
  private readonly url: string;
  private readonly log: Logger;
  private lengths = new Map<string, number>();
  private lengthTimer: NodeJS.Timeout | null = null;
  private finished = 0;
  private readonly changes = new EventEmitter();
  private unlisten: (() => void) | null = null;
  private statesTimer: NodeJS.Timeout | null = null;

  constructor(db: Database, url: string, log: Logger) {
    this.db = db;
    this.url = url;
    this.log = log;
  }

  async open(): Promise<{ setAside: [] }> {
    this.unlisten = await this.db.listen(CHANNEL, (payload) => {
      const [change, origin] = payload.split(' ');
      if (origin === this.db.replicaId) return;
      if (change === 'outbox') void this.refreshLengths();
      this.changes.emit('change', change as WebhookChange);
    });
    await this.refreshLengths();
    this.lengthTimer = setInterval(() => void this.refreshLengths(), LENGTHS_EVERY_MS);
    this.lengthTimer.unref();
    return { setAside: [] };
  }

  async close(): Promise<void> {
    this.unlisten?.();
    if (this.lengthTimer) clearInterval(this.lengthTimer);
    if (this.statesTimer) clearTimeout(this.statesTimer);
    this.lengthTimer = null;
  }

  // ---- cluster --------------------------------------------------------------------------------

  onChange(listener: (change: WebhookChange) => void): () => void {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  lead(start: () => void, stop: () => Promise<void>): () => Promise<void> {
    let client: pg.Client | null = null;
    let leading = false;
    let ended = false;
    let timer: NodeJS.Timeout | null = null;
    const lose = async () => {
      const had = client;
      client = null;
      await had?.end().catch(() => undefined);
      if (leading) {
        leading = false;
        await stop().catch(() => undefined);
      }
    };
    const attempt = async () => {
      timer = null;
      if (ended) return;
      try {
        if (!client) {
          const fresh = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000, keepAlive: true, application_name: 'berth-webhooks' });
          fresh.on('error', () => undefined);
          fresh.on('end', () => {
            if (client === fresh) void lose().then(() => schedule());
          });
          await fresh.connect();
          if (ended) {
            await fresh.end().catch(() => undefined);
            return;
          }
          client = fresh;
        }
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK]);
        if (ended) {
          await lose();
          return;
        }
        if (rows[0]?.ok) {
          leading = true;
          this.log.info('this replica delivers the webhooks (it holds the delivery lease)');
          start();
          return;
        }
      } catch (err) {
        this.log.debug({ err }, 'webhook delivery lease not taken');
        await lose();
      }
      schedule();
    };
    const schedule = () => {
      if (ended || timer || leading) return;
      timer = setTimeout(() => void attempt(), LEASE_POLL_MS);
      timer.unref();
    };
    void attempt();
    return async () => {
      ended = true;
      if (timer) clearTimeout(timer);
      await lose();
    };
  }

  private announce(change: WebhookChange): void {
    void this.db.notify(CHANNEL, `${change} ${this.db.replicaId}`).catch(() => undefined);
  }

  // ---- endpoints ------------------------------------------------------------------------------

  async listEndpoints(): Promise<EndpointDoc[]> {
    const rows = await this.db.query<{ id: string; doc: unknown }>('SELECT id, doc FROM webhook_endpoints ORDER BY created_at');
    return rows.map((r) => decodeDoc<EndpointDoc>(r.doc, r.id));
  }

  async endpoint(id: string): Promise<EndpointDoc | null> {
    const [row] = await this.db.query<{ id: string; doc: unknown }>('SELECT id, doc FROM webhook_endpoints WHERE id = $1', [id]);
    return row ? decodeDoc<EndpointDoc>(row.doc, row.id) : null;
  }

  async saveEndpoint(doc: EndpointDoc): Promise<void> {
    await this.db.query(
      'INSERT INTO webhook_endpoints (id, created_at, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc',
      [doc._id, doc.createdAt, encodeDoc(doc)],
    );
    this.announce('endpoints');
  }

  async removeEndpoint(id: string): Promise<boolean> {
    const removed = await this.db.transaction(async (client) => {
      const { rowCount } = await client.query('DELETE FROM webhook_endpoints WHERE id = $1', [id]);
      await client.query('DELETE FROM webhook_states WHERE id = $1', [id]);
      await client.query('DELETE FROM webhook_deliveries WHERE endpoint_id = $1', [id]);
      return (rowCount ?? 0) > 0;
    });
    this.lengths.delete(id);
    this.announce('endpoints');
    return removed;
  }

  async endpointStates(): Promise<EndpointStateDoc[]> {
    const rows = await this.db.query<{ id: string; doc: unknown }>('SELECT id, doc FROM webhook_states');
    return rows.map((r) => decodeDoc<EndpointStateDoc>(r.doc, r.id));
  }

  async saveEndpointState(doc: EndpointStateDoc): Promise<void> {
    await this.db.query('INSERT INTO webhook_states (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc', [doc._id, encodeDoc(doc)]);
    if (!this.statesTimer) {
      this.statesTimer = setTimeout(() => {
        this.statesTimer = null;
        this.announce('states');
      }, STATES_NOTIFY_MS);
      this.statesTimer.unref();
    }
  }

  // ---- outbox ---------------------------------------------------------------------------------

  async enqueue(deliveries: NewDelivery[], cap: number): Promise<DeliveryDoc[]> {
    if (deliveries.length === 0) return [];
    const dropped = await this.db.transaction(async (client) => {
      const { rows: seqs } = await client.query<{ seq: number }>('SELECT nextval(\'webhook_delivery_seq\') AS seq FROM generate_series(1, $1)', [deliveries.length]);
      const docs: DeliveryDoc[] = deliveries.map((d, i) => ({ ...d, seq: seqs[i]!.seq }));
      await client.query(
        'INSERT INTO webhook_deliveries (id, endpoint_id, seq, state, doc) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[])',
        [docs.map((d) => d._id), docs.map((d) => d.endpointId), docs.map((d) => d.seq), docs.map((d) => d.state), docs.map((d) => encodeDoc(d))],
      );
      const out: DeliveryDoc[] = [];
      for (const endpointId of new Set(docs.map((d) => d.endpointId))) {
        // Beyond the cap, the oldest pending ones after the head (which may be on the wire) are dropped.
        const { rows } = await client.query<DeliveryRow>(
          `SELECT id, seq, doc FROM webhook_deliveries WHERE endpoint_id = $1 AND state = 'pending' ORDER BY seq
           OFFSET 1 LIMIT GREATEST(0, (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND state = 'pending') - $2)`,
          [endpointId, cap],
        );
        for (const row of rows) {
          const doc: DeliveryDoc = { ...decodeDoc<DeliveryDoc>(row.doc, row.id), seq: row.seq, state: 'dropped', nextAttemptAt: null, finishedAt: new Date() };
          await client.query('UPDATE webhook_deliveries SET state = $2, doc = $3 WHERE id = $1', [doc._id, doc.state, encodeDoc(doc)]);
          out.push(doc);
        }
      }
      for (const d of docs) this.lengths.set(d.endpointId, (this.lengths.get(d.endpointId) ?? 0) + 1);
      for (const d of out) this.lengths.set(d.endpointId, Math.max(0, (this.lengths.get(d.endpointId) ?? 1) - 1));
      return out;
    });
    this.announce('outbox');
    return dropped;
  }

  async heads(): Promise<DeliveryDoc[]> {
    const rows = await this.db.query<DeliveryRow>(
      `SELECT DISTINCT ON (endpoint_id) id, seq, doc FROM webhook_deliveries WHERE state = 'pending' ORDER BY endpoint_id, seq`,
    );
    return rows.map(delivery);
  }

  async delivery(id: string): Promise<DeliveryDoc | null> {
    const [row] = await this.db.query<DeliveryRow>('SELECT id, seq, doc FROM webhook_deliveries WHERE id = $1', [id]);
    return row ? delivery(row) : null;
  }

  async saveDelivery(doc: DeliveryDoc, options: { requeue?: boolean } = {}): Promise<DeliveryDoc> {
    let saved = doc;
    if (options.requeue) {
      const [row] = await this.db.query<{ seq: number }>('SELECT nextval(\'webhook_delivery_seq\') AS seq');
      saved = { ...doc, seq: row!.seq };
    }
    const [before] = await this.db.query<{ state: string }>(
      `WITH old AS (SELECT state FROM webhook_deliveries WHERE id = $1)
       INSERT INTO webhook_deliveries (id, endpoint_id, seq, state, doc) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, state = EXCLUDED.state, doc = EXCLUDED.doc
       RETURNING (SELECT state FROM old) AS state`,
      [saved._id, saved.endpointId, saved.seq, saved.state, encodeDoc(saved)],
    );
    const wasPending = before?.state === 'pending';
    const change = (saved.state === 'pending' ? 1 : 0) - (wasPending ? 1 : 0);
    if (change !== 0) this.lengths.set(saved.endpointId, Math.max(0, (this.lengths.get(saved.endpointId) ?? 0) + change));
    if (saved.state !== 'pending' && ++this.finished >= PRUNE_EVERY) await this.prune();
    // Due now (a redelivery asked on this replica): the replica that delivers should look.
    if (saved.state === 'pending' && saved.nextAttemptAt && saved.nextAttemptAt.getTime() <= Date.now()) this.announce('outbox');
    return saved;
  }

  async listDeliveries(filter: { endpointId?: string; state?: DeliveryState; limit: number; before?: number }): Promise<DeliveryDoc[]> {
    const conditions: string[] = [];
    const values: unknown[] = [];
    if (filter.endpointId) conditions.push(`endpoint_id = $${values.push(filter.endpointId)}`);
    if (filter.state) conditions.push(`state = $${values.push(filter.state)}`);
    if (filter.before !== undefined) conditions.push(`seq < $${values.push(filter.before)}`);
    const rows = await this.db.query<DeliveryRow>(
      `SELECT id, seq, doc FROM webhook_deliveries${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${values.push(filter.limit)}`,
      values,
    );
    return rows.map(delivery);
  }

  queueLengths(): Map<string, number> {
    return new Map(this.lengths);
  }

  private async refreshLengths(): Promise<void> {
    try {
      const rows = await this.db.query<{ endpoint_id: string; n: number }>(
        `SELECT endpoint_id, count(*)::int AS n FROM webhook_deliveries WHERE state = 'pending' GROUP BY endpoint_id`,
      );
      this.lengths = new Map(rows.map((r) => [r.endpoint_id, r.n]));
    } catch {
      // Kept as they were while the database is away.
    }
  }

  /** Keeps the newest LOG_PER_ENDPOINT finished deliveries of each endpoint. */
  private async prune(): Promise<void> {
    this.finished = 0;
    await this.db.query(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM (
           SELECT id, row_number() OVER (PARTITION BY endpoint_id ORDER BY seq DESC) AS n FROM webhook_deliveries WHERE state <> 'pending'
         ) ranked WHERE n > $1)`,
      [LOG_PER_ENDPOINT],
    );
  }
}

function delivery(row: DeliveryRow): DeliveryDoc {
  return { ...decodeDoc<DeliveryDoc>(row.doc, row.id), seq: row.seq };
}
