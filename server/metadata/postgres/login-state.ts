/**
 * Failed logins and the clients users are known at (auth/throttle.ts SharedLoginState) in the shared
 * database: the throttles of every replica count the same failures, and a user who logged in through
 * one replica is known at that address on all of them. Rows of failures long forgotten are pruned now
 * and then, so a guesser trying endless names does not grow the table without bound.
 */
import type { Failures, SharedLoginState } from '../../auth/throttle.ts';
import type { Database } from './database.ts';

/** Every this many failures, rows older than the throttle forgets are removed. */
const PRUNE_EVERY = 1000;

export class PostgresLoginState implements SharedLoginState {
  private readonly db: Database;
  private sincePrune = 0;

  constructor(db: Database) {
    this.db = db;
  }

  async failures(key: string): Promise<Failures | null> {
    const [row] = await this.db.query<{ count: number; last_at: string }>('SELECT count, last_at FROM auth_login_failures WHERE key = $1', [key]);
    return row ? { count: row.count, last: Number(row.last_at) } : null;
  }

  async fail(key: string, at: number, forgetAfterMs: number): Promise<Failures> {
    if (++this.sincePrune >= PRUNE_EVERY) {
      this.sincePrune = 0;
      await this.db.query('DELETE FROM auth_login_failures WHERE last_at <= $1', [at - forgetAfterMs]);
    }
    const [row] = await this.db.query<{ count: number; last_at: string }>(
      `INSERT INTO auth_login_failures (key, count, last_at) VALUES ($1, 1, $2)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN auth_login_failures.last_at <= $2 - $3 THEN 1 ELSE auth_login_failures.count + 1 END,
         last_at = GREATEST(auth_login_failures.last_at, $2)
       RETURNING count, last_at`,
      [key, at, forgetAfterMs],
    );
    return { count: row!.count, last: Number(row!.last_at) };
  }

  async knownAt(user: string, prefix: string): Promise<number | null> {
    const [row] = await this.db.query<{ at: string }>('SELECT at FROM auth_known_clients WHERE username = $1 AND prefix = $2', [user, prefix]);
    return row ? Number(row.at) : null;
  }

  async known(user: string, prefix: string, at: number): Promise<void> {
    await this.db.query(
      'INSERT INTO auth_known_clients (username, prefix, at) VALUES ($1, $2, $3) ON CONFLICT (username, prefix) DO UPDATE SET at = GREATEST(auth_known_clients.at, $3)',
      [user, prefix, at],
    );
  }
}
