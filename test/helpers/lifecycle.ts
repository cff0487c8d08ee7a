/**
 * Helpers for the storage lifecycle tests: the management API's maintenance calls (runGc, runScrub,
 * ...), the blob files on disk as the truth to compare with, and ageing files so they fall outside a
 * grace window without waiting an hour.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { testMetadata } from './server.ts';
import type { GcReport } from '../../server/registry/gc.ts';
import type { RunJson } from '../../server/registry/maintenance.ts';
import type { ScrubReport } from '../../server/registry/scrub.ts';
import { describe as describeResponse, type Client } from './registry-client.ts';

export const HOUR_MS = 60 * 60 * 1000;

/** A management API request that changes something (the guard wants X-Berth-Client). */
export async function apiCall(client: Client, method: string, pathname: string, body?: unknown): Promise<Response> {
  return client.fetch(pathname, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-Berth-Client': 'test' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** POSTs a maintenance request with wait: true and returns the finished, successful run. */
export async function runAndWait(client: Client, pathname: string, body: Record<string, unknown> = {}): Promise<RunJson> {
  const res = await apiCall(client, 'POST', pathname, { ...body, wait: true });
  assert.equal(res.status, 200, await describeResponse(res));
  const run = (await res.json()) as RunJson;
  assert.equal(run.state, 'succeeded', JSON.stringify(run));
  return run;
}

export async function runGc(client: Client, options: { dryRun?: boolean; untagged?: boolean; grace?: string } = {}): Promise<GcReport> {
  return (await runAndWait(client, '/api/gc', options)).result as GcReport;
}

export async function runScrub(client: Client): Promise<ScrubReport> {
  return (await runAndWait(client, '/api/scrub')).result as ScrubReport;
}

/** Every blob file on disk: digest -> size. */
export { blobFiles } from './blob-files.ts';

export function totalSize(files: Map<string, number>, digests?: Iterable<string>): number {
  let sum = 0;
  for (const d of digests ?? files.keys()) sum += files.get(d) ?? 0;
  return sum;
}

/**
 * Sets the mtime of every file and folder under the data directory's blobs/, repositories/ and
 * uploads/ to `ms` ago: what exists now becomes as old as that (older than a grace window).
 */
export async function age(dataDir: string, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      await fs.utimes(full, when, when);
    }
  };
  for (const sub of ['blobs', 'repositories', 'uploads']) await walk(path.join(dataDir, sub));
  // With the metadata in PostgreSQL the blob uses live there (and outlive a restart): they age too.
  const metadata = await testMetadata(dataDir);
  if (metadata.driver === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: metadata.url });
    await client.connect();
    try {
      await client.query(`UPDATE blob_uses SET used_at = used_at - make_interval(secs => $1)`, [ms / 1000]).catch(() => undefined);
    } finally {
      await client.end();
    }
  }
}

/** Every tag of every repository pulls: manifest, children of an index, config and layers, hashed. */
export async function assertEveryTagPulls(client: Client): Promise<number> {
  const { repositories } = await client.catalog();
  let pulled = 0;
  for (const repo of repositories) {
    const { tags } = await client.listTags(repo);
    for (const tag of tags) {
      await assertPulls(client, repo, tag);
      pulled++;
    }
  }
  return pulled;
}

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

/** Pulls repo:reference completely, checking every digest. */
export async function assertPulls(client: Client, repo: string, reference: string): Promise<void> {
  const res = await client.getManifest(repo, reference, ACCEPT);
  assert.equal(res.status, 200, `${repo}:${reference}: ${await describeResponse(res)}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const digest = res.headers.get('docker-content-digest')!;
  assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest);
  type Blob = { digest: string; urls?: string[] };
  const manifest = JSON.parse(bytes.toString()) as { manifests?: { digest: string }[]; config?: Blob; layers?: Blob[] };
  for (const child of manifest.manifests ?? []) await assertPulls(client, repo, child.digest);
  for (const blob of [...(manifest.config ? [manifest.config] : []), ...(manifest.layers ?? [])] as Blob[]) {
    if (blob.urls) continue;
    const got = await client.getBlob(repo, blob.digest);
    assert.equal(got.status, 200, `${repo}:${reference} blob ${blob.digest}`);
    const content = Buffer.from(await got.arrayBuffer());
    assert.equal(`sha256:${createHash('sha256').update(content).digest('hex')}`, blob.digest, `${repo}:${reference} blob ${blob.digest} intact`);
  }
}
