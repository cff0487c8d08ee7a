/**
 * Manifest GETs and HEADs answered again from memory (server/http/manifest-answers.ts): the same
 * status, headers and body as the registry's own answer, never an answer the store no longer gives, and
 * the same checks, counts, log lines and events as a request Koa answers.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { ActivityFeed } from '../../server/registry/api-types.ts';
import { ApiClient } from '../helpers/api-client.ts';
import { ADMIN_PASSWORD, basic } from '../helpers/auth.ts';
import { Client, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, describe as describeResponse, descriptor, expectError, imageManifest, sha256, waitFor } from '../helpers/registry-client.ts';
import { metadataInPostgres, singleProcess, startServer, type TestServer } from '../helpers/server.ts';
import { envelopeEvents, startReceiver } from '../helpers/webhook-receiver.ts';

interface Answer {
  status: number;
  headers: [string, string][];
  body: Buffer;
}

/** A request as registry clients send it (node:http, nothing but these headers), answered in full. */
function plain(base: string, method: 'GET' | 'HEAD', path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers: { Accept: OCI_MANIFEST, ...headers }, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const body: Buffer[] = [];
      res.on('data', (chunk: Buffer) => body.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const headers: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode!, headers, body: Buffer.concat(body) });
      });
    });
    req.end();
  });
}

/** The answer without its Date header (the only one that differs from one second to the next). */
const withoutDate = (a: Answer) => ({ ...a, headers: a.headers.filter(([name]) => name.toLowerCase() !== 'date') });
const header = (a: Answer, name: string) => a.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];

async function metric(base: string, line: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', base))).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}
const fromMemory = (base: string) => metric(base, 'berth_manifest_answers_from_memory_total');

describe('manifest answers from memory', { skip: metadataInPostgres ? 'metadata in PostgreSQL: replicas change the store behind each other, so nothing is answered from memory' : false }, () => {
  let server: TestServer;
  let client: Client;
  let api: ApiClient;
  const logged: string[] = [];
  before(async () => {
    const sink = new Writable({ write(chunk: Buffer, _encoding, done) { logged.push(chunk.toString()); done(); } });
    server = await startServer({}, { log: pino({ level: 'info' }, sink) });
    client = new Client(server.url);
    api = new ApiClient(server.url);
  });
  after(() => server.close({ remove: true }));

  it('answers a repeated GET and HEAD with the same status, headers and body as the registry did', async () => {
    const image = await client.pushImage('answers/same', 'v1');
    const path = '/v2/answers/same/manifests/v1';
    const before = await fromMemory(server.url);
    const first = await plain(server.url, 'GET', path);
    assert.equal(first.status, 200);
    assert.equal(first.body.toString(), image.bytes);
    assert.equal(await fromMemory(server.url), before, 'the first GET was the registry\'s own');
    const again = await plain(server.url, 'GET', path);
    assert.equal(await fromMemory(server.url), before + 1, 'the second GET was answered from memory');
    assert.deepEqual(withoutDate(again), withoutDate(first));
    assert.ok(header(again, 'Date'), 'a Date header as on every answer');

    const head = await plain(server.url, 'HEAD', path);
    assert.equal(await fromMemory(server.url), before + 2);
    assert.equal(head.body.length, 0);
    assert.deepEqual(withoutDate(head).headers, withoutDate(first).headers, 'HEAD: the same headers, Content-Length included');

    // By digest, and with another Accept header: each answer is the registry's own first.
    const byDigest = `/v2/answers/same/manifests/${image.digest}`;
    const digestFirst = await plain(server.url, 'GET', byDigest, { Accept: '*/*' });
    const digestAgain = await plain(server.url, 'GET', byDigest, { Accept: '*/*' });
    assert.equal(await fromMemory(server.url), before + 3);
    assert.deepEqual(withoutDate(digestAgain), withoutDate(digestFirst));
    assert.equal(digestAgain.body.toString(), image.bytes);

    // fetch() (more headers, none of which changes the answer) gets the same.
    const fetched = await client.getManifest('answers/same', 'v1', OCI_MANIFEST);
    assert.equal(fetched.status, 200);
    assert.equal(await fetched.text(), image.bytes);
    assert.equal(fetched.headers.get('docker-content-digest'), image.digest);
  });

  it('keeps Accept apart: a tag whose type the request does not accept is still refused', async () => {
    await client.pushImage('answers/accept', 'v1');
    const path = '/v2/answers/accept/manifests/v1';
    await plain(server.url, 'GET', path);
    await plain(server.url, 'GET', path);
    const refused = await plain(server.url, 'GET', path, { Accept: 'application/vnd.docker.distribution.manifest.v2+json' });
    assert.equal(refused.status, 404);
    assert.match(refused.body.toString(), /MANIFEST_UNKNOWN/);
  });

  it('never answers what the store no longer holds: a moved tag, a deleted tag, manifest or repository', async () => {
    const path = '/v2/answers/change/manifests/v1';
    const one = await client.pushImage('answers/change', 'v1');
    for (let i = 0; i < 2; i++) assert.equal(header(await plain(server.url, 'GET', path), 'Docker-Content-Digest'), one.digest);

    const two = await client.pushImage('answers/change', 'v1');
    assert.equal(header(await plain(server.url, 'GET', path), 'Docker-Content-Digest'), two.digest, 'the moved tag at once');
    assert.equal(header(await plain(server.url, 'HEAD', path), 'Docker-Content-Digest'), two.digest);

    const byDigest = `/v2/answers/change/manifests/${two.digest}`;
    for (let i = 0; i < 2; i++) assert.equal((await plain(server.url, 'GET', byDigest)).status, 200);
    const deleted = await client.deleteManifest('answers/change', two.digest);
    assert.equal(deleted.status, 202, await describeResponse(deleted));
    assert.equal((await plain(server.url, 'GET', byDigest)).status, 404, 'a deleted manifest by digest');
    assert.equal((await plain(server.url, 'GET', path)).status, 404, 'its tag went with it');

    const three = await client.pushImage('answers/change', 'v2');
    const v2 = '/v2/answers/change/manifests/v2';
    for (let i = 0; i < 2; i++) assert.equal(header(await plain(server.url, 'GET', v2), 'Docker-Content-Digest'), three.digest);
    assert.equal((await client.deleteManifest('answers/change', 'v2')).status, 202, 'a tag deleted');
    assert.equal((await plain(server.url, 'GET', v2)).status, 404);

    const four = await client.pushImage('answers/change', 'v3');
    const v3 = '/v2/answers/change/manifests/v3';
    for (let i = 0; i < 2; i++) assert.equal(header(await plain(server.url, 'GET', v3), 'Docker-Content-Digest'), four.digest);
    await api.delete('/api/repositories/answers/change');
    const gone = await plain(server.url, 'GET', v3);
    assert.equal(gone.status, 404);
    assert.match(gone.body.toString(), /NAME_UNKNOWN/);
  });

  it('keeps a repository\'s answers while other repositories change', async () => {
    const image = await client.pushImage('answers/kept', 'v1');
    const path = '/v2/answers/kept/manifests/v1';
    for (let i = 0; i < 2; i++) await plain(server.url, 'GET', path);
    const before = await fromMemory(server.url);
    await client.pushImage('answers/elsewhere', 'v1');
    await client.pushImage('answers/elsewhere', 'v1');
    assert.equal((await client.deleteManifest('answers/elsewhere', 'v1')).status, 202);
    const got = await plain(server.url, 'GET', path);
    assert.equal(header(got, 'Docker-Content-Digest'), image.digest);
    assert.equal(await fromMemory(server.url), before + 1, 'still answered from memory');
  });

  it('gives no answer older than a push\'s 201 while GETs and pushes of one tag overlap', async () => {
    const repo = 'answers/race';
    const path = `/v2/${repo}/manifests/latest`;
    let current = (await client.pushImage(repo, 'latest')).digest;
    for (let round = 0; round < 15; round++) {
      const config = await pushed(repo, JSON.stringify({ architecture: 'amd64', os: 'linux', round }));
      const layer = await pushed(repo, `race layer ${round}`);
      const bytes = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]);
      const next = sha256(bytes);
      // GETs in a loop while the manifest PUT is on its way: each answer is the tag's old or new digest.
      let answered = false;
      const put = client.putManifest(repo, 'latest', bytes).finally(() => {
        answered = true;
      });
      let gets = 0;
      while (!answered || gets === 0) {
        const got = await plain(server.url, 'GET', path);
        assert.equal(got.status, 200);
        const digest = header(got, 'Docker-Content-Digest');
        assert.ok(digest === current || digest === next, `round ${round}: ${digest} is neither the tag's old nor its new digest`);
        gets += 1;
      }
      const res = await put;
      assert.equal(res.status, 201, await describeResponse(res));
      current = next;
      // Once the push is answered, every GET has the new digest, from memory or not.
      for (let i = 0; i < 3; i++) assert.equal(header(await plain(server.url, 'GET', path), 'Docker-Content-Digest'), current, `round ${round}, GET ${i} after the 201`);
    }
  });

  /** Pushes a blob of these bytes to `repo`; returns the bytes (for descriptor()). */
  async function pushed(repo: string, bytes: string): Promise<string> {
    await client.pushBlob(repo, bytes);
    return bytes;
  }

  it('keeps the registry\'s checks: a web page, a foreign Host and If-None-Match are answered as before', async () => {
    const image = await client.pushImage('answers/checks', 'v1');
    const path = '/v2/answers/checks/manifests/v1';
    for (let i = 0; i < 2; i++) assert.equal((await plain(server.url, 'GET', path)).status, 200);
    const page = await client.fetch(path, { headers: { Accept: OCI_MANIFEST, Origin: 'http://evil.example' } });
    await expectError(page, 403, 'DENIED');
    const site = await client.fetch(path, { headers: { Accept: OCI_MANIFEST, 'Sec-Fetch-Site': 'cross-site' } });
    await expectError(site, 403, 'DENIED');
    const rebound = await plain(server.url, 'GET', path, { Host: `evil.example:${new URL(server.url).port}` });
    assert.equal(rebound.status, 403);
    assert.match(rebound.body.toString(), /DENIED/);
    const conditional = await plain(server.url, 'GET', path, { 'If-None-Match': `"${image.digest}"` });
    assert.equal(conditional.status, 304);
  });

  it('counts, logs and announces each answer as it does the registry\'s own', async () => {
    const image = await client.pushImage('answers/seen', 'v1');
    const path = '/v2/answers/seen/manifests/v1';
    const requests = 'berth_http_requests_total{method="GET",operation="getManifest",status="200"}';
    const heads = 'berth_http_requests_total{method="HEAD",operation="headManifest",status="200"}';
    const [getsBefore, headsBefore, pullsBefore, memoryBefore] = [await metric(server.url, requests), await metric(server.url, heads), await metric(server.url, 'berth_manifests_pulled_total'), await fromMemory(server.url)];
    const linesBefore = logged.length;
    // The registry answers the first HEAD (no pull); the GETs and the HEAD after them are answered from memory.
    assert.equal((await plain(server.url, 'HEAD', path)).status, 200);
    for (let i = 0; i < 5; i++) {
      const got = await plain(server.url, 'GET', path);
      assert.equal(got.status, 200);
      assert.equal(got.body.toString(), image.bytes, 'a GET answered from what a HEAD left has the body');
      assert.equal(header(got, 'Content-Length'), String(image.size));
    }
    assert.equal((await plain(server.url, 'HEAD', path)).status, 200);
    assert.equal(await fromMemory(server.url), memoryBefore + 6, 'all but the first HEAD from memory');
    assert.equal(await metric(server.url, requests), getsBefore + 5);
    assert.equal(await metric(server.url, heads), headsBefore + 2);
    assert.equal(await metric(server.url, 'berth_manifests_pulled_total'), pullsBefore + 5, 'each GET a pull, no HEAD');

    await waitFor(() => logged.slice(linesBefore).filter((l) => l.includes(`"path":"${path}"`)).length === 7, 'a log line per request');
    const lines = logged.slice(linesBefore).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === path);
    for (const line of lines) {
      assert.equal(line.msg, 'request');
      assert.equal(line.status, 200);
      assert.equal(line.remote, '127.0.0.1');
      assert.equal(typeof line.ms, 'number');
      assert.equal(line.aborted, undefined);
    }
    assert.deepEqual(lines.map((l) => l.method), ['HEAD', 'GET', 'GET', 'GET', 'GET', 'GET', 'HEAD']);

    // Only the answers from memory were pulls: the activity feed has them.
    const feed = await api.json<ActivityFeed>('/api/activity');
    const pull = feed.entries.find((e) => e.kind === 'pull' && e.repository === 'answers/seen');
    assert.ok(pull, 'a pull in the activity feed');
    assert.deepEqual(pull.tags, ['v1']);
    assert.deepEqual(pull.digests, [image.digest]);
  });

  it('with a webhook endpoint taking pulls, every pull is delivered (and none answered from memory)', async () => {
    const receiver = await startReceiver();
    try {
      await client.pushImage('answers/hooked', 'v1');
      const path = '/v2/answers/hooked/manifests/v1';
      for (let i = 0; i < 2; i++) await plain(server.url, 'GET', path);
      const res = await api.fetch('/api/webhooks', { method: 'POST', body: JSON.stringify({ url: receiver.url, events: ['pull'], repositories: 'answers/hooked' }), headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 201, await res.text());
      const memory = await fromMemory(server.url);
      for (let i = 0; i < 3; i++) assert.equal((await plain(server.url, 'GET', path)).status, 200);
      assert.equal(await fromMemory(server.url), memory);
      await waitFor(() => envelopeEvents(receiver.received).filter((e) => e.action === 'pull' && e.target.repository === 'answers/hooked').length === 3, 'three pull deliveries');
    } finally {
      await receiver.close();
    }
  });
});

describe('manifest answers with registry auth on', () => {
  it('answers every request through the registry, which authorizes it', { skip: singleProcess('counts the requests of one process') }, async () => {
    const open = await startServer();
    const image = await new Client(open.url).pushImage('answers/auth', 'v1');
    await open.close();
    const server = await startServer({ dataDir: open.dataDir, auth: 'token', anonymousPull: true, adminPassword: ADMIN_PASSWORD });
    try {
      const path = '/v2/answers/auth/manifests/v1';
      for (let i = 0; i < 3; i++) assert.equal(header(await plain(server.url, 'GET', path), 'Docker-Content-Digest'), image.digest);
      const metrics = await (await fetch(`${server.url}/metrics`, { headers: { Authorization: basic('admin', ADMIN_PASSWORD) } })).text();
      assert.match(metrics, /^berth_manifest_answers_from_memory_total 0$/m);
      assert.match(metrics, /^berth_http_requests_total\{method="GET",operation="getManifest",status="200"\} 3$/m);
    } finally {
      await server.close({ remove: true });
    }
  });
});
