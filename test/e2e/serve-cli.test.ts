/** `berth serve` as users run it: configuration layers, and one clear line for every start-up failure. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BERTH_BIN, assertOneLine, freePort, runBerth, startBerth } from '../helpers/berth-process.ts';
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
      [['gc', '--data', file], new RegExp(`^berth: no Berth data directory at ${file} \\(it has no blobs/ folder\\)`)],
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
      [['serve', '--bogus'], {}, /Unknown option '--bogus'/],
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
    const serve = await runBerth(['help', 'serve']);
    assert.match(serve.stdout, /--data DIR/);
  });
});
