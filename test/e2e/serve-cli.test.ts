/** `berth serve` as users run it: configuration layers, and one clear line for every start-up failure. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BERTH_BIN, ROOT, assertOneLine, freePort, runBerth, startBerth } from '../helpers/berth-process.ts';
import { waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';


describe('berth serve', { timeout: 120_000 }, () => {
  let work: string;
  before(async () => {
    work = await tempDir('berth-cli-');
  });
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('starts with flags, answers /v2/, and stops cleanly on SIGTERM', async () => {
    const dataDir = path.join(work, 'flags');
    const berth = await startBerth({ dataDir });
    assert.equal((await fetch(`${berth.url}/v2/`)).status, 200);
    assert.equal(await berth.stop(), 0);
    const state = JSON.parse(await fs.readFile(path.join(dataDir, 'index', 'state.json'), 'utf8')) as { clean: boolean };
    assert.equal(state.clean, true, 'the index is closed cleanly');
    await assert.rejects(fs.access(path.join(dataDir, 'berth.lock')), 'the lock is released');
  });

  it('run as a program (`npx berth`), its #! line starts node with the measured flags and malloc setting', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    const berth = await startBerth({ dataDir: path.join(work, 'as-program'), asProgram: true });
    try {
      // env -S replaced itself with node: the process answering is node, with bin/berth.js's settings.
      const argv = (await fs.readFile(`/proc/${berth.pid}/cmdline`, 'utf8')).split('\0');
      assert.match(path.basename(argv[0]!), /^node/);
      assert.deepEqual(argv.slice(1, 4), ['--max-semi-space-size=2', '--expose-gc', BERTH_BIN]);
      const environ = (await fs.readFile(`/proc/${berth.pid}/environ`, 'utf8')).split('\0');
      assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 is in its environment');
      assert.equal((await fetch(`${berth.url}/v2/`)).status, 200);
    } finally {
      assert.equal(await berth.stop(), 0);
    }
  });

  /** Runs `berth serve` with only these arguments and environment; resolves once it answers on `port`. */
  async function serveWith(args: string[], env: NodeJS.ProcessEnv, port: number): Promise<() => Promise<void>> {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BERTH_BIN, 'serve', ...args], { env: { ...process.env, ...env }, stdio: 'ignore' });
    let ok = false;
    const deadline = Date.now() + 30_000; // a bound for a hang on a loaded machine
    while (!ok && child.exitCode === null && Date.now() < deadline) {
      ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200, () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    const stop = async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    };
    if (!ok) {
      await stop();
      assert.fail(`berth serve ${args.join(' ')} did not answer on port ${port}`);
    }
    return stop;
  }

  it('takes host, port and data directory from the environment', async () => {
    const port = await freePort();
    const stop = await serveWith(['--log-level', 'warn'], { BERTH_HOST: '127.0.0.1', BERTH_PORT: String(port), BERTH_DATA: path.join(work, 'from-env') }, port);
    await stop();
    await fs.access(path.join(work, 'from-env', 'blobs'));
  });

  it('takes settings from a config file, with flags and environment over it', async () => {
    const config = path.join(work, 'berth.json');
    const filePort = await freePort();
    await fs.writeFile(config, JSON.stringify({ host: '127.0.0.1', port: 1, data: 'from-file', logLevel: 'warn' }));
    // The file says port 1; BERTH_PORT overrides it.
    const stop = await serveWith(['--config', config], { BERTH_PORT: String(filePort) }, filePort);
    await stop();
    await fs.access(path.join(work, 'from-file', 'blobs'), undefined);
  });

  it('exits 1 with one line when the port is in use', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)));
    try {
      const result = await runBerth(['serve', '--port', String(port), '--data', path.join(work, 'busy')]);
      assert.equal(result.code, 1);
      assertOneLine(result.stderr, new RegExp(`port ${port} on 127.0.0.1 is already in use.*--port`));
    } finally {
      blocker.close();
    }
  });

  it('exits 1 with one line naming the cause when a file stands where the data directory should be', async () => {
    const file = path.join(work, 'a-file');
    await fs.writeFile(file, 'not a directory');
    const cases: [string[], RegExp][] = [
      [['serve', '--port', '0', '--data', file], new RegExp(`^berth: cannot use data directory ${file}: it is a file, not a directory$`)],
      [['serve', '--port', '0', '--data', path.join(file, 'data')], new RegExp(`^berth: cannot use data directory ${file}/data: ${file} is a file, not a directory$`)],
      [['user', 'list', '--data', file], new RegExp(`^berth: cannot use data directory ${file}: it is a file, not a directory$`)],
      [['tls', 'trust-help', '--data', file], new RegExp(`^berth: cannot use data directory ${file}: it is a file, not a directory$`)],
      [['gc', '--data', file], new RegExp(`^berth: cannot use data directory ${file}: it is a file, not a directory$`)],
    ];
    for (const [args, pattern] of cases) {
      const result = await runBerth(args);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, pattern);
    }
    assert.equal(await fs.readFile(file, 'utf8'), 'not a directory', 'the file is left alone');
  });

  it('exits 1 with one line when another Berth holds the data directory', async () => {
    const dataDir = path.join(work, 'shared');
    const first = await startBerth({ dataDir });
    try {
      const result = await runBerth(['serve', '--port', '0', '--data', dataDir]);
      assert.equal(result.code, 1);
      assertOneLine(result.stderr, new RegExp(`in use by another Berth \\(pid ${first.pid}, ${first.url.replace(/[/.]/g, '\\$&')}\\)`));
    } finally {
      await first.stop();
    }
  });

  it('takes over the lock of a server that was killed', async () => {
    const dataDir = path.join(work, 'stale');
    const first = await startBerth({ dataDir });
    await first.kill9();
    const second = await startBerth({ dataDir });
    assert.equal(await second.stop(), 0);
  });

  it('exits 2 with one line for bad configuration', async () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['serve', '--port', 'abc'], {}, /--port: "abc" is not a port number/],
      [['serve', '--port', '70000'], {}, /--port: "70000" is not a port number/],
      [['serve', '--log-level', 'loud'], {}, /--log-level: "loud" is not one of/],
      [['serve', '--bogus'], {}, /^berth: unknown option --bogus$/],
      [['serve', '--port', '-1'], {}, /^berth: --port: "-1" is not a port number \(0-65535\)$/],
      [['serve', '--config', work], {}, new RegExp(`^berth: config file ${work}: is a directory, not a file$`)],
      [['serve'], { BERTH_PORT: 'x' }, /BERTH_PORT: "x" is not a port number/],
      [['frobnicate'], {}, /unknown command "frobnicate"/],
    ];
    for (const [args, env, pattern] of cases) {
      const result = await runBerth(args, { BERTH_DATA: path.join(work, 'unused'), ...env });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, pattern);
    }
    const bad = path.join(work, 'bad.json');
    await fs.writeFile(bad, '{ "port": 5000, ');
    const invalid = await runBerth(['serve', '--config', bad]);
    assert.equal(invalid.code, 2);
    assertOneLine(invalid.stderr, /config file .*bad\.json: not valid JSON/);
    await fs.writeFile(bad, JSON.stringify({ prot: 5000 }));
    const typo = await runBerth(['serve', '--config', bad]);
    assert.equal(typo.code, 2);
    assertOneLine(typo.stderr, /unknown setting "prot"/);
    const missing = await runBerth(['serve', '--config', path.join(work, 'nope.json')]);
    assert.equal(missing.code, 2);
    assertOneLine(missing.stderr, /config file .*nope\.json: not found/);
  });

  it('with --host 0.0.0.0 --tls prints an address the certificate covers, never 0.0.0.0, and docker login first', async () => {
    const dataDir = path.join(work, 'lan');
    const berth = await startBerth({ dataDir, host: '0.0.0.0', tls: true, args: ['--tls'], env: { BERTH_ADMIN_PASSWORD: 'a-long-admin-password' } });
    try {
      await waitFor(() => berth.output().includes('Push with:'), 'the lines serve prints');
      const out = berth.output();
      assert.doesNotMatch(out, /(docker (login|push)|registry at https:\/\/) ?0\.0\.0\.0/, out);
      const push = /^Push with: docker login (\S+) && docker push (\S+)\/<image>$/m.exec(out);
      assert.ok(push, out);
      assert.equal(push[1], push[2]);
      assert.ok(push[1]!.endsWith(`:${berth.port}`), push[1]);
      const host = push[1]!.slice(0, push[1]!.lastIndexOf(':')).replace(/^\[|\]$/g, '');
      const certificate = new X509Certificate(await fs.readFile(path.join(dataDir, 'tls', 'server.crt')));
      const covered = net.isIP(host) ? certificate.checkIP(host) : certificate.checkHost(host);
      assert.ok(covered, `${host} is named by the certificate (${certificate.subjectAltName})`);
      assert.match(out, new RegExp(`^Berth registry at https://${push[1]!.replace(/[.[\]]/g, '\\$&')} \\(listening on 0\\.0\\.0\\.0:${berth.port}, every interface; data: `, 'm'));
      assert.match(out, new RegExp(`^Clients must trust Berth's CA \\(${dataDir}/tls/ca\\.crt\\) for ${push[1]!.replace(/[.[\]]/g, '\\$&')}: see berth tls trust-help --host 0\\.0\\.0\\.0 --port ${berth.port} --data ${dataDir}$`, 'm'));
    } finally {
      await berth.stop();
    }
  });

  it('exits 1 with one line when the TLS certificate or key is not a file', async () => {
    const result = await runBerth(['serve', '--port', '0', '--data', path.join(work, 'tls-dir'), '--tls-cert', work, '--tls-key', work]);
    assert.equal(result.code, 1, result.stderr);
    assertOneLine(result.stderr, new RegExp(`^berth: TLS certificate ${work}: is a directory, not a file$`));
  });

  it('prints help', async () => {
    const result = await runBerth(['help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /berth <command>/);
    assert.match(result.stdout, /serve +Run the registry/);
    assert.equal((await runBerth(['help', 'help'])).stdout, result.stdout);
    const serve = await runBerth(['help', 'serve']);
    assert.match(serve.stdout, /--data DIR/);
  });
  it('a start that fails after making the first admin leaves no admin behind; the next start makes it and prints its password', async () => {
    const dataDir = path.join(work, 'first-admin');
    const blocker = net.createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)));
    try {
      const failed = await runBerth(['serve', '--auth', 'token', '--port', String(port), '--data', dataDir]);
      assert.equal(failed.code, 1, failed.stderr);
      assertOneLine(failed.stderr, /is already in use/);
    } finally {
      blocker.close();
    }
    const users = await runBerth(['user', 'list', '--data', dataDir]);
    assert.equal(users.code, 0, users.stderr);
    assert.match(users.stdout, /^No users\./, 'no admin whose password no one was shown');
    const berth = await startBerth({ dataDir, args: ['--auth', 'token'] });
    try {
      const [, password] = await berth.waitForOutput(/Created the user "admin" with the password (\S+)\n/);
      const res = await fetch(`${berth.url}/token?service=berth`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } });
      assert.equal(res.status, 200, 'the printed password logs in');
    } finally {
      await berth.stop();
    }
  });

  it('exits 2 with "unknown command" for names that are not commands, Object.prototype names included', async () => {
    for (const args of [['toString'], ['constructor'], ['__proto__'], ['hasOwnProperty'], ['help', 'bogus'], ['help', 'toString'], ['--bogus']]) {
      const result = await runBerth(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, new RegExp(`^berth: unknown command "${args.at(-1)!.replace(/[_]/g, '\\$&')}"; run "berth help" for the list$`));
    }
  });

  it('prints its version with --version, -v and version', async () => {
    const { version } = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v', 'version']) {
      const result = await runBerth([flag]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `berth ${version}\n`);
    }
    assert.match((await runBerth(['help'])).stdout, /--version +Print Berth's version/);
  });

  it('names an option given without its value, and exits 2', async () => {
    const unused = path.join(work, 'never-made');
    const cases: [string[], RegExp][] = [
      [['serve', '--port'], /^berth: --port needs a value$/],
      [['serve', '--data', '--port', '5000'], /^berth: --data needs a value, but is followed by the option --port \(for a value that starts with "-", write --data=VALUE\)$/],
      [['gc', '--data', unused, '--grace'], /^berth: --grace needs a value$/],
      [['user', 'add', 'x', '--permission', '--admin', '--data', unused], /^berth: --permission needs a value, but is followed by the option --admin/],
      [['user', 'list', '--config=', '--data', unused], /^berth: --config: needs a file path$/],
      [['serve', '--data='], /^berth: --data: needs a directory path$/],
    ];
    for (const [args, pattern] of cases) {
      const result = await runBerth(args, { BERTH_DATA: unused });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, pattern);
    }
    await assert.rejects(fs.access(unused), 'nothing was created');
  });

  it('says in one line that a lock file cannot be read, and takes over one whose contents are no lock', async () => {
    const dataDir = path.join(work, 'odd-lock');
    await fs.mkdir(path.join(dataDir, 'blobs'), { recursive: true });
    const lock = path.join(dataDir, 'berth.lock');
    await fs.mkdir(lock); // unreadable as a file, for root too
    for (const args of [['gc', '--dry-run'], ['user', 'list'], ['webhook', 'list'], ['serve', '--port', '0']]) {
      const result = await runBerth([...args, '--data', dataDir]);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assertOneLine(result.stderr, new RegExp(`cannot read the lock file ${lock} \\(it is a folder\\): if no Berth uses this data directory, remove it$`));
    }
    await fs.rmdir(lock);
    // JSON that is no lock (a damaged file): left by no live Berth, so taken over once old enough.
    for (const garbage of ['null', '{"pid":"x"}', '{"pid":1,"startedAt":"x","socket":7}', '\u0000\u0000garbage']) {
      await fs.writeFile(lock, garbage);
      const old = new Date(Date.now() - 60_000);
      await fs.utimes(lock, old, old);
      const result = await runBerth(['user', 'list', '--data', dataDir]);
      assert.equal(result.code, 0, `${JSON.stringify(garbage)}: ${result.stderr}`);
      assert.equal(result.stderr, '');
    }
  });

  it('does not take over the damaged lock of a live server, and says so in one line', async () => {
    const dataDir = path.join(work, 'damaged-live');
    const berth = await startBerth({ dataDir });
    try {
      const lock = path.join(dataDir, 'berth.lock');
      await fs.writeFile(lock, '{"pid":');
      const old = new Date(Date.now() - 60_000);
      await fs.utimes(lock, old, old);
      for (const args of [['user', 'list'], ['serve', '--port', '0']]) {
        const result = await runBerth([...args, '--data', dataDir]);
        assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
        assertOneLine(result.stderr, new RegExp(`the lock file ${lock} is damaged, yet a Berth answers on its socket ${dataDir}/berth\\.sock: stop that Berth, then remove the lock file$`));
      }
      assert.equal(await fs.readFile(lock, 'utf8'), '{"pid":', 'left as it was');
    } finally {
      await berth.stop();
    }
  });

  it('a data directory copied from a live one (lock and socket included) is not taken for the server\'s', async () => {
    const original = path.join(work, 'live-original');
    const copy = path.join(work, 'live-copy');
    const berth = await startBerth({ dataDir: original });
    try {
      await promisify(execFile)('cp', ['-a', original, copy]);
      await fs.mkdir(path.join(copy, 'blobs'), { recursive: true }); // there already, unless the test run keeps blobs in a bucket
      const lock = JSON.parse(await fs.readFile(path.join(copy, 'berth.lock'), 'utf8')) as { url: string; socket: string };
      assert.equal(lock.url, berth.url, 'the copy carries the live server\'s lock');
      const added = await runBerth(['user', 'add', 'carol', '--password-stdin', '--data', copy], {}, 'carol-password-1\n');
      assert.equal(added.code, 0, added.stderr);
      assert.match((await runBerth(['user', 'list', '--data', copy])).stdout, /^carol /m, 'added to the copy, on the directory itself');
      assert.match((await runBerth(['user', 'list', '--data', original])).stdout, /^No users\./, 'not to the server of the original');
      const gc = await runBerth(['gc', '--dry-run', '--data', copy]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.match(gc.stdout, new RegExp(`\\(on ${copy} directly\\)`));
      // A hard link of the socket file reaches the original's listener, which says it guards another directory.
      const linked = path.join(work, 'live-linked');
      await fs.mkdir(path.join(linked, 'blobs'), { recursive: true });
      await fs.copyFile(path.join(original, 'berth.lock'), path.join(linked, 'berth.lock'));
      await fs.link(path.join(original, 'berth.sock'), path.join(linked, 'berth.sock'));
      const viaLink = await runBerth(['gc', '--dry-run', '--data', linked]);
      assert.equal(viaLink.code, 0, viaLink.stderr);
      assert.match(viaLink.stdout, new RegExp(`\\(on ${linked} directly\\)`));
    } finally {
      await berth.stop();
    }
  });

  it('names a server bound to every interface by an address a client can use', async () => {
    const dataDir = path.join(work, 'wildcard');
    const berth = await startBerth({ dataDir, host: '0.0.0.0', args: ['--insecure-no-auth'] });
    try {
      const gc = await runBerth(['gc', '--dry-run', '--data', dataDir]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.match(gc.stdout, new RegExp(`\\(done by the Berth server at http://127\\.0\\.0\\.1:${berth.port}\\)`));
      const second = await runBerth(['serve', '--port', '0', '--data', dataDir]);
      assert.equal(second.code, 1);
      assertOneLine(second.stderr, new RegExp(`in use by another Berth \\(pid ${berth.pid}, http://127\\.0\\.0\\.1:${berth.port}\\)`));
      assert.doesNotMatch(gc.stdout + second.stderr, /0\.0\.0\.0/);
    } finally {
      await berth.stop();
    }
  });

  it('names the TLS file that is not PEM', async () => {
    const notPem = path.join(work, 'not.pem');
    await fs.writeFile(notPem, 'hello\n');
    const cert = await runBerth(['serve', '--port', '0', '--data', path.join(work, 'tls-pem'), '--tls-cert', notPem, '--tls-key', notPem]);
    assert.equal(cert.code, 1, cert.stderr);
    assertOneLine(cert.stderr, new RegExp(`^berth: TLS certificate ${notPem} is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" line$`));
    const certPem = path.join(work, 'only-cert.pem');
    await fs.writeFile(certPem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const key = await runBerth(['serve', '--port', '0', '--data', path.join(work, 'tls-pem'), '--tls-cert', certPem, '--tls-key', notPem]);
    assert.equal(key.code, 1, key.stderr);
    assertOneLine(key.stderr, new RegExp(`^berth: TLS key ${notPem} is not a PEM private key`));
    const users = await runBerth(['user', 'list', '--data', path.join(work, 'tls-pem')]);
    assert.match(users.stdout, /^No users\./, 'no first admin left behind either');
  });

  it('answers /healthz with the fields README shows', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const sample = /`GET \/healthz` answers `200 (\{.*?\})`/.exec(readme);
    assert.ok(sample, 'README shows a /healthz answer');
    const shown = JSON.parse(sample[1]!.replace(/\.\.\./g, '0')) as Record<string, unknown>;
    const berth = await startBerth({ dataDir: path.join(work, 'health') });
    try {
      const answer = (await (await fetch(`${berth.url}/healthz`)).json()) as Record<string, unknown>;
      // Every field README shows is answered, with its type; no top-level field goes unmentioned.
      assert.deepEqual(Object.keys(answer).sort(), Object.keys(shown).sort());
      for (const [key, value] of Object.entries(shown)) {
        if (value && typeof value === 'object') {
          for (const [inner, x] of Object.entries(value)) assert.equal(typeof (answer[key] as Record<string, unknown>)[inner], typeof x, `${key}.${inner}`);
        } else assert.equal(typeof answer[key], typeof value, key);
      }
      assert.equal(answer.status, shown.status);
    } finally {
      await berth.stop();
    }
  });

  it('takes the schedules README shows, and explains the format of a wrong one', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const dataDir = path.join(work, 'schedules');
    await fs.mkdir(path.join(dataDir, 'blobs'), { recursive: true });
    const config = path.join(work, 'schedules.json');
    for (const setting of ['gcSchedule', 'uploadPurgeSchedule', 'retentionSchedule']) {
      const row = new RegExp(`\\| \`${setting}\`: [^|]*\\| \`(BERTH_\\w+)\` \\| \`([^\`]+)\` \\|`).exec(readme);
      assert.ok(row, `README documents ${setting}`);
      const examples = [...row[0].matchAll(/\(([^)]*)\)/g)].flatMap((m) => [...m[1]!.matchAll(/"([^"]+)"/g)].map((q) => q[1]!));
      for (const value of [...examples, row[2]!]) {
        await fs.writeFile(config, JSON.stringify({ [setting]: value }));
        const viaFile = await runBerth(['gc', '--dry-run', '--config', config, '--data', dataDir]);
        assert.equal(viaFile.code, 0, `${setting} ${value}: ${viaFile.stderr}`);
        const viaEnv = await runBerth(['gc', '--dry-run', '--data', dataDir], { [row[1]!]: value });
        assert.equal(viaEnv.code, 0, `${row[1]}=${value}: ${viaEnv.stderr}`);
      }
    }
    await fs.writeFile(config, JSON.stringify({ gcSchedule: '30s' }));
    const wrong = await runBerth(['gc', '--dry-run', '--config', config, '--data', dataDir]);
    assert.equal(wrong.code, 2);
    assertOneLine(wrong.stderr, /"gcSchedule": "30s" is not a duration of at least 1 minute; use "off" or a duration of at least 1 minute: 15m, 1h, 24h, 7d$/);
  });
});
