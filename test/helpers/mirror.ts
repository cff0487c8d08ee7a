/**
 * Helpers for the pull-through cache's tests: a Berth mirroring a fake upstream (upstream.ts) with a
 * clock the test moves, and a pull as a client does it (manifest, the platform of an index, config and
 * layers), verifying every digest.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mirrorDefaults, type BerthConfig, type MirrorConfig } from '../../server/config.ts';
import type { RegistryDeps } from '../../server/index.ts';
import type { Clock } from '../../server/scheduler.ts';
import { blobFiles } from './blob-files.ts';
import { describe as describeResponse, waitFor } from './registry-client.ts';
import { startServer, type TestServer } from './server.ts';
import type { FakeHub } from './upstream.ts';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** Real time plus an offset the test moves forward (check intervals, token expiry, keep periods). */
export class TestClock implements Clock {
  offset = 0;
  now = () => Date.now() + this.offset;
  setTimeout = (fn: () => void, ms: number) => setTimeout(fn, ms).unref();
  clearTimeout = (handle: unknown) => clearTimeout(handle as NodeJS.Timeout);
  advance(ms: number): void {
    this.offset += ms;
  }
}

export interface MirrorServer extends TestServer {
  clock: TestClock;
}

/** A Berth mirroring `hub` as docker.io (aliases as Docker Hub's), with a 2 s upstream timeout. */
export async function startMirror(hub: FakeHub, mirror: Partial<MirrorConfig> = {}, config: Partial<BerthConfig> = {}, deps: Omit<RegistryDeps, 'clock'> = {}): Promise<MirrorServer> {
  const clock = new TestClock();
  const upstream: MirrorConfig = { ...mirrorDefaults('docker.io', hub.url), timeoutMs: 2000, ...mirror };
  const server = await startServer({ mirrors: [upstream], ...config }, { ...deps, clock });
  return Object.assign(server, { clock });
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface Pulled {
  /** The digest the reference resolved to (the index's, for a multi-platform image). */
  digest: string;
  /** The manifest whose blobs were pulled (the linux/amd64 platform of an index). */
  manifest: string;
  blobs: string[];
  bytes: number;
}

/**
 * Pulls `repo:reference` from `base` like a client: GET the manifest (and the linux/amd64 platform of an
 * index), then the config and every layer, checking each digest. `query` is appended to every request
 * (containerd's ns=), `headers` sent with each.
 */
export async function pullImage(base: string, repo: string, reference: string, options: { query?: string; headers?: Record<string, string> } = {}): Promise<Pulled> {
  const q = options.query ? `?${options.query}` : '';
  const get = async (path: string, accept?: string) => {
    const res = await fetch(`${base}/v2/${repo}/${path}${q}`, { headers: { ...(accept ? { Accept: accept } : {}), ...options.headers } });
    assert.equal(res.status, 200, `GET ${repo}/${path}: ${await describeResponse(res)}`);
    return { res, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  let { res, bytes } = await get(`manifests/${reference}`, MANIFEST_ACCEPT);
  const digest = sha256(bytes);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  let manifest = digest;
  const type = res.headers.get('content-type') ?? '';
  if (/index|list/.test(type)) {
    const index = JSON.parse(bytes.toString('utf8')) as { manifests: { digest: string; platform?: { architecture?: string } }[] };
    const child = index.manifests.find((m) => m.platform?.architecture === 'amd64') ?? index.manifests[0]!;
    ({ res, bytes } = await get(`manifests/${child.digest}`, MANIFEST_ACCEPT));
    assert.equal(sha256(bytes), child.digest);
    manifest = child.digest;
  }
  const parsed = JSON.parse(bytes.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  const blobs = [parsed.config.digest, ...parsed.layers.map((l) => l.digest)];
  let total = 0;
  for (const blob of blobs) {
    const { bytes: data } = await get(`blobs/${blob}`);
    assert.equal(sha256(data), blob, `blob ${blob} arrived intact`);
    total += data.length;
  }
  return { digest, manifest, blobs, bytes: total };
}

/**
 * Waits until these blobs are committed to the store: a client has the last byte of a filled blob once
 * it is verified, and the commit (fsync, rename) follows just after.
 */
export async function committed(dataDir: string, digests: Iterable<string>): Promise<Map<string, number>> {
  const wanted = [...digests];
  let files = new Map<string, number>();
  await waitFor(async () => {
    files = await blobFiles(dataDir);
    return wanted.every((d) => files.has(d));
  }, `${wanted.length} blobs to be committed`);
  return files;
}
