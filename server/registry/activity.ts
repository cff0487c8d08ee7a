/**
 * The activity feed: pushes, pulls and deletes, recorded from registry events into the activity log,
 * plus uploads in progress. Listeners only queue the event (registry/events.ts: observers never slow
 * the request that emitted). Queued events are recorded in batches, at most every BATCH_MS, in order
 * on one promise chain, and identical events of a batch once: a pull storm of thousands of GETs per
 * second of one tag is one write, not thousands (nor an ever longer queue of them).
 *
 * Events of one kind on one repository close together in time are folded into one entry: a pull is a
 * HEAD and one GET per manifest (an index and its platform), a multi-arch push is one PUT per manifest,
 * and deleting a repository deletes each tag and manifest. An event of another kind on the same
 * repository ends the folding: a push, a delete, then another push are three entries, so the feed
 * never shows a tag pushed after it was deleted.
 */
import type { Logger } from 'pino';
import type { ActivityCursor, ActivityDoc, ActivityStore } from '../metadata/activity-store.ts';
import type { IndexStore } from '../metadata/index-store.ts';
import type { ActivityEntry, ActivityFeed, ActivityKind } from './api-types.ts';
import { RegistryError } from './errors.ts';
import type { RegistryEvents } from './events.ts';
import type { UploadMonitor } from './upload-monitor.ts';

/** Events of one kind on one repository within this time of the last fold into one entry. */
export const FOLD_WINDOW_MS = 10_000;
const KINDS: readonly ActivityKind[] = ['push', 'pull', 'delete'];
/** How long events wait to be recorded together (readers of the feed flush first, so they never wait). */
const BATCH_MS = 250;

interface Change {
  kind: ActivityKind;
  repository: string;
  at: Date;
  tag?: string;
  digest?: string;
  /** Pull by digest: look up the tags pointing to it. */
  tagsOf?: string;
  /** Push: the size of this manifest's image, from the index. */
  sizeOf?: string;
  repositoryDeleted?: boolean;
  /** Tags named by the event itself (a repository delete). */
  tags?: string[];
  /** Cache: bytes fetched from the upstream (added up over the entry). */
  bytes?: number;
  upstream?: string;
  note?: string;
}

export interface ActivityServiceDeps {
  log: ActivityStore;
  events: RegistryEvents;
  index: IndexStore;
  monitor: UploadMonitor;
  logger: Logger;
}

export class ActivityService {
  private readonly deps: ActivityServiceDeps;
  private queue: Promise<void> = Promise.resolve();
  /**
   * Events waiting for the next batch, identical ones once (at the latest time, in the place of the
   * latest): a pull storm holds one entry, not one object per GET until the batch is written (those
   * outlived the young generation and piled up in the old one: docs/benchmarks.md, "Memory").
   */
  private pending = new Map<string, Change>();
  private timer: NodeJS.Timeout | null = null;
  /** The entry each kind+repository last wrote to, for folding. */
  private readonly open = new Map<string, ActivityDoc>();
  private unsubscribe: (() => void)[] = [];

  constructor(deps: ActivityServiceDeps) {
    this.deps = deps;
  }

  /** Starts recording registry events. */
  start(): void {
    const { events } = this.deps;
    const now = () => new Date();
    this.unsubscribe = [
      events.on('manifest-pushed', (e) =>
        this.enqueue({ kind: 'push', repository: e.repository, at: now(), digest: e.digest, sizeOf: e.digest, ...(e.tag ? { tag: e.tag } : {}) })),
      events.on('manifest-pulled', (e) =>
        this.enqueue({ kind: 'pull', repository: e.repository, at: now(), digest: e.digest, ...(e.reference.includes(':') ? { tagsOf: e.digest } : { tag: e.reference }) })),
      events.on('tag-deleted', (e) => this.enqueue({ kind: 'delete', repository: e.repository, at: now(), tag: e.tag })),
      events.on('manifest-deleted', (e) => this.enqueue({ kind: 'delete', repository: e.repository, at: now(), digest: e.digest })),
      events.on('repository-deleted', (e) => this.enqueue({ kind: 'delete', repository: e.repository, at: now(), repositoryDeleted: true, tags: e.tags })),
      // The pull-through cache (mirror/): what it fetched (a manifest starts the entry, its blobs add their bytes) and what failed.
      events.on('mirror-fetched', (e) => this.enqueue({
        kind: 'cache', repository: e.repository, at: now(), upstream: e.upstream, bytes: e.bytes,
        ...(e.kind === 'manifest' ? (e.reference.includes(':') ? { digest: e.digest } : { tag: e.reference, digest: e.digest }) : {}),
      })),
      events.on('mirror-stale', (e) => this.enqueue({ kind: 'stale', repository: e.repository, at: now(), upstream: e.upstream, note: e.error, ...refOf(e.reference) })),
      events.on('mirror-error', (e) => this.enqueue({ kind: 'upstream-error', repository: e.repository, at: now(), upstream: e.upstream, note: e.error, ...refOf(e.reference) })),
    ];
  }

  /** Stops recording and waits for what is queued to be written. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    await this.flush();
  }

  /** Resolves once every event so far is in the log. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    if (batch.length > 0) {
      this.queue = this.queue
        .then(() => this.recordBatch(batch))
        .catch((err: unknown) => this.deps.logger.warn({ err, events: batch.length }, 'activity: events not recorded'));
    }
    return this.queue;
  }

  async feed({ limit, before }: { limit: number; before?: string }): Promise<ActivityFeed> {
    await this.flush();
    const docs = await this.deps.log.recent(limit + 1, before === undefined ? undefined : parseCursor(before));
    const page = docs.slice(0, limit);
    const last = page.at(-1);
    return {
      entries: page.map(entry),
      next: docs.length > limit && last ? `${last.at.toISOString()}_${last._id}` : null,
      uploads: this.deps.monitor.snapshot(),
    };
  }

  private enqueue(change: Change): void {
    const key = [change.kind, change.repository, change.tag, change.digest, change.tagsOf, change.sizeOf, change.repositoryDeleted, change.tags?.join(','), change.bytes, change.note, change.upstream].join('\0');
    this.pending.delete(key);
    this.pending.set(key, change);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), BATCH_MS);
      this.timer.unref();
    }
  }

  private async recordBatch(batch: Change[]): Promise<void> {
    const changed = new Set<ActivityDoc>();
    for (const change of batch) await this.record(change, changed);
    for (const doc of changed) await this.deps.log.update(doc);
  }

  /** Folds one event into its open entry (collected in `changed`, written once per batch) or starts a new one. */
  private async record(change: Change, changed: Set<ActivityDoc>): Promise<void> {
    const { log, index } = this.deps;
    const key = `${change.kind}\0${change.repository}`;
    const tags = change.tags ?? (change.tag ? [change.tag] : change.tagsOf ? (await index.tagDocs(change.repository, change.tagsOf)).map((t) => t.tag) : []);
    const bytes = change.sizeOf ? ((await index.manifest(change.repository, change.sizeOf))?.totalSize ?? null) : change.bytes ?? null;
    let previous = this.open.get(key);
    // In a cluster the entry to fold into may be another replica's (a multi-arch push whose manifests
    // a load balancer sent to different replicas), and another replica may have closed this one's
    // (a delete between two pushes): the shared log decides, as the newest entry of the repository
    // among the kinds that close each other (as below). This replica's own copy of that entry is kept
    // when it is the one (it may hold folds of this batch not yet written). Two replicas folding into
    // one entry in the same instant may each miss the other's tags (last write wins).
    if (log.shared) {
      const kinds = KINDS.includes(change.kind) ? KINDS : [change.kind];
      const newest = await log.latest(change.repository, kinds, new Date(change.at.getTime() - FOLD_WINDOW_MS));
      previous = newest?.kind === change.kind ? (previous?._id === newest._id ? previous : newest) : undefined;
    }
    // What happens next on this repository comes after the other kinds' entries: they are closed.
    for (const kind of KINDS) if (kind !== change.kind) this.open.delete(`${kind}\0${change.repository}`);
    if (previous && change.at.getTime() - previous.at.getTime() <= FOLD_WINDOW_MS) {
      previous.at = change.at;
      previous.tags = union(previous.tags, tags);
      if (change.digest && !previous.digests.includes(change.digest)) {
        previous.digests.push(change.digest);
        previous.count += 1;
      }
      // A multi-arch push is its platforms then the index: the index's total is the image's size.
      // What a cache fetched adds up: the manifests, then each blob.
      if (bytes !== null) previous.bytes = change.kind === 'cache' ? (previous.bytes ?? 0) + bytes : Math.max(previous.bytes ?? 0, bytes);
      if (change.note) previous.note = change.note;
      previous.repositoryDeleted ||= change.repositoryDeleted === true;
      changed.add(previous);
      return;
    }
    const doc = await log.insert({
      kind: change.kind,
      repository: change.repository,
      tags,
      digests: change.digest ? [change.digest] : [],
      count: change.digest ? 1 : 0,
      bytes,
      repositoryDeleted: change.repositoryDeleted === true,
      firstAt: change.at,
      at: change.at,
      ...(change.upstream ? { upstream: change.upstream } : {}),
      ...(change.note ? { note: change.note } : {}),
    });
    this.open.set(key, doc);
    // Only the latest entry per kind+repository can fold; older ones need not be remembered.
    if (this.open.size > 1000) {
      for (const [k, d] of this.open) if (change.at.getTime() - d.at.getTime() > FOLD_WINDOW_MS) this.open.delete(k);
    }
  }
}

function entry(doc: ActivityDoc): ActivityEntry {
  return {
    id: doc._id,
    kind: doc.kind,
    repository: doc.repository,
    tags: doc.tags,
    digests: doc.digests,
    count: doc.count,
    bytes: doc.bytes,
    repositoryDeleted: doc.repositoryDeleted,
    firstAt: doc.firstAt.toISOString(),
    at: doc.at.toISOString(),
    ...(doc.upstream ? { upstream: doc.upstream } : {}),
    ...(doc.note ? { note: doc.note } : {}),
  };
}

/** A cache event's reference: a tag, or a digest. */
function refOf(reference: string): { tag: string } | { digest: string } {
  return reference.includes(':') ? { digest: reference } : { tag: reference };
}

function union(a: string[], b: string[]): string[] {
  return b.every((x) => a.includes(x)) ? a : [...new Set([...a, ...b])];
}

/** "<ISO time>_<id>", as `next` gives it. */
export function parseCursor(value: string): ActivityCursor {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z)_([A-Za-z0-9]{1,64})$/.exec(value);
  const at = match ? new Date(match[1]!) : null;
  if (!match || !at || Number.isNaN(at.getTime())) {
    throw new RegistryError('BAD_REQUEST', { message: '"before" must be the "next" value of a previous page of activity' });
  }
  return { at, id: match[2]! };
}
