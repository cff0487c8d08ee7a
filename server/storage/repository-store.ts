/**
 * Per-repository links on disk (layout: paths.ts): which blobs and manifests a repository holds, and
 * its tags. The files are the truth; small caches in front of them answer the hot paths (HEAD blob,
 * GET manifest by tag) without a syscall. They stay exact because this process is the only writer of
 * the data directory.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { tryParseDigest, isValidName, isValidTag, type Digest } from '../registry/reference.ts';
import { isNotFound, openIfExists, readDirOrEmpty, removeEmptyDirs, removeEmptyTree, removeFile, touchDurable, writeFileAtomic, fsyncDir } from './files.ts';
import { entryCache } from './cache.ts';
import type { StoragePaths } from './paths.ts';

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

export interface LayerLinks {
  hasLayer(repo: string, digest: Digest): Promise<boolean>;
  /** Links the blob into the repository, or refreshes the link's time when it is there already. */
  linkLayer(repo: string, digest: Digest): Promise<void>;
  unlinkLayer(repo: string, digest: Digest): Promise<boolean>;
  listLayers(repo: string): Promise<Digest[]>;
  listLayerLinks(repo: string): Promise<LayerLinkRecord[]>;
}

export interface ManifestLinks {
  /** The media type the manifest was pushed with, or null when the repository does not hold it. */
  manifestMediaType(repo: string, digest: Digest): Promise<string | null>;
  /** Records the manifest (and the media type it was pushed as); returns the push time. */
  linkManifest(repo: string, digest: Digest, mediaType: string): Promise<Date>;
  unlinkManifest(repo: string, digest: Digest): Promise<boolean>;
  listManifests(repo: string): Promise<RevisionRecord[]>;
}

export interface TagStore {
  resolveTag(repo: string, tag: string): Promise<Digest | null>;
  putTag(repo: string, tag: string, digest: Digest): Promise<Date>;
  deleteTag(repo: string, tag: string): Promise<boolean>;
  listTags(repo: string): Promise<TagRecord[]>;
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

export class FsRepositoryStore implements RepositoryStore {
  private readonly paths: StoragePaths;
  /** "repo\0digest" of layer links known to exist. */
  private readonly links = entryCache<true>(500_000);
  /** "repo\0digest" -> media type, for manifest links known to exist. */
  private readonly revisions = entryCache<string>(200_000);
  /** "repo\0tag" -> digest, for tags known to exist. */
  private readonly tags = entryCache<Digest>(200_000);
  /**
   * Bumped after every removal: a lookup that was on disk while a removal finished does not cache what
   * it saw, or a link deleted by garbage collection could live on in the cache (as in FsBlobStore).
   */
  private removals = 0;

  constructor(paths: StoragePaths) {
    this.paths = paths;
  }

  // ---- layers ---------------------------------------------------------------------------------

  async hasLayer(repo: string, digest: Digest): Promise<boolean> {
    const key = `${repo}\0${digest.value}`;
    if (this.links.has(key)) return true;
    const generation = this.removals;
    try {
      await fs.access(this.paths.layerLink(repo, digest));
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    if (generation === this.removals) this.links.set(key, true);
    return true;
  }

  async linkLayer(repo: string, digest: Digest): Promise<void> {
    const key = `${repo}\0${digest.value}`;
    const file = this.paths.layerLink(repo, digest);
    if (!this.links.has(key)) await touchDurable(file);
    // The link's mtime is when a push last needed this blob here: garbage collection spares links
    // younger than its grace window, so a push whose manifest is still to come keeps its layers.
    const now = new Date();
    try {
      await fs.utimes(file, now, now);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await touchDurable(file);
    }
    this.links.set(key, true);
  }

  async unlinkLayer(repo: string, digest: Digest): Promise<boolean> {
    const file = this.paths.layerLink(repo, digest);
    const removed = await removeFile(file);
    this.removals += 1;
    this.links.delete(`${repo}\0${digest.value}`);
    // Durable before anything that relies on the link being gone (garbage collection deletes the blob next).
    if (removed) await fsyncDir(path.dirname(file));
    return removed;
  }

  async listLayers(repo: string): Promise<Digest[]> {
    return this.listDigests(path.join(this.paths.repository(repo), '_layers'));
  }

  async listLayerLinks(repo: string): Promise<LayerLinkRecord[]> {
    const records: LayerLinkRecord[] = [];
    for (const digest of await this.listLayers(repo)) {
      try {
        records.push({ digest, linkedAt: (await fs.stat(this.paths.layerLink(repo, digest))).mtime });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return records;
  }

  // ---- manifests ------------------------------------------------------------------------------

  async manifestMediaType(repo: string, digest: Digest): Promise<string | null> {
    const key = `${repo}\0${digest.value}`;
    const cached = this.revisions.get(key);
    if (cached !== undefined) return cached;
    const generation = this.removals;
    let mediaType: string;
    try {
      mediaType = (await fs.readFile(this.paths.revisionLink(repo, digest), 'utf8')).trim();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    if (generation === this.removals) this.revisions.set(key, mediaType);
    return mediaType;
  }

  async linkManifest(repo: string, digest: Digest, mediaType: string): Promise<Date> {
    const file = this.paths.revisionLink(repo, digest);
    await writeFileAtomic(this.paths.tmpDir, file, `${mediaType}\n`);
    this.revisions.set(`${repo}\0${digest.value}`, mediaType);
    return (await fs.stat(file)).mtime;
  }

  async unlinkManifest(repo: string, digest: Digest): Promise<boolean> {
    const removed = await removeFile(this.paths.revisionLink(repo, digest));
    this.removals += 1;
    this.revisions.delete(`${repo}\0${digest.value}`);
    if (removed) await fsyncDir(path.dirname(this.paths.revisionLink(repo, digest)));
    return removed;
  }

  async listManifests(repo: string): Promise<RevisionRecord[]> {
    const dir = path.join(this.paths.manifestsDir(repo), 'revisions');
    const digests = await this.listDigests(dir);
    const records: RevisionRecord[] = [];
    for (const digest of digests) {
      try {
        const file = this.paths.revisionLink(repo, digest);
        const [st, mediaType] = await Promise.all([fs.stat(file), fs.readFile(file, 'utf8')]);
        records.push({ digest, mediaType: mediaType.trim(), pushedAt: st.mtime });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return records;
  }

  // ---- tags -----------------------------------------------------------------------------------

  async resolveTag(repo: string, tag: string): Promise<Digest | null> {
    const key = `${repo}\0${tag}`;
    const cached = this.tags.get(key);
    if (cached) return cached;
    const generation = this.removals;
    const record = await this.readTagFile(this.paths.tag(repo, tag));
    if (!record || record.tag !== tag) return null;
    if (generation === this.removals) this.tags.set(key, record.digest);
    return record.digest;
  }

  async putTag(repo: string, tag: string, digest: Digest): Promise<Date> {
    const file = this.paths.tag(repo, tag);
    await writeFileAtomic(this.paths.tmpDir, file, `${digest.value}\n${tag}\n`);
    this.tags.set(`${repo}\0${tag}`, digest);
    return (await fs.stat(file)).mtime;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    const file = this.paths.tag(repo, tag);
    const removed = await removeFile(file);
    this.removals += 1;
    this.tags.delete(`${repo}\0${tag}`);
    if (removed) await fsyncDir(path.dirname(file));
    return removed;
  }

  async listTags(repo: string): Promise<TagRecord[]> {
    const dir = this.paths.tagsDir(repo);
    const records: TagRecord[] = [];
    for (const entry of await readDirOrEmpty(dir)) {
      const record = await this.readTagFile(path.join(dir, entry));
      if (record) records.push(record);
    }
    return records;
  }

  // ---- repositories ---------------------------------------------------------------------------

  async repositoryExists(repo: string): Promise<boolean> {
    const dir = this.paths.repository(repo);
    for (const sub of ['_manifests', '_layers']) {
      try {
        await fs.access(path.join(dir, sub));
        return true;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return false;
  }

  /** Every repository on disk: a folder under repositories/ holding _manifests or _layers. */
  async listRepositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await readDirOrEmpty(dir);
      if (prefix && (entries.includes('_manifests') || entries.includes('_layers'))) found.push(prefix);
      for (const entry of entries) {
        if (entry.startsWith('_')) continue;
        const name = prefix ? `${prefix}/${entry}` : entry;
        if (!isValidName(name)) continue;
        const st = await fs.stat(path.join(dir, entry)).catch(() => null);
        if (st?.isDirectory()) await walk(path.join(dir, entry), name);
      }
    };
    await walk(this.paths.repositoriesDir, '');
    return found.sort();
  }

  async removeRepository(repo: string): Promise<boolean> {
    const dir = this.paths.repository(repo);
    let removed = false;
    // Tags first, then manifest links, then layer links: a crash part way leaves fewer tags, never a
    // tag to a manifest the repository no longer holds.
    for (const sub of [path.join('_manifests', 'tags'), '_manifests', '_layers']) {
      const target = path.join(dir, sub);
      try {
        await fs.access(target);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      await fs.rm(target, { recursive: true, force: true });
      removed = true;
    }
    this.forgetRepository(repo);
    if (removed) await fsyncDir(dir);
    await removeEmptyDirs(dir, this.paths.repositoriesDir);
    return removed;
  }

  async removeIfEmpty(repo: string): Promise<boolean> {
    const dir = this.paths.repository(repo);
    for (const sub of ['_manifests', '_layers']) {
      // Only empty folders go (rmdir refuses the others), so a link written meanwhile is never lost.
      await removeEmptyTree(path.join(dir, sub));
    }
    this.forgetRepository(repo);
    await removeEmptyDirs(dir, this.paths.repositoriesDir);
    return !(await this.repositoryExists(repo));
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Drops every cached link and tag of a removed repository. */
  private forgetRepository(repo: string): void {
    this.removals += 1;
    const prefix = `${repo}\0`;
    for (const cache of [this.links, this.revisions, this.tags] as { keys(): IterableIterator<string>; delete(k: string): boolean }[]) {
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    }
  }

  private async listDigests(dir: string): Promise<Digest[]> {
    const digests: Digest[] = [];
    for (const algorithm of await readDirOrEmpty(dir)) {
      for (const hex of await readDirOrEmpty(path.join(dir, algorithm))) {
        const digest = tryParseDigest(`${algorithm}:${hex}`);
        if (digest) digests.push(digest);
      }
    }
    return digests;
  }

  private async readTagFile(file: string): Promise<TagRecord | null> {
    const handle = await openIfExists(file);
    if (!handle) return null;
    try {
      const [text, st] = await Promise.all([handle.readFile('utf8'), handle.stat()]);
      const [digestLine, tag] = text.split('\n');
      const digest = tryParseDigest(digestLine ?? '');
      if (!digest || !tag || !isValidTag(tag)) return null;
      return { tag, digest, pushedAt: st.mtime };
    } finally {
      await handle.close();
    }
  }
}
