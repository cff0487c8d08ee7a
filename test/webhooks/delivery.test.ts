/**
 * Webhook deliveries against a real server and a receiver on loopback that verifies both signatures
 * with the libraries receivers use (standardwebhooks' Webhook.verify; timingSafeEqual over the GitHub
 * HMAC): the events of a push in order, filters, formats, secret rotation, the delivery log with test
 * events and redelivery, and the safety rules (no redirects, TLS verified with a per-endpoint CA,
 * response excerpts truncated, secrets masked and stored 0600).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDigest } from '../../server/registry/reference.ts';
import { keys } from '../../server/storage/paths.ts';
import { createCa, createServerCertificate } from '../../server/tls/certificates.ts';
import { caConstraints } from '../../server/tls/names.ts';
import type { WebhookDelivery, WebhookDeliveryPage, WebhookEndpoint, WebhookSecretAnswer } from '../../server/webhooks/api-types.ts';
import { ApiClient } from '../helpers/api-client.ts';
import { Client, OCI_MANIFEST } from '../helpers/registry-client.ts';
import { metadataInPostgres, startServer, type TestServer } from '../helpers/server.ts';
import { envelopeEvents, startReceiver, verifyHub, verifyStandard, type Receiver } from '../helpers/webhook-receiver.ts';

async function addEndpoint(api: ApiClient, body: Record<string, unknown>): Promise<WebhookSecretAnswer> {
  const res = await api.fetch('/api/webhooks', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return JSON.parse(text) as WebhookSecretAnswer;
}

async function post<T>(api: ApiClient, path: string, body: Record<string, unknown> = {}, status = 200): Promise<T> {
  const res = await api.fetch(path, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as T;
}

describe('webhook deliveries', () => {
  let server: TestServer;
  let api: ApiClient;
  let registry: Client;
  const receivers: Receiver[] = [];

  async function receiver(options: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
    const r = await startReceiver(options);
    receivers.push(r);
    return r;
  }

  before(async () => {
    server = await startServer();
    api = new ApiClient(server.url);
    registry = new Client(server.url);
  });
  after(async () => {
    await server.close({ remove: true });
    for (const r of receivers) await r.close();
  });

  it('delivers a push as Distribution does, one event per blob then the manifest with its tag, signed twice', async () => {
    const hook = await receiver();
    const { endpoint, secret } = await addEndpoint(api, { url: hook.url, repositories: 'signed/**' });
    assert.match(secret!, /^whsec_[A-Za-z0-9+/]{43}=$/);
    hook.options.secrets = [secret!];
    assert.equal(endpoint.secret.set, true);
    assert.equal(endpoint.secret.hint, `…${secret!.slice(-4)}`);
    assert.ok(!JSON.stringify(endpoint).includes(secret!), 'the endpoint view never shows the secret');

    const image = await registry.pushImage('signed/app', 'v1');
    await hook.until((r) => r.length >= 3);
    for (const r of hook.received) {
      assert.equal(r.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      assert.equal(r.standardOk, true, 'webhook-signature verifies with standardwebhooks');
      assert.equal(r.hubOk, true, 'X-Hub-Signature-256 verifies with timingSafeEqual');
      assert.match(String(r.headers['webhook-id']), /^msg_[0-9a-f]{32}$/);
      assert.match(String(r.headers['user-agent']), /^Berth-Webhooks\//);
    }
    const events = envelopeEvents(hook.received);
    assert.deepEqual(events.map((e) => [e.action, e.target.mediaType, e.target.tag]), [
      ['push', 'application/octet-stream', undefined],
      ['push', 'application/octet-stream', undefined],
      ['push', OCI_MANIFEST, 'v1'],
    ]);
    const manifest = events[2]!;
    assert.deepEqual(Object.keys(manifest), ['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
    assert.deepEqual(Object.keys(manifest.target), ['mediaType', 'size', 'digest', 'length', 'repository', 'url', 'tag']);
    assert.equal(manifest.target.digest, image.digest);
    assert.equal(manifest.target.size, manifest.target.length);
    assert.equal(manifest.target.repository, 'signed/app');
    assert.equal(manifest.target.url, `${server.url}/v2/signed/app/manifests/${image.digest}`);
    assert.equal(manifest.request.method, 'PUT');
    assert.equal(manifest.request.host, new URL(server.url).host);
    assert.match(manifest.request.addr!, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(manifest.actor, {});
    assert.match(manifest.source.addr!, /:\d+$/);
    assert.ok(new Set(events.map((e) => e.source.instanceID)).size === 1);
    assert.equal(new Set(events.map((e) => e.id)).size, 3);

    // The delivery log has all three, delivered, newest first, each with its attempt.
    const page = await api.json<WebhookDeliveryPage>(`/api/webhooks/${endpoint.id}/deliveries`);
    assert.deepEqual(page.deliveries.map((d) => [d.state, d.attempts, d.history[0]?.status]), [['delivered', 1, 200], ['delivered', 1, 200], ['delivered', 1, 200]]);
    assert.deepEqual(page.deliveries.map((d) => d.id).reverse(), hook.received.map((r) => r.headers['webhook-id']));
    const view = await api.json<WebhookEndpoint>(`/api/webhooks/${endpoint.id}`);
    assert.equal(view.stats.delivered, 3);
    assert.equal(view.stats.queued, 0);
    assert.ok(view.stats.lastSuccessAt);
  });

  it('filters by event kind, repository glob and media type; pulls are off by default', async () => {
    const all = await receiver();
    const onlyIndex = await receiver();
    const pulls = await receiver();
    await addEndpoint(api, { url: all.url, repositories: 'filters/*' });
    const indexOnly = await addEndpoint(api, { url: onlyIndex.url, repositories: 'filters/*', events: ['push'], mediaTypes: ['application/vnd.oci.image.index.*'] });
    await addEndpoint(api, { url: pulls.url, repositories: 'filters/*', events: ['pull'] });

    await registry.pushImage('other/app', 'v1');
    const image = await registry.pushImage('filters/app', 'v1');
    const res = await fetch(`${server.url}/v2/filters/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await registry.deleteManifest('filters/app', 'v1');

    // The default subscription: push (2 blobs + manifest) and the tag delete, nothing of other/app, no pull.
    const events = envelopeEvents(await all.until((r) => r.length >= 4));
    assert.deepEqual(events.map((e) => [e.action, e.target.repository, e.target.tag ?? null]), [
      ['push', 'filters/app', null],
      ['push', 'filters/app', null],
      ['push', 'filters/app', 'v1'],
      ['delete', 'filters/app', 'v1'],
    ]);
    const pulled = envelopeEvents(await pulls.until((r) => r.length >= 1));
    assert.equal(pulled[0]!.action, 'pull');
    assert.equal(pulled[0]!.target.digest, image.digest);
    assert.equal(pulled[0]!.target.tag, 'v1');
    assert.equal(pulled[0]!.request.method, 'GET');
    // Blobs and a manifest (not an index) are filtered out by the media type. Deliveries are in the
    // outbox before the registry answers, so an empty log after the pushes means none will come.
    const log = await api.json<WebhookDeliveryPage>(`/api/webhooks/${indexOnly.endpoint.id}/deliveries`);
    assert.equal(log.deliveries.length, 0);
    assert.equal(onlyIndex.received.length, 0);
  });

  it('renders CloudEvents 1.0 structured JSON and Slack messages', async () => {
    const cloud = await receiver();
    const slack = await receiver();
    await addEndpoint(api, { url: cloud.url, repositories: 'formats/*', events: ['push'], format: 'cloudevents' });
    await addEndpoint(api, { url: slack.url, repositories: 'formats/*', events: ['push'], format: 'slack', secret: null });
    const image = await registry.pushImage('formats/app', 'v2');
    const [, , last] = await cloud.until((r) => r.length >= 3);
    assert.equal(last!.headers['content-type'], 'application/cloudevents+json');
    const ce = last!.json as Record<string, unknown>;
    assert.equal(ce.specversion, '1.0');
    assert.equal(ce.type, 'io.berth.registry.push');
    assert.equal(ce.subject, 'formats/app:v2');
    assert.equal(ce.source, server.url);
    assert.equal(ce.datacontenttype, 'application/json');
    assert.match(String(ce.time), /^\d{4}-\d\d-\d\dT/);
    assert.equal((ce.data as { target: { digest: string } }).target.digest, image.digest);

    const messages = await slack.until((r) => r.length >= 3);
    assert.match((messages[2]!.json as { text: string }).text, /^Pushed `formats\/app:v2` \(\d+ B\) on 127\.0\.0\.1:\d+\.$/);
    assert.equal(messages[2]!.headers['webhook-signature'], undefined, 'no secret: unsigned');
    assert.ok(messages[2]!.headers['webhook-id'], 'unsigned deliveries still carry their id');
  });

  it('rotating the secret signs with both secrets for the grace period', async () => {
    const hook = await receiver();
    const { endpoint, secret: oldSecret } = await addEndpoint(api, { url: hook.url, repositories: 'rotate/*', events: ['push'] });
    const rotated = await post<WebhookSecretAnswer>(api, `/api/webhooks/${endpoint.id}/rotate-secret`, { grace: '1h' });
    const newSecret = rotated.secret!;
    assert.notEqual(newSecret, oldSecret);
    assert.ok(rotated.endpoint.secret.previousUntil);
    await registry.pushBlob('rotate/app', 'rotation');
    const [r] = await hook.until((x) => x.length >= 1);
    const signatures = String(r!.headers['webhook-signature']).split(' ');
    assert.equal(signatures.length, 2);
    assert.ok(verifyStandard(oldSecret!, r!.body, r!.headers), 'a receiver still holding the old secret verifies');
    assert.ok(verifyStandard(newSecret, r!.body, r!.headers), 'one holding the new secret verifies');
    assert.ok(verifyHub(newSecret, r!.body, r!.headers['x-hub-signature-256'] as string));

    // Without a grace period only the new secret signs.
    const again = await post<WebhookSecretAnswer>(api, `/api/webhooks/${endpoint.id}/rotate-secret`, { grace: '0s' });
    await registry.pushBlob('rotate/app', 'rotation 2');
    const [, second] = await hook.until((x) => x.length >= 2);
    assert.equal(String(second!.headers['webhook-signature']).split(' ').length, 1);
    assert.ok(verifyStandard(again.secret!, second!.body, second!.headers));
    assert.ok(!verifyStandard(newSecret, second!.body, second!.headers));
  });

  it('sends a test event, shows it in the log, and redelivers it with the same webhook-id', async () => {
    const hook = await receiver({ status: (n) => (n === 0 ? 503 : 200) });
    const { endpoint, secret } = await addEndpoint(api, { url: hook.url, events: ['gc-finished'] });
    hook.options.secrets = [secret!];
    const failed = await post<WebhookDelivery>(api, `/api/webhooks/${endpoint.id}/test`);
    assert.equal(failed.kind, 'test');
    assert.equal(failed.state, 'dead');
    assert.equal(failed.history[0]!.status, 503);
    assert.equal(failed.history[0]!.response, 'nope 503');
    assert.match(failed.history[0]!.error!, /answered 503/);

    const redelivered = await post<WebhookDelivery>(api, `/api/webhooks/${endpoint.id}/deliveries/${failed.id}/redeliver`);
    assert.equal(redelivered.state, 'delivered');
    assert.equal(redelivered.attempts, 2);
    assert.deepEqual(redelivered.history.map((a) => [a.status, a.trigger]), [[503, 'test'], [200, 'redeliver']]);
    assert.deepEqual(hook.received.map((r) => r.headers['webhook-id']), [failed.id, failed.id]);
    assert.equal(hook.received[1]!.standardOk, true);
    assert.equal(envelopeEvents(hook.received)[0]!.action, 'test');

    const one = await api.json<WebhookDelivery>(`/api/webhooks/${endpoint.id}/deliveries/${failed.id}`);
    assert.equal(one.state, 'delivered');
    const dead = await api.json<WebhookDeliveryPage>(`/api/webhooks/${endpoint.id}/deliveries?state=dead`);
    assert.equal(dead.deliveries.length, 0);
  });

  it('announces finished garbage collections and scrubs that found a problem', async () => {
    const hook = await receiver();
    await addEndpoint(api, { url: hook.url, events: ['gc-finished', 'scrub-problem'], format: 'cloudevents' });
    const image = await registry.pushImage('maintained/app', 'v1', { layer: 'a layer that will rot' });
    await post(api, '/api/gc', { wait: true, grace: '0s' });
    await post(api, '/api/gc/preview', {});
    await post(api, '/api/scrub', { wait: true });
    await server.registry.driver.putContent(keys.blob(parseDigest(image.manifest.layers[0]!.digest)), 'a layer that did rot');
    await post(api, '/api/scrub', { wait: true });
    const received = await hook.until((r) => r.length >= 2);
    // The preview (a dry run) and the clean scrub send nothing.
    const [gc, scrub] = received.map((r) => r.json as { type: string; data: { action: string; berth: Record<string, unknown> } });
    assert.equal(gc!.type, 'io.berth.registry.gc-finished');
    assert.equal(gc!.data.berth.state, 'succeeded');
    assert.equal(typeof gc!.data.berth.bytesFreed, 'number');
    assert.equal(scrub!.type, 'io.berth.registry.scrub-problem');
    assert.equal(scrub!.data.berth.corrupt, 1);
    assert.deepEqual((scrub!.data.berth.corruptFiles as { digest: string }[]).map((c) => c.digest), [image.manifest.layers[0]!.digest]);
    const log = await api.json<{ endpoints: WebhookEndpoint[] }>('/api/webhooks');
    assert.ok(log.endpoints.length > 0);
    assert.equal(received.length, 2);
  });

  it('never follows a redirect and keeps only an excerpt of the answer', async () => {
    const hook = await receiver({ status: () => 307 });
    const { endpoint } = await addEndpoint(api, { url: hook.url, events: ['gc-finished'] });
    const redirected = await post<WebhookDelivery>(api, `/api/webhooks/${endpoint.id}/test`);
    assert.equal(redirected.history[0]!.status, 307);
    assert.match(redirected.history[0]!.error!, /never follow redirects/);
    assert.equal(hook.received.length, 1);

    const big = await startReceiver();
    receivers.push(big);
    const server2 = (await import('node:http')).createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(500).end('x'.repeat(1_000_000)));
    });
    await new Promise<void>((r) => server2.listen(0, '127.0.0.1', () => r()));
    try {
      const { endpoint: loud } = await addEndpoint(api, { url: `http://127.0.0.1:${(server2.address() as AddressInfo).port}/`, events: ['gc-finished'] });
      const answer = await post<WebhookDelivery>(api, `/api/webhooks/${loud.id}/test`);
      assert.equal(answer.history[0]!.status, 500);
      assert.equal(answer.history[0]!.response!.length, 513, '512 characters and an ellipsis');
    } finally {
      server2.closeAllConnections();
      server2.close();
    }
  });

  it('verifies TLS: refused without the CA, delivered with the endpoint CA', async () => {
    const names = { dns: ['localhost'], ips: ['127.0.0.1'] };
    const ca = await createCa(caConstraints(names));
    const cert = await createServerCertificate(ca, names);
    let hits = 0;
    const secure = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      hits++;
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `https://127.0.0.1:${(secure.address() as AddressInfo).port}/hook`;
      const { endpoint } = await addEndpoint(api, { url, events: ['gc-finished'] });
      const refused = await post<WebhookDelivery>(api, `/api/webhooks/${endpoint.id}/test`);
      assert.equal(refused.state, 'dead');
      assert.match(refused.history[0]!.error!, /not trusted/);
      assert.equal(hits, 0);

      const res = await api.fetch(`/api/webhooks/${endpoint.id}`, { method: 'PUT', body: JSON.stringify({ ca: ca.certPem }), headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as WebhookEndpoint).customCa, true);
      const ok = await post<WebhookDelivery>(api, `/api/webhooks/${endpoint.id}/test`);
      assert.equal(ok.state, 'delivered');
      assert.equal(hits, 1);
    } finally {
      secure.closeAllConnections();
      secure.close();
    }
  });

  it('refuses bad endpoints with the field at fault, masks credential headers, keeps secrets 0600', async () => {
    const bad = async (body: Record<string, unknown>, field: string) => {
      const res = await api.fetch('/api/webhooks', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      const answer = (await res.json()) as { errors: { code: string; message: string; detail: { fields: string[] } }[] };
      assert.equal(res.status, 400, JSON.stringify(answer));
      assert.deepEqual(answer.errors[0]!.detail.fields, [field], answer.errors[0]!.message);
      return answer.errors[0]!.message;
    };
    assert.match(await bad({}, 'url'), /"url" is required/);
    assert.match(await bad({ url: 'ftp://x/' }, 'url'), /http:\/\/ or https:\/\//);
    assert.match(await bad({ url: 'http://user:pw@x/' }, 'url'), /user name or password/);
    assert.match(await bad({ url: 'http://x/', events: ['push', 'explode'] }, 'events'), /^"events": unknown event "explode"; the events are push, pull/);
    assert.match(await bad({ url: 'http://x/', format: 'xml' }, 'format'), /distribution, cloudevents, slack/);
    assert.match(await bad({ url: 'http://x/', headers: { 'Content-Type': 'text/plain' } }, 'headers'), /sets Content-Type itself/);
    assert.match(await bad({ url: 'http://x/', timeout: '5m' }, 'timeout'), /1s to 60s/);
    assert.match(await bad({ url: 'http://x/', secret: 'short' }, 'secret'), /16 to 512/);
    assert.match(await bad({ url: 'http://x/', ca: 'not a pem' }, 'ca'), /PEM/);
    assert.match(await bad({ url: 'http://x/', colour: 'red' }, 'colour'), /unknown field "colour"/);

    const { endpoint } = await addEndpoint(api, { url: 'http://127.0.0.1:9/', headers: { Authorization: 'Bearer hunter2', 'X-Team': 'infra' }, events: ['push'], repositories: 'nothing-matches' });
    assert.deepEqual(endpoint.headers, { Authorization: '••••••', 'X-Team': 'infra' });
    // Sending the masked value back keeps the real one.
    const res = await api.fetch(`/api/webhooks/${endpoint.id}`, { method: 'PUT', body: JSON.stringify({ headers: endpoint.headers, name: 'renamed' }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 200);
    // With the metadata in PostgreSQL the endpoints are in its database (no files to check).
    if (!metadataInPostgres) {
      const stored = await fs.readFile(path.join(server.dataDir, 'webhooks', 'endpoints.db'), 'utf8');
      assert.match(stored, /Bearer hunter2/);
      for (const file of ['endpoints.db', 'outbox.db', 'state.db']) {
        assert.equal((await fs.stat(path.join(server.dataDir, 'webhooks', file))).mode & 0o777, 0o600, file);
      }
      assert.equal((await fs.stat(path.join(server.dataDir, 'webhooks'))).mode & 0o777, 0o700);
    }

    const removed = await api.fetch(`/api/webhooks/${endpoint.id}`, { method: 'DELETE' });
    assert.equal(removed.status, 204);
    assert.equal((await api.fetch(`/api/webhooks/${endpoint.id}`)).status, 404);
  });
});
