/**
 * Users and tokens through the management API (/api/users, /api/tokens): with registry auth off (kept
 * ready for when it is turned on) and on (admins only, real logins with the tokens made here), bad
 * input answered with the fields at fault, and the last administrator protected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CreatedToken, CreatedUser, HtpasswdImport, PasswordChange, TokenList, UserList, UserView } from '../../server/registry/api-types.ts';
import { ApiClient } from '../helpers/api-client.ts';
import { ADMIN_PASSWORD, addUser, basic, fetchToken, getToken, postToken } from '../helpers/auth.ts';
import { expectError } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/** A bcrypt hash ($2y$, as htpasswd -B writes it) of "secret-pw". */
const BCRYPT_OF_SECRET_PW = '$2y$05$/.N3/7T9x2PAtiNAnSwEnedSCOFrLOiSmZOPRAPzWQbnNVcPJftTa';

/** A JSON request with X-Berth-Client; the answer's status checked, its body returned. */
async function send<T>(api: ApiClient, method: string, path: string, body: unknown, status: number): Promise<T> {
  const res = await api.fetch(path, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  assert.equal(res.status, status, `${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The detail.fields of a refused request (and its code). */
async function refusedFields(api: ApiClient, method: string, path: string, body: unknown, status = 400, code = 'BAD_REQUEST'): Promise<string[]> {
  const res = await api.fetch(path, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const error = await expectError(res, status, code);
  return (error.detail as { fields: string[] }).fields;
}

describe('management API: users and tokens, registry auth off', () => {
  let server: TestServer;
  let api: ApiClient;
  before(async () => {
    server = await startServer();
    api = new ApiClient(server.url);
  });
  after(() => server.close({ remove: true }));

  it('lists no users, and says auth is off', async () => {
    assert.deepEqual(await api.json<UserList>('/api/users'), { authEnabled: false, users: [] });
    assert.deepEqual(await api.json<TokenList>('/api/tokens'), { authEnabled: false, tokens: [] });
  });

  it('creates a user with a generated password shown once, and refuses the name again', async () => {
    const res = await api.fetch('/api/users', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'alice', permissions: [{ repository: 'team/*', actions: ['pull', 'push'] }] }) });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), '/api/users/alice');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const created = (await res.json()) as CreatedUser;
    assert.match(created.password!, /^[A-Za-z0-9]{24}$/);
    assert.deepEqual({ ...created.user, createdAt: '' }, { name: 'alice', kind: 'user', permissions: [{ repository: 'team/*', actions: ['pull', 'push'] }], admin: false, createdAt: '', tokens: 0 });
    const given = await send<CreatedUser>(api, 'POST', '/api/users', { name: 'bob', password: 'bob-password', permissions: ['*:pull'] }, 201);
    assert.equal(given.password, null, 'a password the request gave is not echoed');
    assert.deepEqual(given.user.permissions, [{ repository: '*', actions: ['pull'] }]);
    assert.deepEqual(await refusedFields(api, 'POST', '/api/users', { name: 'alice', permissions: ['*:pull'] }, 409, 'CONFLICT'), ['name']);
    assert.deepEqual((await api.json<UserList>('/api/users')).users.map((u) => u.name), ['alice', 'bob']);
  });

  it('refuses bad users naming the fields at fault', async () => {
    const cases: [Record<string, unknown>, string[], RegExp][] = [
      [{ permissions: ['*:pull'] }, ['name'], /"name" must be a user name/],
      [{ name: '-x', permissions: ['*:pull'] }, ['name'], /1-64 letters/],
      [{ name: 'carol', password: 'short', permissions: ['*:pull'] }, ['password'], /at least 8 characters/],
      [{ name: 'carol', password: 'x'.repeat(73), permissions: ['*:pull'] }, ['password'], /at most 72 bytes/],
      [{ name: 'carol' }, ['permissions'], /at least one permission/],
      [{ name: 'carol', permissions: [] }, ['permissions'], /list of 1 to 100/],
      [{ name: 'carol', permissions: ['*:pull', { repository: 'Team', actions: ['pull'] }] }, ['permissions.1.repository'], /"Team" is not a repository pattern/],
      [{ name: 'carol', permissions: [{ repository: 'team/*', actions: ['fly'] }] }, ['permissions.0.actions'], /pull, push, delete, admin/],
      [{ name: 'carol', permissions: ['team:fly'] }, ['permissions.0'], /permission "team:fly"/],
      [{ name: 'carol', permissions: ['*:pull'], admin: true }, ['admin'], /unknown field "admin"/],
    ];
    for (const [body, fields, message] of cases) {
      const res = await api.fetch('/api/users', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const error = await expectError(res, 400, 'BAD_REQUEST');
      assert.deepEqual(error.detail, { fields }, JSON.stringify(body));
      assert.match(error.message, message);
    }
    await expectError(await api.fetch('/api/users', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[1]' }), 400, 'BAD_REQUEST');
    await expectError(await api.fetch('/api/users', { method: 'POST', body: '{}', client: false }), 403, 'DENIED');
    assert.ok(!(await api.json<UserList>('/api/users')).users.some((u) => u.name === 'carol'), 'nothing was made');
  });

  it('changes permissions and passwords', async () => {
    const changed = await send<UserView>(api, 'PUT', '/api/users/alice', { permissions: ['team/*:pull,push,delete', 'shared:pull'] }, 200);
    assert.deepEqual(changed.permissions, [{ repository: 'team/*', actions: ['pull', 'push', 'delete'] }, { repository: 'shared', actions: ['pull'] }]);
    assert.deepEqual(await refusedFields(api, 'PUT', '/api/users/alice', { permissions: 'team/*' }), ['permissions']);
    await expectError(await api.fetch('/api/users/ghost', { method: 'PUT', body: JSON.stringify({ permissions: ['*:pull'] }) }), 404, 'NOT_FOUND');
    assert.match((await send<PasswordChange>(api, 'PUT', '/api/users/alice/password', {}, 200)).password!, /^[A-Za-z0-9]{24}$/);
    assert.deepEqual(await send<PasswordChange>(api, 'PUT', '/api/users/alice/password', { password: 'alice-password' }, 200), { password: null });
    assert.deepEqual(await refusedFields(api, 'PUT', '/api/users/alice/password', { password: 'short' }), ['password']);
  });

  it('makes robot and personal tokens, shows each secret once, lists and revokes them', async () => {
    const robot = await send<CreatedToken>(api, 'POST', '/api/tokens', { robot: 'ci', permissions: ['ci/*:pull,push'], name: 'pipeline', expires: '30d' }, 201);
    assert.match(robot.secret, new RegExp(`^berth_pat_${robot.token.id}_[A-Za-z0-9_-]{43}$`));
    assert.equal(robot.token.kind, 'robot');
    assert.equal(robot.token.label, 'pipeline');
    assert.equal(robot.token.permissions, null, 'a new robot holds the permissions; its first token is the robot\'s own');
    assert.ok(Math.abs(Date.parse(robot.token.expiresAt!) - (Date.now() + 30 * 86_400_000)) < 60_000);
    const personal = await send<CreatedToken>(api, 'POST', '/api/tokens', { user: 'alice', permissions: ['team/*:pull'], expires: 'never' }, 201);
    assert.equal(personal.token.kind, 'personal');
    assert.equal(personal.token.expiresAt, null);
    assert.deepEqual(personal.token.permissions, [{ repository: 'team/*', actions: ['pull'] }]);

    const listed = await api.fetch('/api/tokens');
    const text = await listed.text();
    assert.ok(!text.includes(robot.secret.slice(-30)) && !text.includes(personal.secret.slice(-30)), 'the list never shows a secret');
    const { tokens } = JSON.parse(text) as TokenList;
    assert.deepEqual(tokens.map((t) => [t.user, t.kind, t.lastUsedAt]), [['alice', 'personal', null], ['ci', 'robot', null]]);
    assert.deepEqual((await api.json<TokenList>('/api/tokens?user=ci')).tokens.map((t) => t.id), [robot.token.id]);
    const robots = (await api.json<UserList>('/api/users')).users.filter((u) => u.kind === 'robot');
    assert.deepEqual(robots.map((u) => [u.name, u.tokens, u.permissions]), [['ci', 1, [{ repository: 'ci/*', actions: ['pull', 'push'] }]]]);

    assert.equal((await api.fetch(`/api/tokens/${robot.token.id}`, { method: 'DELETE' })).status, 204);
    assert.deepEqual((await api.json<TokenList>('/api/tokens')).tokens.map((t) => t.id), [personal.token.id]);
    const again = await expectError(await api.fetch(`/api/tokens/${robot.token.id}`, { method: 'DELETE' }), 404, 'NOT_FOUND');
    assert.match(again.message, /no token with id/);
  });

  it('refuses bad tokens naming the fields at fault', async () => {
    const cases: [Record<string, unknown>, string[], number, string][] = [
      [{}, ['robot', 'user'], 400, 'BAD_REQUEST'],
      [{ robot: 'ci', user: 'alice' }, ['robot', 'user'], 400, 'BAD_REQUEST'],
      [{ user: 'alice', expires: 'soon' }, ['expires'], 400, 'BAD_REQUEST'],
      [{ user: 'alice', expires: '2001-01-01' }, ['expires'], 400, 'BAD_REQUEST'],
      [{ user: 'alice', name: '' }, ['name'], 400, 'BAD_REQUEST'],
      [{ user: 'ghost' }, ['user'], 400, 'BAD_REQUEST'],
      [{ user: 'ci' }, ['user'], 400, 'BAD_REQUEST'],
      [{ robot: 'alice', permissions: ['*:pull'] }, ['robot'], 409, 'CONFLICT'],
      [{ robot: 'new-bot' }, ['permissions'], 400, 'BAD_REQUEST'],
      [{ robot: 'new-bot', permissions: [{ repository: '*' }] }, ['permissions.0.actions'], 400, 'BAD_REQUEST'],
      [{ robot: 'Bad Name', permissions: ['*:pull'] }, ['robot'], 400, 'BAD_REQUEST'],
    ];
    for (const [body, fields, status, code] of cases) {
      assert.deepEqual(await refusedFields(api, 'POST', '/api/tokens', body, status, code), fields, JSON.stringify(body));
    }
    assert.ok(!(await api.json<UserList>('/api/users')).users.some((u) => u.name === 'new-bot'), 'no robot was made');
  });

  it('imports an htpasswd file line by line, listing what it skipped and why', async () => {
    const text = `old:${BCRYPT_OF_SECRET_PW}\nmd5:$apr1$abc$defghijklmnopqrstuvwx\nalice:${BCRYPT_OF_SECRET_PW}\n`;
    const result = await send<HtpasswdImport>(api, 'POST', '/api/users/htpasswd', { text, permissions: ['legacy/*:pull'] }, 200);
    assert.deepEqual(result.added, ['old']);
    assert.deepEqual(result.existing, ['alice']);
    assert.deepEqual(result.skipped.map((s) => [s.line, s.name]), [[2, 'md5']]);
    assert.match(result.skipped[0]!.reason, /Apache MD5.*htpasswd -B FILE md5/);
    assert.deepEqual((await api.json<UserList>('/api/users')).users.find((u) => u.name === 'old')!.permissions, [{ repository: 'legacy/*', actions: ['pull'] }]);
    assert.deepEqual(await refusedFields(api, 'POST', '/api/users/htpasswd', { text: 5 }), ['text']);
  });

  it('never removes the last administrator, nor takes their *:admin', async () => {
    await send(api, 'POST', '/api/users', { name: 'boss', permissions: ['*:admin'] }, 201);
    const removing = await expectError(await api.fetch('/api/users/boss', { method: 'DELETE' }), 409, 'CONFLICT');
    assert.match(removing.message, /removing "boss" would leave no one who may manage the registry: give another user \*:admin first/);
    await expectError(await api.fetch('/api/users/boss', { method: 'PUT', body: JSON.stringify({ permissions: ['*:pull'] }) }), 409, 'CONFLICT');
    await send(api, 'PUT', '/api/users/alice', { permissions: ['*:admin'] }, 200);
    assert.equal((await api.fetch('/api/users/boss', { method: 'DELETE' })).status, 204);
    await expectError(await api.fetch('/api/users/boss', { method: 'DELETE' }), 404, 'NOT_FOUND');
  });

  it('keeps the users for when auth is turned on: they log in then', async () => {
    const dataDir = server.dataDir;
    await server.close();
    server = await startServer({ dataDir, auth: 'token' });
    api = new ApiClient(server.url);
    assert.equal((await fetchToken(server.url, { user: 'alice', password: 'alice-password' })).status, 200);
    assert.equal((await fetchToken(server.url, { user: 'old', password: 'secret-pw' })).status, 200, 'the imported bcrypt hash verifies');
  });
});

describe('management API: users and tokens, registry auth on', () => {
  let server: TestServer;
  let admin: ApiClient;
  before(async () => {
    server = await startServer({ auth: 'token', adminPassword: ADMIN_PASSWORD });
    await addUser(server, 'dev', 'dev-password', '*:pull,push');
    admin = new ApiClient(server.url, (await getToken(server.url, 'admin', ADMIN_PASSWORD, 'registry:admin:*')).token);
  });
  after(() => server.close({ remove: true }));

  it('serves admins only', async () => {
    await expectError(await fetch(`${server.url}/api/users`), 401, 'UNAUTHORIZED');
    const dev = new ApiClient(server.url, (await getToken(server.url, 'dev', 'dev-password', 'registry:admin:*')).token);
    await expectError(await dev.fetch('/api/users'), 403, 'DENIED');
    await expectError(await dev.fetch('/api/tokens', { method: 'POST', body: JSON.stringify({ user: 'dev' }) }), 403, 'DENIED');
    const list = await admin.json<UserList>('/api/users');
    assert.equal(list.authEnabled, true);
    assert.deepEqual(list.users.map((u) => [u.name, u.admin]), [['admin', true], ['dev', false]]);
  });

  it('a robot token made here logs in, shows when it was last used, and stops working once revoked', async () => {
    const created = await send<CreatedToken>(admin, 'POST', '/api/tokens', { robot: 'deployer', permissions: ['apps/*:pull'] }, 201);
    const login = await fetchToken(server.url, { user: 'deployer', password: created.secret, scopes: ['repository:apps/web:pull,push'] });
    assert.equal(login.status, 200);
    const granted = (await login.json()) as { token: string };
    assert.equal((await fetch(`${server.url}/v2/apps/web/tags/list`, { headers: { Authorization: `Bearer ${granted.token}` } })).status, 404, 'pull allowed (the repository is unknown)');
    const listed = (await admin.json<TokenList>('/api/tokens')).tokens.find((t) => t.id === created.token.id)!;
    assert.ok(listed.lastUsedAt && Math.abs(Date.parse(listed.lastUsedAt) - Date.now()) < 60_000, `last used: ${listed.lastUsedAt}`);

    assert.equal((await admin.fetch(`/api/tokens/${created.token.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetchToken(server.url, { user: 'deployer', password: created.secret })).status, 401, 'a revoked token no longer logs in');
  });

  it('lists docker logins (refresh tokens) with the user and client, and ends one on revoke', async () => {
    const res = await fetch(`${server.url}/token?service=berth&client_id=docker&offline_token=true`, { headers: { Authorization: basic('dev', 'dev-password') } });
    const { refresh_token: refresh } = (await res.json()) as { refresh_token: string };
    const login = (await admin.json<TokenList>('/api/tokens')).tokens.find((t) => t.kind === 'login' && t.user === 'dev')!;
    assert.equal(login.label, 'docker');
    assert.equal((await postToken(server.url, { grant_type: 'refresh_token', refresh_token: refresh })).status, 200);
    assert.equal((await admin.fetch(`/api/tokens/${login.id}`, { method: 'DELETE' })).status, 204);
    await expectError(await postToken(server.url, { grant_type: 'refresh_token', refresh_token: refresh }), 400, 'INVALID_GRANT');
  });

  it('a user made here logs in at once; removing them ends it', async () => {
    const created = await send<CreatedUser>(admin, 'POST', '/api/users', { name: 'erin', permissions: ['erin/*:pull,push'] }, 201);
    assert.equal((await fetchToken(server.url, { user: 'erin', password: created.password! })).status, 200);
    assert.equal((await admin.fetch('/api/users/erin', { method: 'DELETE' })).status, 204);
    assert.equal((await fetchToken(server.url, { user: 'erin', password: created.password! })).status, 401);
  });
});
