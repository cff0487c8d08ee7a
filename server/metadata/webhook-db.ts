/**
 * The webhook store (webhook-store.ts) in nedb files under <data>/webhooks/ (storage/paths.ts):
 *   endpoints.db   endpoints made through the API or the CLI, with their signing secrets
 *   state.db       per endpoint: last success and failure, failure streak, circuit, counters
 *   outbox.db      one document per delivery: pending ones are the queue, finished ones the log
 * The folder is 0700 and the files 0600: they hold the secrets.
 *
 * nedb keeps every document in memory; the memory is bounded by the per-endpoint queue cap
 * (webhooks/recorder.ts) plus LOG_PER_ENDPOINT finished deliveries per endpoint.
 *
 * Durability: enqueue() resolves once nedb has appended the deliveries to outbox.db with write(2): in
 * the kernel, where a kill -9, a crash or an OOM kill of Berth cannot undo them. Against a power cut
 * the file is fdatasynced within SYNC_EVERY_MS after an append, off the request path. An fdatasync
 * before every answer was measured (docs/benchmarks.md, Webhooks): it cost pushes 10-20% more registry
 * CPU on this ext4 disk (it forces a journal commit that flushes the concurrent uploads' data too),
 * against 3% with the periodic sync.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import Datastore from 'nedb-promises';
import { compact, openOrSetAside, type NedbOptions, type SetAsideStore } from './nedb-file.ts';
import { makeStoreDir } from '../storage/files.ts';
import {
  LOG_PER_ENDPOINT,
  type DeliveryDoc,
  type DeliveryState,
  type EndpointDoc,
  type EndpointStateDoc,
  type NewDelivery,
  type WebhookStore,
} from './webhook-store.ts';

const MODES = { fileMode: 0o600, dirMode: 0o700 };
/** Appended deliveries reach the disk itself within this time (power cuts; see the top). */
export const SYNC_EVERY_MS = 1000;
/** nedb appends every change: the files are rewritten (compacted) after this many. */
const COMPACT_EVERY = 5000;
/** The delivery log is pruned after this many deliveries finished. */
const PRUNE_EVERY = 200;

/** The pending deliveries of one endpoint in order (ids by seq), so the queue's head costs no sort. */
interface Queue {
  entries: { seq: number; id: string }[];
}

export class NedbWebhookStore implements WebhookStore {
  private readonly dir: string;
  private endpoints!: Datastore<EndpointDoc>;
  private states!: Datastore<EndpointStateDoc>;
  private outbox!: Datastore<DeliveryDoc>;
  private readonly queues = new Map<string, Queue>();
  private seq = 0;
  private readonly writes = new Map<Datastore<unknown>, number>();
  private finishedSincePrune = 0;
  private opened = false;
  private syncing: Promise<void> | null = null;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** outbox.db open for fdatasync; closed whenever nedb rewrites (compacts) the file. */
  private syncHandle: fs.FileHandle | null = null;
  /** While nedb rewrites outbox.db: syncs wait for it, then open the new file. */
  private compaction: Promise<void> | null = null;

  private readonly options: NedbOptions;

  /** `onWriteFailure`: told of every write the disk refused (the registry's storage health). */
  constructor(dir: string, onWriteFailure?: (err: Error, file: string) => void) {
    this.dir = dir;
    this.options = { modes: MODES, ...(onWriteFailure ? { onWriteFailure } : {}) };
  }

  async open(): Promise<{ setAside: SetAsideStore[] }> {
    await makeStoreDir(this.dir, MODES.dirMode);
    // A folder made by an older version or by hand: it holds secrets.
    await fs.chmod(this.dir, MODES.dirMode);
    const setAside: SetAsideStore[] = [];
    this.endpoints = await this.load<EndpointDoc>('endpoints', setAside);
    this.states = await this.load<EndpointStateDoc>('state', setAside);
    this.outbox = await this.load<DeliveryDoc>('outbox', setAside);
    await this.outbox.ensureIndex({ fieldName: 'endpointId' });
    await this.outbox.ensureIndex({ fieldName: 'state' });
    const pending = await this.outbox.find<DeliveryDoc>({ state: 'pending' }).sort({ seq: 1 }).project({ _id: 1, seq: 1, endpointId: 1 });
    for (const d of pending) this.queue(d.endpointId).entries.push({ seq: d.seq, id: d._id });
    const [last] = await this.outbox.find<DeliveryDoc>({}).sort({ seq: -1 }).limit(1).project({ seq: 1 });
    this.seq = last?.seq ?? 0;
    this.syncTimer = setInterval(() => void this.sync(), SYNC_EVERY_MS);
    this.syncTimer.unref();
    this.opened = true;
    return { setAside };
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = null;
    await this.syncing?.catch(() => undefined);
    await this.forgetSyncHandle();
    await Promise.all([compact(this.endpoints), compact(this.states), compact(this.outbox)]);
  }

  // ---- endpoints ------------------------------------------------------------------------------

  async listEndpoints(): Promise<EndpointDoc[]> {
    return this.endpoints.find<EndpointDoc>({}).sort({ createdAt: 1 });
  }

  async endpoint(id: string): Promise<EndpointDoc | null> {
    return this.endpoints.findOne<EndpointDoc>({ _id: id });
  }

  async saveEndpoint(doc: EndpointDoc): Promise<void> {
    await this.endpoints.update({ _id: doc._id }, doc, { upsert: true });
    // Secrets change here: the old ones must not linger in the appended file.
    await compact(this.endpoints);
  }

  async removeEndpoint(id: string): Promise<boolean> {
    const removed = await this.endpoints.remove({ _id: id }, { multi: false });
    await compact(this.endpoints);
    await this.states.remove({ _id: id }, { multi: false });
    await this.outbox.remove({ endpointId: id }, { multi: true });
    this.queues.delete(id);
    return removed > 0;
  }

  async endpointStates(): Promise<EndpointStateDoc[]> {
    return this.states.find<EndpointStateDoc>({});
  }

  async saveEndpointState(doc: EndpointStateDoc): Promise<void> {
    await this.states.update({ _id: doc._id }, doc, { upsert: true });
    await this.counted(this.states as Datastore<unknown>);
  }

  // ---- outbox ---------------------------------------------------------------------------------

  async enqueue(deliveries: NewDelivery[], cap: number): Promise<DeliveryDoc[]> {
    if (deliveries.length === 0) return [];
    const docs: DeliveryDoc[] = deliveries.map((d) => ({ ...d, seq: ++this.seq }));
    await this.outbox.insert(docs);
    for (const d of docs) this.queue(d.endpointId).entries.push({ seq: d.seq, id: d._id });
    const dropped: DeliveryDoc[] = [];
    for (const endpointId of new Set(docs.map((d) => d.endpointId))) {
      const queue = this.queue(endpointId);
      while (queue.entries.length > cap) {
        const victim = await this.oldestDroppable(queue);
        if (!victim) break;
        const doc = { ...victim, state: 'dropped' as const, nextAttemptAt: null, finishedAt: new Date() };
        await this.outbox.update({ _id: doc._id }, doc);
        this.unqueue(doc);
        dropped.push(doc);
      }
    }
    this.dirty = true;
    await this.counted(this.outbox as Datastore<unknown>, docs.length + dropped.length);
    return dropped;
  }

  async heads(): Promise<DeliveryDoc[]> {
    const heads: DeliveryDoc[] = [];
    for (const queue of this.queues.values()) {
      const first = queue.entries[0];
      if (!first) continue;
      const doc = await this.outbox.findOne<DeliveryDoc>({ _id: first.id });
      if (doc) heads.push(doc);
    }
    return heads;
  }

  async delivery(id: string): Promise<DeliveryDoc | null> {
    return this.outbox.findOne<DeliveryDoc>({ _id: id });
  }

  async saveDelivery(doc: DeliveryDoc, options: { requeue?: boolean } = {}): Promise<DeliveryDoc> {
    const saved = options.requeue ? { ...doc, seq: ++this.seq } : doc;
    this.unqueue(doc);
    if (saved.state === 'pending') {
      const queue = this.queue(saved.endpointId);
      // Its place in the order: requeued ones go last; others keep their seq (sorted insert).
      const at = queue.entries.findIndex((e) => e.seq > saved.seq);
      queue.entries.splice(at < 0 ? queue.entries.length : at, 0, { seq: saved.seq, id: saved._id });
    }
    await this.outbox.update({ _id: saved._id }, saved, { upsert: true });
    await this.counted(this.outbox as Datastore<unknown>);
    if (saved.state !== 'pending' && ++this.finishedSincePrune >= PRUNE_EVERY) await this.prune();
    return saved;
  }

  async listDeliveries(filter: { endpointId?: string; state?: DeliveryState; limit: number; before?: number }): Promise<DeliveryDoc[]> {
    const query: Record<string, unknown> = {};
    if (filter.endpointId) query.endpointId = filter.endpointId;
    if (filter.state) query.state = filter.state;
    if (filter.before !== undefined) query.seq = { $lt: filter.before };
    return this.outbox.find<DeliveryDoc>(query).sort({ seq: -1 }).limit(filter.limit);
  }

  queueLengths(): Map<string, number> {
    return new Map([...this.queues].map(([id, q]) => [id, q.entries.length]));
  }

  // ---- internals ------------------------------------------------------------------------------

  private queue(endpointId: string): Queue {
    let queue = this.queues.get(endpointId);
    if (!queue) this.queues.set(endpointId, (queue = { entries: [] }));
    return queue;
  }

  private unqueue(doc: Pick<DeliveryDoc, '_id' | 'endpointId'>): void {
    const queue = this.queues.get(doc.endpointId);
    if (!queue) return;
    const at = queue.entries.findIndex((e) => e.id === doc._id);
    if (at >= 0) queue.entries.splice(at, 1);
  }

  /** The oldest pending delivery after the head (the head may be on the wire right now). */
  private async oldestDroppable(queue: Queue): Promise<DeliveryDoc | null> {
    const second = queue.entries[1];
    return second ? this.outbox.findOne<DeliveryDoc>({ _id: second.id }) : null;
  }

  /** Keeps the newest LOG_PER_ENDPOINT finished deliveries of each endpoint. */
  private async prune(): Promise<void> {
    this.finishedSincePrune = 0;
    const endpointIds = new Set((await this.outbox.find<DeliveryDoc>({ state: { $ne: 'pending' } }).project({ endpointId: 1 })).map((d: Pick<DeliveryDoc, 'endpointId'>) => d.endpointId));
    for (const endpointId of endpointIds) {
      const old = await this.outbox
        .find<DeliveryDoc>({ endpointId, state: { $ne: 'pending' } })
        .sort({ seq: -1 })
        .skip(LOG_PER_ENDPOINT)
        .project({ _id: 1 });
      if (old.length > 0) await this.outbox.remove({ _id: { $in: old.map((d: Pick<DeliveryDoc, '_id'>) => d._id) } }, { multi: true });
    }
  }

  /** Counts appended changes; compacts a file that has grown by COMPACT_EVERY of them. */
  private async counted(store: Datastore<unknown>, n = 1): Promise<void> {
    const writes = (this.writes.get(store) ?? 0) + n;
    this.writes.set(store, writes >= COMPACT_EVERY ? 0 : writes);
    if (writes < COMPACT_EVERY) return;
    if (store !== (this.outbox as Datastore<unknown>)) {
      await compact(store);
      return;
    }
    // The file is replaced (nedb fsyncs the new one) and appends go there from now on: the handle of
    // the old one is dropped, and no sync runs meanwhile.
    this.compaction = (async () => {
      await this.syncing?.catch(() => undefined);
      await this.forgetSyncHandle();
      await compact(store);
    })().finally(() => (this.compaction = null));
    await this.compaction;
  }

  /**
   * fdatasync of outbox.db when something was appended since the last one (every SYNC_EVERY_MS). A
   * failed one is tried again next time. Compaction renames a fresh file into place, fsynced by nedb.
   */
  private sync(): Promise<void> {
    if (this.syncing || !this.dirty) return this.syncing ?? Promise.resolve();
    this.dirty = false;
    this.syncing = this.datasync()
      .catch(() => {
        this.dirty = true;
      })
      .finally(() => (this.syncing = null));
    return this.syncing;
  }

  private async datasync(): Promise<void> {
    if (this.compaction) await this.compaction;
    this.syncHandle ??= await fs.open(path.join(this.dir, 'outbox.db'), 'r');
    await this.syncHandle.datasync();
  }

  private async forgetSyncHandle(): Promise<void> {
    const handle = this.syncHandle;
    this.syncHandle = null;
    await handle?.close().catch(() => undefined);
  }

  private async load<T>(name: string, setAside: SetAsideStore[]): Promise<Datastore<T>> {
    const filename = path.join(this.dir, `${name}.db`);
    const store = await openOrSetAside<T>(filename, this.options, setAside);
    // Files written before the modes were set, or restored from a backup, may be readable by others.
    await fs.chmod(filename, MODES.fileMode).catch(() => undefined);
    return store;
  }


}
