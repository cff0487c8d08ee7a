/** The upstreams of the pull-through cache in Berth's configuration: file, BERTH_MIRRORS, --mirror. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { parseChallenges } from '../../server/mirror/challenge.ts';
import { realmTrusted } from '../../server/mirror/upstream-auth.ts';
import { tempDir } from '../helpers/server.ts';

describe('mirror configuration', () => {
  it('takes NAME=URL from --mirror (repeatable) and BERTH_MIRRORS, with Docker Hub\'s aliases and defaults', async () => {
    const config = await loadConfig({
      flags: { mirrors: ['docker.io=https://registry-1.docker.io', 'ghcr.io=https://ghcr.io/'] },
      env: { BERTH_MIRRORS: 'quay.io=https://quay.io, ghcr.io=https://mirror.example' },
    });
    assert.deepEqual(config.mirrors.map((m) => [m.name, m.url]), [['quay.io', 'https://quay.io'], ['ghcr.io', 'https://ghcr.io'], ['docker.io', 'https://registry-1.docker.io']]);
    const hub = config.mirrors.find((m) => m.name === 'docker.io')!;
    assert.deepEqual(hub.aliases, ['registry-1.docker.io', 'index.docker.io']);
    assert.equal(hub.checkIntervalMs, 5 * 60_000);
    assert.equal(hub.keepMs, 7 * 24 * 3600_000);
    assert.equal(hub.enabled, true);
    assert.deepEqual(config.mirrors.find((m) => m.name === 'quay.io')!.aliases, []);
  });

  it('reads per-upstream settings from the config file; the environment and flags replace only the URL', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'berth.json');
    await fs.writeFile(file, JSON.stringify({ mirrors: [{ name: 'docker.io', url: 'https://registry-1.docker.io', checkInterval: '1m', keep: '2d', trustedRealms: ['auth.example.com'], timeout: '5s', default: true }] }));
    const config = await loadConfig({ configFile: file, env: { BERTH_MIRRORS: 'docker.io=http://127.0.0.1:5601' } });
    assert.deepEqual(config.mirrors.map((m) => [m.url, m.checkIntervalMs, m.keepMs, m.trustedRealms, m.timeoutMs, m.default]), [
      ['http://127.0.0.1:5601', 60_000, 2 * 86_400_000, ['auth.example.com'], 5000, true],
    ]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('refuses what it cannot use, saying what is expected', async () => {
    const cases: [unknown, RegExp][] = [
      [['docker.io'], /--mirror: "docker.io" is not NAME=URL/],
      [['docker=https://x.io'], /the upstream name "docker" must be its registry's host name/],
      [['docker.io=ftp://x.io'], /"ftp:\/\/x.io" is not a registry URL/],
      [['docker.io=https://u:p@x.io'], /credentials go in the Mirrors page, not the URL/],
      [['docker.io=https://x.io/v2/'], /give its root/],
      [['docker.io=https://a.io', 'docker.io=https://b.io'], /listed twice/],
      [['registry-1.docker.io=https://a.io', 'docker.io=https://b.io'], /docker\.io names both registry-1\.docker\.io and docker\.io/],
    ];
    for (const [mirrors, message] of cases) {
      await assert.rejects(loadConfig({ flags: { mirrors }, env: {} }), (err: Error) => err instanceof ConfigError && message.test(err.message));
    }
    const dir = await tempDir();
    const file = path.join(dir, 'berth.json');
    await fs.writeFile(file, JSON.stringify({ mirrors: [{ name: 'docker.io', url: 'https://x.io', keep: 3600, color: 'red' }] }));
    await assert.rejects(loadConfig({ configFile: file, env: {} }), /unknown upstream setting "color"/);
    await fs.writeFile(file, JSON.stringify({ mirrors: [{ name: 'docker.io', url: 'https://x.io', keep: '3600' }] }));
    await assert.rejects(loadConfig({ configFile: file, env: {} }), /\(docker\.io\) "keep": "3600" has no unit/);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('parses WWW-Authenticate challenges as registries send them', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://a/t",error="invalid_token"'), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://a/t', error: 'invalid_token' } },
    ]);
    assert.deepEqual(parseChallenges('Bearer realm="a \\"quoted\\" b"'), [{ scheme: 'bearer', params: { realm: 'a "quoted" b' } }]);
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it('trusts a token realm on the registry\'s host or domain only, unless configured', () => {
    const hub = new URL('https://registry-1.docker.io');
    assert.equal(realmTrusted(new URL('https://auth.docker.io/token'), hub, []), true);
    assert.equal(realmTrusted(new URL('https://docker.io/token'), hub, []), true);
    assert.equal(realmTrusted(new URL('https://evil.example/token'), hub, []), false);
    assert.equal(realmTrusted(new URL('https://notdocker.io/token'), hub, []), false);
    assert.equal(realmTrusted(new URL('https://other.io/token'), new URL('https://ghcr.io'), []), false, 'a one-label parent is nobody\'s domain');
    assert.equal(realmTrusted(new URL('https://ghcr.io/token'), new URL('https://ghcr.io'), []), true);
    assert.equal(realmTrusted(new URL('http://127.0.0.1:9/token'), new URL('http://127.0.0.1:8'), []), true, 'same host, other port');
    assert.equal(realmTrusted(new URL('http://127.0.0.2/token'), new URL('http://127.0.0.1:8'), []), false);
    assert.equal(realmTrusted(new URL('https://auth.example.com/token'), hub, ['auth.example.com']), true);
  });
});
