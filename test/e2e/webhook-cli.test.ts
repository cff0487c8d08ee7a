/**
 * `berth webhook add|list|rm|test` from the shipped CLI, on a data directory no server holds (the
 * command opens the store) and through a running `berth serve` (its management API), with a receiver
 * verifying the signatures of what the test sends; and endpoints of the config file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { WebhookEndpoint } from '../../server/webhooks/api-types.ts';
import { assertOneLine, runBerth, startBerth } from '../helpers/berth-process.ts';
import { Client } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { envelopeEvents, startReceiver, type Receiver } from '../helpers/webhook-receiver.ts';

describe('berth webhook', { timeout: 120_000 }, () => {
  let work: string;
  let hook: Receiver;
  before(async () => {
    work = await tempDir('berth-webhook-cli-');
    hook = await startReceiver();
  });
  after(async () => {
    await hook.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('adds, lists, tests and removes endpoints on a directory no server holds', async () => {
    const data = path.join(work, 'direct');
    await fs.mkdir(path.join(data, 'blobs'), { recursive: true }); // a registry's data directory, never started
    const added = await runBerth(['webhook', 'add', hook.url, '--events', 'push,tag', '--repositories', 'ci/**', '--header', 'X-Team: infra', '--data', data]);
    assert.equal(added.code, 0, added.stderr);
    const [, id] = /Added webhook (wh_[0-9a-f]+):/.exec(added.stdout) ?? [];
    assert.ok(id, added.stdout);
    const secret = /Secret \(shown only this once\): (whsec_\S+)/.exec(added.stdout)?.[1];
    assert.ok(secret, 'a secret is made and printed once');

    const listed = await runBerth(['webhook', 'list', '--json', '--data', data]);
    assert.equal(listed.code, 0, listed.stderr);
    const [endpoint] = JSON.parse(listed.stdout) as WebhookEndpoint[];
    assert.equal(endpoint!.id, id);
    assert.deepEqual(endpoint!.events, ['push', 'tag']);
    assert.equal(endpoint!.repositories, 'ci/**');
    assert.ok(!listed.stdout.includes(secret!), 'list never shows the secret');
    const table = await runBerth(['webhook', 'list', '--data', data]);
    assert.match(table.stdout, new RegExp(`^ID .*\\n${id}\\s+${hook.url.replace(/[.]/g, '\\.')}\\s+push,tag`, 'm'));

    hook.options.secrets = [secret!];
    const tested = await runBerth(['webhook', 'test', id!, '--data', data]);
    assert.equal(tested.code, 0, tested.stderr);
    assert.match(tested.stdout, /^Test event delivered: 200 in \d+ ms/);
    const [r] = await hook.until((x) => x.length >= 1);
    assert.equal(r!.standardOk, true);
    assert.equal(r!.hubOk, true);
    assert.equal(r!.headers['x-team'], 'infra');

    const removed = await runBerth(['webhook', 'rm', id!, '--data', data]);
    assert.equal(removed.code, 0, removed.stderr);
    const empty = await runBerth(['webhook', 'list', '--data', data]);
    assert.match(empty.stdout, /No webhooks/);
    const unknown = await runBerth(['webhook', 'test', id!, '--data', data]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^berth: no webhook endpoint "wh_/);
    const bad = await runBerth(['webhook', 'add', 'http://x/', '--events', 'push,nope', '--data', data]);
    assert.equal(bad.code, 2);
    assertOneLine(bad.stderr, /--events: unknown event "nope"; the events are push, pull/);
    const usage = await runBerth(['webhook', 'add', '--data', data]);
    assert.equal(usage.code, 2);
  });

  it('goes through the running server, which then delivers; config-file endpoints are listed and read-only', async () => {
    const data = path.join(work, 'served');
    const secretFile = path.join(work, 'ci.secret');
    await fs.writeFile(secretFile, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n', { mode: 0o600 });
    const configFile = path.join(work, 'berth.json');
    await fs.writeFile(configFile, JSON.stringify({ webhooks: [{ name: 'from-config', url: hook.url, events: ['tag'], secretFile: 'ci.secret' }] }));
    const berth = await startBerth({ dataDir: data, args: ['--config', configFile] });
    try {
      const secret = 'a-secret-from-stdin-0123456789';
      const added = await runBerth(['webhook', 'add', hook.url, '--events', 'push', '--repositories', 'served/*', '--secret-stdin', '--data', data], {}, `${secret}\n`);
      assert.equal(added.code, 0, added.stderr);
      assert.ok(!added.stdout.includes(secret), 'a secret given on stdin is not printed');
      const listed = JSON.parse((await runBerth(['webhook', 'list', '--json', '--data', data])).stdout) as WebhookEndpoint[];
      assert.deepEqual(listed.map((e) => [e.id, e.source]).sort(), [['from-config', 'config'], [listed.find((e) => e.source === 'api')!.id, 'api']].sort());

      hook.received.length = 0;
      hook.options.secrets = [secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'];
      const image = await new Client(berth.url).pushImage('served/app', 'v1');
      await new Client(berth.url).deleteManifest('served/app', 'v1');
      const received = await hook.until((x) => x.length >= 4);
      assert.ok(received.every((x) => x.standardOk && x.hubOk), 'both endpoints sign with their own secret');
      // Each endpoint in its own order (the two are delivered independently).
      const events = envelopeEvents(received);
      assert.deepEqual(events.filter((e) => e.action === 'push').map((e) => e.target.tag ?? null), [null, null, 'v1']);
      assert.equal(events.filter((e) => e.action === 'push')[2]!.target.digest, image.digest);
      assert.deepEqual(events.filter((e) => e.action === 'delete').map((e) => [e.target.repository, e.target.tag]), [['served/app', 'v1']]);

      const refused = await runBerth(['webhook', 'rm', 'from-config', '--data', data]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /defined in the config file: change it there/);
    } finally {
      await berth.stop();
    }
  });
  it('on a data directory that is missing or not Berth\'s, every subcommand says so and creates nothing', async () => {
    const missing = path.join(work, 'typo');
    const foreign = path.join(work, 'foreign');
    await fs.mkdir(path.join(foreign, 'photos'), { recursive: true });
    for (const args of [['list'], ['add', 'http://127.0.0.1:9/hook'], ['rm', 'wh_x'], ['test', 'wh_x']]) {
      const gone = await runBerth(['webhook', ...args, '--data', missing]);
      assert.equal(gone.code, 1, `${args.join(' ')}: ${gone.stderr}`);
      assertOneLine(gone.stderr, new RegExp(`^berth: no Berth data directory at ${missing} \\(it does not exist\\): pass the one your server uses with --data$`));
      const other = await runBerth(['webhook', ...args, '--data', foreign]);
      assert.equal(other.code, 1, `${args.join(' ')}: ${other.stderr}`);
      assertOneLine(other.stderr, new RegExp(`^berth: ${foreign} is not a Berth data directory`));
    }
    await assert.rejects(fs.access(missing), 'no directory made');
    assert.deepEqual(await fs.readdir(foreign), ['photos']);
  });

  it('names unknown events and formats, refuses an empty --secret-stdin, and names the subcommands, before touching the directory', async () => {
    const data = path.join(work, 'refusals');
    await fs.mkdir(path.join(data, 'blobs'), { recursive: true });
    await fs.writeFile(path.join(work, 'ca-not-pem.txt'), 'hello\n');
    const cases: [string[], string | undefined, RegExp][] = [
      [['add', 'http://x/', '--events', 'push,pushed,deletes'], undefined, /^berth: --events: unknown event "pushed", "deletes"; the events are push, pull, mount, delete, tag, repository-deleted, gc-finished, scrub-problem$/],
      [['add', 'http://x/', '--events', ','], undefined, /^berth: --events needs at least one of push, pull/],
      [['add', 'http://x/', '--format', 'json'], undefined, /^berth: --format "json" is not one of distribution, cloudevents, slack$/],
      [['add', 'http://x/', '--ca', path.join(work, 'ca-not-pem.txt')], undefined, /^berth: --ca .*ca-not-pem\.txt is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" line$/],
      [['add', 'http://x/', '--ca', work], undefined, /^berth: --ca .*: is a directory, not a file$/],
      [['add', 'http://x/', '--secret-stdin'], '', /^berth: --secret-stdin: standard input is empty; pipe the secret into it/],
      [['add', 'http://x/', '--events'], undefined, /^berth: --events needs a value, but is followed by the option --data/],
      [['remove-all'], undefined, /^berth: unknown webhook subcommand "remove-all": use add, list, rm or test \(see berth help webhook\)$/],
      [[], undefined, /^berth: webhook needs a subcommand: add, list, rm or test; see berth help webhook$/],
    ];
    for (const [args, input, pattern] of cases) {
      const result = await runBerth(['webhook', ...args, '--data', data], {}, input);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, pattern);
    }
    assert.deepEqual(await fs.readdir(data), ['blobs'], 'nothing was created');
  });

  it('says in one line that a file stands where webhooks/ should be', async () => {
    const data = path.join(work, 'webhooks-file');
    await fs.mkdir(path.join(data, 'blobs'), { recursive: true });
    await fs.writeFile(path.join(data, 'webhooks'), 'not a folder');
    const result = await runBerth(['webhook', 'list', '--data', data]);
    assert.equal(result.code, 1, result.stderr);
    assertOneLine(result.stderr, new RegExp(`^berth: ${data}/webhooks is a file where Berth keeps a folder: move it away \\(or remove it\\), then run again$`));
    const serve = await runBerth(['serve', '--port', '0', '--data', data]);
    assert.equal(serve.code, 1);
    assertOneLine(serve.stderr, new RegExp(`${data}/webhooks is a file where Berth keeps a folder`));
    assert.equal(await fs.readFile(path.join(data, 'webhooks'), 'utf8'), 'not a folder');
  });
});
