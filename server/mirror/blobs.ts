/**
 * Blobs through the pull-through cache: a blob the cache repository holds is served from storage; one
 * a manifest cached in that repository references and that is stored already (a base layer another
 * cached image brought) is linked and served; anything else is filled from the upstream (blob-fill.ts:
 * one upstream GET however many clients ask, streamed to all of them while it is written). A blob stored
 * for another repository is never handed out under the cache's name without the upstream or a cached
 * manifest vouching for it: knowing a digest must not open someone's private layer.
 */
import type { Logger } from 'pino';
import type { MetadataIndex } from '../metadata/index-db.ts';
import { RegistryError } from '../registry/errors.ts';
import type { RegistryEvents } from '../registry/events.ts';
import type { LinkGuard } from '../registry/link-guard.ts';
import type { Digest } from '../registry/reference.ts';
import type { BlobStore, ByteRange, OpenBlob } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { ManifestService } from '../registry/manifests.ts';
import type { BlobFills } from './blob-fill.ts';
import { cacheContents } from './contents.ts';
import type { MirrorCounters } from './counters.ts';
import type { UpstreamClient } from './upstream-client.ts';
import { clientError, UpstreamError } from './upstream-errors.ts';
import type { MirrorTarget, Upstream } from './upstreams.ts';

export interface MirrorBlobsDeps {
  blobs: BlobStore;
  manifests: ManifestService;
  repositories: RepositoryStore;
  index: MetadataIndex;
  guard: LinkGuard;
  fills: BlobFills;
  counters: MirrorCounters;
  events: RegistryEvents;
  log: Logger;
  client(upstream: Upstream): UpstreamClient;
}

export class MirrorBlobs {
  private readonly deps: MirrorBlobsDeps;

  constructor(deps: MirrorBlobsDeps) {
    this.deps = deps;
  }

  /** HEAD: the size, from the cache, a fill in progress, or the upstream (a HEAD fetches nothing). */
  async stat(target: MirrorTarget, digest: Digest): Promise<number> {
    const { blobs, fills } = this.deps;
    this.deps.guard.touch(digest.value);
    if (await this.held(target, digest)) {
      const size = await blobs.stat(digest);
      if (size !== null) return size;
    }
    const filling = fills.filling(digest.value)?.size;
    if (filling !== undefined && filling !== null) return filling;
    if (!target.upstream.enabled) throw notCached(target, digest, 'the upstream is turned off (Mirrors page)');
    try {
      const size = await this.deps.client(target.upstream).headBlob(target.remote, digest.value);
      if (size === null) throw new UpstreamError(target.upstream.name, 'invalid', `${target.upstream.name} gave no size for blob ${digest.value}`);
      return size;
    } catch (err) {
      throw this.failed(target, digest, err);
    }
  }

  /** GET: the blob to send, from the cache or from its fill. */
  async open(target: MirrorTarget, digest: Digest): Promise<OpenBlob> {
    const { blobs, fills, counters, events } = this.deps;
    const name = target.upstream.name;
    if (await this.held(target, digest)) {
      const blob = await blobs.open(digest);
      if (blob) {
        counters.add(name, 'hits');
        return this.counted(blob, name);
      }
    }
    if (!target.upstream.enabled && !fills.filling(digest.value)) throw notCached(target, digest, 'the upstream is turned off (Mirrors page)');
    try {
      const { blob, started } = await fills.open(target.cache, digest, name, () => this.deps.client(target.upstream).getBlob(target.remote, digest.value), (outcome) => {
        counters.add(name, 'bytesFetched', outcome.bytes);
        if (outcome.ok) {
          if (outcome.answered) events.emit('mirror-fetched', { upstream: name, repository: target.cache, reference: digest.value, digest: digest.value, kind: 'blob', bytes: outcome.bytes });
          return;
        }
        if (!outcome.answered) return; // the caller of open() reports it
        counters.add(name, 'upstreamErrors');
        const error = outcome.error?.message ?? 'unknown error';
        this.deps.log.warn({ upstream: name, repository: target.cache, digest: digest.value, err: error }, 'mirror: filling a blob failed; nothing was committed');
        events.emit('mirror-error', { upstream: name, repository: target.cache, reference: digest.value, error });
      });
      counters.add(name, started ? 'misses' : 'hits');
      return started ? blob : this.counted(blob, name);
    } catch (err) {
      throw this.failed(target, digest, err);
    }
  }

  /**
   * Whether the cache repository may serve the stored blob: it is linked there (a fill committed it), or
   * a manifest cached in that repository references it (then it is linked now).
   */
  private async held(target: MirrorTarget, digest: Digest): Promise<boolean> {
    const { repositories, index, guard, blobs } = this.deps;
    if (await repositories.hasLayer(target.cache, digest)) return true;
    if ((await repositories.manifestMediaType(target.cache, digest)) !== null) return true;
    if (!(await cacheContents(index, this.deps.manifests, target.cache)).blobs.has(digest.value)) return false;
    return guard.withDigests([digest.value], async () => {
      if ((await blobs.stat(digest)) === null) return false;
      await guard.withRepository(target.cache, () => repositories.linkLayer(target.cache, digest));
      return true;
    });
  }

  /** Counts the bytes a blob served without fetching sends (bytes from the cache). */
  private counted(blob: OpenBlob, upstream: string): OpenBlob {
    const { counters } = this.deps;
    return {
      size: blob.size,
      async sendTo(dest, range?: ByteRange) {
        await blob.sendTo(dest, range);
        counters.add(upstream, 'bytesFromCache', range ? range.end - range.start + 1 : blob.size);
      },
      close: () => blob.close(),
    };
  }

  private failed(target: MirrorTarget, digest: Digest, err: unknown): unknown {
    if (!(err instanceof UpstreamError)) return err;
    this.deps.counters.add(target.upstream.name, 'upstreamErrors');
    this.deps.events.emit('mirror-error', { upstream: target.upstream.name, repository: target.cache, reference: digest.value, error: err.message });
    return clientError(err, `blob ${digest.value} of ${target.remote}`, 'BLOB_UNKNOWN');
  }
}

function notCached(target: MirrorTarget, digest: Digest, why: string): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', {
    message: `blob ${digest.value} of ${target.remote} is not cached, and ${why}`,
    detail: { digest: digest.value, upstream: target.upstream.name },
  });
}
