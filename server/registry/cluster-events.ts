/**
 * Relays registry events between the replicas of a cluster (issue 16), so the UI's live stream on any
 * replica shows pushes, pulls, deletes and maintenance runs that landed on another, and each replica's
 * caches hear what others changed (a blob a collection freed, an upstream changed in the UI).
 *
 * Events are gathered for up to BATCH_MS and published together after this replica's activity log has
 * recorded them (activity.ts batches its writes too): a UI that refreshes the activity page when it hears
 * of a push elsewhere finds the push's entry already there. The request an event came from (EventOrigin)
 * stays behind: it is for this replica's webhooks. A replica's own disk state ('storage') is its own.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../metadata/event-bus.ts';
import type { RegistryEventMap, RegistryEventName, RegistryEvents } from './events.ts';

export const RELAYED_EVENTS: readonly RegistryEventName[] = [
  'blob-pushed', 'blob-mounted', 'blob-deleted', 'blob-freed', 'manifest-pushed', 'manifest-pulled', 'manifest-deleted', 'tag-deleted',
  'repository-deleted', 'maintenance', 'mirror-fetched', 'mirror-stale', 'mirror-error', 'mirror-changed',
];

const BATCH_MS = 100;

interface Message {
  /** The replica that published it. */
  o: string;
  /** [event name, event] pairs. */
  e: [RegistryEventName, unknown][];
}

export interface ClusterEventsDeps {
  events: RegistryEvents;
  bus: EventBus;
  /** Resolves once the activity log holds every event so far (activity.ts flush()). */
  flushActivity(): Promise<void>;
  log: Logger;
}

export class ClusterEvents {
  private readonly deps: ClusterEventsDeps;
  private pending: [RegistryEventName, unknown][] = [];
  /** The pending events, serialized: duplicates are dropped. */
  private readonly queued = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private publishing: Promise<void> = Promise.resolve();
  private off: (() => void)[] = [];

  constructor(deps: ClusterEventsDeps) {
    this.deps = deps;
  }

  async start(): Promise<void> {
    const { events, bus } = this.deps;
    this.off.push(await bus.subscribe((text) => this.received(text)));
    for (const name of RELAYED_EVENTS) {
      this.off.push(events.on(name, (event) => this.queue(name, event)));
    }
  }

  async stop(): Promise<void> {
    for (const off of this.off.splice(0)) off();
    await this.flush();
  }

  private queue(name: RegistryEventName, event: unknown): void {
    const { origin: _origin, ...plain } = event as { origin?: unknown };
    // The same event again within a batch (a tag pulled hundreds of times a second) is relayed once:
    // the other replicas only refresh what they show, and the activity log has the pulls.
    const key = `${name}\0${JSON.stringify(plain)}`;
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.pending.push([name, plain]);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), BATCH_MS);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    this.queued.clear();
    if (batch.length === 0) return this.publishing;
    this.publishing = this.publishing.then(async () => {
      await this.deps.flushActivity().catch(() => undefined);
      for (const message of this.messages(batch)) {
        await this.deps.bus.publish(message).catch((err: unknown) => this.deps.log.debug({ err }, 'cluster events not relayed'));
      }
    });
    return this.publishing;
  }

  /** The batch as messages that each fit the bus (an event too large on its own is left out). */
  private messages(batch: [RegistryEventName, unknown][]): string[] {
    const { origin, maxMessageBytes } = this.deps.bus;
    const out: string[] = [];
    let current: Message = { o: origin, e: [] };
    let size = Buffer.byteLength(JSON.stringify(current));
    for (const entry of batch) {
      const bytes = Buffer.byteLength(JSON.stringify(entry)) + 1;
      if (bytes + size > maxMessageBytes && current.e.length > 0) {
        out.push(JSON.stringify(current));
        current = { o: origin, e: [] };
        size = Buffer.byteLength(JSON.stringify(current));
      }
      if (bytes + size > maxMessageBytes) continue;
      current.e.push(entry);
      size += bytes;
    }
    if (current.e.length > 0) out.push(JSON.stringify(current));
    return out;
  }

  private received(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (message.o === this.deps.bus.origin || !Array.isArray(message.e)) return;
    for (const [name, event] of message.e) {
      if (!RELAYED_EVENTS.includes(name)) continue;
      this.deps.events.emitRemote(name, event as RegistryEventMap[typeof name]);
    }
  }
}
