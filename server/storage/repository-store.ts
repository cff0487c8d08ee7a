/**
 * Per-repository links on disk (layout: paths.ts): which blobs and manifests a repository holds, and
 * its tags. The files are the truth; small caches in front of them answer the hot paths (HEAD blob,
 * GET manifest by tag) without a syscall. They stay exact because this process is the only writer of
 * the data directory.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { tryParseDigest, isValidName, isValidTag, type Digest } from '../registry/reference.ts';
import { isNotFound, readDirOrEmpty, removeFile, touchDurable, writeFileAtomic, fsyncDir } from './files.ts';
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

export interface LayerLinks {
  hasLayer(repo: string, digest: Digest): Promise<boolean>;
  linkLayer(repo: string, digest: Digest): Promise<void>;
  unlinkLayer(repo: string, digest: Digest): Promise<boolean>;
  listLayers(repo: string): Promise<Digest[]>;
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
   * Removes what is left of a repository (its _layers and _manifests folders, and parent folders left
   * empty) once its tags and links are gone. Nested repositories ("a" and "a/b") are left alone. The
   * blobs stay: they may be shared, and garbage collection frees the unreferenced ones.
   */
  removeRepository(repo: string): Promise<void>;
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

  constructor(paths: StoragePaths) {
    this.paths = paths;
  }

  // ---- layers ---------------------------------------------------------------------------------

  async hasLayer(repo: string, digest: Digest): Promise<boolean> {
    const key = `${repo}\0${digest.value}`;
    if (this.links.has(key)) return true;
    try {
      await fs.access(this.paths.layerLink(repo, digest));
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    this.links.set(key, true);
    return true;
  }

  async linkLayer(repo: string, digest: Digest): Promise<void> {
    const key = `${repo}\0${digest.value}`;
    if (this.links.has(key)) return;
    await touchDurable(this.paths.layerLink(repo, digest));
    this.links.set(key, true);
  }

  async unlinkLayer(repo: string, digest: Digest): Promise<boolean> {
    this.links.delete(`${repo}\0${digest.value}`);
    return removeFile(this.paths.layerLink(repo, digest));
  }

  async listLayers(repo: string): Promise<Digest[]> {
    return this.listDigests(path.join(this.paths.repository(repo), '_layers'));
  }

  // ---- manifests ------------------------------------------------------------------------------

  async manifestMediaType(repo: string, digest: Digest): Promise<string | null> {
    const key = `${repo}\0${digest.value}`;
    const cached = this.revisions.get(key);
    if (cached !== undefined) return cached;
    let mediaType: string;
    try {
      mediaType = (await fs.readFile(this.paths.revisionLink(repo, digest), 'utf8')).trim();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    this.revisions.set(key, mediaType);
    return mediaType;
  }

  async linkManifest(repo: string, digest: Digest, mediaType: string): Promise<Date> {
    const file = this.paths.revisionLink(repo, digest);
    await writeFileAtomic(this.paths.tmpDir, file, `${mediaType}\n`);
    this.revisions.set(`${repo}\0${digest.value}`, mediaType);
    return (await fs.stat(file)).mtime;
  }

  async unlinkManifest(repo: string, digest: Digest): Promise<boolean> {
    this.revisions.delete(`${repo}\0${digest.value}`);
    const removed = await removeFile(this.paths.revisionLink(repo, digest));
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
    const record = await this.readTagFile(this.paths.tag(repo, tag));
    if (!record || record.tag !== tag) return null;
    this.tags.set(key, record.digest);
    return record.digest;
  }

  async putTag(repo: string, tag: string, digest: Digest): Promise<Date> {
    const file = this.paths.tag(repo, tag);
    await writeFileAtomic(this.paths.tmpDir, file, `${digest.value}\n${tag}\n`);
    this.tags.set(`${repo}\0${tag}`, digest);
    return (await fs.stat(file)).mtime;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    this.tags.delete(`${repo}\0${tag}`);
    const file = this.paths.tag(repo, tag);
    const removed = await removeFile(file);
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

  async removeRepository(repo: string): Promise<void> {
    const prefix = `${repo}\0`;
    for (const cache of [this.links, this.revisions, this.tags] as { keys(): Iterable<string>; delete(key: string): boolean }[]) {
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    }
    const dir = this.paths.repository(repo);
    for (const sub of ['_manifests', '_layers']) await fs.rm(path.join(dir, sub), { recursive: true, force: true });
    // Parent folders that now hold nothing (no nested repository) go too, up to repositories/.
    for (let current = dir; current.startsWith(this.paths.repositoriesDir + path.sep); current = path.dirname(current)) {
      try {
        await fs.rmdir(current);
      } catch {
        break; // not empty (a nested repository lives below) or already gone
      }
    }
    await fsyncDir(this.paths.repositoriesDir);
  }

  // ---- helpers --------------------------------------------------------------------------------

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
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
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
