/**
 * Authentication through the pull-through cache (server/mirror/upstream-auth.ts): tokens from the
 * upstream's realm, cached per scope until they expire, renewed once on a 401; a realm on a foreign host
 * refused unless trusted; credentials for a private upstream, stored 0600 and never shown; and, with
 * registry auth on here, pulls through the cache need pull permission on the cached name.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { MirrorsOverview, UpstreamView } from '../../server/registry/api-types.ts';
import { ADMIN_PASSWORD, addUser, bearer, getToken } from '../helpers/auth.ts';
import { MANIFEST_ACCEPT, pullImage, startMirror, type MirrorServer } from '../helpers/mirror.ts';
import { Client, expectError } from '../helpers/registry-client.ts';
import { metadataInPostgres } from '../helpers/server.ts';
import { pushRandomImage, startFakeHub, type FakeHub } from '../helpers/upstream.ts';

/** Berth's access tokens live 5 minutes (auth/jwt.ts). */
const TOKEN_LIFETIME_MS = 5 * 60_000;

describe('mirror upstream auth', () => {
  let hub: FakeHub;

  before(async () => {
    hub = await startFakeHub();
    await pushRandomImage(hub, 'library/alpine', 'latest', [1000]);
    await pushRandomImage(hub, 'library/busybox', 'latest', [1000]);
  });
  after(async () => {
    await hub?.close();
  });

  it('asks a token once per scope and reuses it until it expires', async () => {
    const mirror = await startMirror(hub, { checkIntervalMs: 1000 });
    try {
      const tokens = hub.tokenRequests();
      await pullImage(mirror.url, 'library/alpine', 'latest');
      await pullImage(mirror.url, 'library/busybox', 'latest');
      assert.equal(hub.tokenRequests() - tokens, 2, 'one token per repository scope');
      mirror.clock.advance(2000);
      await pullImage(mirror.url, 'library/alpine', 'latest');
      assert.equal(hub.tokenRequests() - tokens, 2, 'the cached token checks the tag');
      const challenges = hub.requests.filter((r) => r.status === 401).length;
      mirror.clock.advance(TOKEN_LIFETIME_MS);
      await pullImage(mirror.url, 'library/alpine', 'latest');
      assert.equal(hub.tokenRequests() - tokens, 3, 'an expired token is renewed before it is used');
      assert.equal(hub.requests.filter((r) => r.status === 401).length, challenges, 'without a 401 first');
    } finally {
      await mirror.close({ remove: true });
    }
  });

  it('renews a token the upstream refuses (401), once', async () => {
    const mirror = await startMirror(hub, { checkIntervalMs: 1000 });
    try {
      await pullImage(mirror.url, 'library/alpine', 'latest');
      hub.revokeTokens();
      mirror.clock.advance(2000);
      const tokens = hub.tokenRequests();
      const mark = hub.requests.length;
      await pullImage(mirror.url, 'library/alpine', 'latest');
      assert.equal(hub.tokenRequests() - tokens, 1);
      assert.deepEqual(hub.requests.slice(mark).filter((r) => r.via === 'registry').map((r) => `${r.method} ${r.status}`), ['HEAD 401', 'HEAD 200']);
      const counters = ((await (await fetch(`${mirror.url}/api/mirrors`)).json()) as MirrorsOverview).upstreams[0]!.counters;
      assert.equal(counters.staleServes, 0, 'served fresh, not stale');
    } finally {
      await mirror.close({ remove: true });
    }
  });

  it('refuses a token realm on a foreign host before contacting it, unless trusted', async () => {
    hub.setRealmHost('localhost');
    const mirror = await startMirror(hub);
    try {
      const tokens = hub.tokenRequests();
      const res = await new Client(mirror.url).getManifest('library/alpine', 'latest', MANIFEST_ACCEPT);
      const error = await expectError(res, 403, 'DENIED');
      assert.match(error.message, /docker\.io sent clients to the token realm http:\/\/localhost:\d+, which is neither its own host nor domain: refused/);
      assert.equal(hub.tokenRequests(), tokens, 'the foreign realm was never contacted');
      const realmHost = new URL(hub.realm).host;
      const update = await fetch(`${mirror.url}/api/mirrors/docker.io`, { method: 'PUT', headers: { 'X-Berth-Client': 'test' }, body: '{}' });
      await expectError(update, 403, 'DENIED'); // configured upstreams are changed in the configuration
      const trusting = await startMirror(hub, { trustedRealms: [realmHost] });
      try {
        await pullImage(trusting.url, 'library/alpine', 'latest');
        assert.equal(hub.tokenRequests(), tokens + 1);
      } finally {
        await trusting.close({ remove: true });
      }
    } finally {
      hub.setRealmHost(null);
      await mirror.close({ remove: true });
    }
  });

  it('pulls private images with credentials stored 0600, never shown or logged', async () => {
    const privateHub = await startFakeHub({ anonymousPull: false });
    await pushRandomImage(privateHub, 'team/secret', 'v1', [1000]);
    await addUser(privateHub.origin, 'puller', 'puller-password-123', 'team/*:pull');
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } }));
    const mirror = await startMirror(privateHub, {}, { logLevel: 'debug' }, { log });
    try {
      const client = new Client(mirror.url);
      const refused = await client.getManifest('team/secret', 'v1', MANIFEST_ACCEPT);
      assert.match((await expectError(refused, 403, 'DENIED')).message, /^manifest team\/secret:v1 is not cached, and docker\.io's token service \(127\.0\.0\.1:\d+\) refused an anonymous token: this image may need credentials \(set them in the Mirrors page\)$/);
      const put = await client.fetch('/api/mirrors/docker.io/credentials', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-Berth-Client': 'test' },
        body: JSON.stringify({ username: 'puller', password: 'puller-password-123' }),
      });
      assert.equal(put.status, 200);
      const view = (await put.json()) as UpstreamView;
      assert.deepEqual(view.credentials, { username: 'puller' });
      await pullImage(mirror.url, 'team/secret', 'v1');
      // With the metadata in PostgreSQL the credentials are in its database (no file to check).
      if (!metadataInPostgres) {
        const file = path.join(mirror.dataDir, 'mirrors', 'credentials.json');
        assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
      }
      const overview = await (await client.fetch('/api/mirrors')).text();
      assert.doesNotMatch(overview, /puller-password-123/);
      assert.match(overview, /"credentials":\{"username":"puller"\}/);
      assert.ok(lines.length > 5, 'the requests were logged');
      assert.ok(!lines.some((l) => l.includes('puller-password-123')), 'the password is in no log line');
      const removed = await client.fetch('/api/mirrors/docker.io/credentials', { method: 'DELETE', headers: { 'X-Berth-Client': 'test' } });
      assert.equal(((await removed.json()) as UpstreamView).credentials, null);
    } finally {
      await mirror.close({ remove: true });
      await privateHub.close();
    }
  });

  it('with registry auth on, pulling through the cache needs pull permission on the cached name', async () => {
    const mirror = await startMirror(hub, {}, { auth: 'token', adminPassword: ADMIN_PASSWORD });
    try {
      await addUser(mirror, 'cache-user', 'cache-user-password', 'docker.io/*:pull');
      await addUser(mirror, 'local-user', 'local-user-password', 'library/*:pull');
      const client = new Client(mirror.url);
      // Without a token, the challenge names the cached repository.
      const anonymous = await client.getManifest('library/alpine', 'latest', MANIFEST_ACCEPT);
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /scope="repository:docker\.io\/library\/alpine:pull"/);
      const local = await getToken(mirror.url, 'local-user', 'local-user-password', 'repository:library/alpine:pull', 'repository:docker.io/library/alpine:pull');
      await expectError(await client.fetch('/v2/library/alpine/manifests/latest', { headers: { ...bearer(local.token), Accept: MANIFEST_ACCEPT } }), 403, 'DENIED');
      const cache = await getToken(mirror.url, 'cache-user', 'cache-user-password', 'repository:docker.io/library/alpine:pull');
      await pullImage(mirror.url, 'library/alpine', 'latest', { headers: bearer(cache.token) });
      await pullImage(mirror.url, 'docker.io/library/alpine', 'latest', { headers: bearer(cache.token) });
      await pullImage(mirror.url, 'library/alpine', 'latest', { query: 'ns=docker.io', headers: bearer(cache.token) });
    } finally {
      await mirror.close({ remove: true });
    }
  });
});
