/**
 * The registry's locks (metadata/locks.ts) for a cluster: PostgreSQL session advisory locks, so a
 * writer on one replica and a collector or a repository delete on another exclude each other.
 *
 * A lock is first taken in this process (waiters here queue in memory, not on connections), then in
 * the database on a connection of the lock pool held until it is released. Locks taken inside `work`
 * (a repository's, then a tag's) go on the same connection (AsyncLocalStorage), so a writer holds one
 * connection however many locks it nests, and the lock pool cannot run dry with every connection's
 * holder waiting for a second one. The keys of one call are taken in one statement in ascending order
 * of their 64-bit hashes, the same order everywhere, so no two replicas wait on each other in a cycle
 * (PostgreSQL would report one as a deadlock anyway). A replica that dies loses its connections, and
 * the database releases its locks: nothing stays locked by a crash.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import { LocalLocks, type Locks } from '../locks.ts';
import { lockKey64, type Database } from './database.ts';

/** How often a maintenance run waiting for another replica's asks again. */
const WAIT_POLL_MS = 500;

interface Holding {
  client: pg.PoolClient;
  /** False once the outermost call released the connection (work it started may outlive it). */
  active: boolean;
}

export class ClusterLocks implements Locks {
  private readonly db: Database;
  private readonly local = new LocalLocks();
  private readonly holding = new AsyncLocalStorage<Holding>();

  constructor(db: Database) {
    this.db = db;
  }

  withLocks<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    if (keys.length === 0) return work();
    const unique = [...new Set(keys)];
    return this.local.withLocks(unique, async () => {
      const held = this.holding.getStore();
      if (held?.active) return this.lockOn(held.client, unique, work);
      // No lock can be had from a database that is away: say so at once rather than after a timeout.
      this.db.ensureReachable();
      return this.db.withLockClient(async (client) => {
        const holding: Holding = { client, active: true };
        try {
          return await this.holding.run(holding, () => this.lockOn(client, unique, work));
        } finally {
          holding.active = false;
        }
      });
    });
  }

  /**
   * Runs `work` holding `key` across the cluster for as long as it runs (a maintenance run: one at a
   * time on all replicas), waiting for it meanwhile; the wait ends when `signal` aborts (Berth stops).
   * Taken with pg_try_advisory_lock every WAIT_POLL_MS, so a wait can be given up.
   */
  async exclusively<T>(key: string, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    const id = lockKey64(key);
    return this.local.withLocks([key], () =>
      this.db.withLockClient(async (client) => {
        for (;;) {
          signal.throwIfAborted();
          const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [id]);
          if (rows[0]?.ok) break;
          await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
        }
        try {
          return await work();
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [id]).catch((err: unknown) => {
            throw Object.assign(this.db.failed(err), { releaseClient: false });
          });
        }
      }),
    );
  }

  private async lockOn<T>(client: pg.PoolClient, keys: string[], work: () => Promise<T>): Promise<T> {
    const ids = keys.map(lockKey64).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
    await client.query('SELECT pg_advisory_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, n) ORDER BY n', [ids]);
    try {
      return await work();
    } finally {
      await client.query('SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS t(k)', [ids]).catch((err: unknown) => {
        // The connection must not go back to the pool still holding locks: it is closed instead.
        throw Object.assign(this.db.failed(err), { releaseClient: false });
      });
    }
  }
}
