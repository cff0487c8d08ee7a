/** The token endpoint (/token): GET (token.md) and POST (oauth.md) forms, refresh, scopes, bad input. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';
import { ADMIN_PASSWORD, addUser, basic, bearer, claimsOf, fetchToken, getToken, postToken } from '../helpers/auth.ts';

const BASIC_CHALLENGE = 'Basic realm="Berth registry", charset="UTF-8"';

describe('token endpoint', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD });
    await addUser(server, 'alice', 'alice-password', 'team/*:pull,push', 'alice/*:admin');
    await addUser(server, 'reader', 'reader-password', '*:pull');
  });
  after(() => server.close({ remove: true }));

  describe('GET', () => {
    it('answers token, access_token, expires_in >= 60 and issued_at for Basic credentials', async () => {
      const before = Date.now();
      const body = await getToken(server.url, 'alice', 'alice-password', 'repository:team/app:pull,push');
      assert.equal(body.token, body.access_token);
      assert.ok(body.expires_in >= 60);
      assert.match(body.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.ok(Math.abs(Date.parse(body.issued_at) - before) < 60_000);
      assert.equal(body.refresh_token, undefined, 'no refresh token unless offline_token=true');
    });

    it('signs an ES256 JWT with kid and the claims of jwt.md', async () => {
      const { token } = await getToken(server.url, 'alice', 'alice-password', 'repository:team/app:pull');
      const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, string>;
      assert.equal(header.alg, 'ES256');
      assert.equal(header.typ, 'JWT');
      assert.match(header.kid!, /^[A-Za-z0-9_-]{43}$/);
      const claims = claimsOf(token);
      assert.equal(claims.iss, 'berth');
      assert.equal(claims.sub, 'alice');
      assert.equal(claims.aud, 'berth');
      for (const c of ['exp', 'nbf', 'iat']) assert.equal(typeof claims[c], 'number', c);
      assert.equal(claims.exp as number - (claims.iat as number), 300);
      assert.match(claims.jti as string, /^[0-9a-f-]{36}$/);
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    });

    it('grants the intersection of what is asked and what the user may do, not an error', async () => {
      const { token } = await getToken(server.url, 'reader', 'reader-password',
        'repository:team/app:pull,push', 'repository:other:delete', 'registry:catalog:*');
      assert.deepEqual(claimsOf(token).access, [
        { type: 'repository', name: 'team/app', actions: ['pull'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]);
      const alice = await getToken(server.url, 'alice', 'alice-password',
        'repository:alice/x:pull,push,delete', 'repository:team/y:delete', 'registry:catalog:*', 'registry:admin:*');
      assert.deepEqual(claimsOf(alice.token).access, [{ type: 'repository', name: 'alice/x', actions: ['pull', 'push', 'delete'] }]);
    });

    it('merges repeated and space-separated scopes', async () => {
      const res = await fetchToken(server.url, { user: 'alice', password: 'alice-password', scopes: ['repository:team/a:pull repository:team/b:push', 'repository:team/a:push'] });
      const body = (await res.json()) as { token: string };
      assert.deepEqual(claimsOf(body.token).access, [
        { type: 'repository', name: 'team/a', actions: ['pull', 'push'] },
        { type: 'repository', name: 'team/b', actions: ['push'] },
      ]);
    });

    it('gives a refresh token with offline_token=true (docker login)', async () => {
      const res = await fetchToken(server.url, { user: 'alice', password: 'alice-password', offline: true, extra: { client_id: 'docker' } });
      const body = (await res.json()) as { refresh_token: string; token: string };
      assert.match(body.refresh_token, /^berth_rt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(claimsOf(body.token).access, [], 'no scope asked, none granted');
      assert.equal(res.headers.get('cache-control'), 'no-store');
    });

    it('answers 401 with a Basic challenge to a wrong password or an unknown user', async () => {
      for (const [user, password] of [['alice', 'wrong-password'], ['nobody', 'alice-password']] as const) {
        const res = await fetchToken(server.url, { user, password, scopes: ['repository:team/app:pull'] });
        assert.equal(res.headers.get('www-authenticate'), BASIC_CHALLENGE);
        const error = await expectError(res, 401, 'UNAUTHORIZED');
        assert.equal(error.message, 'incorrect user name or password', 'the same answer for both: names are not disclosed');
      }
    });

    it('refuses anonymous requests while anonymous pull is off', async () => {
      const res = await fetchToken(server.url, { scopes: ['repository:team/app:pull'] });
      assert.equal(res.headers.get('www-authenticate'), BASIC_CHALLENGE);
      await expectError(res, 401, 'UNAUTHORIZED');
    });

    it('rejects bad input with 400', async () => {
      const cases: [Record<string, string>, string[]][] = [
        [{ service: 'other-registry' }, []],
        [{}, ['repository:team/app']],
        [{}, ['repository:Team/App:pull']],
        [{}, ['repository::pull']],
        [{}, ['Repo:x:pull']],
        [{ account: 'bob' }, []],
      ];
      for (const [extra, scopes] of cases) {
        const query = new URLSearchParams({ service: 'berth', ...extra });
        for (const s of scopes) query.append('scope', s);
        const res = await fetch(`${server.url}/token?${query}`, { headers: { Authorization: basic('alice', 'alice-password') } });
        await expectError(res, 400, 'BAD_REQUEST');
      }
      const twice = await fetch(`${server.url}/token?service=berth&service=berth`, { headers: { Authorization: basic('alice', 'alice-password') } });
      await expectError(twice, 400, 'BAD_REQUEST');
      const notBasic = await fetch(`${server.url}/token?service=berth`, { headers: { Authorization: 'Basic !!!' } });
      await expectError(notBasic, 401, 'UNAUTHORIZED');
    });
  });

  describe('POST (OAuth2)', () => {
    it('grants a password grant with access_type=offline, answering the granted scope', async () => {
      const res = await postToken(server.url, {
        grant_type: 'password', username: 'alice', password: 'alice-password', access_type: 'offline',
        scope: 'repository:team/app:pull,push,delete registry:catalog:*',
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { access_token: string; token: string; refresh_token: string; scope: string; expires_in: number };
      assert.equal(body.access_token, body.token);
      assert.equal(body.scope, 'repository:team/app:pull,push');
      assert.ok(body.refresh_token);
      assert.ok(body.expires_in >= 60);
    });

    it('refreshes: a new access token for other scopes, and the same refresh token back', async () => {
      const login = (await (await postToken(server.url, { grant_type: 'password', username: 'alice', password: 'alice-password', access_type: 'offline' })).json()) as { refresh_token: string };
      const res = await postToken(server.url, { grant_type: 'refresh_token', refresh_token: login.refresh_token, scope: 'repository:team/other:pull' });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { access_token: string; refresh_token: string; scope: string };
      assert.equal(body.refresh_token, login.refresh_token);
      assert.equal(body.scope, 'repository:team/other:pull');
      assert.equal(claimsOf(body.access_token).sub, 'alice');
      // The access token works on the registry.
      const tags = await fetch(`${server.url}/v2/team/other/tags/list`, { headers: bearer(body.access_token) });
      await expectError(tags, 404, 'NAME_UNKNOWN');
    });

    it('refuses a refresh token once revoked, and after a password change', async () => {
      const auth = server.registry.auth!;
      await addUser(server, 'carol', 'carol-password', '*:pull');
      const login = async () => ((await (await postToken(server.url, { grant_type: 'password', username: 'carol', password: 'carol-password', access_type: 'offline' })).json()) as { refresh_token: string }).refresh_token;
      const first = await login();
      const [session] = (await auth.listCredentials('carol')).filter((c) => c.kind === 'refresh');
      await auth.revokeCredential(session!.id);
      await expectError(await postToken(server.url, { grant_type: 'refresh_token', refresh_token: first }), 400, 'INVALID_GRANT');
      const second = await login();
      await auth.setPassword('carol', 'carol-new-password');
      await expectError(await postToken(server.url, { grant_type: 'refresh_token', refresh_token: second }), 400, 'INVALID_GRANT');
    });

    it('answers 400 INVALID_GRANT to wrong credentials and made-up refresh tokens', async () => {
      await expectError(await postToken(server.url, { grant_type: 'password', username: 'alice', password: 'nope-nope' }), 400, 'INVALID_GRANT');
      await expectError(await postToken(server.url, { grant_type: 'refresh_token', refresh_token: 'berth_rt_0123456789abcdef_' + 'a'.repeat(43) }), 400, 'INVALID_GRANT');
      await expectError(await postToken(server.url, { grant_type: 'refresh_token', refresh_token: 'garbage' }), 400, 'INVALID_GRANT');
    });

    it('rejects bad input with 400', async () => {
      await expectError(await postToken(server.url, { grant_type: 'client_credentials' }), 400, 'BAD_REQUEST');
      await expectError(await postToken(server.url, {}), 400, 'BAD_REQUEST');
      await expectError(await postToken(server.url, { grant_type: 'password', username: 'alice' }), 400, 'BAD_REQUEST');
      await expectError(await postToken(server.url, { grant_type: 'refresh_token' }), 400, 'BAD_REQUEST');
      await expectError(await postToken(server.url, { grant_type: 'password', username: 'alice', password: 'alice-password', scope: 'nonsense' }), 400, 'BAD_REQUEST');
      const json = await fetch(`${server.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"grant_type":"password"}' });
      await expectError(json, 400, 'BAD_REQUEST');
      const huge = await postToken(server.url, { grant_type: 'password', username: 'alice', password: 'x'.repeat(70_000) });
      await expectError(huge, 413, 'TOO_LARGE');
    });

    it('answers 405 to other methods', async () => {
      await expectError(await fetch(`${server.url}/token`, { method: 'PUT' }), 405, 'UNSUPPORTED');
    });
  });

  describe('throttling', () => {
    it('slows a user name down after ten failed logins where it never logged in, even with the right password, and says when to retry', async () => {
      await addUser(server, 'target', 'target-password', '*:pull');
      for (let i = 0; i < 10; i++) {
        await expectError(await fetchToken(server.url, { user: 'target', password: `guess-${i}` }), 401, 'UNAUTHORIZED');
      }
      const blocked = await fetchToken(server.url, { user: 'target', password: 'target-password' });
      const retryAfter = Number(blocked.headers.get('retry-after'));
      await expectError(blocked, 429, 'TOOMANYREQUESTS');
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}: never long`);
      const post = await postToken(server.url, { grant_type: 'password', username: 'target', password: 'target-password' });
      await expectError(post, 429, 'TOOMANYREQUESTS');
      // Other users are not affected by one user's failures.
      await getToken(server.url, 'reader', 'reader-password');
    });
  });
});

describe('token endpoint with anonymous pull', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD, anonymousPull: true });
  });
  after(() => server.close({ remove: true }));

  it('gives anonymous clients pull and catalog, and nothing more', async () => {
    const body = await getToken(server.url, undefined, undefined, 'repository:any/repo:pull,push', 'registry:catalog:*', 'registry:admin:*');
    const claims = claimsOf(body.token);
    assert.equal(claims.sub, '');
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'any/repo', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    const offline = (await (await fetchToken(server.url, { offline: true })).json()) as { refresh_token?: string };
    assert.equal(offline.refresh_token, undefined, 'no refresh token for anonymous clients');
  });
});

describe('token endpoint with auth off', () => {
  it('does not exist', { skip: singleProcess("`berth serve` serves its web UI, whose app answers page addresses such as /token with auth off; the test's own server has no UI (test/http/web-ui.test.ts covers both)") }, async () => {
    const server = await startServer();
    try {
      await expectError(await fetch(`${server.url}/token`), 404, 'NOT_FOUND');
    } finally {
      await server.close({ remove: true });
    }
  });
});
