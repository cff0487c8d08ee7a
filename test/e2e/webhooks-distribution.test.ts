/**
 * Berth's notifications beside CNCF Distribution 2.8's own (Debian's docker-registry, configured with
 * `notifications: endpoints:` to the same receiver) for the same real pushes, `docker push` and
 * `skopeo copy`: the same events in the same order (every blob, then the manifest with its tag), and
 * field by field the same envelope. Ids, timestamps, addresses and the instance differ by nature:
 * for those the test compares the shape; every value that must match, matches.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { freePort, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { loadOciLayout, startDockerd, type Dockerd } from '../helpers/dockerd.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';
import { envelopeEvents, startReceiver, type EnvelopeEvent, type Receiver } from '../helpers/webhook-receiver.ts';

const skip = skipUnless('docker-registry', 'dockerd', 'docker', 'skopeo');

/** Starts Distribution 2.8 with a notification endpoint; ready once /v2/ answers. */
async function startDistribution(dir: string, port: number, hookUrl: string): Promise<ChildProcess> {
  const config = path.join(dir, 'config.yml');
  await fs.mkdir(path.join(dir, 'data'), { recursive: true });
  await fs.writeFile(
    config,
    `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
notifications:
  endpoints:
    - name: receiver
      url: ${hookUrl}
      timeout: 5s
      threshold: 5
      backoff: 1s
`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  for (const deadline = Date.now() + 20_000; ; ) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const up = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200, () => false);
    if (up) return child;
    if (Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An event with what differs by nature replaced by what kind of value it is. */
function comparable(e: EnvelopeEvent, registryHost: string): unknown {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  return {
    keys: Object.keys(e),
    id: uuid.test(e.id) ? 'uuid' : e.id,
    timestamp: Number.isNaN(Date.parse(e.timestamp)) ? e.timestamp : 'time',
    action: e.action,
    target: { ...e.target, keys: Object.keys(e.target), url: e.target.url?.replace(registryHost, 'HOST') },
    request: {
      keys: Object.keys(e.request),
      id: uuid.test(e.request.id ?? '') ? 'uuid' : e.request.id,
      addr: /^127\.0\.0\.1:\d+$/.test(e.request.addr ?? '') ? '127.0.0.1:port' : e.request.addr,
      host: e.request.host === registryHost ? 'HOST' : e.request.host,
      method: e.request.method,
      useragent: e.request.useragent,
    },
    actor: e.actor,
    source: { keys: Object.keys(e.source), addr: /^[^:]+:\d+$/.test(e.source.addr ?? '') ? 'host:port' : e.source.addr, instanceID: uuid.test(e.source.instanceID ?? '') ? 'uuid' : e.source.instanceID },
  };
}

/** Blob events in any order (clients upload layers in parallel), then the manifest event: as comparable values. */
function pushSequence(events: EnvelopeEvent[], host: string): { blobs: unknown[]; manifest: unknown } {
  assert.ok(events.length >= 2, `a push is blob events then a manifest event; got ${events.length}`);
  const manifest = events.at(-1)!;
  const blobs = events.slice(0, -1);
  assert.ok(manifest.target.tag, 'the last event is the manifest, with its tag');
  assert.ok(blobs.every((b) => b.target.mediaType === 'application/octet-stream' && !b.target.tag), 'every event before it is a blob');
  return {
    blobs: blobs.map((b) => comparable(b, host)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    manifest: comparable(manifest, host),
  };
}

describe('webhooks beside Distribution 2.8', { skip, timeout: 600_000 }, () => {
  let work: string;
  let hook: Receiver;
  let berth: BerthProcess;
  let distribution: ChildProcess;
  let distributionHost: string;
  let dockerd: Dockerd;
  let images: Record<FixtureName, Fixture>;

  before(async () => {
    work = await tempDir('berth-webhook-dist-');
    images = await fixtures();
    hook = await startReceiver();
    const port = await freePort();
    distributionHost = `127.0.0.1:${port}`;
    distribution = await startDistribution(path.join(work, 'distribution'), port, hook.url.replace('/hook', '/distribution'));
    const config = path.join(work, 'berth.json');
    await fs.writeFile(config, JSON.stringify({ webhooks: [{ name: 'receiver', url: hook.url.replace('/hook', '/berth') }] }));
    berth = await startBerth({ dataDir: path.join(work, 'berth'), args: ['--config', config] });
    dockerd = await startDockerd(path.join(work, 'dockerd'));
  });
  after(async () => {
    await dockerd?.stop();
    await berth?.stop();
    distribution?.kill('SIGTERM');
    await hook?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** The events one registry sent for the repository `repo`, once `count` of them have arrived (the fixtures count the manifest among their blobs: a push is one event per blob). */
  async function eventsOf(which: 'berth' | 'distribution', repo: string, count: number): Promise<EnvelopeEvent[]> {
    // Distribution 2.8 always sends pulls, also for a HEAD (docker push checks each blob it uploaded;
    // its `ignore: actions` does not filter them in 2.8.2). Berth's endpoint has the default
    // subscription, without pulls (and Berth never reports a HEAD as a pull): compare the rest.
    const of = (received: typeof hook.received) =>
      envelopeEvents(received.filter((r) => r.path === `/${which}`)).filter((e) => e.target.repository === repo && e.action !== 'pull');
    await hook.until((received) => of(received).length >= count);
    return of(hook.received);
  }

  /** `berthHost`, `distHost`: the registries as the client addressed them (the Host of its requests). */
  async function compare(repo: string, expected: number, berthHost: string, distHost: string): Promise<void> {
    const fromBerth = await eventsOf('berth', repo, expected);
    const fromDistribution = await eventsOf('distribution', repo, expected);
    assert.equal(fromBerth.length, fromDistribution.length, 'as many events');
    assert.deepEqual(pushSequence(fromBerth, berthHost), pushSequence(fromDistribution, distHost));
    for (const r of hook.received) {
      assert.equal(r.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      assert.equal((r.json as { events: unknown[] }).events.length, 1, 'one event per envelope, as Distribution 2.8 sends');
    }
  }

  it('docker push: the same events, in the same order, field by field', async () => {
    const ref = await loadOciLayout(dockerd, images.small.dir, 'fixtures/small:latest', work);
    // Docker treats localhost as an insecure registry: both are addressed as localhost:PORT.
    const hosts = [`localhost:${berth.port}`, distributionHost.replace('127.0.0.1', 'localhost')] as const;
    for (const host of hosts) {
      await dockerd.docker('tag', ref, `${host}/hooks/docker:v1`);
      await dockerd.docker('push', `${host}/hooks/docker:v1`);
    }
    await compare('hooks/docker', images.small.blobs.size, hosts[0], hosts[1]);
  });

  it('skopeo copy: the same events, in the same order, field by field', async () => {
    for (const host of [berth.hostPort, distributionHost]) {
      await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images.many.dir}:latest`, `docker://${host}/hooks/skopeo:v2`]);
    }
    await compare('hooks/skopeo', images.many.blobs.size, berth.hostPort, distributionHost);
  });
});
