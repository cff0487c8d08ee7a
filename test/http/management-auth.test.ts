/** The management API's door (api/guard.ts) with registry auth on: an admin JWT from /token, from any address. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';
import { ADMIN_PASSWORD, addUser, bearer, challengeFor, expectChallenge, getToken, postToken } from '../helpers/auth.ts';

describe('management API with registry auth on', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD });
    await addUser(server, 'pusher', 'pusher-password', '*:pull,push,delete');
  });
  after(() => server.close({ remove: true }));

  it('challenges requests without a token, even from this machine', async () => {
    await expectChallenge(await fetch(`${server.url}/api/status`), 401, 'UNAUTHORIZED', challengeFor(server, 'registry:admin:*'));
  });

  it('serves an admin who logged in the way the UI does (POST /token, scope registry:admin:*)', async () => {
    const res = await postToken(server.url, { grant_type: 'password', username: 'admin', password: ADMIN_PASSWORD, client_id: 'berth-ui', scope: 'registry:admin:*', access_type: 'offline' });
    const body = (await res.json()) as { access_token: string; scope: string; refresh_token: string };
    assert.equal(body.scope, 'registry:admin:*');
    const status = await fetch(`${server.url}/api/status`, { headers: bearer(body.access_token) });
    assert.equal(status.status, 200);
    // The live events run over fetch (renderer/api.ts), which sends the header too.
    const controller = new AbortController();
    const events = await fetch(`${server.url}/api/events`, { headers: bearer(body.access_token), signal: controller.signal });
    assert.equal(events.status, 200);
    controller.abort();
    // Refreshing keeps the admin grant.
    const refreshed = (await (await postToken(server.url, { grant_type: 'refresh_token', refresh_token: body.refresh_token, scope: 'registry:admin:*', client_id: 'berth-ui' })).json()) as { access_token: string };
    assert.equal((await fetch(`${server.url}/api/status`, { headers: bearer(refreshed.access_token) })).status, 200);
  });

  it('refuses a user without admin: 403 insufficient_scope (the grant is never issued to them)', async () => {
    const { token } = await getToken(server.url, 'pusher', 'pusher-password', 'registry:admin:*', 'repository:x:pull');
    await expectChallenge(await fetch(`${server.url}/api/status`, { headers: bearer(token) }), 403, 'DENIED', challengeFor(server, 'registry:admin:*', 'insufficient_scope'));
  });

  it('refuses a token that does not verify: 401 invalid_token', async () => {
    await expectChallenge(await fetch(`${server.url}/api/status`, { headers: bearer('e.y.z') }), 401, 'UNAUTHORIZED', challengeFor(server, 'registry:admin:*', 'invalid_token'));
  });

  it('takes the token from the Authorization header only (a token in a URL leaks), and wants X-Berth-Client on changes', async () => {
    const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'registry:admin:*');
    for (const path of ['/api/status', '/api/events', '/api/repositories']) {
      await expectError(await fetch(`${server.url}${path}?access_token=${token}`), 401, 'UNAUTHORIZED');
    }
    await expectError(await fetch(`${server.url}/api/status`, { method: 'POST', headers: bearer(token) }), 403, 'DENIED');
  });

  it('accepts an admin token under a name of this server, and under another name only once allowedHosts lists it', async () => {
    const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'registry:admin:*');
    assert.equal(await statusUnder(server, 'localhost:5000', token), 200);
    assert.equal(await statusUnder(server, 'host.docker.internal:5000', token), 200);
    assert.equal(await statusUnder(server, 'registry.example:5000', token), 403);
    const proxied = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD, allowedHosts: ['registry.example'] });
    try {
      const { token: other } = await getToken(proxied.url, 'admin', ADMIN_PASSWORD, 'registry:admin:*');
      assert.equal(await statusUnder(proxied, 'registry.example:5000', other), 200);
      assert.equal(await statusUnder(proxied, 'REGISTRY.example.', other), 200, 'names compare without case or a trailing dot');
    } finally {
      await proxied.close({ remove: true });
    }
  });
});

async function statusUnder(server: TestServer, host: string, token: string): Promise<number> {
  const http = await import('node:http');
  return new Promise<number>((resolve, reject) => {
    http.get(`${server.url}/api/status`, { headers: { Host: host, ...bearer(token) } }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('management API with a management token and registry auth on (the desktop app)', () => {
  it('keeps the desktop token as the only key', { skip: singleProcess('the management token is given only by a program that embeds the server (the desktop app), never to `berth serve`') }, async () => {
    const server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD, managementToken: 'launch-secret' });
    try {
      assert.equal((await fetch(`${server.url}/api/status`, { headers: bearer('launch-secret') })).status, 200);
      const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'registry:admin:*');
      await expectError(await fetch(`${server.url}/api/status`, { headers: bearer(token) }), 401, 'UNAUTHORIZED');
    } finally {
      await server.close({ remove: true });
    }
  });
});
