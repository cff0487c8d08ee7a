/**
 * How the replicas of a cluster tell each other what happened (registry/cluster-events.ts relays the
 * registry's events over it): PostgreSQL's LISTEN/NOTIFY (postgres/event-bus.ts). One server has none.
 */
export interface EventBus {
  /** This process, as other replicas see it (to skip its own messages). */
  readonly origin: string;
  /** The most a message may hold (bytes of UTF-8). */
  readonly maxMessageBytes: number;
  publish(message: string): Promise<void>;
  subscribe(handler: (message: string) => void): Promise<() => void>;
}
