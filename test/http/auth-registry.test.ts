/**
 * The registry API with token auth on: every protected call challenges exactly (token.md, RFC 6750
 * §3.1), and each way a token can be wrong gets its own status and error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, generateKeyPair, importJWK, type JWK } from 'jose';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, expectError } from '../helpers/registry-client.ts';
import { startServer, testMetadata, type TestServer } from '../helpers/server.ts';
import { ADMIN_PASSWORD, addUser, basic, bearer, challengeFor, claimsOf, expectChallenge, fetchToken, getToken, postToken } from '../helpers/auth.ts';

/** A Client whose every request carries this bearer token. */
function clientWith(base: string, token: string): Client {
  const client = new Client(base);
  const plain = client.fetch.bind(client);
  client.fetch = (p: string, init: RequestInit = {}) => plain(p, { ...init, headers: { ...(init.headers as Record<string, string>), ...bearer(token) } });
  return client;
}

/** Signs claims with the server's own key file (to make tokens the server would never issue, like expired ones). */
async function signWithServerKey(server: TestServer, claims: Record<string, unknown>, exp: number): Promise<string> {
  const jwk = JSON.parse(await serverSigningKey(server)) as JWK;
  const key = await importJWK(jwk, 'ES256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: jwk.kid! })
    .setIssuer('berth').setAudience('berth').setSubject('alice').setIssuedAt(exp - 300).setNotBefore(exp - 300).setExpirationTime(exp).setJti('x')
    .sign(key);
}

/** The server's signing key: its key file, or (metadata in PostgreSQL) the row every replica shares. */
async function serverSigningKey(server: TestServer): Promise<string> {
  const metadata = await testMetadata(server.dataDir);
  if (metadata.driver === 'nedb') return fs.readFile(path.join(server.dataDir, 'auth', 'signing-key.jwk'), 'utf8');
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: metadata.url });
  await client.connect();
  try {
    return (await client.query<{ value: string }>(`SELECT value FROM shared_secrets WHERE name = 'token-signing-key'`)).rows[0]!.value;
  } finally {
    await client.end();
  }
}

describe('registry with token auth', () => {
  let server: TestServer;
  let admin: Client;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD });
    await addUser(server, 'alice', 'alice-password', 'team/*:pull,push');
    await addUser(server, 'reader', 'reader-password', '*:pull');
    const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'repository:team/app:pull,push', 'repository:team/other:pull,push');
    admin = clientWith(server.url, token);
    await admin.pushImage('team/app', 'v1');
    await admin.pushImage('team/other', 'v1');
  });
  after(() => server.close({ remove: true }));

  it('challenges the ping GET /v2/ without a token, and answers it with any valid token', async () => {
    await expectChallenge(await fetch(`${server.url}/v2/`), 401, 'UNAUTHORIZED', challengeFor(server));
    const { token } = await getToken(server.url, 'reader', 'reader-password');
    const res = await fetch(`${server.url}/v2/`, { headers: bearer(token) });
    assert.equal(res.status, 200);
  });

  it('challenges anonymous access with the scope each method needs (anonymous pull off)', async () => {
    const cases: [string, string, string][] = [
      ['GET', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
      ['HEAD', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
      ['GET', '/v2/team/app/tags/list', 'repository:team/app:pull'],
      ['POST', '/v2/team/app/blobs/uploads/', 'repository:team/app:pull,push'],
      ['PUT', '/v2/team/app/manifests/v2', 'repository:team/app:pull,push'],
      ['DELETE', '/v2/team/app/manifests/v1', 'repository:team/app:delete'],
      ['GET', '/v2/_catalog', 'registry:catalog:*'],
    ];
    for (const [method, p, scope] of cases) {
      const res = await fetch(`${server.url}${p}`, { method });
      assert.equal(res.status, 401, `${method} ${p}`);
      assert.equal(res.headers.get('www-authenticate'), challengeFor(server, scope), `${method} ${p}`);
      if (method !== 'HEAD') await expectError(res, 401, 'UNAUTHORIZED');
    }
  });

  it('serves pulls and pushes with a token that allows them', async () => {
    const { token } = await getToken(server.url, 'alice', 'alice-password', 'repository:team/new:pull,push');
    const alice = clientWith(server.url, token);
    const pushed = await alice.pushImage('team/new', 'v1');
    const res = await alice.getManifest('team/new', 'v1', 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), pushed.digest);
  });

  it('answers a wrong password at /token with 401 and a Basic challenge', async () => {
    const res = await fetch(`${server.url}/token?service=berth&scope=repository:team/app:pull`, { headers: { Authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}` } });
    await expectChallenge(res, 401, 'UNAUTHORIZED', 'Basic realm="Berth registry", charset="UTF-8"');
  });

  it('refuses an expired token: 401 invalid_token', async () => {
    const expired = await signWithServerKey(server, { access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] }, Math.floor(Date.now() / 1000) - 120);
    const res = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: bearer(expired) });
    await expectChallenge(res, 401, 'UNAUTHORIZED', challengeFor(server, 'repository:team/app:pull', 'invalid_token'));
  });

  it('accepts a token within the 60 s clock leeway', async () => {
    const justExpired = await signWithServerKey(server, { access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] }, Math.floor(Date.now() / 1000) - 20);
    assert.equal((await fetch(`${server.url}/v2/team/app/tags/list`, { headers: bearer(justExpired) })).status, 200);
  });

  it('refuses a token whose signature was tampered with: 401 invalid_token', async () => {
    const { token } = await getToken(server.url, 'reader', 'reader-password', 'repository:team/app:pull');
    const [h, p, s] = token.split('.');
    // Claims changed (push granted) under the old signature.
    const forged = Buffer.from(JSON.stringify({ ...claimsOf(token), access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }] })).toString('base64url');
    const flipped = `${s!.slice(0, -2)}${s!.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const bad of [`${h}.${forged}.${s}`, `${h}.${p}.${flipped}`]) {
      const res = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: bearer(bad) });
      await expectChallenge(res, 401, 'UNAUTHORIZED', challengeFor(server, 'repository:team/app:pull', 'invalid_token'));
    }
  });

  it('refuses a token signed by another key: 401 invalid_token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const foreign = await new SignJWT({ access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'other' })
      .setIssuer('berth').setAudience('berth').setSubject('alice').setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 300).setJti('y')
      .sign(privateKey);
    const res = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: bearer(foreign) });
    await expectChallenge(res, 401, 'UNAUTHORIZED', challengeFor(server, 'repository:team/app:pull', 'invalid_token'));
    const garbage = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: bearer('not.a.jwt') });
    await expectChallenge(garbage, 401, 'UNAUTHORIZED', challengeFor(server, 'repository:team/app:pull', 'invalid_token'));
  });

  it('refuses a pull-only user pushing: 403 insufficient_scope', async () => {
    // Asked for pull,push; granted pull only (the intersection).
    const { token } = await getToken(server.url, 'reader', 'reader-password', 'repository:team/app:pull,push');
    assert.deepEqual(claimsOf(token).access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    const res = await fetch(`${server.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    await expectChallenge(res, 403, 'DENIED', challengeFor(server, 'repository:team/app:pull,push', 'insufficient_scope'));
    const del = await fetch(`${server.url}/v2/team/app/manifests/v1`, { method: 'DELETE', headers: bearer(token) });
    await expectChallenge(del, 403, 'DENIED', challengeFor(server, 'repository:team/app:delete', 'insufficient_scope'));
  });

  it('refuses a token for repository A used on repository B: 403 insufficient_scope', async () => {
    const { token } = await getToken(server.url, 'alice', 'alice-password', 'repository:team/app:pull');
    const res = await fetch(`${server.url}/v2/team/other/manifests/v1`, { headers: bearer(token) });
    await expectChallenge(res, 403, 'DENIED', challengeFor(server, 'repository:team/other:pull', 'insufficient_scope'));
  });

  it('refuses the catalog without the catalog scope: 403 insufficient_scope', async () => {
    const { token } = await getToken(server.url, 'alice', 'alice-password', 'registry:catalog:*', 'repository:team/app:pull');
    assert.deepEqual(claimsOf(token).access.map((a) => a.type), ['repository'], 'alice may not list every repository');
    const res = await fetch(`${server.url}/v2/_catalog`, { headers: bearer(token) });
    await expectChallenge(res, 403, 'DENIED', challengeFor(server, 'registry:catalog:*', 'insufficient_scope'));
    const reader = await getToken(server.url, 'reader', 'reader-password', 'registry:catalog:*');
    const listed = await fetch(`${server.url}/v2/_catalog`, { headers: bearer(reader.token) });
    assert.equal(listed.status, 200);
    assert.deepEqual(((await listed.json()) as { repositories: string[] }).repositories, ['team/app', 'team/new', 'team/other']);
  });

  it('ignores a cross-repository mount from a repository the token cannot read (202, a normal upload)', async () => {
    await addUser(server, 'mounter', 'mounter-password', 'mine/*:pull,push');
    const layer = await (await admin.getManifest('team/app', 'v1', 'application/vnd.oci.image.manifest.v1+json')).json() as { layers: { digest: string }[] };
    const digest = layer.layers[0]!.digest;
    const { token } = await getToken(server.url, 'mounter', 'mounter-password', 'repository:mine/copy:pull,push', 'repository:team/app:pull');
    const res = await fetch(`${server.url}/v2/mine/copy/blobs/uploads/?mount=${digest}&from=team/app`, { method: 'POST', headers: bearer(token) });
    assert.equal(res.status, 202, 'no mount: the blob of team/app is not readable by this user');
    const head = await fetch(`${server.url}/v2/mine/copy/blobs/${digest}`, { method: 'HEAD', headers: bearer(token) });
    assert.equal(head.status, 404);
    // With pull on the source, the same request mounts.
    const { token: both } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'repository:mine/copy:pull,push', 'repository:team/app:pull');
    const mounted = await fetch(`${server.url}/v2/mine/copy/blobs/uploads/?mount=${digest}&from=team/app`, { method: 'POST', headers: bearer(both) });
    assert.equal(mounted.status, 201);
  });

  it('keeps Basic credentials sent straight to the registry out: a Bearer challenge', async () => {
    const res = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } });
    await expectChallenge(res, 401, 'UNAUTHORIZED', challengeFor(server, 'repository:team/app:pull'));
  });

  it('names the realm after the Host the client used', async () => {
    const port = new URL(server.url).port;
    const res = await fetch(`http://localhost:${port}/v2/`);
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="http://localhost:${port}/token",service="berth"`);
  });

  it('validates repository names before anything else', async () => {
    const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD);
    await expectError(await fetch(`${server.url}/v2/Bad_Name/tags/list`, { headers: bearer(token) }), 400, 'NAME_INVALID');
  });

  it('takes a robot token as the password, and refuses it once revoked: 401 at /token, its logins end', async () => {
    const auth = server.registry.auth!;
    const robot = await auth.createAccessToken({ user: 'ci', label: 'pipeline', expiresAt: null, permissions: [{ repository: 'team/*', actions: ['pull', 'push'] }], robot: true });
    assert.match(robot.token, /^berth_pat_[0-9a-f]{16}_/);
    const granted = await getToken(server.url, 'ci', robot.token, 'repository:team/app:pull,push');
    assert.deepEqual(claimsOf(granted.token).access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    assert.equal(claimsOf(granted.token).sub, 'ci');
    // A docker login with it keeps a refresh token.
    const login = (await (await postToken(server.url, { grant_type: 'password', username: 'ci', password: robot.token, access_type: 'offline' })).json()) as { refresh_token: string };
    assert.equal((await postToken(server.url, { grant_type: 'refresh_token', refresh_token: login.refresh_token })).status, 200);

    await auth.revokeCredential(robot.id);
    const res = await fetch(`${server.url}/token?service=berth&scope=repository:team/app:pull`, { headers: { Authorization: basic('ci', robot.token) } });
    await expectChallenge(res, 401, 'UNAUTHORIZED', 'Basic realm="Berth registry", charset="UTF-8"');
    await expectError(await postToken(server.url, { grant_type: 'refresh_token', refresh_token: login.refresh_token }), 400, 'INVALID_GRANT');
  });

  it('limits a personal token to its own permissions within its owner\'s, and refuses it after expiry', async () => {
    const auth = server.registry.auth!;
    const personal = await auth.createAccessToken({ user: 'alice', label: 'laptop', expiresAt: new Date(Date.now() + 60_000), permissions: [{ repository: '*', actions: ['pull'] }] });
    const { token } = await getToken(server.url, 'alice', personal.token, 'repository:team/app:pull,push', 'repository:elsewhere:pull');
    assert.deepEqual(claimsOf(token).access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    await expectError(await fetchToken(server.url, { user: 'reader', password: personal.token }), 401, 'UNAUTHORIZED');
    const old = await auth.createAccessToken({ user: 'alice', label: 'old', expiresAt: new Date(Date.now() + 1000), permissions: null });
    await new Promise((r) => setTimeout(r, 1100));
    await expectError(await fetchToken(server.url, { user: 'alice', password: old.token }), 401, 'UNAUTHORIZED');
  });
});

describe('registry with token auth and anonymous pull', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD, anonymousPull: true });
    const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'repository:open/app:pull,push');
    await clientWith(server.url, token).pushImage('open/app', 'v1');
  });
  after(() => server.close({ remove: true }));

  it('serves pulls and the catalog without a token, and still challenges the ping', async () => {
    assert.equal((await fetch(`${server.url}/v2/open/app/tags/list`)).status, 200);
    assert.equal((await fetch(`${server.url}/v2/_catalog`)).status, 200);
    await expectChallenge(await fetch(`${server.url}/v2/`), 401, 'UNAUTHORIZED', challengeFor(server));
  });

  it('challenges an anonymous push: 401 without a token, 401 insufficient_scope with an anonymous one', async () => {
    await expectChallenge(await fetch(`${server.url}/v2/open/app/blobs/uploads/`, { method: 'POST' }), 401, 'UNAUTHORIZED', challengeFor(server, 'repository:open/app:pull,push'));
    const { token } = await getToken(server.url, undefined, undefined, 'repository:open/app:pull,push');
    const res = await fetch(`${server.url}/v2/open/app/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    await expectChallenge(res, 401, 'UNAUTHORIZED', challengeFor(server, 'repository:open/app:pull,push', 'insufficient_scope'));
  });
});
