/** The management API's door (api/guard.ts) with registry auth on: an admin JWT from /token, from any address. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
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
    // EventSource cannot send headers: the token may come as ?access_token= on GET.
    const controller = new AbortController();
    const events = await fetch(`${server.url}/api/events?access_token=${body.access_token}`, { signal: controller.signal });
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

  it('takes ?access_token= only on GET, and still wants X-Berth-Client on changes', async () => {
    const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'registry:admin:*');
    await expectError(await fetch(`${server.url}/api/status?access_token=${token}`, { method: 'POST', headers: { 'X-Berth-Client': 'tests' } }), 401, 'UNAUTHORIZED');
    await expectError(await fetch(`${server.url}/api/status`, { method: 'POST', headers: bearer(token) }), 403, 'DENIED');
  });

  it('accepts an admin token whatever the Host (the token, not the address, is the proof)', async () => {
    const { token } = await getToken(server.url, 'admin', ADMIN_PASSWORD, 'registry:admin:*');
    const http = await import('node:http');
    const status = await new Promise<number>((resolve) => {
      http.get(`${server.url}/api/status`, { headers: { Host: 'registry.example:5000', ...bearer(token) } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
    });
    assert.equal(status, 200);
  });
});

describe('management API with a management token and registry auth on (the desktop app)', () => {
  it('keeps the desktop token as the only key', async () => {
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
