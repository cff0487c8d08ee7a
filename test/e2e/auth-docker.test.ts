/**
 * Docker through token auth, end to end: docker login, push, pull against `berth serve --auth token`,
 * over plain HTTP on localhost, and over TLS with Berth's CA in /etc/docker/certs.d. For the TLS run
 * the dockerd sees host.docker.internal as ::1 (its own /etc/hosts): Docker skips verification for
 * names in 127.0.0.0/8, so only a name outside it proves the CA is really checked.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { runBerth, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { loadOciLayout, startDockerd, type Dockerd } from '../helpers/dockerd.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('dockerd', 'docker', 'skopeo', 'unshare');
const ADMIN_PASSWORD = 'docker-admin-password';

describe('docker with token auth', { skip, timeout: 900_000 }, () => {
  let work: string;
  let images: Record<FixtureName, Fixture>;
  let dockerd: Dockerd;
  let plain: BerthProcess;
  let secure: BerthProcess;
  let robotToken: string;
  let readerPassword: string;
  let certsDir: string;
  let docker: (...args: string[]) => Promise<string>;

  before(async () => {
    work = await tempDir('berth-auth-docker-');
    images = await fixtures();
    const plainData = path.join(work, 'plain');
    // Users and a robot token are made with the CLI before the server starts (it owns them while it runs).
    const reader = await runBerth(['user', 'add', 'reader', '--permission', '*:pull', '--data', plainData]);
    assert.equal(reader.code, 0, reader.stderr);
    readerPassword = /^Password \(shown only this once\): (\S+)$/m.exec(reader.stdout)![1]!;
    const robot = await runBerth(['token', 'create', '--robot', 'ci', '--permission', 'robots/*:pull,push', '--data', plainData]);
    assert.equal(robot.code, 0, robot.stderr);
    robotToken = /^(berth_pat_\S+)$/m.exec(robot.stdout)![1]!;
    const env = { BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD };
    plain = await startBerth({ dataDir: plainData, args: ['--auth', 'token'], env });
    // Bound to :: so that dockerd reaches it as ::1 and the other clients as 127.0.0.1.
    secure = await startBerth({ dataDir: path.join(work, 'secure'), host: '::', tls: true, args: ['--tls'], env });
    dockerd = await startDockerd(path.join(work, 'dockerd'), { hosts: '127.0.0.1 localhost\n::1 host.docker.internal\n' });
    const config = path.join(work, 'docker-config');
    await fs.mkdir(config);
    docker = (...args: string[]) => run('docker', args, { env: { ...dockerd.env, DOCKER_CONFIG: config } });
    certsDir = `/etc/docker/certs.d/host.docker.internal:${secure.port}`;
  });
  after(async () => {
    await fs.rm(certsDir, { recursive: true, force: true });
    await dockerd?.stop();
    await plain?.stop();
    await secure?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  function load(name: FixtureName): Promise<string> {
    return loadOciLayout(dockerd, images[name].dir, `fixtures/${name}:latest`, work);
  }

  async function pushRemovePull(source: string, target: string): Promise<void> {
    await docker('tag', source, target);
    const pushed = await docker('push', target);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
    assert.ok(digest, pushed);
    await docker('rmi', target);
    const pulled = await docker('pull', target);
    assert.match(pulled, new RegExp(`Digest: ${digest}`));
  }

  it('refuses pushes before docker login (plain HTTP)', async () => {
    const ref = await load('small');
    await docker('tag', ref, `localhost:${plain.port}/auth/small:v1`);
    await assert.rejects(docker('push', `localhost:${plain.port}/auth/small:v1`), /unauthorized|authentication required|no basic auth credentials/i);
  });

  it('refuses docker login with a wrong password', async () => {
    await assert.rejects(docker('login', `localhost:${plain.port}`, '-u', 'admin', '-p', 'not-the-password'), /unauthorized|incorrect user name or password/i);
  });

  it('logs in, pushes and pulls over plain HTTP on localhost', async () => {
    const out = await docker('login', `localhost:${plain.port}`, '-u', 'admin', '-p', ADMIN_PASSWORD);
    assert.match(out, /Login Succeeded/);
    await pushRemovePull('fixtures/small:latest', `localhost:${plain.port}/auth/small:v1`);
    await docker('logout', `localhost:${plain.port}`);
  });

  it('refuses a push by a pull-only user, and lets them pull', async () => {
    await docker('login', `localhost:${plain.port}`, '-u', 'reader', '-p', readerPassword);
    await docker('tag', 'fixtures/small:latest', `localhost:${plain.port}/auth/by-reader:v1`);
    await assert.rejects(docker('push', `localhost:${plain.port}/auth/by-reader:v1`), /denied|not allow/i);
    await docker('pull', `localhost:${plain.port}/auth/small:v1`);
    await docker('logout', `localhost:${plain.port}`);
  });

  it('keeps robot tokens to their own repositories', async () => {
    await docker('login', `localhost:${plain.port}`, '-u', 'ci', '-p', robotToken);
    await docker('tag', 'fixtures/small:latest', `localhost:${plain.port}/auth/not-for-robots:v1`);
    await assert.rejects(docker('push', `localhost:${plain.port}/auth/not-for-robots:v1`), /denied|not allow/i);
    await docker('logout', `localhost:${plain.port}`);
  });

  it('pushes and pulls with a robot token as the password', async () => {
    const out = await docker('login', `localhost:${plain.port}`, '-u', 'ci', '-p', robotToken);
    assert.match(out, /Login Succeeded/);
    await pushRemovePull('fixtures/small:latest', `localhost:${plain.port}/robots/small:v1`);
    await docker('logout', `localhost:${plain.port}`);
  });

  it('refuses TLS without the CA in certs.d (the verification is real)', async () => {
    await assert.rejects(docker('login', `host.docker.internal:${secure.port}`, '-u', 'admin', '-p', ADMIN_PASSWORD), /x509|certificate/i);
  });

  it('logs in, pushes and pulls over TLS with the CA in /etc/docker/certs.d', async () => {
    await fs.mkdir(certsDir, { recursive: true });
    await fs.copyFile(path.join(work, 'secure', 'tls', 'ca.crt'), path.join(certsDir, 'ca.crt'));
    const out = await docker('login', `host.docker.internal:${secure.port}`, '-u', 'admin', '-p', ADMIN_PASSWORD);
    assert.match(out, /Login Succeeded/);
    await load('many');
    await pushRemovePull('fixtures/many:latest', `host.docker.internal:${secure.port}/tls/many:v1`);
  });
});
