/**
 * The mirror self-test (Docker setup page): pulls an image through the pull-through cache over Berth's
 * own /v2 API, as a client configured with the mirror would, verifying every digest: the upstream
 * answers, the manifest (and, for a multi-platform image, the linux/amd64 one) comes through the cache,
 * then its config and layers; a second pull is answered from the cache without fetching anything.
 * What it pulled stays cached (it is what a cache is for).
 */
import { createHash } from 'node:crypto';
import type { SelfTestStep, SelfTestSummary } from '../registry/api-types.ts';
import { isIndexMediaType, MANIFEST_MEDIA_TYPES } from '../registry/media-types.ts';
import { isValidName, isValidTag } from '../registry/reference.ts';
import { RegistryError } from '../registry/errors.ts';
import { selfRequest, type SelfTestResponse } from '../registry/self-test-http.ts';
import type { SelfTestDeps } from '../registry/self-test.ts';
import type { MirrorService } from './service.ts';
import { UpstreamError } from './upstream-errors.ts';
import { targetFor, type Upstream } from './upstreams.ts';

export type MirrorSelfTestDeps = Pick<SelfTestDeps, 'baseUrl' | 'authorization' | 'ca'> & { mirror: MirrorService };

interface Step {
  id: string;
  title: string;
  run(): Promise<string>;
}

class StepFailure extends Error {}

const ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** "alpine", "library/alpine:3.20", "team/app:v1" -> name and tag (latest when none). */
export function parseImage(image: string): { name: string; tag: string } {
  const match = /^([^:@]+)(?::([^:@/]+))?$/.exec(image.trim());
  const name = match?.[1] ?? '';
  const tag = match?.[2] ?? 'latest';
  if (!isValidName(name) || !isValidTag(tag)) {
    throw new RegistryError('BAD_REQUEST', { message: `"${image.slice(0, 200)}" is not an image name such as library/alpine:latest`, detail: { fields: ['image'] } });
  }
  return { name, tag };
}

/** The image a test of this upstream pulls when none is named: Docker Hub's hello-world is a few KB. */
export function defaultTestImage(upstream: Upstream): string | null {
  return targetFor(upstream, 'hello-world')?.remote === 'library/hello-world' ? 'library/hello-world:latest' : null;
}

export async function* runMirrorSelfTest(deps: MirrorSelfTestDeps, upstreamName: string, image: string | undefined): AsyncGenerator<SelfTestStep | SelfTestSummary> {
  const started = Date.now();
  const upstream = deps.mirror.upstream(upstreamName);
  const chosen = image?.trim() || defaultTestImage(upstream);
  if (!chosen) throw new RegistryError('BAD_REQUEST', { message: `name an image of ${upstream.name} to pull, such as team/app:latest`, detail: { fields: ['image'] } });
  const { name, tag } = parseImage(chosen);
  const target = targetFor(upstream, name)!;
  const base = deps.baseUrl();
  let authorization: string | null = null;
  const call = (path: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
    selfRequest(`${base}/v2/${target.cache}${path}`, { ...init, headers: { ...init.headers, ...(authorization ? { Authorization: authorization } : {}) } }, deps.ca());
  const expectOk = (res: SelfTestResponse, what: string) => {
    if (res.status === 200) return;
    const message = /"message":"((?:[^"\\]|\\.){1,400})"/.exec(res.body.toString('utf8'))?.[1];
    throw new StepFailure(`${what} answered HTTP ${res.status}${message ? `: ${JSON.parse(`"${message}"`) as string}` : ''}`);
  };
  let pulled: { manifest: Buffer; digest: string } | null = null;
  let missesBefore = 0;

  const steps: Step[] = [
    {
      id: 'reach',
      title: `${upstream.name} answers (${upstream.url})`,
      async run() {
        if (!upstream.enabled) throw new StepFailure(`${upstream.name} is turned off: turn it on in the Mirrors page`);
        const { status, challenge } = await deps.mirror.client(upstream).ping();
        if (status === 200) return 'answered 200: no login needed';
        const realm = /realm="([^"]+)"/.exec(challenge ?? '')?.[1];
        if (status === 401 && realm) return `answered 401 and names its token service ${new URL(realm).host}`;
        if (status === 401) return `answered 401 (${(challenge ?? 'no challenge').slice(0, 100)})`;
        throw new StepFailure(`GET ${upstream.url}/v2/ answered HTTP ${status}`);
      },
    },
    {
      id: 'manifest',
      title: `Pull ${name}:${tag} through Berth`,
      async run() {
        if (base === null) throw new StepFailure('Berth is not listening');
        authorization = await deps.authorization(target.cache);
        missesBefore = deps.mirror.countersOf(upstream.name).misses;
        let res = await call(`/manifests/${tag}`, { headers: { Accept: ACCEPT } });
        expectOk(res, `GET ${target.cache}:${tag}`);
        let digest = sha256(res.body);
        if (res.header('docker-content-digest') !== digest) throw new StepFailure(`the manifest's bytes have digest ${digest}, not ${res.header('docker-content-digest')}`);
        let note = `${digest.slice(0, 19)}…`;
        if (isIndexMediaType(res.header('content-type') ?? '')) {
          const index = JSON.parse(res.body.toString('utf8')) as { manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[] };
          const child = index.manifests?.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ?? index.manifests?.[0];
          if (!child) throw new StepFailure('the image index lists no manifest');
          res = await call(`/manifests/${child.digest}`, { headers: { Accept: ACCEPT } });
          expectOk(res, `GET ${target.cache}@${child.digest}`);
          digest = sha256(res.body);
          if (digest !== child.digest) throw new StepFailure(`the platform manifest came back with digest ${digest}, not ${child.digest}`);
          note += ` (multi-platform; took ${child.platform?.os ?? '?'}/${child.platform?.architecture ?? '?'})`;
        }
        pulled = { manifest: res.body, digest };
        return note;
      },
    },
    {
      id: 'blobs',
      title: 'Pull its config and layers, verifying digests',
      async run() {
        const manifest = JSON.parse(pulled!.manifest.toString('utf8')) as { config?: { digest: string }; layers?: { digest: string }[] };
        const digests = [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)].filter((d): d is string => typeof d === 'string');
        let bytes = 0;
        for (const digest of digests) {
          const res = await call(`/blobs/${digest}`);
          expectOk(res, `GET blob ${digest.slice(0, 19)}…`);
          if (sha256(res.body) !== digest) throw new StepFailure(`blob ${digest} came back with digest ${sha256(res.body)}`);
          bytes += res.body.length;
        }
        return `${digests.length} blobs, ${bytes} bytes, digests verified`;
      },
    },
    {
      id: 'again',
      title: 'Pull it again: answered from the cache',
      async run() {
        const before = deps.mirror.countersOf(upstream.name).misses;
        const res = await call(`/manifests/${pulled!.digest}`, { headers: { Accept: ACCEPT } });
        expectOk(res, 'GET manifest again');
        const fetched = deps.mirror.countersOf(upstream.name).misses - before;
        if (fetched !== 0) throw new StepFailure(`the second pull fetched ${fetched} time(s) from ${upstream.name}`);
        const first = before - missesBefore;
        return first > 0 ? `nothing fetched (the first pull fetched ${first} item(s) from ${upstream.name})` : 'nothing fetched (it was all cached already)';
      },
    },
  ];

  let ok = true;
  for (const [i, step] of steps.entries()) {
    const head = { step: i + 1, of: steps.length, id: step.id, title: step.title };
    if (!ok) {
      yield { ...head, status: 'skipped', detail: 'not run: an earlier step failed' };
      continue;
    }
    yield { ...head, status: 'running' };
    const t0 = Date.now();
    try {
      yield { ...head, status: 'passed', detail: await step.run(), ms: Date.now() - t0 };
    } catch (err) {
      ok = false;
      const detail = err instanceof StepFailure || err instanceof UpstreamError ? err.message : `${(err as Error).message}`;
      yield { ...head, status: 'failed', detail, ms: Date.now() - t0 };
    }
  }
  yield { done: true, ok, repository: target.cache, ms: Date.now() - started };
}
