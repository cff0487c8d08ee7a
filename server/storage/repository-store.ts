/**
 * Per-repository links over the storage driver (layout: paths.ts), the same for every driver: which
 * blobs and manifests a repository holds, and its tags. The objects are the truth; small caches in front
 * of them answer the hot paths (HEAD blob, GET manifest by tag) without a request to the store. They
 * stay exact because this process is the only writer of its data directory and of the objects it
 * names; on a store several processes share (issue 16) the shared index has to tell them of removals.
 */
import { tryParseDigest, isValidName, isValidTag, type Digest } from '../registry/reference.ts';
import { cacheClock, entryCache, type EntryCache, type StoreChanges } from './cache.ts';
import type { Freshness } from './blob-store.ts';
import type { StorageDriver } from './driver/driver.ts';
import { keys } from './paths.ts';

export interface TagRecord {
  tag: string;
  digest: Digest;
  pushedAt: Date;
}

export interface RevisionRecord {
  digest: Digest;
  mediaType: string;
  pushedAt: Date;
}

export interface LayerLinkRecord {
  digest: Digest;
  /** The last time an upload or a mount linked the blob here (the link file's mtime). */
  linkedAt: Date;
}

/** A link or tag written but not yet in place (the driver's StagedContent). */
export interface StagedLink {
  /** Puts it in place; returns the push time as a later read will see it. */
  commit(): Promise<Date>;
  discard(): Promise<void>;
}

/** A staged revision link, which can be written again after a commit that failed. */
export interface StagedRevision extends StagedLink {
  /** Writes the link and puts it in place anew; returns the push time. */
  redo(): Promise<Date>;
}

export interface LayerLinks {
  /** `fresh`: ask the store, not the cache (a writer's check under its locks). */
  hasLayer(repo: string, digest: Digest, options?: Freshness): Promise<boolean>;
  /**
   * Links the blob into the repository, or refreshes the link's time when it is there already. A new
   * link is durable within a second, or at settleLayers().
   */
  linkLayer(repo: string, digest: Digest): Promise<void>;
  /** Makes these blobs' links in the repository durable now. */
  settleLayers(repo: string, digests: readonly Digest[]): Promise<void>;
  unlinkLayer(repo: string, digest: Digest): Promise<boolean>;
  listLayers(repo: string): Promise<Digest[]>;
  listLayerLinks(repo: string): Promise<LayerLinkRecord[]>;
}

export interface ManifestLinks {
  /** The media type the manifest was pushed with, or null when the repository does not hold it. */
  manifestMediaType(repo: string, digest: Digest, options?: Freshness): Promise<string | null>;
  /** Records the manifest (and the media type it was pushed as); returns the push time. */
  linkManifest(repo: string, digest: Digest, mediaType: string): Promise<Date>;
  /** linkManifest in two steps: the link is written (durably, out of sight) now, and recorded at commit(). */
  stageManifestLink(repo: string, digest: Digest, mediaType: string): Promise<StagedRevision>;
  unlinkManifest(repo: string, digest: Digest): Promise<boolean>;
  listManifests(repo: string): Promise<RevisionRecord[]>;
}

export interface TagStore {
  resolveTag(repo: string, tag: string): Promise<Digest | null>;
  putTag(repo: string, tag: string, digest: Digest): Promise<Date>;
  /** putTag in two steps: the tag's new content is written now, and the tag moved at commit(). */
  stageTag(repo: string, tag: string, digest: Digest): Promise<StagedLink>;
  deleteTag(repo: string, tag: string): Promise<boolean>;
  listTags(repo: string): Promise<TagRecord[]>;
  /**
   * Puts a manifest's staged revision link and its staged tag `tag` in place (under the tag's lock);
   * `linked` is told the link's push time once the link is in place (even when the tag then fails),
   * and the tag's is returned.
   */
  commitTagged(repo: string, tag: string, revision: StagedRevision, staged: StagedLink, linked: (pushedAt: Date) => Promise<void>): Promise<Date>;
}

export interface RepositoryLister {
  repositoryExists(repo: string): Promise<boolean>;
  listRepositories(): Promise<string[]>;
}

export interface RepositoryRemover {
  /**
   * Removes the repository's folder: its tags, manifest links and layer links (never blobs, never the
   * repositories nested under its name). Returns false when there was nothing to remove.
   */
  removeRepository(repo: string): Promise<boolean>;
  /**
   * Removes the repository's folder if it holds no link and no tag any more (empty folders only, so
   * nothing can be lost); returns whether the repository is gone.
   */
  removeIfEmpty(repo: string): Promise<boolean>;
}

export type RepositoryStore = LayerLinks & ManifestLinks & TagStore & RepositoryLister & RepositoryRemover;

/** Slots of the per-repository generations: a fixed 16 KiB, whatever the number of repositories. */
const REPOSITORY_SLOTS = 4096;

/** FNV-1a over the name's UTF-16 code units, reduced to a slot. */
function slotOf(repo: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < repo.length; i++) hash = Math.imul(hash ^ repo.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % REPOSITORY_SLOTS;
}

export class DriverRepositoryStore implements RepositoryStore {
  private readonly driver: StorageDriver;
  /** "repo\0digest" of layer links known to exist. */
  private readonly links: EntryCache<true>;
  /** "repo\0digest" -> media type, for manifest links known to exist. */
  private readonly revisions: EntryCache<string>;
  /** "repo\0tag" -> digest, for tags known to exist. */
  private readonly tags: EntryCache<Digest>;
  /**
   * Bumped after every removal and every tag written: a lookup that was in the store while one finished
   * does not cache what it saw, or a link deleted by garbage collection, or the digest a tag pointed to
   * before a push moved it, could live on in the cache (as in the blob store).
   */
  private changeCount = 0;
  /** The same, per repository: counted in REPOSITORY_SLOTS slots by a hash of the name (generationOf). */
  private readonly repositoryChanges = new Uint32Array(REPOSITORY_SLOTS);

  private readonly changes: StoreChanges | null;

  /**
   * `cacheTtlMs`: how long what was seen is trusted (storage/cache.ts); forever by default. `changes`:
   * told of every removal and tag move, so that the request that made it waits out the other replicas' caches.
   */
  constructor(driver: StorageDriver, { cacheTtlMs, changes }: { cacheTtlMs?: number; changes?: StoreChanges } = {}) {
    this.driver = driver;
    this.changes = changes ?? null;
    this.links = entryCache<true>(500_000, cacheTtlMs);
    this.revisions = entryCache<string>(200_000, cacheTtlMs);
    this.tags = entryCache<Digest>(200_000, cacheTtlMs);
  }

  /**
   * Changes whenever an answer read from this store may have changed (a removal, a tag written):
   * what is remembered of such answers is valid only while it stays the same (http/manifest-answers.ts).
   */
  get generation(): number {
    return this.changeCount;
  }

  /**
   * Changes whenever the generation does for a change in `repo` (and, rarely, for one in another
   * repository that shares its slot): what a read of that repository answered stays valid while it
   * stays the same, whatever happens to other repositories.
   */
  generationOf(repo: string): number {
    return this.repositoryChanges[slotOf(repo)]!;
  }

  /** Something in `repo` was removed, or one of its tags written. */
  private changed(repo: string): void {
    this.changeCount += 1;
    this.repositoryChanges[slotOf(repo)]! += 1;
  }

  // ---- layers ---------------------------------------------------------------------------------

  async hasLayer(repo: string, digest: Digest, { fresh = false }: Freshness = {}): Promise<boolean> {
    const key = `${repo}\0${digest.value}`;
    if (!fresh && this.links.has(key)) return true;
    const generation = this.changeCount;
    const seenAt = cacheClock();
    if (!(await this.driver.stat(keys.layerLink(repo, digest)))) return false;
    if (generation === this.changeCount) this.links.set(key, true, seenAt);
    return true;
  }

  async linkLayer(repo: string, digest: Digest): Promise<void> {
    // The link's modified time is when a push last needed this blob here: garbage collection spares
    // links younger than its grace window, so a push whose manifest is still to come keeps its layers.
    const seenAt = cacheClock();
    // Durable within a second, or when a manifest that needs it is pushed (settleLayers): the manifest's
    // 201 is what says an image is stored, and its links are then synced together with its own writes.
    await this.driver.touch(keys.layerLink(repo, digest), { soon: true });
    this.links.set(`${repo}\0${digest.value}`, true, seenAt);
  }

  /** Makes the links of these blobs in `repo` durable now (linkLayer leaves that for up to a second). */
  async settleLayers(repo: string, digests: readonly Digest[]): Promise<void> {
    await this.driver.settle(digests.map((d) => keys.layerLink(repo, d)));
  }

  async unlinkLayer(repo: string, digest: Digest): Promise<boolean> {
    // The driver makes the removal durable before it returns: garbage collection deletes the blob next.
    const removed = await this.driver.delete(keys.layerLink(repo, digest));
    this.changed(repo);
    this.changes?.changed();
    this.links.delete(`${repo}\0${digest.value}`);
    return removed;
  }

  async listLayers(repo: string): Promise<Digest[]> {
    return (await this.listLayerLinks(repo)).map((l) => l.digest);
  }

  async listLayerLinks(repo: string): Promise<LayerLinkRecord[]> {
    const records: LayerLinkRecord[] = [];
    for await (const object of this.driver.walk(keys.layersDir(repo))) {
      const digest = digestOfKey(object.path);
      if (digest) records.push({ digest, linkedAt: object.modifiedAt });
    }
    return records;
  }

  // ---- manifests ------------------------------------------------------------------------------

  async manifestMediaType(repo: string, digest: Digest, { fresh = false }: Freshness = {}): Promise<string | null> {
    const key = `${repo}\0${digest.value}`;
    const cached = fresh ? undefined : this.revisions.get(key);
    if (cached !== undefined) return cached;
    const generation = this.changeCount;
    const seenAt = cacheClock();
    const record = await this.readRevision(keys.revisionLink(repo, digest), digest);
    if (!record) return null;
    if (generation === this.changeCount) this.revisions.set(key, record.mediaType, seenAt);
    return record.mediaType;
  }

  async linkManifest(repo: string, digest: Digest, mediaType: string): Promise<Date> {
    return (await this.stageManifestLink(repo, digest, mediaType)).commit();
  }

  /** linkManifest in two steps (the driver's stageContent): written now, visible at commit(). */
  async stageManifestLink(repo: string, digest: Digest, mediaType: string): Promise<StagedRevision> {
    const key = keys.revisionLink(repo, digest);
    const pushedAt = new Date();
    const seenAt = cacheClock();
    const staged = await this.driver.stageContent(key, `${mediaType}\n${this.stamp(pushedAt)}`);
    return {
      commit: async () => {
        await staged.commit();
        this.revisions.set(`${repo}\0${digest.value}`, mediaType, seenAt);
        return this.storedTime(key, pushedAt);
      },
      discard: () => staged.discard(),
      redo: () => this.linkManifest(repo, digest, mediaType),
    };
  }

  async unlinkManifest(repo: string, digest: Digest): Promise<boolean> {
    const removed = await this.driver.delete(keys.revisionLink(repo, digest));
    this.changed(repo);
    this.changes?.changed();
    this.revisions.delete(`${repo}\0${digest.value}`);
    return removed;
  }

  async listManifests(repo: string): Promise<RevisionRecord[]> {
    const records: RevisionRecord[] = [];
    for await (const object of this.driver.walk(keys.revisionsDir(repo))) {
      const digest = digestOfKey(object.path);
      if (!digest) continue;
      const record = await this.readRevision(object.path, digest);
      if (record) records.push(record);
    }
    return records;
  }

  // ---- tags -----------------------------------------------------------------------------------

  async resolveTag(repo: string, tag: string): Promise<Digest | null> {
    const key = `${repo}\0${tag}`;
    const cached = this.tags.get(key);
    if (cached) return cached;
    const generation = this.changeCount;
    const seenAt = cacheClock();
    const record = await this.readTag(keys.tag(repo, tag));
    if (!record || record.tag !== tag) return null;
    if (generation === this.changeCount) this.tags.set(key, record.digest, seenAt);
    return record.digest;
  }

  async putTag(repo: string, tag: string, digest: Digest): Promise<Date> {
    return (await this.stageTag(repo, tag, digest)).commit();
  }

  /** putTag in two steps (the driver's stageContent): written now, the tag moved at commit(). */
  async stageTag(repo: string, tag: string, digest: Digest): Promise<StagedLink> {
    const key = keys.tag(repo, tag);
    const pushedAt = new Date();
    const seenAt = cacheClock();
    const staged = await this.driver.stageContent(key, `${digest.value}\n${tag}\n${this.stamp(pushedAt)}`);
    return {
      commit: async () => {
        // A tag moved from another digest: other replicas may hold the old one (StoreChanges).
        const before = this.changes ? await this.readTag(key) : null;
        await staged.commit();
        this.changed(repo);
        if (before && before.digest.value !== digest.value) this.changes?.changed();
        this.tags.set(`${repo}\0${tag}`, digest, seenAt);
        return this.storedTime(key, pushedAt);
      },
      discard: () => staged.discard(),
    };
  }

  /**
   * A store of its own (the data directory) moves the link and the tag at once and syncs their two
   * folders together: one round of fsyncs fewer per push (docs/benchmarks.md, catalog populate). A
   * crash in that round can leave the tag without the link; the manifest and the blobs it needs are
   * durable by then (manifests.ts), and the index rebuild that follows every unclean stop puts the
   * link back (reindex.ts). A shared store keeps the order, link first: its other replicas read tags
   * while this one runs, and rebuild nothing when it stops.
   */
  async commitTagged(repo: string, tag: string, revision: StagedRevision, staged: StagedLink, linked: (pushedAt: Date) => Promise<void>): Promise<Date> {
    if (this.driver.shared) {
      await linked(await revision.commit());
      return staged.commit();
    }
    // What the tag named, to put back should the link fail where the tag did not (a failing disk).
    const before = await this.resolveTag(repo, tag);
    const [link, moved] = await Promise.allSettled([revision.commit(), staged.commit()]);
    if (link.status === 'fulfilled') {
      await linked(link.value);
    } else {
      if (moved.status === 'rejected') throw link.reason;
      try {
        await linked(await revision.redo());
      } catch (err) {
        await (before ? this.putTag(repo, tag, before) : this.deleteTag(repo, tag)).catch(() => undefined);
        throw err;
      }
    }
    if (moved.status === 'rejected') throw moved.reason;
    return moved.value;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    const removed = await this.driver.delete(keys.tag(repo, tag));
    this.changed(repo);
    this.changes?.changed();
    this.tags.delete(`${repo}\0${tag}`);
    return removed;
  }

  async listTags(repo: string): Promise<TagRecord[]> {
    const dir = keys.tagsDir(repo);
    const records: TagRecord[] = [];
    for (const entry of await this.driver.list(dir)) {
      const record = await this.readTag(`${dir}/${entry}`);
      if (record) records.push(record);
    }
    return records;
  }

  // ---- repositories ---------------------------------------------------------------------------

  async repositoryExists(repo: string): Promise<boolean> {
    const entries = await this.driver.list(keys.repository(repo));
    return entries.includes('_manifests') || entries.includes('_layers');
  }

  /** Every repository in the store: a prefix under repositories/ holding _manifests or _layers. */
  async listRepositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await this.driver.list(dir);
      if (prefix && (entries.includes('_manifests') || entries.includes('_layers'))) found.push(prefix);
      for (const entry of entries) {
        if (entry.startsWith('_')) continue;
        const name = prefix ? `${prefix}/${entry}` : entry;
        if (!isValidName(name)) continue;
        await walk(`${dir}/${entry}`, name);
      }
    };
    await walk(keys.repositories, '');
    return found.sort();
  }

  async removeRepository(repo: string): Promise<boolean> {
    let removed = false;
    // Tags first, then manifest links, then layer links: a crash part way leaves fewer tags, never a
    // tag to a manifest the repository no longer holds.
    for (const dir of [keys.tagsDir(repo), keys.manifestsDir(repo), keys.layersDir(repo)]) {
      if ((await this.driver.list(dir)).length === 0) continue;
      await this.driver.deleteAll(dir);
      removed = true;
    }
    this.forgetRepository(repo);
    await this.driver.pruneEmpty(keys.manifestsDir(repo), keys.repositories);
    await this.driver.pruneEmpty(keys.layersDir(repo), keys.repositories);
    return removed;
  }

  async removeIfEmpty(repo: string): Promise<boolean> {
    // Only empty folders go (object stores have none), so a link written meanwhile is never lost.
    await this.driver.pruneEmpty(keys.manifestsDir(repo), keys.repositories);
    await this.driver.pruneEmpty(keys.layersDir(repo), keys.repositories);
    this.forgetRepository(repo);
    return !(await this.repositoryExists(repo));
  }

  // ---- helpers --------------------------------------------------------------------------------

  /**
   * The push time as a line of the object, where the store's own time is not exact (object stores keep
   * whole seconds; paths.ts). On disk the file's modified time is the push time, as it always was.
   */
  private stamp(at: Date): string {
    return this.driver.exactTimes ? '' : `${at.toISOString()}\n`;
  }

  /** The push time as a later read will see it: the file's time on disk, the stamped one elsewhere. */
  private async storedTime(key: string, stamped: Date): Promise<Date> {
    if (!this.driver.exactTimes) return stamped;
    return (await this.driver.stat(key))?.modifiedAt ?? stamped;
  }

  /** Drops every cached link and tag of a removed repository. */
  private forgetRepository(repo: string): void {
    this.changed(repo);
    this.changes?.changed();
    const prefix = `${repo}\0`;
    for (const cache of [this.links, this.revisions, this.tags] as { keys(): IterableIterator<string>; delete(k: string): boolean }[]) {
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    }
  }

  /** "<media type>\n<pushed at>\n"; older revision files hold only the type (their modified time is the push). */
  private async readRevision(key: string, digest: Digest): Promise<RevisionRecord | null> {
    const content = await this.driver.getContent(key);
    if (!content) return null;
    const [mediaType = '', time] = content.bytes.toString('utf8').split('\n');
    return { digest, mediaType: mediaType.trim(), pushedAt: parseTime(time) ?? content.modifiedAt };
  }

  /** "<digest>\n<tag>\n<pushed at>\n" (older tag files have no third line). */
  private async readTag(key: string): Promise<TagRecord | null> {
    const content = await this.driver.getContent(key);
    if (!content) return null;
    const [digestLine, tag, time] = content.bytes.toString('utf8').split('\n');
    const digest = tryParseDigest(digestLine ?? '');
    if (!digest || !tag || !isValidTag(tag)) return null;
    return { tag, digest, pushedAt: parseTime(time) ?? content.modifiedAt };
  }
}

/** The digest named by the last two segments of a key (".../<alg>/<hex>"), or null. */
function digestOfKey(key: string): Digest | null {
  const parts = key.split('/');
  return tryParseDigest(`${parts.at(-2)}:${parts.at(-1)}`);
}

function parseTime(text: string | undefined): Date | null {
  if (!text) return null;
  const time = new Date(text.trim());
  return Number.isNaN(time.getTime()) ? null : time;
}
