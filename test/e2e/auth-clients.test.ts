/**
 * skopeo, podman and openssl against `berth serve --tls --auth token`: credentials on the command line,
 * Berth's CA in a cert dir, and the certificate checked by openssl itself.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const ADMIN_PASSWORD = 'clients-admin-password';

/** Runs a command to completion with stdin closed; resolves to its exit code and output (never rejects). */
function exitOf(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.stdin.end();
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('TLS certificate', { skip: skipUnless('openssl'), timeout: 120_000 }, () => {
  let work: string;
  let berth: BerthProcess;
  before(async () => {
    work = await tempDir('berth-tls-');
    berth = await startBerth({ dataDir: path.join(work, 'data'), tls: true, args: ['--tls'] });
  });
  after(async () => {
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('verifies against the CA for server use (openssl verify -purpose sslserver)', async () => {
    const tls = path.join(work, 'data', 'tls');
    const out = await run('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', path.join(tls, 'ca.crt'), path.join(tls, 'server.crt')]);
    assert.match(out, /server\.crt: OK/);
    const modes = await Promise.all(['ca.key', 'server.key'].map(async (f) => (await fs.stat(path.join(tls, f))).mode & 0o777));
    assert.deepEqual(modes, [0o600, 0o600], 'private keys are readable by their owner only');
  });

  it('passes s_client -verify_return_error for localhost and 127.0.0.1, and fails for a name not in the SANs', async () => {
    const ca = path.join(work, 'data', 'tls', 'ca.crt');
    const connect = ['s_client', '-connect', `127.0.0.1:${berth.port}`, '-CAfile', ca, '-verify_return_error', '-brief'];
    const byName = await exitOf('openssl', [...connect, '-servername', 'localhost', '-verify_hostname', 'localhost']);
    assert.equal(byName.code, 0, byName.output);
    const byIp = await exitOf('openssl', [...connect, '-verify_ip', '127.0.0.1']);
    assert.equal(byIp.code, 0, byIp.output);
    const wrong = await exitOf('openssl', [...connect, '-servername', 'not-this-host.example', '-verify_hostname', 'not-this-host.example']);
    assert.notEqual(wrong.code, 0, wrong.output);
    assert.match(wrong.output, /hostname mismatch|verify error/i);
  });
});

describe('skopeo and podman with token auth over TLS', { skip: skipUnless('skopeo', 'podman'), timeout: 600_000 }, () => {
  let work: string;
  let berth: BerthProcess;
  let certDir: string;
  let images: Record<FixtureName, Fixture>;
  let storageArgs: string[];

  before(async () => {
    work = await tempDir('berth-auth-clients-');
    images = await fixtures();
    berth = await startBerth({ dataDir: path.join(work, 'data'), tls: true, args: ['--tls', '--auth', 'token'], env: { BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    certDir = path.join(work, 'certs');
    await fs.mkdir(certDir);
    await fs.copyFile(path.join(work, 'data', 'tls', 'ca.crt'), path.join(certDir, 'ca.crt'));
    storageArgs = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'), '--storage-driver', 'vfs'];
  });
  after(async () => {
    await berth?.stop();
    await run('podman', [...storageArgs, 'system', 'reset', '--force']).catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  });

  const target = (repo: string) => `docker://localhost:${berth.port}/${repo}`;

  it('skopeo copies in with --dest-creds and --dest-cert-dir, and out with --src-creds', async () => {
    await run('skopeo', ['copy', '--dest-creds', `admin:${ADMIN_PASSWORD}`, '--dest-cert-dir', certDir, `oci:${images.small.dir}:latest`, target('clients/small:v1')]);
    const out = path.join(work, 'pulled');
    await run('skopeo', ['copy', '--src-creds', `admin:${ADMIN_PASSWORD}`, '--src-cert-dir', certDir, target('clients/small:v1'), `oci:${out}:latest`]);
    const index = JSON.parse(await fs.readFile(path.join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]!.digest, images.small.digest);
  });

  it('skopeo is refused with wrong credentials, and without the CA', async () => {
    await assert.rejects(run('skopeo', ['inspect', '--creds', 'admin:wrong-password', '--cert-dir', certDir, target('clients/small:v1')]), /unauthorized|incorrect|authentication required/i);
    await assert.rejects(run('skopeo', ['inspect', '--creds', `admin:${ADMIN_PASSWORD}`, target('clients/small:v1')]), /x509|certificate/i);
  });

  it('podman logs in with the CA in a cert dir and pulls', async () => {
    const authfile = path.join(work, 'auth.json');
    const login = await run('podman', [...storageArgs, 'login', '--authfile', authfile, '--cert-dir', certDir, '-u', 'admin', '-p', ADMIN_PASSWORD, `localhost:${berth.port}`]);
    assert.match(login, /Login Succeeded/);
    await run('podman', [...storageArgs, 'pull', '--authfile', authfile, '--cert-dir', certDir, `localhost:${berth.port}/clients/small:v1`]);
    const inspect = JSON.parse(await run('podman', [...storageArgs, 'image', 'inspect', `localhost:${berth.port}/clients/small:v1`])) as { Config: { Env: string[] } }[];
    assert.ok(inspect[0]!.Config.Env.includes('FIXTURE=small'));
    await assert.rejects(run('podman', [...storageArgs, 'login', '--authfile', authfile, '--cert-dir', certDir, '-u', 'admin', '-p', 'nope-nope', `localhost:${berth.port}`]), /unauthorized|incorrect|invalid/i);
  });
});
