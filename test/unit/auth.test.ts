/** Scopes (scope.md grammar), permissions and their intersection, login throttling, htpasswd parsing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHtpasswd } from '../../server/auth/htpasswd.ts';
import { intersect, parseGrant, patternMatches } from '../../server/auth/permissions.ts';
import { allows, parseScope, parseScopes } from '../../server/auth/scope.ts';
import { userNameProblem } from '../../server/auth/service.ts';
import { KeyedGate, LoginThrottle, TrustedClients, addressPrefix } from '../../server/auth/throttle.ts';
import { defaults, finish, loadConfig } from '../../server/config.ts';

describe('scopes', () => {
  it('parses type, name (with a host:port) and actions; ignores the resource class', () => {
    assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository:localhost:5000/app:pull'), { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] });
    assert.deepEqual(parseScope('repository(plugin):x/y:pull'), { type: 'repository', name: 'x/y', actions: ['pull'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    for (const bad of ['repository:x', 'repository::pull', 'Repo:x:pull', 'repository:UPPER:pull', 'repository:x:PULL']) {
      assert.throws(() => parseScope(bad), /scope/, bad);
    }
  });

  it('merges repeated resources', () => {
    assert.deepEqual(parseScopes(['repository:a:pull repository:a:push', 'repository:b:pull']), [
      { type: 'repository', name: 'a', actions: ['pull', 'push'] },
      { type: 'repository', name: 'b', actions: ['pull'] },
    ]);
  });

  it('checks a token\'s access, with * allowing every action', () => {
    const access = [{ type: 'repository', name: 'a', actions: ['pull'] }, { type: 'registry', name: 'catalog', actions: ['*'] }];
    assert.ok(allows(access, { type: 'repository', name: 'a', actions: ['pull'] }));
    assert.ok(!allows(access, { type: 'repository', name: 'a', actions: ['pull', 'push'] }));
    assert.ok(!allows(access, { type: 'repository', name: 'b', actions: ['pull'] }));
    assert.ok(allows(access, { type: 'registry', name: 'catalog', actions: ['*'] }));
  });
});

describe('permissions', () => {
  it('parses PATTERN:ACTIONS and refuses the rest', () => {
    assert.deepEqual(parseGrant('team/*:pull,push'), { repository: 'team/*', actions: ['pull', 'push'] });
    for (const bad of ['team', ':pull', 'Team:pull', 'x:fly', 'x:']) assert.throws(() => parseGrant(bad), /permission/, bad);
  });

  it('matches * across path components', () => {
    assert.ok(patternMatches('*', 'a/b/c'));
    assert.ok(patternMatches('team/*', 'team/a/b'));
    assert.ok(!patternMatches('team/*', 'teams/a'));
    assert.ok(patternMatches('app-*', 'app-x'));
    assert.ok(!patternMatches('a.b', 'axb'), 'dots are literal');
  });

  it('speaks the one pattern dialect of retention rules too: ?, {a,b}, and ** as *', () => {
    assert.ok(patternMatches('team/**', 'team/a/b'));
    assert.ok(patternMatches('**', 'x'));
    assert.ok(patternMatches('v?', 'v1') && !patternMatches('v?', 'v10'));
    assert.ok(patternMatches('{latest,v*}', 'latest') && patternMatches('{latest,v*}', 'v1.2') && !patternMatches('{latest,v*}', 'dev'));
    assert.ok(patternMatches('{team,ops}/*', 'ops/a/b'));
    assert.ok(!patternMatches('a{b', 'a{b'), 'a malformed pattern matches nothing');
    assert.deepEqual(parseGrant('{team,ops}/*:pull'), { repository: '{team,ops}/*', actions: ['pull'] });
    assert.throws(() => parseGrant('{team/*:pull'), /not a repository pattern/);
  });

  it('grants the intersection; admin implies pull, push and delete; *:admin opens catalog and admin', () => {
    const grants = [[parseGrant('team/*:pull'), parseGrant('mine/*:admin')]];
    assert.deepEqual(intersect(grants, [
      { type: 'repository', name: 'team/x', actions: ['pull', 'push'] },
      { type: 'repository', name: 'mine/x', actions: ['pull', 'push', 'delete', '*'] },
      { type: 'repository', name: 'other', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]), [
      { type: 'repository', name: 'team/x', actions: ['pull'] },
      { type: 'repository', name: 'mine/x', actions: ['pull', 'push', 'delete', '*'] },
    ]);
    const admin = [[parseGrant('*:admin')]];
    assert.equal(intersect(admin, [{ type: 'registry', name: 'admin', actions: ['*'] }, { type: 'registry', name: 'catalog', actions: ['*'] }]).length, 2);
    assert.equal(intersect([[parseGrant('*:pull')]], [{ type: 'registry', name: 'admin', actions: ['*'] }]).length, 0);
  });

  it('limits by every grant set (a personal token within its owner\'s rights)', () => {
    const owner = [parseGrant('team/*:pull,push')];
    const token = [parseGrant('*:pull')];
    assert.deepEqual(intersect([owner, token], [{ type: 'repository', name: 'team/a', actions: ['pull', 'push'] }]), [{ type: 'repository', name: 'team/a', actions: ['pull'] }]);
  });

  it('accepts user names that work in Basic credentials only', () => {
    assert.equal(userNameProblem('ci-bot.1@example'), null);
    for (const bad of ['', 'a:b', 'with space', '-x', 'x'.repeat(65)]) assert.ok(userNameProblem(bad), bad);
  });
});

describe('login throttle', () => {
  it('lets a few failures pass, then doubles the wait, and forgets them after a quiet while (never on a success)', () => {
    let now = 1_000_000;
    const throttle = new LoginThrottle({ freeFailures: 3, maxDelayMs: 8000, forgetAfterMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      assert.equal(throttle.waitMs('u'), 0);
      throttle.failed('u');
    }
    assert.equal(throttle.waitMs('u'), 1000);
    throttle.failed('u');
    assert.equal(throttle.waitMs('u'), 2000);
    for (let i = 0; i < 5; i++) throttle.failed('u');
    assert.equal(throttle.waitMs('u'), 8000, 'capped');
    now += 8000;
    assert.equal(throttle.waitMs('u'), 0);
    assert.equal(throttle.waitMs('other'), 0);
    throttle.failed('u');
    assert.equal(throttle.waitMs('u'), 8000, 'still counted');
    now += 60_001;
    assert.equal(throttle.waitMs('u'), 0, 'forgotten after forgetAfterMs without a failure');
    throttle.failed('u');
    assert.equal(throttle.waitMs('u'), 0);
  });

  it('keys addresses by prefix: IPv4 exactly, IPv6 by its /64, mapped IPv4 as IPv4', () => {
    assert.equal(addressPrefix('192.0.2.7'), '192.0.2.7');
    assert.equal(addressPrefix('::ffff:127.0.0.2'), '127.0.0.2');
    assert.equal(addressPrefix('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressPrefix('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressPrefix('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64');
    assert.equal(addressPrefix('::1'), '0:0:0:0::/64');
    assert.equal(addressPrefix('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });

  it('remembers where a user logged in from, per user and prefix, for 30 days', () => {
    let now = 0;
    const trusted = new TrustedClients(() => now);
    trusted.add('CI', '10.0.0.5');
    assert.ok(trusted.has('ci', '10.0.0.5'));
    assert.ok(!trusted.has('ci', '10.0.0.6'));
    assert.ok(!trusted.has('other', '10.0.0.5'));
    now += 31 * 24 * 3600 * 1000;
    assert.ok(!trusted.has('ci', '10.0.0.5'));
  });

  it('lets a few holders of a key in at once, queues the next ones and refuses the rest', async () => {
    const gate = new KeyedGate(2, 1);
    const a = await gate.enter('k');
    const b = await gate.enter('k');
    let cEntered = false;
    const c = gate.enter('k').then((release) => {
      cEntered = true;
      return release;
    });
    assert.equal(await gate.enter('k'), null, 'the queue is full');
    assert.ok(await gate.enter('other'), 'other keys are not held up');
    await new Promise((r) => setImmediate(r));
    assert.equal(cEntered, false);
    a!();
    const releaseC = await c;
    assert.ok(cEntered && releaseC);
    b!();
    releaseC!();
    assert.ok(await gate.enter('k'));
  });
});

describe('htpasswd', () => {
  const bcrypt = '$2y$05$' + 'a'.repeat(53);
  it('reads bcrypt entries, skipping comments and blank lines', () => {
    const { entries, skipped } = parseHtpasswd(`# users\n\nalice:${bcrypt}\r\nbob:${bcrypt.replace('2y', '2b')}\n`, () => null);
    assert.deepEqual(entries.map((e) => e.name), ['alice', 'bob']);
    assert.deepEqual(skipped, []);
  });
  it('takes every bcrypt line and lists each other line with why and how to convert it', () => {
    const { entries, skipped } = parseHtpasswd(`a:${bcrypt}\nb:$apr1$x$y\nc:{SHA}abc=\nd:plain\ne\nf:${bcrypt}\na:${bcrypt}\nb:${bcrypt}`, () => null);
    assert.deepEqual(entries.map((e) => `${e.line}:${e.name}`), ['1:a', '6:f', '8:b'], 'a later bcrypt line of a skipped user counts');
    assert.deepEqual(skipped.map((s) => [s.line, s.name]), [[2, 'b'], [3, 'c'], [4, 'd'], [5, null], [7, 'a']]);
    assert.match(skipped[0]!.reason, /Apache MD5 \(\$apr1\$\); only bcrypt is accepted: re-create the line with "htpasswd -B FILE b"/);
    assert.match(skipped[1]!.reason, /SHA-1/);
    assert.match(skipped[2]!.reason, /plain text/);
    assert.match(skipped[3]!.reason, /not "user:hash"/);
    assert.match(skipped[4]!.reason, /appears on an earlier line/);
  });
});

describe('auth and TLS configuration', () => {
  it('defaults to no auth on loopback and token auth elsewhere', async () => {
    assert.equal((await loadConfig({ flags: {}, env: {} })).auth, 'none');
    assert.equal((await loadConfig({ flags: { host: '0.0.0.0' }, env: {} })).auth, 'token');
    assert.equal((await loadConfig({ flags: { host: '0.0.0.0', insecureNoAuth: true }, env: {} })).auth, 'none');
    assert.equal((await loadConfig({ flags: {}, env: { BERTH_AUTH: 'token', BERTH_ANONYMOUS_PULL: 'true' } })).anonymousPull, true);
  });
  it('refuses a non-loopback address without auth, odd switches and half a certificate pair', async () => {
    await assert.rejects(loadConfig({ flags: { host: '0.0.0.0', auth: 'none' }, env: {} }), /refusing to serve on 0\.0\.0\.0 without authentication/);
    await assert.rejects(loadConfig({ flags: {}, env: { BERTH_AUTH: 'basic' } }), /BERTH_AUTH: "basic" is not one of none, token/);
    await assert.rejects(loadConfig({ flags: {}, env: { BERTH_TLS: 'maybe' } }), /BERTH_TLS: "maybe" is not true or false/);
    assert.throws(() => finish({ ...defaults(), tlsKey: '/k.pem' }, false), /--tls-cert and --tls-key go together/);
    assert.equal(finish({ ...defaults(), tlsKey: '/k.pem', tlsCert: '/c.pem' }, false).tls, true);
  });
  it('takes the admin password from the environment only', async () => {
    assert.equal((await loadConfig({ flags: {}, env: { BERTH_ADMIN_PASSWORD: 'from-env-123' } })).adminPassword, 'from-env-123');
  });
});

describe('request limits configuration', () => {
  it('reads allowedHosts, bodyIdleTimeout and uploadsPerClient from the environment, with their defaults', async () => {
    const plain = await loadConfig({ flags: {}, env: {} });
    assert.deepEqual([plain.allowedHosts, plain.bodyIdleTimeoutMs, plain.uploadsPerClient], [[], 60_000, 64]);
    const set = await loadConfig({ flags: {}, env: { BERTH_ALLOWED_HOSTS: 'Registry.Example, [fd00::5] ,10.0.0.9', BERTH_BODY_IDLE_TIMEOUT: '2m', BERTH_UPLOADS_PER_CLIENT: '8' } });
    assert.deepEqual([set.allowedHosts, set.bodyIdleTimeoutMs, set.uploadsPerClient], [['registry.example', 'fd00::5', '10.0.0.9'], 120_000, 8]);
  });
  it('refuses hosts with ports or schemes, idle timeouts under a second, and counts out of range', async () => {
    await assert.rejects(loadConfig({ flags: {}, env: { BERTH_ALLOWED_HOSTS: 'registry.example:5000' } }), /BERTH_ALLOWED_HOSTS: "registry.example:5000" is not a host name or IP address \(no port, no scheme\)/);
    await assert.rejects(loadConfig({ flags: {}, env: { BERTH_ALLOWED_HOSTS: 'https://x' } }), /not a host name/);
    await assert.rejects(loadConfig({ flags: {}, env: { BERTH_BODY_IDLE_TIMEOUT: '500ms' } }), /BERTH_BODY_IDLE_TIMEOUT: "500ms" is not a duration of at least 1 second/);
    await assert.rejects(loadConfig({ flags: {}, env: { BERTH_UPLOADS_PER_CLIENT: '0' } }), /BERTH_UPLOADS_PER_CLIENT: "0" is not a whole number from 1 to 100000/);
  });
});
