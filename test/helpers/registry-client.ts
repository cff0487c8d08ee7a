/**
 * Readable helpers for speaking the distribution API in tests, after distribution's api_test.go:
 * startUpload, pushChunk, finishUpload, pushBlob, pushManifest, expectError.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function sha512(bytes: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [key: string]: unknown;
}

export function descriptor(mediaType: string, bytes: Uint8Array | string, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType, digest: sha256(bytes), size: Buffer.byteLength(bytes), ...extra };
}

export class Client {
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  url(pathOrUrl: string): string {
    return new URL(pathOrUrl, this.base).toString();
  }

  fetch(pathOrUrl: string, init: RequestInit = {}): Promise<Response> {
    return fetch(this.url(pathOrUrl), init);
  }

  /** POST /v2/<name>/blobs/uploads/ -> the session's Location (asserting 202). */
  async startUpload(repo: string): Promise<string> {
    const res = await this.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 202, await describe(res));
    const location = res.headers.get('location');
    assert.ok(location, 'POST upload answers a Location');
    return location;
  }

  /** PATCH a chunk; `range` as [start, end] sends Content-Range, else the chunk is streamed. */
  pushChunk(location: string, bytes: Uint8Array, range?: [number, number]): Promise<Response> {
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (range) headers['Content-Range'] = `${range[0]}-${range[1]}`;
    return this.fetch(location, { method: 'PATCH', headers, body: bytes });
  }

  finishUpload(location: string, digest: string, body?: Uint8Array): Promise<Response> {
    const url = new URL(this.url(location));
    url.searchParams.set('digest', digest);
    return this.fetch(url.toString(), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      ...(body ? { body } : {}),
    });
  }

  /** Uploads a blob (POST + PUT with body) and returns its digest. */
  async pushBlob(repo: string, bytes: Uint8Array | string): Promise<string> {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const digest = sha256(data);
    const location = await this.startUpload(repo);
    const res = await this.finishUpload(location, digest, data);
    assert.equal(res.status, 201, await describe(res));
    return digest;
  }

  putManifest(repo: string, reference: string, manifest: unknown, mediaType = OCI_MANIFEST): Promise<Response> {
    const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
    return this.fetch(`/v2/${repo}/manifests/${reference}`, {
      method: 'PUT',
      headers: { 'Content-Type': mediaType },
      body,
    });
  }

  /** Pushes a config + one layer + an OCI manifest under `tag`; returns the manifest and its parts. */
  async pushImage(repo: string, tag: string, options: { layer?: string; platform?: { os: string; architecture: string } } = {}) {
    const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
    const config = JSON.stringify({ ...platform, created: '2026-01-01T00:00:00Z', rootfs: { type: 'layers', diff_ids: [] }, config: {} });
    const layer = options.layer ?? `layer of ${repo}:${tag} ${Math.random()}`;
    await this.pushBlob(repo, config);
    await this.pushBlob(repo, layer);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(OCI_CONFIG, config),
      layers: [descriptor(OCI_LAYER, layer)],
    };
    const bytes = JSON.stringify(manifest);
    const res = await this.putManifest(repo, tag, bytes);
    assert.equal(res.status, 201, await describe(res));
    return { manifest, bytes, digest: sha256(bytes), config, layer, size: Buffer.byteLength(bytes) };
  }
}

/** Asserts an OCI error response: status, code, and the envelope shape. */
export async function expectError(res: Response, status: number, code: string): Promise<{ code: string; message: string; detail?: unknown }> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { errors: { code: string; message: string; detail?: unknown }[] };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `error envelope: ${text}`);
  const [first] = body.errors;
  assert.equal(first!.code, code, text);
  assert.equal(typeof first!.message, 'string');
  assert.doesNotMatch(text, /\/tmp\/|\/home\/|node_modules|at .*\.ts:\d+/, 'no paths or stack traces in error bodies');
  return first!;
}

export async function describe(res: Response): Promise<string> {
  const text = await res.clone().text().catch(() => '');
  return `${res.status} ${res.statusText} ${text.slice(0, 500)}`;
}
