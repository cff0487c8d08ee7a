/**
 * Manifests (OCI Distribution Spec v1.1, "Pulling manifests", "Pushing manifests", "Deleting
 * manifests"): validation against what the repository holds, exact-bytes storage, tags, content
 * negotiation, and the summaries the metadata index keeps.
 */
import { LRUCache } from 'lru-cache';
import { MAX_INDEXED_ANNOTATIONS, MAX_INDEXED_PLATFORMS, type ManifestSummary, type IndexStore } from '../metadata/index-store.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import { digestOf } from './digester.ts';
import { RegistryError } from './errors.ts';
import type { EventOrigin, RegistryEvents } from './events.ts';
import type { LinkGuard } from './link-guard.ts';
import { isImageConfigMediaType } from './media-types.ts';
import { parseManifest, parsePlatform, platformLabel, requiredBlobs, type Descriptor, type ParsedManifest } from './manifest.ts';
import { parseReference, truncate, tryParseDigest, type Digest, type Reference } from './reference.ts';

/**
 * The largest manifest we accept. The spec asks registries to accept at least 4 MiB
 * ("Pushing Manifests": SHOULD support 4 megabytes) and to answer 413 beyond their limit;
 * Distribution and zot use the same 4 MiB cap. It also bounds what a request can make us buffer.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** The largest manifest body kept in memory (see ManifestService.bodies). */
const MAX_CACHED_BODY = 256 * 1024;
/** Image configs are read for the summary (platform, created) only up to this size. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** What the index keeps of a platform or a creation time: real ones are a few dozen characters. */
const MAX_LABEL = 100;
/** Lookups a writer makes under its locks: the store's answer, never a cache's (storage/cache.ts). */
const FRESH = { fresh: true } as const;

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

export interface PushedManifest {
  digest: Digest;
  subject?: Digest;
}

export interface ManifestServiceDeps {
  blobs: BlobStore;
  repositories: RepositoryStore;
  index: IndexStore;
  events: RegistryEvents;
  guard: LinkGuard;
}

export class ManifestService {
  private readonly deps: ManifestServiceDeps;
  /**
   * Manifest bodies by digest: immutable, so always valid; 64 MiB keeps hot tags off the disk. Bodies
   * over 256 KiB (a few giant artifacts) are read from disk each time instead: a handful of them
   * would push out thousands of the small manifests clients pull all day.
   */
  private readonly bodies = new LRUCache<string, Buffer>({ maxSize: 64 * 1024 * 1024, maxEntrySize: MAX_CACHED_BODY, sizeCalculation: (b) => b.length || 1 });

  private evicted = 0;

  constructor(deps: ManifestServiceDeps) {
    this.deps = deps;
  }

  /**
   * GET/HEAD. A reference that cannot name a manifest (bad tag or digest grammar) is simply unknown:
   * 404, as the conformance suite expects for ".INVALID_MANIFEST_NAME".
   * `accept`: the media types the client listed (null: anything). A manifest asked for by tag whose
   * type is not listed is not offered (Distribution's behaviour; never converted); by digest the
   * client named exact bytes and gets them.
   * `pull`: the client fetches the manifest (GET, not HEAD): announced as manifest-pulled.
   */
  async get(repo: string, reference: string, accept: Set<string> | null, { pull = false, origin }: { pull?: boolean; origin?: EventOrigin } = {}): Promise<StoredManifest> {
    const ref = this.readableReference(reference);
    const { digest, mediaType } = await this.resolve(repo, ref);
    if (ref.kind === 'tag' && accept && !accept.has(mediaType)) {
      throw new RegistryError('MANIFEST_UNKNOWN', {
        message: `${repo}:${ref.tag} is a ${mediaType}, which the request's Accept header does not list`,
        detail: { mediaType, accept: [...accept] },
      });
    }
    const bytes = await this.body(repo, digest);
    if (pull) this.deps.events.emit('manifest-pulled', { repository: repo, digest: digest.value, reference, mediaType, size: bytes.length, ...(origin ? { origin } : {}) });
    return { digest, mediaType, bytes };
  }

  /**
   * PUT. The manifest's digest is sha256 of the bytes, or by the algorithm of the digest it is pushed
   * by, or of `expected`: the ?digest= a client adds to a push by tag to choose the algorithm (the
   * spec's draft, "Pushing Manifests": sha512 for a manifest pushed by tag). `expected` must match
   * the bytes, and the reference when that is a digest too.
   */
  async put(repo: string, reference: string, contentType: string | undefined, bytes: Buffer, expected?: Digest, origin?: EventOrigin): Promise<PushedManifest> {
    const ref = parseReference(reference);
    if (expected && ref.kind === 'digest' && expected.value !== ref.digest.value) {
      throw new RegistryError('DIGEST_INVALID', {
        message: `?digest=${expected.value} is not the digest the manifest is pushed by (${ref.digest.value})`,
        detail: { reference: ref.digest.value, digest: expected.value },
      });
    }
    const manifest = parseManifest(bytes, contentType);
    const claimed = expected ?? (ref.kind === 'digest' ? ref.digest : null);
    const digest = digestOf(bytes, claimed?.algorithm ?? 'sha256');
    if (claimed && claimed.value !== digest.value) {
      throw new RegistryError('DIGEST_INVALID', {
        message: `the manifest body has digest ${digest.value}, not ${claimed.value}`,
        detail: { expected: claimed.value, actual: digest.value },
      });
    }
    const { blobs, repositories, index, guard } = this.deps;
    // From the check that everything it references is here until its links and tag are written, the
    // manifest holds the locks of all it references (link-guard.ts): garbage collection and repository
    // deletion cannot take any of it away in between.
    const referenced = [digest.value, ...requiredBlobs(manifest).map((d) => d.digest.value), ...manifest.manifests.map((d) => d.digest.value)];
    await guard.withDigests(referenced, () =>
      guard.withRepository(repo, async () => {
        await this.checkReferences(repo, manifest);
        const summary = await this.summarize(manifest, bytes.length, (child) => index.manifest(repo, child));
        // Four writes at once, each synced: the manifest's content (when new), its revision link and
        // its tag, all out of sight, and the links of the blobs it needs (linkLayer leaves their sync
        // for up to a second). Then the content is put in place, and only then the link and the tag
        // (commitTagged): a tag never names a manifest whose content or blobs could be lost, after a
        // crash either.
        const [body, revision, tag] = await allOrDiscard([
          blobs.stageBytes(digest, bytes),
          repositories.stageManifestLink(repo, digest, manifest.mediaType),
          ref.kind === 'tag' ? repositories.stageTag(repo, ref.tag, digest) : Promise.resolve(null),
          repositories.settleLayers(repo, requiredBlobs(manifest).map((d) => d.digest)).then(() => null),
        ]);
        try {
          await body?.commit();
          this.bodies.set(digest.value, bytes);
          const linked = (at: Date) => index.recordManifest(repo, digest.value, summary, at);
          let pushedAt: Date;
          if (ref.kind === 'tag') {
            pushedAt = await this.deps.guard.withTag(repo, ref.tag, async () => {
              const taggedAt = await repositories.commitTagged(repo, ref.tag, revision, tag!, linked);
              await index.setTag(repo, ref.tag, digest.value, taggedAt);
              return taggedAt;
            });
          } else {
            pushedAt = await revision!.commit();
            await linked(pushedAt);
          }
          await index.touchRepository(repo, pushedAt);
        } finally {
          // What was not committed (a failure part way) leaves no temp file behind.
          for (const staged of [body, revision, tag]) await staged?.discard();
        }
      }),
    );
    this.deps.events.emit('manifest-pushed', {
      repository: repo,
      digest: digest.value,
      ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
      mediaType: manifest.mediaType,
      size: bytes.length,
      ...(origin ? { origin } : {}),
    });
    return manifest.subject ? { digest, subject: manifest.subject.digest } : { digest };
  }

  /**
   * Stores a manifest the pull-through cache fetched from an upstream (mirror/) into its cache
   * repository: the exact bytes, linked, indexed and (with `tag`) tagged like a push, but without
   * requiring what it references to be here already: a cache fetches blobs and child manifests when a
   * client asks for them. The caller verified the digest. Announced as no push (it is none).
   */
  async putFetched(repo: string, tag: string | null, bytes: Buffer, contentType: string): Promise<Digest> {
    const manifest = parseManifest(bytes, contentType);
    const digest = digestOf(bytes, 'sha256');
    const { blobs, repositories, index, guard } = this.deps;
    await guard.withDigests([digest.value], () =>
      guard.withRepository(repo, async () => {
        await blobs.putBytes(digest, bytes);
        this.bodies.set(digest.value, bytes);
        const summary = await this.summarize(manifest, bytes.length, (child) => index.manifest(repo, child));
        let fetchedAt = await repositories.linkManifest(repo, digest, manifest.mediaType);
        await index.recordManifest(repo, digest.value, summary, fetchedAt);
        if (tag !== null) {
          await this.deps.guard.withTag(repo, tag, async () => {
            fetchedAt = await repositories.putTag(repo, tag, digest);
            await index.setTag(repo, tag, digest.value, fetchedAt);
          });
        }
        await index.touchRepository(repo, fetchedAt);
      }),
    );
    return digest;
  }

  /** By tag: untags. By digest: removes the manifest from the repository, and every tag pointing to it. */
  async delete(repo: string, reference: string, origin?: EventOrigin): Promise<void> {
    const ref = this.readableReference(reference);
    const { repositories, index, events } = this.deps;
    const caused = origin ? { origin } : {};
    if (ref.kind === 'tag') {
      await this.deps.guard.withTag(repo, ref.tag, async () => {
        const digest = await repositories.resolveTag(repo, ref.tag);
        if (!digest || !(await repositories.deleteTag(repo, ref.tag))) throw await this.unknown(repo, ref);
        await index.removeTag(repo, ref.tag);
        events.emit('tag-deleted', { repository: repo, tag: ref.tag, digest: digest.value, ...caused });
      });
      return;
    }
    const { digest } = ref;
    if ((await repositories.manifestMediaType(repo, digest)) === null) throw await this.unknown(repo, ref);
    // Tags first: a crash in between leaves an untagged manifest, never a tag to nothing.
    for (const tag of await repositories.listTags(repo)) {
      if (tag.digest.value !== digest.value) continue;
      await this.deps.guard.withTag(repo, tag.tag, async () => {
        if ((await repositories.resolveTag(repo, tag.tag))?.value !== digest.value) return;
        await repositories.deleteTag(repo, tag.tag);
        await index.removeTag(repo, tag.tag);
        events.emit('tag-deleted', { repository: repo, tag: tag.tag, digest: digest.value, ...caused });
      });
    }
    await repositories.unlinkManifest(repo, digest);
    await index.removeManifest(repo, digest.value);
    events.emit('manifest-deleted', { repository: repo, digest: digest.value, ...caused });
  }

  /**
   * Removes `tag` if it still points to `digest` (retention: a tag pushed again since the plan was
   * made is not the tag the plan judged). Returns whether it was removed.
   */
  async untagIfAt(repo: string, tag: string, digest: string): Promise<boolean> {
    const { repositories, index, events } = this.deps;
    return this.deps.guard.withTag(repo, tag, async () => {
      if ((await repositories.resolveTag(repo, tag))?.value !== digest) return false;
      if (!(await repositories.deleteTag(repo, tag))) return false;
      await index.removeTag(repo, tag);
      events.emit('tag-deleted', { repository: repo, tag, digest });
      return true;
    });
  }

  /** Drops a manifest body from the cache once its blob is gone (garbage collection, quarantine). */
  evict(digest: string): void {
    this.bodies.delete(digest);
    this.evicted += 1;
  }

  /** How many bodies evict() dropped: answers remembered before one was dropped may be wrong now. */
  get evictions(): number {
    return this.evicted;
  }

  /** Tag or digest -> the manifest's digest and stored media type, or MANIFEST_UNKNOWN / NAME_UNKNOWN. */
  async resolve(repo: string, ref: Reference): Promise<{ digest: Digest; mediaType: string }> {
    const { repositories } = this.deps;
    const digest = ref.kind === 'tag' ? await repositories.resolveTag(repo, ref.tag) : ref.digest;
    const mediaType = digest ? await repositories.manifestMediaType(repo, digest) : null;
    if (!digest || mediaType === null) throw await this.unknown(repo, ref);
    return { digest, mediaType };
  }

  /**
   * Parses the manifest stored under `digest` (for the UI and the index rebuild), as the media type it
   * was pushed with; with none, as the one its body names or implies.
   */
  async parseStored(repo: string, digest: Digest, mediaType: string | undefined): Promise<{ manifest: ParsedManifest; bytes: Buffer }> {
    const bytes = await this.body(repo, digest);
    return { manifest: parseManifest(bytes, mediaType), bytes };
  }

  /**
   * The summary the metadata index keeps of a manifest. `child` gives the summary of an index's child
   * manifest when known (the index itself during a push, the docs being built during a rebuild): an
   * index's total is its children's, and its "created" the newest of its platform images' (or its
   * own org.opencontainers.image.created annotation, image-spec annotations.md).
   */
  async summarize(
    m: ParsedManifest,
    size: number,
    child: (digest: string) => Promise<Pick<ManifestSummary, 'totalSize' | 'created'> | null | undefined>,
  ): Promise<ManifestSummary> {
    const summary: ManifestSummary = { mediaType: m.mediaType, size, totalSize: 0, descriptorCount: m.isIndex ? m.manifests.length : m.layers.length };
    if (m.artifactType) summary.artifactType = m.artifactType;
    if (m.subject) {
      summary.subject = m.subject.digest.value;
      // Only the referrers listing shows annotations; a large set is read from the manifest there.
      const annotations = m.annotations ? JSON.stringify(m.annotations) : null;
      if (annotations && annotations.length <= MAX_INDEXED_ANNOTATIONS) summary.annotations = annotations;
      else if (annotations) summary.annotationsInManifest = true;
    }
    if (m.isIndex) {
      const platforms = new Set<string>();
      for (const child of m.manifests) {
        if (child.platform && platforms.size < MAX_INDEXED_PLATFORMS) platforms.add(platformLabel(child.platform).slice(0, MAX_LABEL));
      }
      if (platforms.size > 0) summary.platforms = [...platforms];
      let newest: string | undefined;
      for (const descriptor of m.manifests) {
        const known = await child(descriptor.digest.value);
        summary.totalSize += known?.totalSize ?? descriptor.size;
        // Attestations (buildx lists them as unknown/unknown) are not images of the build.
        const attestation = descriptor.platform && platformLabel(descriptor.platform) === 'unknown/unknown';
        if (!attestation && isTime(known?.created) && (!newest || Date.parse(known.created) > Date.parse(newest))) newest = known.created;
      }
      const annotated = m.annotations?.[CREATED_ANNOTATION];
      const created = isTime(annotated) ? annotated : newest;
      if (created) summary.created = created.slice(0, MAX_LABEL);
      return summary;
    }
    const config = m.config!;
    summary.config = { digest: config.digest.value, size: config.size, mediaType: config.mediaType };
    summary.totalSize = config.size + m.layers.reduce((sum, d) => sum + d.size, 0);
    if (isImageConfigMediaType(config.mediaType)) {
      const bytes = await this.deps.blobs.read(config.digest, MAX_CONFIG_BYTES);
      const image = bytes ? safeJson(bytes) : null;
      if (image) {
        try {
          summary.platform = platformLabel(parsePlatform(image, 'config')).slice(0, MAX_LABEL);
        } catch {
          // A config without os/architecture is still an image; it just has no platform to show.
        }
        if (typeof image.created === 'string') summary.created = image.created.slice(0, MAX_LABEL);
      }
    }
    return summary;
  }

  // ---- internals ------------------------------------------------------------------------------

  private readableReference(reference: string): Reference {
    return readableReference(reference);
  }

  private async body(repo: string, digest: Digest): Promise<Buffer> {
    const cached = this.bodies.get(digest.value);
    if (cached) return cached;
    const bytes = await this.deps.blobs.read(digest, MAX_MANIFEST_BYTES);
    if (!bytes) {
      throw new RegistryError('MANIFEST_UNKNOWN', {
        message: `manifest ${digest.value} of ${repo} is recorded but its content is missing`,
      });
    }
    this.bodies.set(digest.value, bytes);
    return bytes;
  }

  private async unknown(repo: string, ref: Reference): Promise<RegistryError> {
    if (!(await this.deps.repositories.repositoryExists(repo))) {
      return new RegistryError('NAME_UNKNOWN', { message: `repository ${repo} is not known to this registry`, detail: { name: repo } });
    }
    const what = ref.kind === 'tag' ? `${repo}:${ref.tag}` : `${repo}@${ref.digest.value}`;
    return new RegistryError('MANIFEST_UNKNOWN', { message: `manifest ${what} is not known to this registry` });
  }

  /**
   * Everything a manifest points to must be in this repository (subject excepted, by the spec), with
   * the size its descriptor declares. Each distinct blob is checked once, however often it is listed.
   */
  private async checkReferences(repo: string, m: ParsedManifest): Promise<void> {
    const { blobs, repositories } = this.deps;
    const missing: string[] = [];
    const distinct = new Map<string, Descriptor>();
    for (const d of requiredBlobs(m)) {
      const seen = distinct.get(d.digest.value);
      if (seen && seen.size !== d.size) {
        throw new RegistryError('MANIFEST_INVALID', {
          message: `${d.digest.value} is listed with two sizes, ${seen.size} and ${d.size} bytes`,
          detail: { digest: d.digest.value, sizes: [seen.size, d.size] },
        });
      }
      distinct.set(d.digest.value, d);
    }
    for (const d of distinct.values()) {
      // Fresh: under the locks, what the store holds now (another replica's collection may have removed it).
      const size = (await repositories.hasLayer(repo, d.digest, FRESH)) ? await blobs.stat(d.digest, FRESH) : null;
      if (size === null) {
        missing.push(d.digest.value);
      } else if (size !== d.size) {
        throw new RegistryError('MANIFEST_INVALID', {
          message: `descriptor of ${d.digest.value} says ${d.size} bytes, but the blob has ${size}`,
          detail: { digest: d.digest.value, declared: d.size, actual: size },
        });
      }
    }
    for (const digest of new Set(m.manifests.map((d) => d.digest.value))) {
      if ((await repositories.manifestMediaType(repo, tryParseDigest(digest)!, FRESH)) === null) missing.push(digest);
    }
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', {
        message: `push these to ${repo} before the manifest that references them: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`,
        detail: { missing },
      });
    }
  }
}

function safeJson(bytes: Buffer): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * A reference to read: one that cannot name a manifest (bad tag or digest grammar) is simply unknown,
 * 404 MANIFEST_UNKNOWN, as the conformance suite expects for ".INVALID_MANIFEST_NAME".
 */
export function readableReference(reference: string): Reference {
  try {
    return parseReference(reference);
  } catch (err) {
    throw new RegistryError('MANIFEST_UNKNOWN', {
      message: `no manifest can exist under "${truncate(reference, 150)}": ${(err as Error).message}`,
    });
  }
}

/** The annotation for when an image (or index) was created (image-spec annotations.md). */
const CREATED_ANNOTATION = 'org.opencontainers.image.created';

function isTime(value: string | undefined): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

/** Content written out of sight (StagedContent, StagedLink). */
type Discardable = { discard(): Promise<void> };

/** Waits for every write; when one failed, drops the others' staged content and throws the first failure. */
async function allOrDiscard<T extends readonly (Discardable | null)[]>(writes: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(writes);
  const failed = results.find((r) => r.status === 'rejected');
  if (!failed) return results.map((r) => (r as PromiseFulfilledResult<Discardable | null>).value) as unknown as T;
  for (const r of results) if (r.status === 'fulfilled') await r.value?.discard();
  throw failed.reason;
}
