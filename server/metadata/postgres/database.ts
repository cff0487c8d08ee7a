/**
 * The connection to the PostgreSQL database a cluster of Berth replicas shares (issue 16), and what
 * every store in this folder needs from it:
 *   - two pools: one for queries, one for the advisory locks writers hold while they work (a writer
 *     waiting for a lock holds a connection; on their own pool, waiting writers never take the
 *     connections queries need);
 *   - whether the database answers: a connection failure marks it unreachable (MetadataUnavailableError,
 *     which the registry answers with 503 UNAVAILABLE), and from then on it is probed every
 *     PROBE_MS until it answers again; nothing needs a restart;
 *   - one listening connection for LISTEN/NOTIFY (the replicas' events), re-established after a loss;
 *   - this replica's presence: a session advisory lock held on that connection, so the others can tell
 *     a replica that stopped without closing (it died) from one still running.
 * The URL's password never appears in a message or a log line (`where` names host, port and database).
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';

/** The database cannot be reached: writes are refused with 503 until it can (clear message, no secret). */
export class MetadataUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MetadataUnavailableError';
  }
}

export function isMetadataUnavailable(err: unknown): err is MetadataUnavailableError {
  return err instanceof MetadataUnavailableError;
}

/** While unreachable, the database is tried again this often. */
const PROBE_MS = 1000;
/** A connection that cannot be made within this time counts as a failure (not a request that hangs). */
const CONNECT_TIMEOUT_MS = 5000;
/** Queries at once per replica; a registry's queries are short, most of a request's time is elsewhere. */
const QUERY_POOL = 10;
/** Writers holding or waiting for cluster locks at once (pushes completing, collections, deletes). */
const LOCK_POOL = 24;
/** The namespace of the two-key advisory locks: presence of replicas (the one-key space is cluster-locks.ts'). */
export const PRESENCE_LOCK_SPACE = 0x42657274; // "Bert"

/** int8 as a JS number (sizes, sequence numbers: far below 2^53), not the string node-postgres gives. */
const TYPES = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export type MetadataState = 'ok' | 'unreachable';

export interface MetadataView {
  driver: 'nedb' | 'postgres';
  state: MetadataState;
  /** Host, port and database (no password). */
  where: string | null;
  /** What is wrong, in a sentence, while unreachable. */
  problem: string | null;
  since: string | null;
}

type Notify = (payload: string) => void;

export class Database {
  /** Host:port/database, for messages (never the password). */
  readonly where: string;
  /** This replica's id (presence, run ownership, event origin). */
  readonly replicaId = randomUUID();
  readonly presenceKey: number;
  private readonly queryPool: pg.Pool;
  private readonly lockPool: pg.Pool;
  private readonly config: pg.ClientConfig;
  private state: MetadataState = 'ok';
  private problem: string | null = null;
  private since: Date | null = null;
  private probe: NodeJS.Timeout | null = null;
  private readonly changes = new EventEmitter();
  private listener: pg.Client | null = null;
  private listening: Promise<void> | null = null;
  private readonly channels = new Map<string, Set<Notify>>();
  private closed = false;
  private reconnect: NodeJS.Timeout | null = null;

  constructor(url: string) {
    this.where = describeUrl(url);
    this.presenceKey = lockKey32(`replica:${this.replicaId}`);
    this.config = { connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, types: TYPES, application_name: 'berth' };
    this.queryPool = new pg.Pool({ ...this.config, max: QUERY_POOL, idleTimeoutMillis: 30_000 });
    this.lockPool = new pg.Pool({ ...this.config, max: LOCK_POOL, idleTimeoutMillis: 30_000 });
    // An idle connection the server closed (a restart) is an 'error' on the pool: without a listener
    // it would end the process. The next query simply makes a new connection.
    for (const pool of [this.queryPool, this.lockPool]) pool.on('error', (err) => this.failed(err));
  }

  // ---- health ---------------------------------------------------------------------------------

  view(): MetadataView {
    return { driver: 'postgres', state: this.state, where: this.where, problem: this.problem, since: this.since?.toISOString() ?? null };
  }

  get reachable(): boolean {
    return this.state === 'ok';
  }

  /** Told whenever the state changes (ok <-> unreachable). */
  onChange(listener: (view: MetadataView) => void): () => void {
    this.changes.on('change', listener);
    return () => this.changes.off('change', listener);
  }

  /**
   * Turns a failure of the driver into what callers see: a connection problem marks the database
   * unreachable and becomes a MetadataUnavailableError; an error the database answered with (a bug, a
   * constraint) is returned as it is.
   */
  failed(err: unknown): Error {
    if (err instanceof MetadataUnavailableError) return err;
    if (!isConnectionError(err)) return err as Error;
    const reason = connectionProblem(err);
    if (this.state === 'ok') {
      this.state = 'unreachable';
      this.problem = `the metadata database (PostgreSQL at ${this.where}) cannot be reached: ${reason}`;
      this.since = new Date();
      this.changes.emit('change', this.view());
      this.startProbing();
    }
    return new MetadataUnavailableError(
      `the metadata database (PostgreSQL at ${this.where}) cannot be reached (${reason}); writes are refused until it is back, pulls go on`,
      { cause: err },
    );
  }

  /** Refuses at once while the database is known to be unreachable (a write must not start). */
  ensureReachable(): void {
    if (this.state === 'ok') return;
    throw new MetadataUnavailableError(`${this.problem}; writes are refused until it is back, pulls go on`);
  }

  private startProbing(): void {
    if (this.probe || this.closed) return;
    this.probe = setInterval(() => {
      this.queryPool.query('SELECT 1').then(
        () => this.recovered(),
        () => undefined,
      );
    }, PROBE_MS);
    this.probe.unref();
  }

  private recovered(): void {
    if (this.probe) clearInterval(this.probe);
    this.probe = null;
    if (this.state === 'ok') return;
    this.state = 'ok';
    this.problem = null;
    this.since = null;
    this.changes.emit('change', this.view());
    if (!this.listener && !this.closed) this.scheduleListen(0);
  }

  // ---- queries --------------------------------------------------------------------------------

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    try {
      const result = await this.queryPool.query<R>(text, values);
      return result.rows;
    } catch (err) {
      throw this.failed(err);
    }
  }

  /** Runs `work` in one transaction on one connection (rolled back when it throws). */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(this.queryPool, async (client) => {
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** A connection of the lock pool for as long as `work` runs (cluster-locks.ts). */
  withLockClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(this.lockPool, work);
  }

  /** A connection of its own, outside the pools (a rebuild, the migrations): closed after `work`. */
  async withOwnClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client(this.config);
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw this.failed(err);
    }
    try {
      return await work(client);
    } catch (err) {
      throw this.failed(err);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw this.failed(err);
    }
    let broken: Error | undefined;
    try {
      return await work(client);
    } catch (err) {
      const mapped = this.failed(err);
      // A connection that failed (or a session lock that could not be released) is not reused.
      if (mapped instanceof MetadataUnavailableError || (err as { releaseClient?: boolean }).releaseClient === false) broken = mapped;
      throw mapped;
    } finally {
      client.release(broken);
    }
  }

  // ---- LISTEN / NOTIFY and presence -----------------------------------------------------------

  /** Sends `payload` (at most ~7900 bytes) to every replica listening on `channel`, this one included. */
  async notify(channel: string, payload: string): Promise<void> {
    await this.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /** Hears `channel` from now on (this replica's own notifications too). */
  async listen(channel: string, handler: Notify): Promise<() => void> {
    let handlers = this.channels.get(channel);
    if (!handlers) {
      this.channels.set(channel, (handlers = new Set()));
      if (this.listener) await this.listener.query(`LISTEN ${quoteIdentifier(channel)}`).catch(() => undefined);
    }
    handlers.add(handler);
    return () => handlers!.delete(handler);
  }

  /**
   * Opens the listening connection, takes this replica's presence lock on it and listens on every
   * channel asked for. Lost (the database restarted), it is opened again as soon as the database answers.
   */
  async startListening(): Promise<void> {
    this.listening ??= this.connectListener();
    await this.listening;
  }

  private async connectListener(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on('error', () => undefined);
    client.on('notification', (message) => {
      for (const handler of this.channels.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    client.on('end', () => {
      if (this.listener === client) this.listener = null;
      this.listening = null;
      if (!this.closed) {
        this.failed(Object.assign(new Error('the listening connection was closed'), { code: 'ECONNRESET' }));
        this.scheduleListen(PROBE_MS);
      }
    });
    try {
      await client.connect();
      await client.query('SELECT pg_advisory_lock($1, $2)', [PRESENCE_LOCK_SPACE, this.presenceKey]);
      for (const channel of this.channels.keys()) await client.query(`LISTEN ${quoteIdentifier(channel)}`);
      if (this.closed) throw new Error('closed while connecting');
    } catch (err) {
      await client.end().catch(() => undefined);
      this.listening = null;
      throw this.failed(err);
    }
    this.listener = client;
  }

  private scheduleListen(ms: number): void {
    if (this.reconnect || this.closed) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      this.startListening().catch(() => this.scheduleListen(PROBE_MS));
    }, ms);
    this.reconnect.unref();
  }

  /** Whether the replica whose presence key this is still runs (holds its presence lock). */
  async replicaAlive(presenceKey: number): Promise<boolean> {
    const rows = await this.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2 AND granted`,
      [PRESENCE_LOCK_SPACE, presenceKey],
    );
    return rows.length > 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    if (this.reconnect) clearTimeout(this.reconnect);
    this.probe = null;
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    await Promise.all([this.queryPool.end().catch(() => undefined), this.lockPool.end().catch(() => undefined)]);
  }
}

/** A connection-level failure (the database is away), as opposed to an error it answered with. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof MetadataUnavailableError) return true;
  const code = (err as { code?: unknown })?.code;
  if (err instanceof pg.DatabaseError) {
    // 08: connection exception; 57P01-03: the server is shutting down or starting; 53300: too many connections.
    return typeof code === 'string' && (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300');
  }
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOTFOUND...
  const message = (err as Error)?.message ?? '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable/i.test(message);
}

function connectionProblem(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ECONNREFUSED') return 'connection refused (is PostgreSQL running?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'its host name does not resolve';
  if (code === '57P01' || code === '57P02') return 'it is shutting down';
  if (code === '57P03') return 'it is starting up';
  if (code === '53300') return 'it has too many connections';
  const message = (err as Error).message ?? String(err);
  return /timeout/i.test(message) ? 'no answer in time' : message.split('\n')[0]!.slice(0, 200);
}

/** postgres://user:secret@host:5432/db?x -> "host:5432/db" (the password never shows). */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || new URLSearchParams(parsed.search).get('host') || 'localhost';
    return `${host}:${parsed.port || 5432}${parsed.pathname || '/'}`;
  } catch {
    return 'the configured database';
  }
}

/** A 32-bit advisory lock key of a name (presence locks use the two-key form). */
export function lockKey32(name: string): number {
  return createHash('sha256').update(name).digest().readInt32BE(0);
}

/** A 64-bit advisory lock key of a name, as the decimal string node-postgres passes for int8. */
export function lockKey64(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
