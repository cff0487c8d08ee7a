/** The auth and TLS commands of the CLI, and `berth serve` with auth: what a user types and reads. */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuthStore } from '../../server/auth/store.ts';
import { assertOneLine, freePort, runBerth, startBerth } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

async function token(url: string, user: string, password: string): Promise<number> {
  const res = await fetch(`${url}/token?service=berth`, { headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });
  await res.arrayBuffer();
  return res.status;
}

describe('berth user and token', { timeout: 300_000 }, () => {
  let work: string;
  before(async () => {
    work = await tempDir('berth-auth-cli-');
  });
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('adds, lists, changes and removes users, and the server honours them', async () => {
    const data = path.join(work, 'users');
    const add = await runBerth(['user', 'add', 'alice', '--password-stdin', '--permission', 'team/*:pull,push', '--data', data], {}, 'alice-password\n');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Added user alice \(team\/\*:pull,push\)/);
    const generated = await runBerth(['user', 'add', 'boss', '--admin', '--data', data]);
    assert.equal(generated.code, 0, generated.stderr);
    const bossPassword = /Password \(shown only this once\): (\S+)/.exec(generated.stdout)![1]!;
    const list = await runBerth(['user', 'list', '--data', data]);
    assert.match(list.stdout, /^NAME +KIND +PERMISSIONS +CREATED\nalice +user +team\/\*:pull,push +\d{4}-/);
    assert.match(list.stdout, /\nboss +user +\*:admin /);
    const json = JSON.parse((await runBerth(['user', 'list', '--json', '--data', data])).stdout) as { name: string }[];
    assert.deepEqual(json.map((u) => u.name), ['alice', 'boss']);
    for (const args of [['user', 'add', 'alice'], ['user', 'add', 'x'], ['user', 'remove', 'ghost']]) {
      const result = await runBerth([...args, '--password-stdin', '--data', data], {}, 'short\n');
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stdout}`);
      assert.match(result.stderr, /^berth: (user "alice" exists already|a password needs at least 8 characters|no user "ghost")\n$/);
    }
    const badPermission = await runBerth(['user', 'add', 'y', '--permission', 'Team:fly', '--data', data]);
    assert.equal(badPermission.code, 1);
    assert.match(badPermission.stderr, /permission "Team:fly"/);

    // Berth serves them (boss has *:admin, so no admin user is made).
    const berth = await startBerth({ dataDir: data, args: ['--auth', 'token'] });
    try {
      assert.equal(await token(berth.url, 'alice', 'alice-password'), 200);
      assert.equal(await token(berth.url, 'boss', bossPassword), 200);
      assert.equal(await token(berth.url, 'admin', 'anything-at-all'), 401);
      await berth.waitForOutput(/^Web UI: /m); // the last line it prints at start
      assert.doesNotMatch(berth.output(), /Created the user "admin"/);
      // While it runs, the commands go through its management API: no downtime. With auth on they
      // need an admin's credentials, and say so without them.
      const anonymous = await runBerth(['user', 'list', '--data', data]);
      assert.equal(anonymous.code, 1);
      assert.match(anonymous.stderr, /^berth: the Berth server at http:\/\/127\.0\.0\.1:\d+ refused: .*set BERTH_USERNAME and BERTH_PASSWORD of an admin/);
      const asBoss = { BERTH_USERNAME: 'boss', BERTH_PASSWORD: bossPassword };
      const carol = await runBerth(['user', 'add', 'carol', '--permission', 'carol/*:pull,push', '--data', data], asBoss);
      assert.equal(carol.code, 0, carol.stderr);
      const carolPassword = /Password \(shown only this once\): (\S+)/.exec(carol.stdout)![1]!;
      assert.equal(await token(berth.url, 'carol', carolPassword), 200, 'a user added through the server logs in at once');
      assert.match((await runBerth(['user', 'list', '--data', data], asBoss)).stdout, /\ncarol +user +carol\/\*:pull,push +\d{4}-/);
      const narrowed = await runBerth(['user', 'set-permissions', 'carol', '--permission', 'carol/*:pull', '--data', data], asBoss);
      assert.equal(narrowed.code, 0, narrowed.stderr);
      assert.match(narrowed.stdout, /^carol may now: carol\/\*:pull\n$/);
      const duplicate = await runBerth(['user', 'add', 'carol', '--data', data], asBoss);
      assert.equal(duplicate.code, 1);
      assert.equal(duplicate.stderr, 'berth: user "carol" exists already\n', 'the same words as without a server');
      const lastAdmin = await runBerth(['user', 'remove', 'boss', '--data', data], asBoss);
      assert.equal(lastAdmin.code, 1);
      assert.match(lastAdmin.stderr, /^berth: removing "boss" would leave no one who may manage the registry/);
      assert.equal((await runBerth(['user', 'remove', 'carol', '--data', data], asBoss)).code, 0);
      assert.equal(await token(berth.url, 'carol', carolPassword), 401);
    } finally {
      await berth.stop();
    }

    const passwd = await runBerth(['user', 'passwd', 'alice', '--password-stdin', '--data', data], {}, 'alice-new-password\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    // Without a server too, the last administrator stays until another one exists.
    const refused = await runBerth(['user', 'remove', 'boss', '--data', data]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^berth: removing "boss" would leave no one who may manage the registry/);
    assert.equal((await runBerth(['user', 'set-permissions', 'alice', '--admin', '--data', data])).code, 0);
    const removed = await runBerth(['user', 'remove', 'boss', '--data', data]);
    assert.equal(removed.code, 0, removed.stderr);
    const after = await startBerth({ dataDir: data, args: ['--auth', 'token'], env: { BERTH_ADMIN_PASSWORD: 'the-admin-password' } });
    try {
      assert.equal(await token(after.url, 'alice', 'alice-password'), 401);
      assert.equal(await token(after.url, 'alice', 'alice-new-password'), 200);
      assert.equal(await token(after.url, 'boss', bossPassword), 401);
      // alice has *:admin: no admin user was made.
      assert.equal(await token(after.url, 'admin', 'the-admin-password'), 401);
      await after.waitForOutput(/^Web UI: /m);
      assert.doesNotMatch(after.output(), /the-admin-password|Created the user/);
    } finally {
      await after.stop();
    }
  });

  it('creates, lists and revokes robot and personal tokens', async () => {
    const data = path.join(work, 'tokens');
    await runBerth(['user', 'add', 'dev', '--password-stdin', '--data', data], {}, 'dev-password\n');
    const robot = await runBerth(['token', 'create', '--robot', 'ci', '--permission', 'ci/*:pull,push', '--name', 'pipeline', '--expires', '30d', '--data', data]);
    assert.equal(robot.code, 0, robot.stderr);
    const robotToken = /^(berth_pat_[0-9a-f]{16}_\S+)$/m.exec(robot.stdout)![1]!;
    const robotId = /Created token ([0-9a-f]{16}) for ci, valid until \d{4}-/.exec(robot.stdout)![1]!;
    const personal = await runBerth(['token', 'create', '--user', 'dev', '--expires', 'never', '--data', data]);
    assert.match(personal.stdout, /for dev, never expires/);
    const personalToken = /^(berth_pat_\S+)$/m.exec(personal.stdout)![1]!;
    const list = await runBerth(['token', 'list', '--data', data]);
    assert.match(list.stdout, new RegExp(`^ID +KIND +USER +NAME +PERMISSIONS +EXPIRES +LAST USED\n${robotId} +robot +ci +pipeline +\\(the user's\\) +\\d{4}-`));
    assert.match(list.stdout, /personal +dev +personal +\(the user's\) +never +-/);
    assert.ok(!list.stdout.includes(robotToken.slice(-20)), 'list never shows secrets');
    for (const [args, pattern] of [
      [['token', 'create', '--data', data], /exactly one of --user NAME or --robot NAME/],
      [['token', 'create', '--user', 'dev', '--expires', 'soon', '--data', data], /--expires: "soon" is not a duration of at least 1 minute; use a duration \(12h, 90d, 4w\), a date \(2027-01-31\) or never/],
      [['token', 'create', '--user', 'dev', '--expires', '-1d', '--data', data], /^berth: --expires: "-1d" is negative; use a duration \(12h, 90d, 4w\), a date \(2027-01-31\) or never\n$/],
      [['token', 'create', '--user', 'dev', '--expires', '3600', '--data', data], /--expires: "3600" has no unit \(seconds\? minutes\?\)/],
      [['token', 'create', '--user', 'dev', '--permission', 'team', '--data', data], /^berth: permission "team" is not PATTERN:ACTIONS: name the actions after a colon, as in "team:pull,push" \(actions: pull, push, delete, admin; \* in a pattern matches any characters\)\n$/],
      [['user', 'add', 'newbie', '--permission', 'team/*', '--data', data], /permission "team\/\*" is not PATTERN:ACTIONS: name the actions after a colon, as in "team\/\*:pull,push"/],
      [['token', 'create', '--robot', 'new-bot', '--data', data], /needs its permissions/],
    ] as const) {
      const result = await runBerth([...args]);
      assert.ok(result.code === 1 || result.code === 2, result.stderr);
      assert.match(result.stderr, pattern);
    }

    let firstOutput = '';
    let berth = await startBerth({ dataDir: data, args: ['--auth', 'token'] });
    try {
      assert.equal(await token(berth.url, 'ci', robotToken), 200);
      assert.equal(await token(berth.url, 'dev', personalToken), 200);
      assert.equal(await token(berth.url, 'dev', robotToken), 401, 'a token works only with its own user name');
      // The first start made admin with a generated password, printed once to the terminal.
      await berth.waitForOutput(/Created the user "admin" with the password (\S+)\nIt is shown only this once/);
      firstOutput = berth.output();
    } finally {
      await berth.stop();
    }
    berth = await startBerth({ dataDir: data, args: ['--auth', 'token'] });
    try {
      // Through the running server: the robot's login shows as its last use, and revoking ends it at once.
      const admin = { BERTH_USERNAME: 'admin', BERTH_PASSWORD: /Created the user "admin" with the password (\S+)/.exec(firstOutput)![1]! };
      const used = await runBerth(['token', 'list', '--user', 'ci', '--json', '--data', data], admin);
      assert.equal(used.code, 0, used.stderr);
      const [listed] = JSON.parse(used.stdout) as { id: string; lastUsedAt: string | null }[];
      assert.equal(listed!.id, robotId);
      assert.ok(listed!.lastUsedAt && Date.parse(listed!.lastUsedAt) > Date.parse('2020-01-01'), `last used: ${listed!.lastUsedAt}`);
      const revoke = await runBerth(['token', 'revoke', robotId, '--data', data], admin);
      assert.equal(revoke.code, 0, revoke.stderr);
      assert.equal(await token(berth.url, 'ci', robotToken), 401, 'revoked while the server runs: refused at once');
      const again = await runBerth(['token', 'revoke', robotId, '--data', data], admin);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^berth: no token with id/);
      assert.equal(await token(berth.url, 'dev', personalToken), 200);
      await berth.waitForOutput(/^Web UI: /m);
      assert.doesNotMatch(berth.output(), /Created the user/, 'the admin password is printed on the first start only');
    } finally {
      await berth.stop();
    }
  });

  it('prints client ids and token names harmlessly, and refuses new ones with control characters', async () => {
    const data = path.join(work, 'escapes');
    assert.equal((await runBerth(['user', 'add', 'eve', '--password-stdin', '--data', data], {}, 'eve-password-1\n')).code, 0);
    // A login recorded by an older Berth, whose client_id was stored as sent: ESC sequences that
    // set the terminal's title, clear the screen, and a bidi override that reverses the line.
    const hostile = '\u001b]0;owned\u0007\u001b[2J\u001b[31mdocker\u202e';
    const store = new AuthStore(path.join(data, 'auth'));
    await store.open();
    await store.insertCredential({
      _id: '00112233445566ff', kind: 'refresh', user: 'eve', label: hostile, secretHash: 'ab'.repeat(32),
      permissions: null, parent: null, createdAt: new Date(), expiresAt: null, lastUsedAt: new Date(),
    });
    await store.close();
    const list = await runBerth(['token', 'list', '--data', data]);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/, 'no control character reaches the terminal');
    assert.ok(list.stdout.includes('\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mdocker\\u202e'), list.stdout);
    const json = await runBerth(['token', 'list', '--json', '--data', data]);
    assert.doesNotMatch(json.stdout, /[\u0000-\u0009\u000b-\u001f]/);
    const named = await runBerth(['token', 'create', '--user', 'eve', '--name', '\u001b[2Jlaptop', '--data', data]);
    assert.equal(named.code, 1);
    assert.match(named.stderr, /a token name is 1-100 characters, without control characters/);
  });

  it('imports every bcrypt line of an htpasswd file and lists the lines it skipped, with how to convert them', { skip: skipUnless('htpasswd') }, async () => {
    const data = path.join(work, 'htpasswd');
    const file = path.join(work, 'registry.htpasswd');
    // Lines made by the real htpasswd: bcrypt (-B), Apache MD5 (-m), SHA-1 (-s), and bcrypt again.
    await run('htpasswd', ['-B', '-b', '-c', file, 'olduser', 'old-password']);
    await run('htpasswd', ['-m', '-b', file, 'md5user', 'md5-password']);
    await run('htpasswd', ['-s', '-b', file, 'shauser', 'sha-password']);
    await run('htpasswd', ['-B', '-b', file, 'other', 'other-password']);
    const written = await fs.readFile(file, 'utf8');
    assert.match(written, /^olduser:\$2y\$/m);
    assert.match(written, /^md5user:\$apr1\$/m);
    assert.match(written, /^shauser:\{SHA\}/m);

    const imported = await runBerth(['user', 'import-htpasswd', file, '--permission', 'legacy/*:pull,push', '--data', data]);
    assert.equal(imported.code, 1, 'a partial import exits with 1');
    assert.match(imported.stdout, /^Added 2 user\(s\) with legacy\/\*:pull,push: olduser, other\n$/);
    assert.equal(
      imported.stderr,
      `berth: imported 2 user(s); 2 line(s) of ${file} skipped:\n` +
        `  line 2 (md5user): the password is hashed with Apache MD5 ($apr1$); only bcrypt is accepted: re-create the line with "htpasswd -B ${file} md5user" (it asks for the password) and import again, or add the user with "berth user add md5user"\n` +
        `  line 3 (shauser): the password is hashed with SHA-1 ({SHA}); only bcrypt is accepted: re-create the line with "htpasswd -B ${file} shauser" (it asks for the password) and import again, or add the user with "berth user add shauser"\n`,
    );
    const listed = (await runBerth(['user', 'list', '--data', data])).stdout;
    assert.match(listed, /olduser/);
    assert.doesNotMatch(listed, /md5user|shauser/);

    // Converted as told, the file imports whole: exit 0, the others left as they are.
    await run('htpasswd', ['-B', '-b', file, 'md5user', 'md5-password']);
    await run('htpasswd', ['-B', '-b', file, 'shauser', 'sha-password']);
    const again = await runBerth(['user', 'import-htpasswd', file, '--data', data]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Added 2 user\(s\) with \*:pull,push: md5user, shauser\nSkipped existing user\(s\) \(use --replace.*\): olduser, other\n/);
    assert.equal(again.stderr, '');
    const missing = await runBerth(['user', 'import-htpasswd', path.join(work, 'nope'), '--data', data]);
    assert.equal(missing.code, 2);

    const berth = await startBerth({ dataDir: data, args: ['--auth', 'token'] });
    try {
      assert.equal(await token(berth.url, 'olduser', 'old-password'), 200, 'the $2y$ hash from htpasswd verifies');
      assert.equal(await token(berth.url, 'md5user', 'md5-password'), 200);
      assert.equal(await token(berth.url, 'olduser', 'wrong-password'), 401);
      // Through the running server too (boss is an admin made here for it).
      const weak = path.join(work, 'weak.htpasswd');
      await run('htpasswd', ['-m', '-b', '-c', weak, 'late-md5', 'late-password']);
      await run('htpasswd', ['-B', '-b', weak, 'late', 'late-password']);
      const through = await runBerth(['user', 'import-htpasswd', weak, '--data', data], { BERTH_USERNAME: 'admin', BERTH_PASSWORD: (await berth.waitForOutput(/Created the user "admin" with the password (\S+)/))[1]! });
      assert.equal(through.code, 1);
      assert.match(through.stdout, /^Added 1 user\(s\) with \*:pull,push: late\n$/);
      assert.match(through.stderr, /line 1 \(late-md5\): the password is hashed with Apache MD5/);
      assert.equal(await token(berth.url, 'late', 'late-password'), 200, 'imported into the running server: logs in at once');
    } finally {
      await berth.stop();
    }
  });

  it('keeps credentials out of the logs', async () => {
    const data = path.join(work, 'logs');
    const berth = await startBerth({ dataDir: data, args: ['--auth', 'token', '--log-level', 'info'], env: { BERTH_ADMIN_PASSWORD: 'secret-admin-pw' } });
    let secrets: string[];
    try {
      const res = await fetch(`${berth.url}/token?service=berth&account=admin&offline_token=true&scope=repository:x:pull`, {
        headers: { Authorization: `Basic ${Buffer.from('admin:secret-admin-pw').toString('base64')}` },
      });
      const { token: jwt, refresh_token: refresh } = (await res.json()) as { token: string; refresh_token: string };
      await fetch(`${berth.url}/v2/x/tags/list`, { headers: { Authorization: `Bearer ${jwt}` } });
      await fetch(`${berth.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `grant_type=refresh_token&refresh_token=${refresh}&service=berth` });
      await fetch(`${berth.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password&username=admin&password=wrong-secret-pw' });
      await fetch(`${berth.url}/api/status?access_token=${jwt}`);
      secrets = ['secret-admin-pw', 'wrong-secret-pw', jwt.split('.')[2]!, refresh, Buffer.from('admin:secret-admin-pw').toString('base64')];
    } finally {
      await berth.stop();
    }
    // Read once the process has ended: every log line it wrote is in.
    const output = berth.output();
    assert.match(output, /"path":"\/token"/, 'requests are logged');
    assert.match(output, /"path":"\/api\/status"/, 'the last request too');
    assert.match(output, /"user":"admin"/, 'with the user who made them');
    for (const secret of secrets) {
      assert.ok(!output.includes(secret), `the log contains a secret: ${secret.slice(0, 12)}...`);
    }
  });

  it('on a data directory that is missing or not Berth\'s, lists and changes say so and create nothing', async () => {
    const missing = path.join(work, 'typo');
    const foreign = path.join(work, 'foreign');
    await fs.mkdir(path.join(foreign, 'photos'), { recursive: true });
    for (const args of [['user', 'list'], ['token', 'list'], ['user', 'remove', 'bob'], ['user', 'passwd', 'bob'], ['token', 'revoke', 'tok_x'], ['token', 'create', '--user', 'bob']]) {
      const gone = await runBerth([...args, '--data', missing]);
      assert.equal(gone.code, 1, `${args.join(' ')}: ${gone.stderr}`);
      assertOneLine(gone.stderr, new RegExp(`^berth: no Berth data directory at ${missing} \\(it does not exist\\): pass the one your server uses with --data$`));
      const other = await runBerth([...args, '--data', foreign]);
      assert.equal(other.code, 1, `${args.join(' ')}: ${other.stderr}`);
      assertOneLine(other.stderr, new RegExp(`^berth: ${foreign} is not a Berth data directory \\(it has none of blobs/, index/, auth/, webhooks/, maintenance/\\)`));
    }
    await assert.rejects(fs.access(missing), 'no directory made by a list');
    assert.deepEqual(await fs.readdir(foreign), ['photos']);
    const proc = await runBerth(['user', 'add', 'bob', '--data', '/proc/berth-test']);
    assert.equal(proc.code, 1);
    assertOneLine(proc.stderr, /^berth: cannot use data directory \/proc\/berth-test: \/proc\/berth-test cannot be created: \/proc takes no new folders/);
  });

  it('refuses an empty --password-stdin before creating anything', async () => {
    const data = path.join(work, 'empty-stdin');
    const first = await runBerth(['user', 'add', 'alice', '--password-stdin', '--data', data], {}, 'alice-password\n');
    assert.equal(first.code, 0, first.stderr);
    for (const [args, input] of [[['user', 'add', 'bob', '--password-stdin'], ''], [['user', 'add', 'bob', '--password-stdin'], '\n'], [['user', 'passwd', 'alice', '--password-stdin'], '']] as const) {
      const result = await runBerth([...args, '--data', data], {}, input);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, /^berth: --password-stdin: standard input is empty; pipe the password into it/);
    }
    const list = await runBerth(['user', 'list', '--json', '--data', data]);
    assert.deepEqual((JSON.parse(list.stdout) as { name: string }[]).map((u) => u.name), ['alice'], 'no bob was made');
  });

  it('says in one line that a file stands where auth/ should be, and makes auth/ private', async () => {
    const data = path.join(work, 'auth-file');
    await fs.mkdir(path.join(data, 'blobs'), { recursive: true });
    await fs.writeFile(path.join(data, 'auth'), 'not a folder');
    for (const args of [['user', 'list'], ['user', 'add', 'bob']]) {
      const result = await runBerth([...args, '--data', data]);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, new RegExp(`^berth: ${data}/auth is a file where Berth keeps a folder: move it away \\(or remove it\\), then run again$`));
    }
    const serve = await runBerth(['serve', '--auth', 'token', '--port', '0', '--data', data]);
    assert.equal(serve.code, 1);
    assertOneLine(serve.stderr, new RegExp(`cannot open the users in ${data}/auth: ${data}/auth is a file where Berth keeps a folder`));
    assert.equal(await fs.readFile(path.join(data, 'auth'), 'utf8'), 'not a folder');
    const fresh = path.join(work, 'auth-fresh');
    assert.equal((await runBerth(['user', 'add', 'bob', '--data', fresh])).code, 0);
    assert.equal((await fs.stat(path.join(fresh, 'auth'))).mode & 0o777, 0o700);
  });

  it('names the valid subcommands when one is missing or unknown', async () => {
    const cases: [string[], RegExp][] = [
      [['user'], /^berth: user needs a subcommand: add, list, remove, passwd, set-permissions or import-htpasswd; see berth help user$/],
      [['user', 'delete', 'bob'], /^berth: unknown user subcommand "delete": use add, list, remove, passwd, set-permissions or import-htpasswd \(see berth help user\)$/],
      [['token'], /^berth: token needs a subcommand: create, list or revoke; see berth help token$/],
      [['token', 'rm'], /^berth: unknown token subcommand "rm": use create, list or revoke \(see berth help token\)$/],
      [['tls', 'trust'], /^berth: unknown tls subcommand "trust": use trust-help \(see berth help tls\)$/],
    ];
    for (const [args, pattern] of cases) {
      const result = await runBerth([...args, '--data', path.join(work, 'never')]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, pattern);
    }
  });
});

describe('berth serve with auth and TLS settings', { timeout: 120_000 }, () => {
  let work: string;
  before(async () => {
    work = await tempDir('berth-auth-serve-');
  });
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('refuses to serve a non-loopback address without auth unless forced', async () => {
    const refused = await runBerth(['serve', '--host', '0.0.0.0', '--auth', 'none', '--port', '0', '--data', path.join(work, 'open')]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^berth: refusing to serve on 0\.0\.0\.0 without authentication: .* --insecure-no-auth to accept the risk\n$/);
    const env = await runBerth(['serve', '--port', '0', '--data', path.join(work, 'open')], { BERTH_HOST: '0.0.0.0', BERTH_AUTH: 'none' });
    assert.equal(env.code, 2);
    const pair = await runBerth(['serve', '--tls-cert', '/x.pem', '--port', '0', '--data', path.join(work, 'open')]);
    assert.equal(pair.code, 2);
    assert.match(pair.stderr, /--tls-cert and --tls-key go together/);
  });

  it('exits 2 for a BERTH_ADMIN_PASSWORD the rules refuse, and makes no admin', async () => {
    const data = path.join(work, 'short-admin');
    const result = await runBerth(['serve', '--auth', 'token', '--port', '0', '--data', data], { BERTH_ADMIN_PASSWORD: 'short' });
    assert.equal(result.code, 2, result.stderr);
    assertOneLine(result.stderr, /^berth: BERTH_ADMIN_PASSWORD: a password needs at least 8 characters$/);
    assert.match((await runBerth(['user', 'list', '--data', data])).stdout, /^No users\./);
  });

  it('turns auth on by itself on a non-loopback address, and serves without it when forced', async () => {
    const secured = await startBerth({ dataDir: path.join(work, 'wide'), host: '0.0.0.0', env: { BERTH_ADMIN_PASSWORD: 'wide-admin-pw' } });
    try {
      assert.equal((await fetch(`${secured.url}/v2/`)).status, 401);
    } finally {
      await secured.stop();
    }
    const open = await startBerth({ dataDir: path.join(work, 'forced'), host: '0.0.0.0', args: ['--insecure-no-auth'] });
    try {
      assert.equal((await fetch(`${open.url}/v2/`)).status, 200);
    } finally {
      await open.stop();
    }
  });

  it('serves a bring-your-own certificate, and says clearly when it is unusable', { skip: skipUnless('openssl') }, async () => {
    const dir = path.join(work, 'byo');
    await fs.mkdir(dir);
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=byo.test', '-addext', 'subjectAltName=DNS:byo.test']);
    const berth = await startBerth({ dataDir: path.join(dir, 'data'), tls: true, args: ['--tls-cert', cert, '--tls-key', key] });
    try {
      const tls = await import('node:tls');
      const subject = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: berth.port, rejectUnauthorized: false }, () => {
          resolve(String(socket.getPeerCertificate().subject.CN));
          socket.end();
        });
        socket.on('error', reject);
      });
      assert.equal(subject, 'byo.test');
      await assert.rejects(fs.access(path.join(dir, 'data', 'tls', 'ca.crt')), 'no CA is made for a bring-your-own certificate');
    } finally {
      await berth.stop();
    }
    await fs.writeFile(path.join(dir, 'other-key.pem'), (await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'])));
    const mismatch = await runBerth(['serve', '--port', String(await freePort()), '--tls-cert', cert, '--tls-key', path.join(dir, 'other-key.pem'), '--data', path.join(dir, 'data')]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /^berth: the TLS certificate .*cert\.pem and key .*other-key\.pem cannot be used together: /);
  });

  it('prints trust help for this host and port, for one engine or all', async () => {
    const data = path.join(work, 'trust');
    const docker = await runBerth(['tls', 'trust-help', '--engine', 'docker', '--port', '5443', '--data', data]);
    assert.equal(docker.code, 0, docker.stderr);
    const ca = path.join(data, 'tls', 'ca.crt');
    assert.ok(docker.stdout.includes(`sudo cp ${ca} /etc/docker/certs.d/localhost:5443/ca.crt`), docker.stdout);
    assert.match(docker.stdout, /SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
    assert.doesNotMatch(docker.stdout, /containers\/certs\.d/);
    const podman = await runBerth(['tls', 'trust-help', '--engine', 'podman', '--port', '5443', '--data', data]);
    assert.ok(podman.stdout.includes(`/etc/containers/certs.d/127.0.0.1:5443/ca.crt`));
    const all = await runBerth(['tls', 'trust-help', '--port', '5443', '--data', data]);
    assert.match(all.stdout, /Docker Desktop.*\n.*security add-trusted-cert/);
    assert.match(all.stdout, /update-ca-certificates/);
    const bad = await runBerth(['tls', 'trust-help', '--engine', 'containerd', '--data', data]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--engine "containerd" is not one of docker, podman, desktop/);
  });
});
