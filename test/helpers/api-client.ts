/**
 * The management API (/api/) as the UI uses it: JSON reads, changes carrying X-Berth-Client, and the
 * desktop app's token when given. Plus pushImageWith(), an image whose config says what the image page
 * shows (env, cmd, entrypoint, labels, ports, user, history).
 */
import assert from 'node:assert/strict';
import type { BerthConfig } from '../../server/config.ts';
import { Client, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, sha256 } from './registry-client.ts';
import { startServer, type TestServer } from './server.ts';

export class ApiClient {
  readonly base: string;
  readonly token: string | null;
  constructor(base: string, token: string | null = null) {
    this.base = base;
    this.token = token;
  }

  /** A request; methods other than GET carry X-Berth-Client unless `client` is false. */
  fetch(path: string, init: RequestInit & { client?: boolean } = {}): Promise<Response> {
    const { client = true, headers, ...rest } = init;
    const all: Record<string, string> = { ...(headers as Record<string, string> | undefined) };
    if (this.token) all.Authorization = `Bearer ${this.token}`;
    if (client && (rest.method ?? 'GET') !== 'GET') all['X-Berth-Client'] = 'test';
    return fetch(new URL(path, this.base), { ...rest, headers: all });
  }

  /** GET (or another method) answered 200 with JSON. */
  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.fetch(path, init);
    const text = await res.text();
    assert.equal(res.status, 200, `${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return JSON.parse(text) as T;
  }

  delete<T>(path: string): Promise<T> {
    return this.json<T>(path, { method: 'DELETE' });
  }
}

export const FIXTURE_CONFIG = {
  User: '1000:1000',
  Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'GREETING=hello world'],
  Entrypoint: ['/bin/app'],
  Cmd: ['--port', '8080'],
  WorkingDir: '/srv/app',
  ExposedPorts: { '8080/tcp': {}, '9090/udp': {} },
  Volumes: { '/data': {} },
  StopSignal: 'SIGTERM',
  Labels: { 'org.opencontainers.image.title': 'demo', 'com.example.team': 'platform' },
};

type ImageOptions = { layers?: string[]; config?: Record<string, unknown>; platform?: { os: string; architecture: string; variant?: string }; created?: string };

/** Pushes an image with a real config (FIXTURE_CONFIG unless given) and the given layers. */
export async function pushImageWith(client: Client, repo: string, tag: string | null, options: ImageOptions = {}) {
  const image = await pushImageBlobs(client, repo, options);
  await image.pushManifest(tag);
  return image;
}

/**
 * Uploads an image's config and layers (as pushImageWith) and gives its manifest to push when the test
 * says: several manifests then land back to back however long their blobs took.
 */
export async function pushImageBlobs(client: Client, repo: string, options: ImageOptions = {}) {
  const layers = options.layers ?? [`layer of ${repo} ${Math.random()}`];
  const config = JSON.stringify({
    created: options.created ?? '2026-01-02T03:04:05Z',
    author: 'Berth tests',
    ...(options.platform ?? { os: 'linux', architecture: 'amd64' }),
    config: options.config ?? FIXTURE_CONFIG,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) },
    history: [
      { created: '2026-01-02T03:04:05Z', created_by: 'ENV GREETING=hello world', empty_layer: true },
      ...layers.map((_, i) => ({ created: '2026-01-02T03:04:05Z', created_by: `COPY part${i} /srv/app/` })),
    ],
  });
  await client.pushBlob(repo, config);
  for (const layer of layers) await client.pushBlob(repo, layer);
  const bytes = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(OCI_CONFIG, config),
    layers: layers.map((l) => descriptor(OCI_LAYER, l)),
  });
  const digest = sha256(bytes);
  const size = Buffer.byteLength(config) + layers.reduce((sum, l) => sum + Buffer.byteLength(l), 0);
  return {
    digest, bytes, config, layers, size, manifestSize: Buffer.byteLength(bytes),
    pushManifest: (tag: string | null) => client.pushManifest(repo, tag ?? digest, bytes),
  };
}

export interface ApiTestServer {
  server: TestServer;
  /** The registry API (/v2/). */
  registry: Client;
  /** The management API (/api/). */
  api: ApiClient;
}

/** A real server (test/helpers/server.ts) with clients for both of its APIs. */
export async function startApiServer(overrides: Partial<BerthConfig> = {}): Promise<ApiTestServer> {
  const server = await startServer(overrides);
  return { server, registry: new Client(server.url), api: new ApiClient(server.url, overrides.managementToken ?? null) };
}
