/**
 * Blob uses shared by the replicas of a cluster (metadata/locks.ts SharedUses; registry/link-guard.ts
 * explains uses). A writer records the digests it used before releasing their locks; a client's
 * question about a blob is noted and written behind every FLUSH_MS. A collection registers itself in
 * gc_collections and announces itself on the `berth_gc` channel; every replica then writes what it
 * noted at once, and the collection waits ANNOUNCE_WAIT_MS before it marks, so those notes are in the
 * table when it asks. Uses older than KEEP_USES_MS are pruned when a collection ends (a grace window
 * is hours, not weeks).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SharedUses } from '../locks.ts';
import type { Database } from './database.ts';

const FLUSH_MS = 500;
const ANNOUNCE_WAIT_MS = 2 * FLUSH_MS;
const KEEP_USES_MS = 7 * 24 * 3600 * 1000;
const CHANNEL = 'berth_gc';

export class SharedBlobUses implements SharedUses {
  private readonly db: Database;
  private readonly now: () => number;
  private readonly log: Logger;
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private unlisten: (() => void) | null = null;

  constructor(db: Database, log: Logger, now: () => number = Date.now) {
    this.db = db;
    this.log = log;
    this.now = now;
  }

  async open(): Promise<void> {
    this.unlisten = await this.db.listen(CHANNEL, () => void this.flush());
  }

  async close(): Promise<void> {
    this.unlisten?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }

  async record(digests: readonly string[]): Promise<void> {
    if (digests.length === 0) return;
    await this.write([...digests], digests.map(() => this.now()));
  }

  note(digest: string): void {
    this.pending.set(digest, this.now());
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, FLUSH_MS);
      this.timer.unref();
    }
  }

  async beginCollection(): Promise<{ end(): Promise<void> }> {
    const id = randomUUID();
    await this.db.query('INSERT INTO gc_collections (id, replica, presence_key, started_at) VALUES ($1, $2, $3, now())', [id, this.db.replicaId, this.db.presenceKey]);
    await this.db.notify(CHANNEL, 'begin');
    await this.flush();
    // The other replicas write what they noted when they hear of it (a notification takes
    // milliseconds); this wait is what "before the collection began" may lag by. Alone, none is owed.
    if (await this.othersRunning()) await new Promise((resolve) => setTimeout(resolve, ANNOUNCE_WAIT_MS));
    return {
      end: async () => {
        await this.db.query('DELETE FROM gc_collections WHERE id = $1', [id]).catch(() => undefined);
        await this.db.query('DELETE FROM blob_uses WHERE used_at < $1', [new Date(this.now() - KEEP_USES_MS)]).catch(() => undefined);
      },
    };
  }

  /** Whether another replica runs now (holds its presence lock). */
  private async othersRunning(): Promise<boolean> {
    const others = await this.db.query<{ presence_key: number }>('SELECT presence_key FROM berth_replicas WHERE id <> $1', [this.db.replicaId]);
    for (const row of others) if (await this.db.replicaAlive(row.presence_key)) return true;
    return false;
  }

  async usedSince(digest: string, since: number): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 FROM blob_uses WHERE digest = $1 AND used_at >= $2', [digest, new Date(since)]);
    return rows.length > 0;
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.write([...batch.keys()], [...batch.values()]);
      } catch (err) {
        // Best effort (a question is not a reference); kept for the next flush unless newer.
        for (const [digest, at] of batch) if ((this.pending.get(digest) ?? 0) < at) this.pending.set(digest, at);
        this.log.debug({ err }, 'blob uses not recorded yet');
      }
    });
    return this.flushing;
  }

  private async write(digests: string[], times: number[]): Promise<void> {
    await this.db.query(
      `INSERT INTO blob_uses (digest, used_at)
         SELECT d, to_timestamp(t / 1000.0) FROM unnest($1::text[], $2::float8[]) AS u(d, t)
       ON CONFLICT (digest) DO UPDATE SET used_at = GREATEST(blob_uses.used_at, EXCLUDED.used_at)`,
      [digests, times],
    );
  }
}
