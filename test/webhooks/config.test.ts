/**
 * Webhook endpoints in the config file (webhooks/config.ts): secrets from a file or the environment and
 * never inline, names as ids, and every mistake one clear line naming the file and the endpoint.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { tempDir } from '../helpers/server.ts';

describe('webhooks in the config file', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('berth-webhook-config-');
    await fs.writeFile(path.join(dir, 'hook.secret'), 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0\nignored second line\n');
    await fs.writeFile(path.join(dir, 'not-a-pem'), 'hello');
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  async function load(webhooks: unknown, env: NodeJS.ProcessEnv = {}) {
    const file = path.join(dir, `berth-${Math.random()}.json`);
    await fs.writeFile(file, JSON.stringify({ webhooks, webhookQueueCap: 100 }));
    return loadConfig({ configFile: file, env });
  }

  async function refused(webhooks: unknown, message: RegExp, env: NodeJS.ProcessEnv = {}) {
    await assert.rejects(load(webhooks, env), (err: Error) => {
      assert.ok(err instanceof ConfigError, err.message);
      assert.match(err.message, /^config file .*berth-.*\.json: /);
      assert.match(err.message, message);
      return true;
    });
  }

  it('reads endpoints with their secret from a file (relative to the config) or the environment', async () => {
    const config = await load(
      [
        { name: 'ci', url: 'https://ci.example/hook#frag', events: ['push', 'tag'], repositories: 'team/**', secretFile: 'hook.secret', timeout: '5s' },
        { name: 'chat', url: 'http://chat.example/x', format: 'slack', secretEnv: 'CHAT_SECRET' },
      ],
      { CHAT_SECRET: 'a-chat-secret-of-some-length' },
    );
    assert.equal(config.webhookQueueCap, 100);
    const [ci, chat] = config.webhooks!;
    assert.equal(ci!.id, 'ci');
    assert.equal(ci!.secret, 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0');
    assert.equal(ci!.fields.url, 'https://ci.example/hook', 'the fragment never goes out');
    assert.deepEqual(ci!.fields.events, ['push', 'tag']);
    assert.equal(ci!.fields.timeoutMs, 5000);
    assert.equal(chat!.secret, 'a-chat-secret-of-some-length');
    assert.equal(chat!.fields.format, 'slack');
    assert.deepEqual(chat!.fields.events, ['push', 'mount', 'delete', 'tag', 'repository-deleted', 'gc-finished', 'scrub-problem']);
  });

  it('refuses what it cannot use, naming the endpoint', async () => {
    await refused({ name: 'x' }, /"webhooks" must be a list/);
    await refused([{ url: 'http://x/' }], /"webhooks"\[0\]: "name" is required/);
    await refused([{ name: 'x', url: 'http://x/', secret: 'inline-secret-here' }], /secret in a file \("secretFile"\) or an environment variable/);
    await refused([{ name: 'x', url: 'http://x/', secretFile: 'missing.secret' }], /"webhooks"\[0\] \("x"\): "secretFile": cannot read .*missing\.secret \(ENOENT\)/);
    await refused([{ name: 'x', url: 'http://x/', secretEnv: 'NOPE' }], /the environment variable NOPE is not set/);
    await refused([{ name: 'x', url: 'http://x/', caFile: 'not-a-pem' }], /"ca" must be PEM/);
    await refused([{ name: 'x', url: 'http://x/' }, { name: 'x', url: 'http://y/' }], /another endpoint is named "x"/);
    await refused([{ name: 'x', url: 'http://x/', events: [] }], /"events" must list at least one/);
    await refused([{ name: 'x', url: 'http://x/', colour: 'red' }], /unknown field "colour"/);
  });
});
