/**
 * The self-test: pushes a tiny image to this registry and pulls it back through its own /v2 API over
 * HTTP, as a client would (OCI Distribution Spec v1.1: "Pushing blobs", "Pushing manifests", "Pulling
 * manifests", "Pulling blobs", "Listing tags"), verifying every digest, then deletes what it pushed.
 * It yields each step as it starts and as it ends, so the UI can show progress.
 */
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { SelfTestStep, SelfTestSummary } from './api-types.ts';
import { RegistryError } from './errors.ts';
import { OCI_CONFIG, OCI_MANIFEST } from './media-types.ts';
import { selfRequest, type SelfTestRequest, type SelfTestResponse } from './self-test-http.ts';

const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** A tar archive with no entries is its end-of-archive marker: two 512-byte zero blocks (POSIX ustar). */
const EMPTY_TAR = Buffer.alloc(1024);

export interface SelfTestDeps {
  /** Where this registry answers (http(s)://127.0.0.1:PORT), or null while it does not listen. */
  baseUrl(): string | null;
  /** Removes the test repository afterwards. */
  deleteRepository(name: string): Promise<unknown>;
  /**
   * With registry auth on: an Authorization header value allowing push and pull of `repository`
   * (a token the server issues itself), or null when auth is off.
   */
  authorization(repository: string): Promise<string | null>;
  /** With TLS on Berth's own certificates: the CA to trust (PEM), else null. */
  ca(): string | null;
}

interface StepDef {
  id: string;
  title: string;
  run(): Promise<string>;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

class StepFailure extends Error {}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new StepFailure(message);
}

/** Fails the step unless the answer has `status`; the registry's error message says why. */
function expectStatus(res: SelfTestResponse, status: number, what: string): void {
  if (res.status === status) return;
  const message = /"message":"([^"]{1,300})"/.exec(res.body.toString('utf8'))?.[1];
  throw new StepFailure(`${what} answered HTTP ${res.status}${message ? `: ${message}` : ''}`);
}

export async function* runSelfTest(deps: SelfTestDeps): AsyncGenerator<SelfTestStep | SelfTestSummary> {
  const started = Date.now();
  const repository = `berth-self-test/${randomBytes(4).toString('hex')}`;
  const tag = 'probe';
  const base = deps.baseUrl();
  const at = (path: string) => `${base}/v2/${repository}${path}`;
  let authorization: string | null = null;
  const call = (url: string | URL, init: SelfTestRequest = {}) =>
    selfRequest(String(url), { ...init, headers: { ...init.headers, ...(authorization ? { Authorization: authorization } : {}) } }, deps.ca());

  const layer = gzipSync(EMPTY_TAR);
  const config = Buffer.from(JSON.stringify({
    created: new Date().toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { 'org.opencontainers.image.title': 'Berth self-test' } },
    rootfs: { type: 'layers', diff_ids: [sha256(EMPTY_TAR)] },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
  }));
  const manifestDigest = sha256(manifest);

  const steps: StepDef[] = [
    {
      id: 'ping',
      title: 'Registry answers on /v2/',
      async run() {
        expect(base !== null, 'the registry is not listening');
        authorization = await deps.authorization(repository);
        const res = await call(`${base}/v2/`);
        expectStatus(res, 200, 'GET /v2/');
        expect(res.header('docker-distribution-api-version') === 'registry/2.0', 'the Docker-Distribution-API-Version header is missing');
        return `${base}/v2/ answered 200${authorization ? ' to a token Berth issued for this test' : ''}`;
      },
    },
    {
      id: 'push-layer',
      title: 'Upload a layer (POST, PATCH, PUT)',
      async run() {
        const start = await call(at('/blobs/uploads/'), { method: 'POST' });
        expectStatus(start, 202, 'starting the upload');
        const location = new URL(start.header('location') ?? '', base!);
        const patch = await call(location, { method: 'PATCH', body: layer, headers: { 'Content-Type': 'application/octet-stream' } });
        expectStatus(patch, 202, 'sending the bytes');
        const done = new URL(patch.header('location') ?? location.href, base!);
        done.searchParams.set('digest', sha256(layer));
        const put = await call(done, { method: 'PUT' });
        expectStatus(put, 201, 'completing the upload');
        return `${layer.length} bytes, ${sha256(layer).slice(0, 19)}…`;
      },
    },
    {
      id: 'push-config',
      title: 'Upload the image config (monolithic POST)',
      async run() {
        const res = await call(`${at('/blobs/uploads/')}?digest=${sha256(config)}`, {
          method: 'POST',
          body: config,
          headers: { 'Content-Type': 'application/octet-stream' },
        });
        expectStatus(res, 201, 'the upload');
        return `${config.length} bytes`;
      },
    },
    {
      id: 'push-manifest',
      title: `Push the manifest as ${repository}:${tag}`,
      async run() {
        const res = await call(at(`/manifests/${tag}`), { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
        expectStatus(res, 201, 'PUT manifest');
        expect(res.header('docker-content-digest') === manifestDigest, 'the registry reported another digest than the manifest has');
        return manifestDigest;
      },
    },
    {
      id: 'resolve-tag',
      title: 'Resolve the tag (HEAD)',
      async run() {
        const res = await call(at(`/manifests/${tag}`), { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
        expectStatus(res, 200, 'HEAD manifest');
        expect(res.header('docker-content-digest') === manifestDigest, 'the tag resolves to another digest');
        return `${tag} → ${manifestDigest.slice(0, 19)}…`;
      },
    },
    {
      id: 'pull-manifest',
      title: 'Pull the manifest by digest',
      async run() {
        const res = await call(at(`/manifests/${manifestDigest}`), { headers: { Accept: OCI_MANIFEST } });
        expectStatus(res, 200, 'GET manifest');
        const bytes = res.body;
        expect(bytes.equals(manifest), 'the manifest came back with different bytes');
        return `${bytes.length} bytes, identical`;
      },
    },
    {
      id: 'pull-blobs',
      title: 'Pull the config and layer, verifying digests',
      async run() {
        for (const blob of [config, layer]) {
          const res = await call(at(`/blobs/${sha256(blob)}`));
          expectStatus(res, 200, 'GET blob');
          const digest = sha256(res.body);
          expect(digest === sha256(blob), `blob ${sha256(blob)} came back as ${digest}`);
        }
        return '2 blobs, digests verified';
      },
    },
    {
      id: 'list-tags',
      title: 'List the repository’s tags',
      async run() {
        const res = await call(at('/tags/list'));
        expectStatus(res, 200, 'GET tags/list');
        const body = JSON.parse(res.body.toString('utf8')) as { tags?: unknown };
        expect(Array.isArray(body.tags) && body.tags.includes(tag), `tags/list does not list "${tag}"`);
        return `[${(body.tags as string[]).join(', ')}]`;
      },
    },
  ];
  const cleanup: StepDef = {
    id: 'clean-up',
    title: 'Delete the test repository',
    async run() {
      try {
        await deps.deleteRepository(repository);
      } catch (err) {
        if (err instanceof RegistryError && err.code === 'NAME_UNKNOWN') return 'nothing was pushed';
        throw err;
      }
      return `${repository} deleted (its blobs, under 1 KB, wait for garbage collection)`;
    },
  };

  const of = steps.length + 1;
  let ok = true;
  let pushedAnything = false;
  for (const [i, step] of [...steps, cleanup].entries()) {
    const head = { step: i + 1, of, id: step.id, title: step.title };
    const mustRun = ok || (step === cleanup && pushedAnything);
    if (!mustRun) {
      yield { ...head, status: 'skipped', detail: 'not run: an earlier step failed' };
      continue;
    }
    yield { ...head, status: 'running' };
    const t0 = Date.now();
    try {
      const detail = await step.run();
      if (step.id !== 'ping') pushedAnything = true;
      yield { ...head, status: 'passed', detail, ms: Date.now() - t0 };
    } catch (err) {
      ok = false;
      if (step.id !== 'ping') pushedAnything = true;
      const detail = err instanceof StepFailure ? err.message : `${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`;
      yield { ...head, status: 'failed', detail, ms: Date.now() - t0 };
    }
  }
  yield { done: true, ok, repository, ms: Date.now() - started };
}
