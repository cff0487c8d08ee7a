/**
 * Readable helpers for speaking the distribution API in tests, after distribution's api_test.go:
 * uploads (startUpload, pushChunk, streamChunk, finishUpload, uploadStatus, cancelUpload, mountBlob,
 * pushBlob), blobs (headBlob, getBlob, deleteBlob), manifests (putManifest, pushManifest, getManifest,
 * headManifest, deleteManifest, pushImage), listings (listTags, catalog), and the assertions
 * expectError / expectHeadError.
 * `raw`, `streamChunk` and `hangUpMidBody` go through node:http for what fetch cannot do: literal
 * ".." in paths, bodies sent with Transfer-Encoding: chunked, and clients that hang up half way.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';

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

export type DigestAlgorithm = 'sha256' | 'sha512';

export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return algorithm === 'sha512' ? sha512(bytes) : sha256(bytes);
}

/** A well-formed digest of content nobody pushed (the conformance suite's dummyDigest). */
export const UNKNOWN_DIGEST = sha256('hello world');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [key: string]: unknown;
}

export function descriptor(mediaType: string, bytes: Uint8Array | string, extra: Record<string, unknown> = {}): Descriptor {
  return { mediaType, digest: sha256(bytes), size: Buffer.byteLength(bytes), ...extra };
}

/** An OCI image manifest (tab-indented, like the conformance suite's) over a config and layers. */
export function imageManifest(config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, ...extra }, null, '\t');
}

/** An OCI image index over child manifests. */
export function imageIndex(manifests: Descriptor[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests, ...extra }, null, '\t');
}

export interface RawRequest {
  method: string;
  /** Sent exactly as given: no normalisation of "..", "//" or percent escapes. */
  path: string;
  headers?: Record<string, string>;
  /** Written one after another; without a Content-Length header Node sends them chunked. */
  chunks?: Uint8Array[];
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

  /** A request through node:http, answered as a fetch Response (so expectError works on it). */
  async raw(request: RawRequest): Promise<Response> {
    const { response } = await this.rawWithRequest(request);
    return response;
  }

  /** Like raw(), also returning the ClientRequest (to check how the body went on the wire). */
  rawWithRequest({ method, path, headers = {}, chunks = [] }: RawRequest): Promise<{ response: Response; request: http.ClientRequest }> {
    const url = new URL(this.base);
    return new Promise((resolve, reject) => {
      const request = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false });
      request.on('error', reject);
      request.on('response', (res) => {
        const body: Buffer[] = [];
        res.on('data', (chunk: Buffer) => body.push(chunk));
        res.on('error', reject);
        res.on('end', () => resolve({ response: toResponse(res, Buffer.concat(body)), request }));
      });
      for (const chunk of chunks) request.write(chunk);
      request.end();
    });
  }

  /**
   * PATCH the chunks as a stream the way Docker, podman and buildah do: Transfer-Encoding: chunked,
   * no Content-Length, no Content-Range, no Content-Type.
   */
  async streamChunk(location: string, ...chunks: Uint8Array[]): Promise<Response> {
    const target = new URL(this.url(location));
    const { response, request } = await this.rawWithRequest({ method: 'PATCH', path: target.pathname + target.search, chunks });
    assert.equal(request.getHeader('content-length'), undefined, 'a streamed PATCH has no Content-Length');
    assert.equal(request.chunkedEncoding, true, 'a streamed PATCH is sent with Transfer-Encoding: chunked');
    return response;
  }

  /**
   * Starts a streamed PATCH (or PUT, or monolithic POST), writes `sent`, waits until `arrived()` says the server has it,
   * then destroys the connection without ending the body: a client that hangs up half way.
   */
  async hangUpMidBody(location: string, sent: Uint8Array, arrived: () => Promise<boolean>, method: 'PATCH' | 'PUT' | 'POST' = 'PATCH'): Promise<void> {
    const target = new URL(this.url(location));
    const request = http.request({
      host: target.hostname,
      port: target.port,
      method,
      path: target.pathname + target.search,
      agent: false,
    });
    const closed = new Promise<void>((resolve) => request.on('close', resolve));
    request.on('error', () => undefined); // the hang-up is the point
    request.write(sent);
    await waitFor(arrived, 'the server to receive the first half of the chunk');
    request.destroy();
    await closed;
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

  /** GET on the session: 204 with Location and Range. */
  uploadStatus(location: string): Promise<Response> {
    return this.fetch(location);
  }

  cancelUpload(location: string): Promise<Response> {
    return this.fetch(location, { method: 'DELETE' });
  }

  /** POST /v2/<repo>/blobs/uploads/?mount=<digest>[&from=<from>]. */
  mountBlob(repo: string, digest: string, from?: string): Promise<Response> {
    const query = new URLSearchParams({ mount: digest, ...(from !== undefined ? { from } : {}) });
    return this.fetch(`/v2/${repo}/blobs/uploads/?${query.toString()}`, { method: 'POST' });
  }

  /** Uploads a blob (POST + PUT with body) and returns its digest. */
  async pushBlob(repo: string, bytes: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Promise<string> {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const digest = digestOf(data, algorithm);
    const location = await this.startUpload(repo);
    const res = await this.finishUpload(location, digest, data);
    assert.equal(res.status, 201, await describe(res));
    return digest;
  }

  headBlob(repo: string, digest: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers });
  }

  getBlob(repo: string, digest: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(`/v2/${repo}/blobs/${digest}`, { headers });
  }

  deleteBlob(repo: string, digest: string): Promise<Response> {
    return this.fetch(`/v2/${repo}/blobs/${digest}`, { method: 'DELETE' });
  }

  /** GET (or HEAD) a manifest; `accept` is sent as one Accept header, types joined with ", ". */
  getManifest(repo: string, reference: string, accept?: string | string[], method: 'GET' | 'HEAD' = 'GET'): Promise<Response> {
    const headers: Record<string, string> = {};
    if (accept !== undefined) headers.Accept = Array.isArray(accept) ? accept.join(', ') : accept;
    return this.fetch(`/v2/${repo}/manifests/${reference}`, { method, headers });
  }

  headManifest(repo: string, reference: string, accept?: string | string[]): Promise<Response> {
    return this.getManifest(repo, reference, accept, 'HEAD');
  }

  deleteManifest(repo: string, reference: string): Promise<Response> {
    return this.fetch(`/v2/${repo}/manifests/${reference}`, { method: 'DELETE' });
  }

  /** Pushes a manifest and asserts 201; returns its sha256 digest. */
  async pushManifest(repo: string, reference: string, bytes: string, mediaType = OCI_MANIFEST): Promise<string> {
    const res = await this.putManifest(repo, reference, bytes, mediaType);
    assert.equal(res.status, 201, await describe(res));
    return sha256(bytes);
  }

  /** GET tags/list (with optional n and last) and the parsed body. */
  async listTags(repo: string, query: Record<string, string> = {}): Promise<{ res: Response; tags: string[] }> {
    const search = new URLSearchParams(query).toString();
    const res = await this.fetch(`/v2/${repo}/tags/list${search ? `?${search}` : ''}`);
    assert.equal(res.status, 200, await describe(res));
    const body = (await res.json()) as { name: string; tags: string[] | null };
    assert.equal(body.name, repo);
    return { res, tags: body.tags ?? [] };
  }

  async catalog(query: Record<string, string> = {}): Promise<{ res: Response; repositories: string[] }> {
    const search = new URLSearchParams(query).toString();
    const res = await this.fetch(`/v2/_catalog${search ? `?${search}` : ''}`);
    assert.equal(res.status, 200, await describe(res));
    const body = (await res.json()) as { repositories: string[] };
    return { res, repositories: body.repositories };
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

/** An error answer to HEAD: the status and the API version header, and no body. */
export async function expectHeadError(res: Response, status: number): Promise<void> {
  assert.equal(res.status, status, await describe(res));
  assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  assert.equal(await res.text(), '');
}

/** Polls `check` until it holds (every 10 ms); the 30 s bound is for a hang on a loaded machine, not a timing assertion. */
export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The last path segment of an upload Location: the session id. */
export function uploadId(location: string): string {
  return new URL(location, 'http://x').pathname.split('/').pop()!;
}

function toResponse(res: http.IncomingMessage, body: Buffer): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const status = res.statusCode ?? 0;
  const noBody = status === 204 || status === 304 || body.length === 0;
  return new Response(noBody ? null : body, { status, statusText: res.statusMessage ?? '', headers });
}

export async function describe(res: Response): Promise<string> {
  const text = await res.clone().text().catch(() => '');
  return `${res.status} ${res.statusText} ${text.slice(0, 500)}`;
}
