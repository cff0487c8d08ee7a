/** The event bus (../event-bus.ts) on PostgreSQL's LISTEN/NOTIFY, channel `berth_events`. */
import type { EventBus } from '../event-bus.ts';
import type { Database } from './database.ts';

const CHANNEL = 'berth_events';

export class PostgresEventBus implements EventBus {
  private readonly db: Database;
  readonly origin: string;
  /** NOTIFY takes payloads shorter than 8000 bytes. */
  readonly maxMessageBytes = 7800;

  constructor(db: Database) {
    this.db = db;
    this.origin = db.replicaId;
  }

  publish(message: string): Promise<void> {
    return this.db.notify(CHANNEL, message);
  }

  subscribe(handler: (message: string) => void): Promise<() => void> {
    return this.db.listen(CHANNEL, handler);
  }
}
