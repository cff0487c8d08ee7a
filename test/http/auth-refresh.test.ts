/**
 * Refresh tokens (what `docker login` keeps and the UI's session): idle and absolute expiry, a cap
 * per user, revocation by their holder (POST /token/revoke, the UI's sign-out), and never outliving
 * the credential they came from. The auth service's clock is the test's, so months pass at once.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { REFRESH_POLICY } from '../../server/auth/service.ts';
import { ADMIN_PASSWORD, addUser, fetchToken, postToken } from '../helpers/auth.ts';
import { expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

const DAY = 24 * 60 * 60 * 1000;

describe('refresh tokens', { skip: singleProcess('the test moves a clock injected into the server process; replicas are `berth serve` processes on the real clock') }, () => {
  let server: TestServer;
  let now = Date.now();

  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD }, { authNow: () => now });
    await addUser(server, 'dev', 'dev-password', '*:pull,push');
  });
  beforeEach(() => {
    now += 365 * DAY; // every test starts clear of the previous one's tokens
  });
  after(() => server.close({ remove: true }));

  async function login(password = 'dev-password', clientId = 'docker'): Promise<string> {
    const res = await postToken(server.url, { grant_type: 'password', username: 'dev', password, access_type: 'offline', client_id: clientId });
    const body = (await res.json()) as { refresh_token?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.refresh_token!;
  }

  function refresh(token: string): Promise<Response> {
    return postToken(server.url, { grant_type: 'refresh_token', refresh_token: token, client_id: 'docker' });
  }

  async function refreshTokensOf(user: string): Promise<number> {
    return (await server.registry.auth!.listCredentials(user)).filter((c) => c.kind === 'refresh').length;
  }

  it('end after 30 days unused', async () => {
    const token = await login();
    now += 29 * DAY;
    assert.equal((await refresh(token)).status, 200, 'used within the idle time: still good');
    now += 29 * DAY;
    assert.equal((await refresh(token)).status, 200, 'each use starts the idle time again');
    now += REFRESH_POLICY.idleMs;
    const expired = await expectError(await refresh(token), 400, 'INVALID_GRANT');
    assert.match(expired.message, /expired.*log in again/);
    assert.equal(await refreshTokensOf('dev'), 0, 'and it is gone from berth token list');
  });

  it('end 90 days after the login however often they are used', async () => {
    const token = await login();
    for (let day = 20; day < 90; day += 20) {
      now += 20 * DAY;
      assert.equal((await refresh(token)).status, 200, `day ${day}`);
    }
    now += 11 * DAY;
    await expectError(await refresh(token), 400, 'INVALID_GRANT');
  });

  it('are capped per user: 200 logins leave 50, the least recently used go', async () => {
    // Logins with an access token cost no bcrypt: 200 of them are quick.
    const { token: pat } = await server.registry.auth!.createAccessToken({ user: 'dev', label: 'laptop', expiresAt: null, permissions: null });
    const tokens: string[] = [];
    for (let i = 0; i < 200; i++) {
      now += 1000;
      const res = await fetchToken(server.url, { user: 'dev', password: pat, offline: true });
      tokens.push(((await res.json()) as { refresh_token: string }).refresh_token);
    }
    assert.equal(await refreshTokensOf('dev'), REFRESH_POLICY.perUser);
    await expectError(await refresh(tokens[0]!), 400, 'INVALID_GRANT');
    assert.equal((await refresh(tokens[199]!)).status, 200);
    assert.equal((await refresh(tokens[150]!)).status, 200, 'the newest 50 all work');
    await expectError(await refresh(tokens[149]!), 400, 'INVALID_GRANT');
  });

  it('are ended by whoever holds one (the UI signs out with POST /token/revoke)', async () => {
    const token = await login('dev-password', 'berth-ui');
    const revoked = await fetch(`${server.url}/token/revoke`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'refresh_token', client_id: 'berth-ui' }),
    });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.headers.get('cache-control'), 'no-store');
    await expectError(await refresh(token), 400, 'INVALID_GRANT');
    // Unknown or malformed tokens get the same 200 (RFC 7009 §2.2); a missing one is a bad request.
    for (const other of [token, 'berth_rt_0123456789abcdef_' + 'A'.repeat(43), 'not a token']) {
      const res = await fetch(`${server.url}/token/revoke`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: other }) });
      assert.equal(res.status, 200);
    }
    await expectError(await fetch(`${server.url}/token/revoke`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: '' }), 400, 'BAD_REQUEST');
  });

  it('never outlive the access token they came from: expired, or revoked', async () => {
    const auth = server.registry.auth!;
    const { id, token: pat } = await auth.createAccessToken({ user: 'dev', label: 'ci', expiresAt: new Date(now + 7 * DAY), permissions: null });
    const viaToken = async () => ((await (await fetchToken(server.url, { user: 'dev', password: pat, offline: true })).json()) as { refresh_token: string }).refresh_token;
    const first = await viaToken();
    assert.equal((await refresh(first)).status, 200);
    now += 8 * DAY; // the access token has expired; the refresh token's own limits have not
    const ended = await expectError(await refresh(first), 400, 'INVALID_GRANT');
    assert.match(ended.message, /ended with the access token it was made with/);

    const { id: otherId, token: other } = await auth.createAccessToken({ user: 'dev', label: 'ci2', expiresAt: null, permissions: null });
    const second = ((await (await fetchToken(server.url, { user: 'dev', password: other, offline: true })).json()) as { refresh_token: string }).refresh_token;
    await auth.revokeCredential(otherId);
    await expectError(await refresh(second), 400, 'INVALID_GRANT');
    assert.ok(id);
  });

  it('never outlive the password they came from, nor their user', async () => {
    const token = await login();
    await server.registry.auth!.setPassword('dev', 'dev-password-2');
    await expectError(await refresh(token), 400, 'INVALID_GRANT');
    await addUser(server, 'leaver', 'leaver-password', '*:pull');
    const res = await postToken(server.url, { grant_type: 'password', username: 'leaver', password: 'leaver-password', access_type: 'offline' });
    const leaving = ((await res.json()) as { refresh_token: string }).refresh_token;
    await server.registry.auth!.removeUser('leaver');
    await expectError(await refresh(leaving), 400, 'INVALID_GRANT');
    await server.registry.auth!.setPassword('dev', 'dev-password');
  });

  it('take a client_id of printable ASCII up to 100 characters, and refuse others before any login', async () => {
    for (const bad of ['\u001b]0;owned\u0007\u001b[2J', 'x'.repeat(101), 'tab\there', 'ünïcode']) {
      const post = await expectError(await postToken(server.url, { grant_type: 'password', username: 'dev', password: 'dev-password', access_type: 'offline', client_id: bad }), 400, 'BAD_REQUEST');
      assert.match(post.message, /client_id must be 1-100 printable ASCII characters/);
      await expectError(await fetchToken(server.url, { user: 'dev', password: 'dev-password', offline: true, extra: { client_id: bad } }), 400, 'BAD_REQUEST');
    }
    assert.ok(await login('dev-password', 'buildkit-client/0.12 (linux)'));
  });
});
