/** What happened in the registry, for the activity feed, live UI updates and webhooks. */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { MaintenanceEvent, StorageView } from './api-types.ts';

/** The request behind an event, in the fields of Distribution's notification request record. */
export interface RequestRecord {
  /** Made up per request (Distribution does the same): receivers correlate the events of one request. */
  id: string;
  /** The client's address and port. */
  addr: string;
  /** The Host the client asked for. */
  host: string;
  method: string;
  useragent: string;
}

/**
 * Who caused an event: the registry request (with auth on, the user), set by the HTTP layer and passed
 * down with the call. Observers that must be done before the client is answered hold the answer with
 * holdAnswer() (the webhook outbox: a delivery promised at least once must be on disk before the 201),
 * and the HTTP layer waits for settled() before it writes the response.
 */
export class EventOrigin {
  readonly request: RequestRecord;
  /** The user, '' for anonymous, undefined with auth off. */
  readonly actor: string | undefined;
  /** "http" or "https", for the URLs an event names. */
  readonly scheme: string;
  private held: Promise<unknown>[] | null = null;

  constructor(fields: { addr: string; host: string; method: string; useragent: string; actor?: string | undefined; scheme: string }) {
    this.request = { id: randomUUID(), addr: fields.addr, host: fields.host, method: fields.method, useragent: fields.useragent };
    this.actor = fields.actor;
    this.scheme = fields.scheme;
  }

  /** The client's answer waits for `work` (which must not reject: observers handle their own failures). */
  holdAnswer(work: Promise<unknown>): void {
    (this.held ??= []).push(work);
  }

  /** Resolves once every held piece of work is done. */
  async settled(): Promise<void> {
    while (this.held && this.held.length > 0) await Promise.all(this.held.splice(0));
  }
}

/** Events a request causes carry their origin when the HTTP layer passed it (absent for CLI and scheduled work). */
interface Caused {
  origin?: EventOrigin;
}

export interface RegistryEventMap {
  'blob-pushed': { repository: string; digest: string; size: number } & Caused;
  'blob-mounted': { repository: string; from: string; digest: string; size?: number } & Caused;
  /** A client fetched a blob (GET, not HEAD). */
  'blob-pulled': { repository: string; digest: string; size: number } & Caused;
  'blob-deleted': { repository: string; digest: string } & Caused;
  /** Garbage collection removed the blob's bytes: state derived from them (layer listings) goes too. */
  'blob-freed': { digest: string };
  'manifest-pushed': { repository: string; digest: string; tag?: string; mediaType: string; size: number } & Caused;
  'manifest-pulled': { repository: string; digest: string; reference: string; mediaType?: string; size?: number } & Caused;
  'manifest-deleted': { repository: string; digest: string } & Caused;
  'tag-deleted': { repository: string; tag: string; digest: string } & Caused;
  /** Every tag, manifest and layer link of the repository is gone (its blobs wait for garbage collection). */
  'repository-deleted': { repository: string; tags: string[]; manifests: number; layers: number } & Caused;
  /** A maintenance run (gc, scrub, purge-uploads, reindex, retention) was queued, progressed or finished. */
  maintenance: MaintenanceEvent;
  /** The pull-through cache (mirror/) fetched a manifest or a blob from an upstream. */
  'mirror-fetched': { upstream: string; repository: string; reference: string; digest: string; kind: 'manifest' | 'blob'; bytes: number };
  /** A cached manifest was served although its upstream failed (stale). */
  'mirror-stale': { upstream: string; repository: string; reference: string; error: string };
  /** An upstream failed and nothing cached could stand in. */
  'mirror-error': { upstream: string; repository: string; reference: string; error: string };
  /** An upstream's settings, credentials or cached content changed (added, removed, cleared, expired). */
  'mirror-changed': { upstream: string };
  /** The disk's state changed (storage-health.ts): full, writable again, a store file set aside. */
  storage: StorageView;
  /** The server is stopping: live connections end now. */
  stopping: Record<string, never>;
}

export type RegistryEventName = keyof RegistryEventMap;

/** A typed EventEmitter; listeners must not throw (they are observers, not participants). */
export class RegistryEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  on<K extends RegistryEventName>(name: K, listener: (event: RegistryEventMap[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  emit<K extends RegistryEventName>(name: K, event: RegistryEventMap[K]): void {
    if (this.emitter.listenerCount(name) > 0) this.emitter.emit(name, event);
  }
}
