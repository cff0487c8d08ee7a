/** What happened in the registry, for the activity feed, live UI updates and webhooks. */
import { EventEmitter } from 'node:events';
import type { MaintenanceEvent, StorageView } from './api-types.ts';

export interface RegistryEventMap {
  'blob-pushed': { repository: string; digest: string; size: number };
  'blob-mounted': { repository: string; from: string; digest: string };
  'blob-deleted': { repository: string; digest: string };
  'manifest-pushed': { repository: string; digest: string; tag?: string; mediaType: string; size: number };
  'manifest-pulled': { repository: string; digest: string; reference: string };
  'manifest-deleted': { repository: string; digest: string };
  'tag-deleted': { repository: string; tag: string; digest: string };
  /** Every tag, manifest and layer link of the repository is gone (its blobs wait for garbage collection). */
  'repository-deleted': { repository: string; tags: string[]; manifests: number; layers: number };
  /** A maintenance run (gc, scrub, purge-uploads, reindex, retention) was queued, progressed or finished. */
  maintenance: MaintenanceEvent;
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
