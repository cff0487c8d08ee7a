/**
 * The pull-through cache (issue 12): Berth as a mirror of Docker Hub and other registries, in the same
 * registry that takes the user's pushes. This facade composes the parts and owns the upstream settings:
 *   upstreams.ts, router.ts   which requests the cache answers, and for which upstream
 *   manifests.ts              manifests: check intervals, HEAD before GET, stale serving
 *   blobs.ts, blob-fill.ts    blobs: one upstream fetch per blob, streamed to every client while written
 *   upstream-client.ts,       the upstream's HTTP API and its token auth
 *     upstream-auth.ts
 *   counters.ts, expiry.ts    counters per upstream; dropping what nobody pulls any more
 * Layers: http -> mirror -> registry -> storage | metadata. Cached content is ordinary repository content
 * (registry/manifests.ts, storage/), under the upstream's name; the mirror's own state (check and use
 * times, counters, upstreams added in the UI, credentials) is in a MirrorStore (metadata/mirror-db.ts).
 */
import type { Logger } from 'pino';
import { checkHosts, checkMirrorAddress, checkMirrorClashes, ConfigError, mirrorDefaults, parseDuration, type MirrorConfig } from '../config.ts';
import type { IndexStore } from '../metadata/index-store.ts';
import type { MirrorStore, UpstreamDoc } from '../metadata/mirror-db.ts';
import type {
  CachedReferenceView,
  MirrorExpiryReport,
  MirrorsOverview,
  UpstreamInput,
  UpstreamView,
} from '../registry/api-types.ts';
import { RegistryError } from '../registry/errors.ts';
import type { EventOrigin, RegistryEvents } from '../registry/events.ts';
import type { LinkGuard } from '../registry/link-guard.ts';
import type { ManifestService, StoredManifest } from '../registry/manifests.ts';
import { tryParseDigest, type Digest } from '../registry/reference.ts';
import type { Clock } from '../scheduler.ts';
import type { BlobStore, OpenBlob } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import { BlobFills } from './blob-fill.ts';
import { cacheContents, type CacheContents } from './contents.ts';
import { MirrorBlobs } from './blobs.ts';
import { MirrorCounters } from './counters.ts';
import { cacheRepositories, expireUpstream } from './expiry.ts';
import { MirrorManifests } from './manifests.ts';
import { MirrorRouter } from './router.ts';
import { UpstreamClient } from './upstream-client.ts';
import { UpstreamSet, type MirrorTarget, type Upstream } from './upstreams.ts';

export interface MirrorServiceDeps {
  /** The upstreams of the config file, BERTH_MIRRORS and --mirror. */
  configured: MirrorConfig[];
  store: MirrorStore;
  manifests: ManifestService;
  repositories: RepositoryStore;
  blobs: BlobStore;
  index: IndexStore;
  guard: LinkGuard;
  events: RegistryEvents;
  deleteRepository(name: string): Promise<unknown>;
  /** Where blob fills spool (a folder of the data directory emptied at start). */
  spoolDir: string;
  log: Logger;
  clock: Clock;
  /** The largest manifest stored (registry/manifests.ts MAX_MANIFEST_BYTES). */
  maxManifestBytes: number;
}

/** Expiry runs this long after start, then every hour. */
const EXPIRY_FIRST_MS = 2 * 60_000;
const EXPIRY_EVERY_MS = 60 * 60_000;
const UPSTREAM_INPUT_KEYS = ['name', 'url', 'aliases', 'checkInterval', 'keep', 'enabled', 'default', 'trustedRealms', 'timeout'] as const;

export class MirrorService {
  readonly router: MirrorRouter;
  readonly fills: BlobFills;
  private readonly deps: MirrorServiceDeps;
  private readonly counters: MirrorCounters;
  private readonly manifestCache: MirrorManifests;
  private readonly blobCache: MirrorBlobs;
  private upstreams = new UpstreamSet([]);
  private readonly clients = new Map<string, UpstreamClient>();
  private expiryTimer: unknown = null;
  private opened = false;
  private expiring: Promise<MirrorExpiryReport> | null = null;

  constructor(deps: MirrorServiceDeps) {
    this.deps = deps;
    const now = () => deps.clock.now();
    this.upstreams = new UpstreamSet(deps.configured.map((c) => ({ ...c, source: 'config' as const })));
    this.counters = new MirrorCounters(deps.store, now);
    this.fills = new BlobFills({ blobs: deps.blobs, repositories: deps.repositories, guard: deps.guard, spoolDir: deps.spoolDir, log: deps.log });
    const client = (upstream: Upstream) => this.client(upstream);
    this.manifestCache = new MirrorManifests({
      manifests: deps.manifests, repositories: deps.repositories, store: deps.store, counters: this.counters, events: deps.events, log: deps.log, client, now,
      isPlatformOf: async (repo, digest) => (await cacheContents(deps.index, deps.manifests, repo)).platforms.has(digest),
    });
    this.blobCache = new MirrorBlobs({ blobs: deps.blobs, manifests: deps.manifests, repositories: deps.repositories, index: deps.index, guard: deps.guard, fills: this.fills, counters: this.counters, events: deps.events, log: deps.log, client });
    this.router = new MirrorRouter({ upstreams: () => this.upstreams, repositoryExists: (name) => deps.repositories.repositoryExists(name), now });
    // A push creates the repository: from then on it is local and wins over the cache.
    for (const name of ['blob-pushed', 'blob-mounted', 'manifest-pushed', 'repository-deleted'] as const) {
      deps.events.on(name, (e) => this.router.forget(e.repository));
      deps.events.onRemote(name, (e) => this.router.forget(e.repository));
    }
  }

  /** Loads the upstreams added in the UI and the counters; plans expiry. */
  async open(): Promise<void> {
    const { store, log } = this.deps;
    const { setAside } = await store.open();
    for (const file of setAside) log.error({ file }, 'mirror: a state file could not be read; it was set aside');
    await this.loadUpstreams(true);
    await this.counters.open();
    if (this.upstreams.size > 0) log.info({ upstreams: this.upstreams.list.map((u) => `${u.name}=${u.url}`) }, 'mirroring upstream registries');
    this.opened = true;
    this.followExpiry();
  }

  /** The configured upstreams and those added in the UI (stored): at open, and when another replica changed them. */
  private async loadUpstreams(warn: boolean): Promise<void> {
    const { store, log } = this.deps;
    const added = await store.upstreams();
    const list: Upstream[] = this.deps.configured.map((c) => ({ ...c, source: 'config' as const }));
    for (const doc of added) {
      if (list.some((u) => u.name === doc.name)) {
        if (warn) log.warn({ upstream: doc.name }, 'mirror: an upstream added in the UI has the name of a configured one; the configured one is used');
        continue;
      }
      list.push(upstreamOf(doc));
    }
    try {
      checkMirrorClashes(list, 'mirrors');
      this.upstreams = new UpstreamSet(list);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'mirror: upstreams added in the UI clash with configured ones; only the configured ones are used');
      this.upstreams = new UpstreamSet(list.filter((u) => u.source === 'config'));
    }
  }

  /**
   * Another replica of a cluster changed an upstream (its settings, credentials or cached content):
   * the upstreams are read again and the upstream's client starts afresh.
   */
  async changedElsewhere(upstream: string): Promise<void> {
    await this.loadUpstreams(false);
    this.followExpiry();
    this.clients.get(upstream)?.auth.reset();
    this.manifestCache.recovered(upstream);
  }

  async close(): Promise<void> {
    this.opened = false;
    this.followExpiry();
    await this.expiring?.catch(() => undefined);
    await this.fills.close();
    await this.counters.close();
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    await this.deps.store.close();
  }

  // ---- the registry side ----------------------------------------------------------------------

  /** The cache target of a request, or null when it is local (router.ts). */
  route(name: string, ns: string | undefined, write: boolean): Promise<MirrorTarget | null> {
    return this.router.route(name, ns, write);
  }

  getManifest(target: MirrorTarget, reference: string, accept: Set<string> | null, options: { pull?: boolean; origin?: EventOrigin } = {}): Promise<StoredManifest> {
    return this.manifestCache.get(target, reference, accept, options);
  }

  statBlob(target: MirrorTarget, digest: Digest): Promise<number> {
    return this.blobCache.stat(target, digest);
  }

  openBlob(target: MirrorTarget, digest: Digest): Promise<OpenBlob> {
    return this.blobCache.open(target, digest);
  }

  /** Whether a repository is the cache of an upstream (the scrub and disk usage tell it apart). */
  isCached(repository: string): boolean {
    return this.upstreams.namespaceOf(repository) !== undefined;
  }

  /** The client of an upstream (one per upstream, made again when its settings change). */
  client(upstream: Upstream): UpstreamClient {
    let client = this.clients.get(upstream.name);
    if (!client || client.upstream !== upstream) {
      client?.close();
      client = new UpstreamClient({
        upstream,
        credentials: { credentials: () => this.deps.store.credentials(upstream.name) },
        now: () => this.deps.clock.now(),
        onRateLimit: (remaining) => this.counters.rateLimit(upstream.name, remaining),
        maxManifestBytes: this.deps.maxManifestBytes,
      });
      this.clients.set(upstream.name, client);
    }
    return client;
  }

  upstream(name: string): Upstream {
    const upstream = this.upstreams.named(name);
    if (!upstream) throw new RegistryError('NOT_FOUND', { message: `no upstream is named ${name.slice(0, 100)}` });
    return upstream;
  }

  /** The counters of an upstream now (the self-test compares them). */
  countersOf(name: string) {
    return { ...this.counters.of(name) };
  }

  // ---- the management side --------------------------------------------------------------------

  async overview(): Promise<MirrorsOverview> {
    const { store, index, blobs } = this.deps;
    const refs = await store.cachedRefs();
    const counters = this.counters.snapshot();
    const cached: CachedReferenceView[] = [];
    const byUpstream = new Map<string, { repositories: Set<string>; references: number; stale: number; bytes: number; counted: Set<string> }>();
    for (const upstream of this.upstreams.list) byUpstream.set(upstream.name, { repositories: new Set(), references: 0, stale: 0, bytes: 0, counted: new Set() });
    const contentsByRepo = new Map<string, CacheContents>();
    const contentsOf = async (repo: string) => {
      let contents = contentsByRepo.get(repo);
      if (!contents) contentsByRepo.set(repo, (contents = await cacheContents(index, this.deps.manifests, repo)));
      return contents;
    };
    for (const ref of refs) {
      const upstream = this.upstreams.named(ref.upstream);
      if (!upstream) continue;
      const contents = await contentsOf(ref.repository);
      const manifest = contents.manifests.get(ref.digest);
      if (!manifest) continue; // dropped from storage meanwhile (deleted in the UI, or collected)
      // A platform of a cached index pulled by its digest is part of the index's entry.
      if (ref.reference.includes(':') && contents.platforms.has(ref.reference)) continue;
      cached.push({
        upstream: ref.upstream,
        repository: ref.repository,
        reference: ref.reference,
        digest: ref.digest,
        mediaType: manifest.mediaType,
        size: manifest.totalSize,
        fetchedAt: ref.fetchedAt.toISOString(),
        checkedAt: ref.checkedAt?.toISOString() ?? null,
        usedAt: ref.usedAt.toISOString(),
        expiresAt: new Date(ref.usedAt.getTime() + upstream.keepMs).toISOString(),
        staleSince: ref.staleSince?.toISOString() ?? null,
        lastError: ref.lastError,
      });
      const totals = byUpstream.get(ref.upstream)!;
      totals.repositories.add(ref.repository);
      totals.references += 1;
      if (ref.staleSince) totals.stale += 1;
    }
    // Bytes on disk of each upstream's cache: every stored blob its repositories use, once.
    for (const [name, totals] of byUpstream) {
      for (const repo of await cacheRepositories(this.deps.repositories, name)) {
        for (const digest of (await contentsOf(repo)).blobs.keys()) {
          if (totals.counted.has(digest)) continue;
          totals.counted.add(digest);
          const parsed = tryParseDigest(digest);
          const size = parsed ? await blobs.stat(parsed) : null;
          if (size !== null) totals.bytes += size;
        }
      }
    }
    cached.sort((a, b) => (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : a.reference < b.reference ? -1 : 1));
    const defaultName = this.upstreams.default()?.name;
    const upstreams: UpstreamView[] = [];
    for (const upstream of this.upstreams.list) {
      const credentials = await store.credentials(upstream.name);
      const totals = byUpstream.get(upstream.name)!;
      const c = counters.get(upstream.name);
      upstreams.push({
        name: upstream.name,
        url: upstream.url,
        aliases: upstream.aliases,
        checkIntervalSeconds: upstream.checkIntervalMs / 1000,
        keepSeconds: upstream.keepMs / 1000,
        enabled: upstream.enabled,
        default: upstream.name === defaultName,
        trustedRealms: upstream.trustedRealms,
        timeoutSeconds: upstream.timeoutMs / 1000,
        source: upstream.source,
        credentials: credentials ? { username: credentials.username } : null,
        counters: {
          hits: c?.hits ?? 0,
          misses: c?.misses ?? 0,
          bytesFromCache: c?.bytesFromCache ?? 0,
          bytesFetched: c?.bytesFetched ?? 0,
          staleServes: c?.staleServes ?? 0,
          upstreamErrors: c?.upstreamErrors ?? 0,
          rateLimitRemaining: c?.rateLimitRemaining ?? null,
          rateLimitAt: c?.rateLimitAt ? new Date(c.rateLimitAt).toISOString() : null,
        },
        cached: { repositories: totals.repositories.size, references: totals.references, stale: totals.stale, bytes: totals.bytes },
      });
    }
    return { upstreams, cached, fills: this.fills.inProgress() };
  }

  /** Every upstream's counters, for /metrics. */
  metrics(): { upstream: string; totals: ReturnType<MirrorCounters['of']> }[] {
    return this.upstreams.list.map((u) => ({ upstream: u.name, totals: this.counters.of(u.name) }));
  }

  async addUpstream(input: UpstreamInput): Promise<UpstreamView> {
    const config = validateUpstream(input, null);
    if (this.upstreams.named(config.name)) {
      throw fieldError(`an upstream named ${config.name} exists already`, ['name']);
    }
    const now = new Date(this.deps.clock.now());
    await this.apply([...this.upstreams.list, { ...config, source: 'ui' }]);
    await this.deps.store.saveUpstream({ _id: config.name, ...config, createdAt: now, updatedAt: now });
    this.deps.events.emit('mirror-changed', { upstream: config.name });
    return this.view(config.name);
  }

  async updateUpstream(name: string, input: UpstreamInput): Promise<UpstreamView> {
    const existing = this.editable(name);
    if (input.name !== undefined && input.name !== name) throw fieldError('the name of an upstream cannot change: its cached content is stored under it', ['name']);
    const config = validateUpstream(input, existing);
    await this.apply(this.upstreams.list.map((u) => (u.name === name ? { ...config, source: 'ui' as const } : u)));
    const doc = (await this.deps.store.upstreams()).find((d) => d.name === name);
    const now = new Date(this.deps.clock.now());
    await this.deps.store.saveUpstream({ _id: name, ...config, createdAt: doc?.createdAt ?? now, updatedAt: now });
    this.manifestCache.recovered(name);
    this.deps.events.emit('mirror-changed', { upstream: name });
    return this.view(name);
  }

  /** Removes an upstream added in the UI, with its cached content and state. */
  async removeUpstream(name: string): Promise<void> {
    this.editable(name);
    await this.clear(name);
    await this.apply(this.upstreams.list.filter((u) => u.name !== name));
    await this.deps.store.removeUpstream(name);
    await this.deps.store.setCredentials(name, null);
    await this.counters.forget(name);
    this.clients.get(name)?.close();
    this.clients.delete(name);
    this.deps.events.emit('mirror-changed', { upstream: name });
  }

  /** Sets (or, with null, removes) an upstream's credentials: stored 0600, never shown again. */
  async setCredentials(name: string, credentials: { username: string; password: string } | null): Promise<UpstreamView> {
    this.upstream(name);
    if (credentials && (!credentials.username || credentials.username.length > 256 || /[:\r\n]/.test(credentials.username))) {
      throw fieldError('the user name must be 1-256 characters without ":" or line breaks', ['username']);
    }
    if (credentials && (!credentials.password || credentials.password.length > 4096)) throw fieldError('the password (or access token) must be 1-4096 characters', ['password']);
    await this.deps.store.setCredentials(name, credentials);
    this.clients.get(name)?.auth.reset();
    this.manifestCache.recovered(name);
    this.deps.events.emit('mirror-changed', { upstream: name });
    return this.view(name);
  }

  /** Deletes every cache repository of an upstream; the next garbage collection frees the bytes. */
  async clear(name: string): Promise<{ repositories: string[] }> {
    this.upstream(name);
    // Blobs being fetched now are linked into their cache repositories when they commit: let them, then
    // remove the repositories with those links (a fill started after this point is a new pull).
    await this.fills.settled(name);
    const repositories = await cacheRepositories(this.deps.repositories, name);
    for (const repo of repositories) {
      await this.deps.deleteRepository(repo).catch((err: unknown) => {
        if (!(err instanceof RegistryError) || err.code !== 'NAME_UNKNOWN') throw err;
      });
    }
    await this.deps.store.removeCachedRefs({ upstream: name });
    this.deps.events.emit('mirror-changed', { upstream: name });
    return { repositories };
  }

  /** Drops what nobody pulled for each upstream's keep period (expiry.ts); one run at a time. */
  expire(): Promise<MirrorExpiryReport> {
    if (this.expiring) return this.expiring;
    this.expiring = (async () => {
      const report: MirrorExpiryReport = { dropped: [], manifests: 0, repositories: [] };
      const deps = { store: this.deps.store, repositories: this.deps.repositories, manifests: this.deps.manifests, deleteRepository: this.deps.deleteRepository };
      for (const upstream of this.upstreams.list) await expireUpstream(deps, upstream, this.deps.clock.now(), report);
      if (report.dropped.length > 0 || report.repositories.length > 0) {
        this.deps.log.info({ dropped: report.dropped.length, repositories: report.repositories.length }, 'mirror: dropped cached content nobody pulled for the keep period');
        for (const upstream of new Set(report.dropped.map((d) => d.upstream))) this.deps.events.emit('mirror-changed', { upstream });
      }
      return report;
    })().finally(() => {
      this.expiring = null;
    });
    return this.expiring;
  }

  // ---- internals ------------------------------------------------------------------------------

  /**
   * Expiry is timed only while there is something to expire: a registry with no upstream (most of
   * them) sets no timer at all. Called whenever the upstreams change, and at open and close.
   */
  private followExpiry(): void {
    const wanted = this.opened && this.upstreams.size > 0;
    if (wanted && this.expiryTimer === null) this.planExpiry(EXPIRY_FIRST_MS);
    if (!wanted && this.expiryTimer !== null) {
      this.deps.clock.clearTimeout(this.expiryTimer);
      this.expiryTimer = null;
    }
  }

  private planExpiry(ms: number): void {
    this.expiryTimer = this.deps.clock.setTimeout(() => {
      this.expiryTimer = null;
      this.expire().catch((err: unknown) => this.deps.log.error({ err }, 'mirror: expiry failed'));
      if (this.opened && this.upstreams.size > 0) this.planExpiry(EXPIRY_EVERY_MS);
    }, ms);
  }

  private editable(name: string): Upstream {
    const upstream = this.upstream(name);
    if (upstream.source === 'config') {
      throw new RegistryError('DENIED', { message: `${name} is set in Berth's configuration (config file, BERTH_MIRRORS or --mirror): change it there` });
    }
    return upstream;
  }

  private async apply(list: Upstream[]): Promise<void> {
    try {
      checkMirrorClashes(list, 'upstreams');
    } catch (err) {
      throw fieldError((err as Error).message.replace(/^upstreams: /, ''), ['aliases']);
    }
    this.upstreams = new UpstreamSet(list);
    this.followExpiry();
  }

  private async view(name: string): Promise<UpstreamView> {
    return (await this.overview()).upstreams.find((u) => u.name === name)!;
  }
}

function upstreamOf(doc: UpstreamDoc): Upstream {
  const { name, url, aliases, checkIntervalMs, keepMs, enabled, trustedRealms, timeoutMs } = doc;
  return { name, url, aliases, checkIntervalMs, keepMs, enabled, default: doc.default, trustedRealms, timeoutMs, source: 'ui' };
}

function fieldError(message: string, fields: string[]): RegistryError {
  return new RegistryError('BAD_REQUEST', { message, detail: { fields } });
}

/** An upstream from the API's input (durations as "5m"), over `existing` for an update. */
function validateUpstream(input: UpstreamInput, existing: Upstream | null): MirrorConfig {
  const unknown = Object.keys(input).filter((k) => !(UPSTREAM_INPUT_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new RegistryError('BAD_REQUEST', { message: `unknown field ${unknown.map((k) => `"${k.slice(0, 50)}"`).join(', ')} (known: ${UPSTREAM_INPUT_KEYS.join(', ')})` });
  const field = <T>(name: string, work: () => T): T => {
    try {
      return work();
    } catch (err) {
      if (err instanceof ConfigError) throw fieldError(err.message.replace(/^[^:]*: /, ''), [name]);
      throw err;
    }
  };
  if (!existing) field('name', () => checkMirrorAddress(input.name, 'https://registry.invalid', 'upstream'));
  const name = existing?.name ?? (input.name as string);
  const { url } = field('url', () => checkMirrorAddress(name, input.url ?? existing?.url, 'upstream'));
  const base: MirrorConfig = existing ? { ...existing, url } : mirrorDefaults(name, url);
  const out: MirrorConfig = { ...base };
  delete (out as Partial<Upstream>).source;
  if (input.aliases !== undefined) out.aliases = field('aliases', () => checkHosts(input.aliases, 'aliases').filter((h) => h !== name));
  if (input.trustedRealms !== undefined) out.trustedRealms = field('trustedRealms', () => checkHosts(input.trustedRealms, 'trusted realms'));
  if (input.checkInterval !== undefined) out.checkIntervalMs = field('checkInterval', () => parseDuration(input.checkInterval, 'check interval'));
  if (input.keep !== undefined) out.keepMs = field('keep', () => parseDuration(input.keep, 'keep', 60_000));
  if (input.timeout !== undefined) out.timeoutMs = field('timeout', () => parseDuration(input.timeout, 'timeout', 100));
  if (input.enabled !== undefined) {
    if (typeof input.enabled !== 'boolean') throw fieldError('"enabled" must be true or false', ['enabled']);
    out.enabled = input.enabled;
  }
  if (input.default !== undefined) {
    if (typeof input.default !== 'boolean') throw fieldError('"default" must be true or false', ['default']);
    out.default = input.default;
  }
  return out;
}
