/**
 * Inside an image (issue 15): its layers' listings, the merged file system, one file's content, and
 * the diff of two images. References are "tag or digest" of a repository; an index is narrowed to one
 * platform ("linux/arm64"), which may be left out when the index has only one.
 *
 * Layer bytes are read only by the layer workers, through the BlobStore's stream; everything here
 * works on listings (layer-index.ts) and merges them (filesystem.ts). A layer that cannot be read does
 * not hide the rest: it is reported with its problem and the tree is built without it.
 */
import { LRUCache } from 'lru-cache';
import type { BlobReader } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import type { ImageConfigView } from './api-types.ts';
import { RegistryError } from './errors.ts';
import { imageConfigView } from './image-config.ts';
import type {
  FileView, FsNode, ImageDiff, ImageFilesView, ImageLayerView, LayerProblem, LayerSummary, PlatformChoice, ResolvedImage,
} from './inspect-types.ts';
import { LayerReadError } from './layers/archive.ts';
import { fileKind } from './layers/file-kind.ts';
import { childrenOf, lookup, mergeLayerSources, toFsNode, walkInSlices, type MergedFs } from './layers/filesystem.ts';
import { diffConfigs, diffFileSystems } from './layers/image-diff.ts';
import type { LayerIndex } from './layers/layer-index.ts';
import type { LayerWorkers } from './layers/worker-pool.ts';
import { platformLabel, type ParsedManifest } from './manifest.ts';
import { readableReference, type ManifestService } from './manifests.ts';
import { isImageConfigMediaType } from './media-types.ts';
import { parseName, tryParseDigest, type Digest } from './reference.ts';

/** Image configs are read whole; see images.ts for the size. */
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** A text file is shown up to 1 MiB; the rest is a download away. */
export const TEXT_VIEW_BYTES = 1024 * 1024;
/** Search answers at most this many paths. */
const SEARCH_LIMIT = 500;
/** Merged trees kept in memory (a large image's tree is tens of MB). */
const MERGED_CACHE = 6;
/** The wasted-space list shows the biggest paths. */
const WASTED_TOP = 100;

export interface InspectDeps {
  manifests: ManifestService;
  blobs: BlobReader;
  repositories: RepositoryStore;
  layers: LayerIndex;
  workers: LayerWorkers;
}

interface Image {
  resolved: ResolvedImage;
  manifest: ParsedManifest;
  config: ImageConfigView | null;
  diffIds: (string | null)[];
}

interface Merged {
  image: Image;
  layers: ImageLayerView[];
  fs: MergedFs;
}

export class InspectService {
  private readonly deps: InspectDeps;
  private readonly merged = new LRUCache<string, Promise<Merged>>({ max: MERGED_CACHE });

  constructor(deps: InspectDeps) {
    this.deps = deps;
  }

  /** The image a reference names, narrowed to `platform` when it names an index. */
  async resolve(repo: string, reference: string, platform?: string): Promise<Image> {
    const { manifests, repositories } = this.deps;
    parseName(repo);
    const { digest, mediaType } = await manifests.resolve(repo, readableReference(reference));
    let { manifest } = await manifests.parseStored(repo, digest, mediaType);
    let imageDigest = digest;
    let index: string | null = null;
    let chosen: string | null = null;
    if (manifest.isIndex) {
      const choices: (PlatformChoice & { d: Digest })[] = manifest.manifests
        .filter((d) => d.platform && platformLabel(d.platform) !== 'unknown/unknown' && d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest')
        .map((d) => ({ platform: platformLabel(d.platform!), digest: d.digest.value, d: d.digest }));
      const named = platform
        ? choices.filter((c) => c.platform === platform || c.platform.startsWith(`${platform}/`))
        : choices;
      if (named.length !== 1) {
        const list = choices.map((c) => c.platform).join(', ') || 'none';
        throw new RegistryError('BAD_REQUEST', {
          message: platform
            ? `${repo}:${reference} has ${named.length === 0 ? 'no' : 'more than one'} image for platform ${platform}; it has: ${list}`
            : `${repo}:${reference} is a multi-platform index: pick a platform (${list})`,
          detail: { platforms: choices.map(({ platform: p, digest: d }) => ({ platform: p, digest: d })) },
        });
      }
      const child = named[0]!;
      const childType = await repositories.manifestMediaType(repo, child.d);
      if (childType === null) {
        throw new RegistryError('MANIFEST_UNKNOWN', { message: `the ${child.platform} image of ${repo}:${reference} (${child.digest}) is not in the repository` });
      }
      manifest = (await manifests.parseStored(repo, child.d, childType)).manifest;
      if (manifest.isIndex) throw new RegistryError('BAD_REQUEST', { message: `the ${child.platform} entry of ${repo}:${reference} is itself an index` });
      index = digest.value;
      imageDigest = child.d;
      chosen = child.platform;
    }
    if (!manifest.config) throw new RegistryError('BAD_REQUEST', { message: `${repo}:${reference} is not an image` });
    let config: ImageConfigView | null = null;
    let diffIds: (string | null)[] = manifest.layers.map(() => null);
    if (isImageConfigMediaType(manifest.config.mediaType)) {
      const bytes = await this.deps.blobs.read(manifest.config.digest, MAX_CONFIG_BYTES);
      if (bytes) {
        try {
          const json = JSON.parse(bytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
          config = imageConfigView(json);
          const ids = json.rootfs?.diff_ids;
          if (Array.isArray(ids)) diffIds = manifest.layers.map((_, i) => (typeof ids[i] === 'string' ? (ids[i] as string) : null));
          if (!chosen && config.os && config.architecture) chosen = [config.os, config.architecture, config.variant].filter(Boolean).join('/');
        } catch {
          // not JSON: an image without config details
        }
      }
    }
    return {
      resolved: { repository: repo, reference, digest: imageDigest.value, index, platform: chosen },
      manifest,
      config,
      diffIds,
    };
  }

  /** The merged file system of an image, built once and kept for a while. */
  private async mergedImage(repo: string, reference: string, platform?: string): Promise<Merged> {
    const image = await this.resolve(repo, reference, platform);
    const key = image.resolved.digest;
    let pending = this.merged.get(key);
    if (!pending) {
      pending = this.build(image);
      pending.catch(() => this.merged.delete(key));
      this.merged.set(key, pending);
    }
    const merged = await pending;
    return { ...merged, image };
  }

  private async build(image: Image): Promise<Merged> {
    const { layers: index } = this.deps;
    const history = image.config?.history.filter((h) => !h.emptyLayer) ?? [];
    const summaries: (LayerSummary | null)[] = [];
    const views: ImageLayerView[] = [];
    // One at a time, in order: the worker pool bounds the parallelism, and a page shows layers as they come.
    for (const [i, layer] of image.manifest.layers.entries()) {
      const view: ImageLayerView = {
        index: i,
        digest: layer.digest.value,
        mediaType: layer.mediaType,
        size: layer.size,
        expectedDiffId: image.diffIds[i] ?? null,
        diffId: null,
        compression: null,
        uncompressedSize: null,
        entries: null,
        addedBytes: null,
        createdBy: history[i]?.createdBy ?? null,
        rejected: [],
        problem: null,
      };
      let summary: LayerSummary | null = null;
      if (layer.urls) {
        view.problem = { code: 'FOREIGN', message: 'a non-distributable layer: its bytes live at its URLs, not in this registry' };
      } else {
        try {
          summary = await index.summary(layer.digest);
        } catch (err) {
          // The layer's own problem is shown next to the tree; the disk's (full, failing) fails the request.
          if (!(err instanceof LayerReadError)) throw err;
          view.problem = problemOf(err);
        }
      }
      if (summary) {
        view.diffId = summary.diffId;
        view.compression = summary.compression;
        view.uncompressedSize = summary.uncompressedSize;
        view.entries = summary.entryCount;
        view.addedBytes = summary.addedBytes;
        view.rejected = summary.rejected;
        if (view.expectedDiffId && view.expectedDiffId !== summary.diffId) {
          view.problem = {
            code: 'DIFF_ID_MISMATCH',
            message: `the uncompressed layer has digest ${summary.diffId}, but the image config says ${view.expectedDiffId}: the image is inconsistent (container engines refuse to run it)`,
          };
        }
      }
      views.push(view);
      summaries.push(summary);
    }
    // Layers that could not be read are left out; their problem is shown next to the tree.
    const fs = await this.merge(image, summaries);
    return { image, layers: views, fs };
  }

  /**
   * The tree of the layers that could be read, straight from their stored listings. A stored listing
   * that fails half-way (damaged on disk: the store removed it) fails the request, so that no
   * half-merged tree is kept; the next request lists the layer again.
   */
  private async merge(image: Image, summaries: (LayerSummary | null)[]): Promise<MergedFs> {
    const { layers: index } = this.deps;
    const sources = summaries.map((summary, i) => {
      if (!summary) return null;
      const digest = image.manifest.layers[i]!.digest;
      return { whiteouts: summary.whiteouts, entries: () => index.entries(digest) };
    });
    let failure: { index: number; err: unknown } | null = null;
    const fs = await mergeLayerSources(sources, (i, err) => {
      failure ??= { index: i, err };
    });
    if (failure) {
      const { index: i, err } = failure;
      if ((err as NodeJS.ErrnoException)?.code?.startsWith('E')) throw err; // the disk's: named by the error responder
      throw new RegistryError('UNAVAILABLE', {
        message: `the stored listing of layer ${image.manifest.layers[i]!.digest.value} could not be read (${(err as Error)?.message ?? String(err)}); it was removed and is made again on the next request`,
      });
    }
    return fs;
  }

  /** One directory of the merged tree, or the paths matching `search`. */
  async files(repo: string, reference: string, options: { platform?: string; path?: string; search?: string }): Promise<ImageFilesView> {
    const merged = await this.mergedImage(repo, reference, options.platform);
    const path = normalizeQueryPath(options.path ?? '');
    let nodes: FsNode[];
    let search: ImageFilesView['search'] = null;
    if (options.search) {
      const query = options.search.toLowerCase();
      nodes = [];
      let truncated = false;
      for await (const node of walkInSlices(merged.fs)) {
        if (!node.path.toLowerCase().includes(query)) continue;
        if (nodes.length === SEARCH_LIMIT) {
          truncated = true;
          break;
        }
        nodes.push(node);
      }
      search = { query: options.search, truncated };
    } else {
      const dir = lookup(merged.fs, path);
      if (!dir) throw notInImage(merged.image, path);
      nodes = dir.type === 'dir' ? childrenOf(dir, path) : [toFsNode(dir, path)];
    }
    return {
      image: merged.image.resolved,
      layers: merged.layers,
      totals: merged.fs.totals,
      wasted: { bytes: merged.fs.wasted.bytes, files: merged.fs.wasted.files, top: merged.fs.wasted.paths.slice(0, WASTED_TOP) },
      path,
      nodes,
      search,
    };
  }

  /** Every path of the merged file system (berth files). */
  async allFiles(repo: string, reference: string, platform?: string): Promise<{ image: ResolvedImage; layers: ImageLayerView[]; nodes: FsNode[] }> {
    const merged = await this.mergedImage(repo, reference, platform);
    const nodes: FsNode[] = [];
    for await (const node of walkInSlices(merged.fs)) nodes.push(node);
    return { image: merged.image.resolved, layers: merged.layers, nodes };
  }

  /** The layers of an image with their listings' summaries. */
  async imageLayers(repo: string, reference: string, platform?: string): Promise<{ image: ResolvedImage; layers: ImageLayerView[] }> {
    const merged = await this.mergedImage(repo, reference, platform);
    return { image: merged.image.resolved, layers: merged.layers };
  }

  /** One layer's listing as JSON in pieces (a LayerListingView: entries may be many); the layer must belong to the repository. */
  async layer(repo: string, digestText: string): Promise<AsyncIterable<Uint8Array>> {
    parseName(repo);
    const digest = tryParseDigest(digestText);
    if (!digest) throw new RegistryError('DIGEST_INVALID', { message: `"${digestText.slice(0, 100)}" is not a digest` });
    if (!(await this.deps.repositories.hasLayer(repo, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', { message: `${repo} has no layer ${digest.value}` });
    }
    try {
      return await this.deps.layers.listingJson(digest);
    } catch (err) {
      throw asRegistryError(err);
    }
  }

  /** A path of the image: what it is and, for text, its content (up to TEXT_VIEW_BYTES). */
  async file(repo: string, reference: string, pathText: string, platform?: string): Promise<FileView> {
    const { merged, path, node, source } = await this.pathOf(repo, reference, pathText, platform);
    const view: FileView = { image: merged.image.resolved, node, kind: kindOfNode(node), text: null, truncated: false, downloadUrl: null };
    if (!source) return view;
    const chunks: Buffer[] = [];
    let held = 0;
    const stop = new AbortController();
    try {
      await this.deps.workers.extract(source.layer, source.path, async (chunk) => {
        const room = TEXT_VIEW_BYTES - held;
        if (room > 0) {
          chunks.push(Buffer.from(chunk.subarray(0, room)));
          held += Math.min(room, chunk.byteLength);
        }
        if (held >= TEXT_VIEW_BYTES) stop.abort();
      }, stop.signal);
    } catch (err) {
      if (!(err instanceof LayerReadError && err.code === 'ABORTED' && stop.signal.aborted)) throw asRegistryError(err);
    }
    const head = Buffer.concat(chunks);
    const kind = fileKind(head.subarray(0, 4096));
    view.kind = kind.kind;
    view.downloadUrl = `/api/repositories/${repo}/-/manifests/${merged.image.resolved.digest}/download?path=${encodeURIComponent(`/${path}`)}`;
    if (kind.text) {
      view.text = new TextDecoder().decode(head);
      view.truncated = node.size > head.length;
    }
    return view;
  }

  /** Streams a regular file (or hard link's bytes) of the image to `write`; resolves to its node. */
  async download(repo: string, reference: string, pathText: string, platform: string | undefined, write: (chunk: Uint8Array) => Promise<void>, signal?: AbortSignal): Promise<FsNode> {
    const { node, source } = await this.downloadSource(repo, reference, pathText, platform);
    try {
      await this.deps.workers.extract(source.layer, source.path, write, signal);
    } catch (err) {
      throw asRegistryError(err);
    }
    return node;
  }

  /** Checks a download is possible before any byte is sent (so errors can still be JSON). */
  async downloadSource(repo: string, reference: string, pathText: string, platform?: string): Promise<{ node: FsNode; source: { layer: Digest; path: string } }> {
    const { path, node, source } = await this.pathOf(repo, reference, pathText, platform);
    if (!source) throw new RegistryError('BAD_REQUEST', { message: `/${path} is a ${describeType(node.type)}, not a file with content to download` });
    return { node, source };
  }

  /** A path of the image's merged tree (404 when absent), and where its bytes are. */
  private async pathOf(repo: string, reference: string, pathText: string, platform?: string) {
    const merged = await this.mergedImage(repo, reference, platform);
    const path = normalizeQueryPath(pathText);
    const found = lookup(merged.fs, path);
    if (!found || path === '') throw notInImage(merged.image, path);
    return { merged, path, node: toFsNode(found, path), source: this.contentSource(merged, path) };
  }

  /** Which layer holds the bytes of `path`: its own for a file, its target's for a hard link. */
  private contentSource(merged: Merged, path: string): { layer: Digest; path: string } | null {
    let node = lookup(merged.fs, path);
    let at = path;
    if (node?.type === 'hardlink' && node.linkTarget) {
      at = node.linkTarget;
      node = lookup(merged.fs, at);
    }
    if (!node || node.type !== 'file') return null;
    return { layer: merged.image.manifest.layers[node.layer]!.digest, path: at };
  }

  async diff(from: { repo: string; reference: string; platform?: string }, to: { repo: string; reference: string; platform?: string }, options: { timestamps: boolean }): Promise<ImageDiff> {
    const a = await this.mergedImage(from.repo, from.reference, from.platform);
    const b = await this.mergedImage(to.repo, to.reference, to.platform);
    const layersA = a.image.manifest.layers;
    const layersB = b.image.manifest.layers;
    const inB = new Set(layersB.map((l) => l.digest.value));
    const inA = new Set(layersA.map((l) => l.digest.value));
    const files = await diffFileSystems(a.fs, b.fs, options.timestamps);
    const sizeDelta = b.fs.totals.bytes - a.fs.totals.bytes;
    return {
      from: a.image.resolved,
      to: b.image.resolved,
      timestamps: options.timestamps,
      config: diffConfigs(a.image.config, b.image.config),
      layers: {
        shared: layersA.filter((l) => inB.has(l.digest.value)).map((l) => ({ digest: l.digest.value, size: l.size })),
        onlyFrom: layersA.filter((l) => !inB.has(l.digest.value)).map((l) => ({ digest: l.digest.value, size: l.size })),
        onlyTo: layersB.filter((l) => !inA.has(l.digest.value)).map((l) => ({ digest: l.digest.value, size: l.size })),
      },
      files,
      summary: { added: files.added.length, removed: files.removed.length, changed: files.changed.length, sizeDelta },
    };
  }
}

function problemOf(err: unknown): LayerProblem {
  if (err instanceof LayerReadError) {
    if (err.code === 'NOT_FOUND') return { code: 'MISSING', message: err.message };
    if (err.code === 'CORRUPT' || err.code === 'TRUNCATED' || err.code === 'UNSUPPORTED' || err.code === 'TOO_LARGE') return { code: err.code, message: err.message };
    return { code: 'CORRUPT', message: err.message };
  }
  return { code: 'CORRUPT', message: (err as Error).message };
}

export function asRegistryError(err: unknown): unknown {
  if (!(err instanceof LayerReadError)) return err;
  if (err.code === 'NOT_FOUND') return new RegistryError('BLOB_UNKNOWN', { message: err.message });
  if (err.code === 'ABORTED') return new RegistryError('UNAVAILABLE', { message: err.message });
  return new RegistryError('CONTENT_INVALID', { message: err.message, detail: { problem: err.code } });
}

/** "/etc/", "etc", "./etc" -> "etc"; ".." is refused. */
function normalizeQueryPath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new RegistryError('BAD_REQUEST', { message: 'a path may not contain ".."' });
  return parts.join('/');
}

function notInImage(image: Image, path: string): RegistryError {
  return new RegistryError('NOT_FOUND', { message: `/${path} is not in ${image.resolved.repository}@${image.resolved.digest}` });
}

function describeType(type: FsNode['type']): string {
  return { file: 'file', dir: 'directory', symlink: 'symbolic link', hardlink: 'hard link', char: 'character device', block: 'block device', fifo: 'named pipe' }[type];
}

function kindOfNode(node: FsNode): string {
  if (node.type === 'symlink') return `symbolic link to ${node.linkTarget ?? ''}`;
  if (node.type === 'file' && node.size === 0) return 'empty';
  return describeType(node.type);
}
