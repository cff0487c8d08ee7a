/**
 * Manifests through the pull-through cache:
 *   - by digest: held in the cache repository -> served, no upstream call (content addressed: it
 *     cannot change); else fetched once from the upstream, verified and stored;
 *   - by tag: checked against the upstream within the upstream's check interval -> served as cached;
 *     else a HEAD to the upstream (HEADs do not count against Docker Hub's pull limit) and a GET only when
 *     the digest changed (or when nothing is cached: then the GET alone);
 *   - the upstream fails, times out or answers 429: a cached tag is served stale (logged, counted, marked
 *     stale for the UI until a check succeeds again); a manifest never cached gets an error naming the
 *     upstream's failure (upstream-errors.ts).
 * Concurrent requests for one tag or digest share one check or fetch.
 */
import type { Logger } from 'pino';
import type { CachedRefDoc, MirrorStore } from '../metadata/mirror-db.ts';
import { digestOf } from '../registry/digester.ts';
import { isRegistryError, RegistryError } from '../registry/errors.ts';
import type { EventOrigin, RegistryEvents } from '../registry/events.ts';
import { readableReference, type ManifestService, type StoredManifest } from '../registry/manifests.ts';
import { isManifestMediaType } from '../registry/media-types.ts';
import { tryParseDigest, type Digest } from '../registry/reference.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { MirrorCounters } from './counters.ts';
import type { UpstreamClient } from './upstream-client.ts';
import { clientError, UpstreamError } from './upstream-errors.ts';
import type { MirrorTarget, Upstream } from './upstreams.ts';

export interface MirrorManifestsDeps {
  manifests: ManifestService;
  repositories: RepositoryStore;
  store: MirrorStore;
  counters: MirrorCounters;
  events: RegistryEvents;
  log: Logger;
  client(upstream: Upstream): UpstreamClient;
  now(): number;
  /** Whether a manifest of the cache repository is an index listing this digest (a platform of it). */
  isPlatformOf(repository: string, digest: string): Promise<boolean>;
}

type Outcome = 'unchanged' | 'fetched';

/**
 * After an upstream failed to answer (unreachable, timed out, 5xx, 429), cached tags are served stale
 * without asking it again for this long (429: for its Retry-After, up to 10 minutes): offline, a pull
 * must not wait for a timeout per tag. Anything not cached is still asked for at once.
 */
const BACKOFF_MS = 30_000;
const MAX_BACKOFF_MS = 10 * 60_000;

export class MirrorManifests {
  private readonly deps: MirrorManifestsDeps;
  /** Checks and fetches in progress, by cache repository and reference: one per reference at a time. */
  private readonly flights = new Map<string, Promise<Outcome>>();
  /** Upstreams that failed recently: until when cached tags are served without asking them. */
  private readonly down = new Map<string, { until: number; error: UpstreamError }>();

  constructor(deps: MirrorManifestsDeps) {
    this.deps = deps;
  }

  /** GET/HEAD of a manifest through the cache; `pull` as in ManifestService.get. */
  async get(target: MirrorTarget, reference: string, accept: Set<string> | null, { pull = false, origin }: { pull?: boolean; origin?: EventOrigin } = {}): Promise<StoredManifest> {
    const ref = readableReference(reference);
    if (ref.kind === 'digest') await this.byDigest(target, ref.digest);
    else await this.byTag(target, ref.tag);
    const manifest = await this.deps.manifests.get(target.cache, reference, accept, { pull, ...(origin ? { origin } : {}) });
    this.deps.store.touchCachedRef(target.cache, reference, new Date(this.deps.now()));
    return manifest;
  }

  private async byDigest(target: MirrorTarget, digest: Digest): Promise<void> {
    const { repositories, counters } = this.deps;
    const name = target.upstream.name;
    if ((await repositories.manifestMediaType(target.cache, digest)) !== null) {
      counters.add(name, 'hits');
      return;
    }
    if (!target.upstream.enabled) throw turnedOff(target, digest.value);
    try {
      const { started } = await this.once(`${target.cache}@${digest.value}`, () => this.fetch(target, digest.value, digest, null));
      this.down.delete(name);
      counters.add(name, started ? 'misses' : 'hits');
    } catch (err) {
      if (err instanceof UpstreamError) this.noteFailure(target.upstream, err);
      throw this.failed(target, digest.value, err);
    }
  }

  private async byTag(target: MirrorTarget, tag: string): Promise<void> {
    const { repositories, store, counters, now, log, events } = this.deps;
    const { upstream, cache } = target;
    const cached = await repositories.resolveTag(cache, tag);
    const state = cached ? await store.cachedRef(cache, tag) : null;
    const checkedAt = state && state.digest === cached?.value ? state.checkedAt : null;
    if (cached && (!upstream.enabled || (checkedAt && now() - checkedAt.getTime() < upstream.checkIntervalMs))) {
      counters.add(upstream.name, 'hits');
      return;
    }
    if (!upstream.enabled) throw turnedOff(target, tag);
    try {
      const down = this.down.get(upstream.name);
      if (cached && down && now() < down.until) throw down.error;
      const { outcome, started } = await this.once(`${cache}:${tag}`, () => this.refresh(target, tag, cached));
      this.down.delete(upstream.name);
      counters.add(upstream.name, outcome === 'fetched' && started ? 'misses' : 'hits');
    } catch (err) {
      if (err instanceof UpstreamError) this.noteFailure(upstream, err);
      if (!(err instanceof UpstreamError) || !cached) throw this.failed(target, tag, err);
      // Offline-first: what is cached stands in for what the upstream cannot tell us now.
      counters.add(upstream.name, 'staleServes');
      counters.add(upstream.name, 'upstreamErrors');
      const at = new Date(now());
      const previous = await store.cachedRef(cache, tag);
      await store.saveCachedRef({
        ...(previous ?? freshRef(upstream.name, cache, tag, cached.value, at)),
        digest: cached.value,
        staleSince: previous?.staleSince ?? at,
        lastError: err.message,
      });
      log.warn({ upstream: upstream.name, repository: cache, tag, err: err.message }, 'mirror: upstream failed, serving the cached tag');
      events.emit('mirror-stale', { upstream: upstream.name, repository: cache, reference: tag, error: err.message });
    }
  }

  private noteFailure(upstream: Upstream, err: UpstreamError): void {
    if (this.down.get(upstream.name)?.error === err) return;
    if (!['unreachable', 'timeout', 'server-error', 'rate-limited'].includes(err.kind)) return;
    const retryAfter = Number(err.retryAfter) * 1000;
    const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, MAX_BACKOFF_MS) : BACKOFF_MS;
    this.down.set(upstream.name, { until: this.deps.now() + wait, error: err });
  }

  /** Forgets that an upstream failed (its settings changed, or a test of it succeeded). */
  recovered(upstream: string): void {
    this.down.delete(upstream);
  }

  /** One flight per key: the first caller runs `work`, the others wait for it (started: false). */
  private async once(key: string, work: () => Promise<Outcome>): Promise<{ outcome: Outcome; started: boolean }> {
    const running = this.flights.get(key);
    if (running) return { outcome: await running, started: false };
    const flight = work().finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return { outcome: await flight, started: true };
  }

  /** A tag: HEAD when something is cached (GET only if the digest moved), else GET. */
  private async refresh(target: MirrorTarget, tag: string, cached: Digest | null): Promise<Outcome> {
    const { repositories, store, now, manifests } = this.deps;
    const { upstream, remote, cache } = target;
    const client = this.deps.client(upstream);
    let known: Digest | null = null;
    if (cached) {
      const head = await client.headManifest(remote, tag);
      known = head.digest ? tryParseDigest(head.digest) : null;
      if (known && known.value === cached.value) {
        const at = new Date(now());
        const previous = await store.cachedRef(cache, tag);
        await store.saveCachedRef({ ...(previous ?? freshRef(upstream.name, cache, tag, cached.value, at)), digest: cached.value, checkedAt: at, staleSince: null, lastError: null });
        return 'unchanged';
      }
      if (known && (await repositories.manifestMediaType(cache, known)) !== null) {
        // The tag moved to a manifest the cache holds already (moved back, or pulled by digest before).
        const stored = await manifests.get(cache, known.value, null);
        await manifests.putFetched(cache, tag, stored.bytes, stored.mediaType);
        await this.recordFetch(target, tag, known.value, now());
        return 'unchanged';
      }
    }
    // By digest when the HEAD told it: a tag moving again between HEAD and GET cannot mix them up.
    return this.fetch(target, known?.value ?? tag, known, tag);
  }

  /** GETs a manifest, verifies it and stores it (tagged when `tag`). */
  private async fetch(target: MirrorTarget, reference: string, expected: Digest | null, tag: string | null): Promise<Outcome> {
    const { manifests, counters, events, now } = this.deps;
    const { upstream, remote, cache } = target;
    const fetched = await this.deps.client(upstream).getManifest(remote, reference);
    const what = `manifest ${remote}${tag ? `:${tag}` : `@${reference}`}`;
    counters.add(upstream.name, 'bytesFetched', fetched.bytes.length);
    const announced = expected ?? (fetched.digest ? tryParseDigest(fetched.digest) : null);
    const actual = digestOf(fetched.bytes, announced?.algorithm ?? 'sha256');
    if (announced && announced.value !== actual.value) {
      throw new UpstreamError(upstream.name, 'invalid', `${upstream.name} sent a ${what} with digest ${actual.value}, not ${announced.value}: discarded`);
    }
    const mediaType = isManifestMediaType(fetched.mediaType) ? fetched.mediaType : '';
    let digest: Digest;
    try {
      digest = await manifests.putFetched(cache, tag, fetched.bytes, mediaType);
    } catch (err) {
      if (isRegistryError(err) && err.code === 'MANIFEST_INVALID') {
        throw new UpstreamError(upstream.name, 'invalid', `${upstream.name} sent a ${what} Berth cannot store (${err.message})`);
      }
      throw err;
    }
    if (digest.value !== actual.value && actual.algorithm === 'sha256') {
      throw new UpstreamError(upstream.name, 'invalid', `${upstream.name} sent a ${what} that changed while it was stored`);
    }
    // A platform of a cached index lives as long as the index's tags: it is no reference of its own.
    if (tag !== null || !(await this.deps.isPlatformOf(cache, digest.value))) await this.recordFetch(target, tag ?? reference, digest.value, now());
    events.emit('mirror-fetched', { upstream: upstream.name, repository: cache, reference: tag ?? reference, digest: digest.value, kind: 'manifest', bytes: fetched.bytes.length });
    return 'fetched';
  }

  private async recordFetch(target: MirrorTarget, reference: string, digest: string, at: number): Promise<void> {
    const when = new Date(at);
    await this.deps.store.saveCachedRef({ ...freshRef(target.upstream.name, target.cache, reference, digest, when), checkedAt: when });
  }

  /** The error for a client when the upstream failed and nothing cached stands in. */
  private failed(target: MirrorTarget, reference: string, err: unknown): unknown {
    if (!(err instanceof UpstreamError)) return err;
    const { counters, events } = this.deps;
    counters.add(target.upstream.name, 'upstreamErrors');
    events.emit('mirror-error', { upstream: target.upstream.name, repository: target.cache, reference, error: err.message });
    const what = `manifest ${target.remote}${reference.includes(':') ? '@' : ':'}${reference}`;
    return clientError(err, what, 'MANIFEST_UNKNOWN');
  }
}

function freshRef(upstream: string, repository: string, reference: string, digest: string, at: Date): Omit<CachedRefDoc, '_id'> {
  return { upstream, repository, reference, digest, fetchedAt: at, checkedAt: null, usedAt: at, staleSince: null, lastError: null };
}

function turnedOff(target: MirrorTarget, reference: string): RegistryError {
  const what = `manifest ${target.remote}${reference.includes(':') ? '@' : ':'}${reference}`;
  return new RegistryError('UNAVAILABLE', {
    message: `${what} is not cached, and the upstream ${target.upstream.name} is turned off (Mirrors page)`,
    detail: { upstream: target.upstream.name, failure: 'off' },
  });
}
