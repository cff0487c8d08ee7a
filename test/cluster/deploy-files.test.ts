/**
 * docs/deploy.md is followed as written: its HAProxy config is deploy/haproxy.cfg (the file the cluster
 * harness runs) and HAProxy accepts it with the addresses the harness gives; the environment names it
 * tells users to set are the ones Berth reads and the harness sets; deploy/berth.service starts a replica
 * as written; and deploy/Dockerfile's runtime stage works. `docker build` cannot run here (its base image
 * comes from Docker Hub), so the runtime stage is carried out without Docker: its `npm ci` in a folder of
 * its own, its COPYs from the built tree, then its ENTRYPOINT and CMD with its ENV, as a replica on
 * PostgreSQL and S3, until its HEALTHCHECK command passes. What this cannot see: the base image itself.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type TestPostgres } from '../../scripts/postgres.js';
import { ROOT, freePort } from '../helpers/berth-process.ts';
import { clusterSkip, HAPROXY_CONFIG, haproxyEnv } from '../helpers/cluster.ts';
import { tempDir } from '../helpers/server.ts';
import { envOf, freshStorage } from '../helpers/storage.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const DEPLOY_MD = path.join(ROOT, 'docs', 'deploy.md');
const DOCKERFILE = path.join(ROOT, 'deploy', 'Dockerfile');
const SERVICE = path.join(ROOT, 'deploy', 'berth.service');

/** The fenced blocks of a markdown file, with their language. */
async function codeBlocks(file: string): Promise<{ lang: string; text: string }[]> {
  const text = await fs.readFile(file, 'utf8');
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]! }));
}

/** Every `${NAME}` a config file reads from the environment. */
function envReferences(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!))].sort();
}

/** Source files under server/ (every name Berth reads is written there). */
async function serverSources(): Promise<string> {
  const dir = path.join(ROOT, 'server');
  const files = (await fs.readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts'));
  return (await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), 'utf8')))).join('\n');
}

/** Dockerfile instructions (continued lines joined), per stage. */
async function dockerStages(): Promise<{ instruction: string; args: string }[][]> {
  const text = (await fs.readFile(DOCKERFILE, 'utf8')).replace(/\\\n\s*/g, '');
  const stages: { instruction: string; args: string }[][] = [];
  for (const line of text.split('\n')) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m || line.trim().startsWith('#')) continue;
    if (m[1] === 'FROM') stages.push([]);
    stages.at(-1)?.push({ instruction: m[1]!, args: m[2]!.trim() });
  }
  return stages;
}

/** `KEY=value KEY2=value2` of an ENV instruction. */
function envPairs(args: string): Record<string, string> {
  return Object.fromEntries([...args.matchAll(/([A-Z0-9_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('docs/deploy.md and deploy/ as the harness runs them', () => {
  it('the HAProxy config in docs/deploy.md is deploy/haproxy.cfg without its comments', async () => {
    const blocks = (await codeBlocks(DEPLOY_MD)).filter((b) => b.lang === 'haproxy');
    assert.equal(blocks.length, 1, 'one haproxy block');
    const withoutComments = (await fs.readFile(HAPROXY_CONFIG, 'utf8'))
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .map((l) => l.replace(/\s+#.*$/, ''))
      .join('\n')
      .trim();
    assert.equal(blocks[0]!.text.trim(), withoutComments);
  });

  it('the addresses deploy/haproxy.cfg reads are the ones the harness and the command line of docs/deploy.md set', async () => {
    const names = envReferences(await fs.readFile(HAPROXY_CONFIG, 'utf8'));
    assert.deepEqual(names, Object.keys(haproxyEnv(':5000', ['a:1', 'b:2', 'c:3'])).sort());
    const command = (await codeBlocks(DEPLOY_MD)).find((b) => b.lang === 'sh' && /haproxy -f deploy\/haproxy\.cfg/.test(b.text));
    assert.ok(command, 'docs/deploy.md shows how HAProxy is started');
    assert.deepEqual([...new Set([...command.text.matchAll(/\b([A-Z0-9_]+)=/g)].map((m) => m[1]!))].sort(), names);
  });

  it('HAProxy accepts deploy/haproxy.cfg with those addresses (haproxy -c)', { skip: skipUnless('haproxy') }, async () => {
    const out = await run('haproxy', ['-c', '-f', HAPROXY_CONFIG], { env: haproxyEnv('127.0.0.1:5000', ['127.0.0.1:5001', '127.0.0.1:5002', '127.0.0.1:5003']) });
    assert.match(out, /Configuration file is valid/);
  });

  it('every name of the berth.env of docs/deploy.md is one Berth reads; the harness gives replicas only documented names', async () => {
    const envBlock = (await codeBlocks(DEPLOY_MD)).find((b) => b.lang === 'sh' && /^BERTH_METADATA_URL=/m.test(b.text));
    assert.ok(envBlock, 'docs/deploy.md has the berth.env of a replica');
    const names = [...envBlock.text.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    assert.ok(names.length >= 8, names.join(', '));
    const sources = await serverSources();
    // The AWS SDK reads its keys itself (the default credential chain).
    for (const name of names.filter((n) => !n.startsWith('AWS_'))) assert.ok(sources.includes(`'${name}'`) || sources.includes(`.${name}`), `Berth reads ${name}`);
    const documented = (await fs.readFile(DEPLOY_MD, 'utf8')) + (await fs.readFile(path.join(ROOT, 'README.md'), 'utf8'));
    // What test/helpers/cluster.ts gives each replica (on S3, as the cluster tests run).
    const harness = Object.keys({ ...envOf(freshStorage('s3')), BERTH_METADATA_URL: '' });
    for (const name of harness) assert.ok(documented.includes(name), `${name} (set by the harness) is documented`);
  });

  it('deploy/berth.service reads the berth.env of docs/deploy.md and runs bin/berth.js serve as deploy/Dockerfile does', async () => {
    const unit = await fs.readFile(SERVICE, 'utf8');
    assert.match(unit, /^EnvironmentFile=\/etc\/berth\/berth\.env$/m);
    assert.match(await fs.readFile(DEPLOY_MD, 'utf8'), /`\/etc\/berth\/berth\.env`/);
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(/\s+/);
    assert.ok(exec);
    const stages = await dockerStages();
    const entrypoint = JSON.parse(stages.at(-1)!.find((i) => i.instruction === 'ENTRYPOINT')!.args) as string[];
    // The same node flags as the image and bin/berth.js's own #! line.
    assert.deepEqual(exec.slice(1, 3), entrypoint.slice(1, 3));
    assert.match(await fs.readFile(path.join(ROOT, 'bin', 'berth.js'), 'utf8'), new RegExp(`^#!.*node ${entrypoint.slice(1, 3).join(' ')}\\n`));
    // And the same malloc setting (bin/berth.js says why).
    assert.match(await fs.readFile(path.join(ROOT, 'bin', 'berth.js'), 'utf8'), /^#!\/usr\/bin\/env -S MALLOC_ARENA_MAX=2 node /);
    assert.match(unit, /^Environment=MALLOC_ARENA_MAX=2$/m);
    const env = stages.at(-1)!.filter((i) => i.instruction === 'ENV').map((i) => i.args).join(' ');
    assert.match(env, /(^| )MALLOC_ARENA_MAX=2( |$)/);
    assert.equal(exec[3], '/opt/berth/bin/berth.js');
    assert.equal(exec[4], 'serve');
  });
});

describe('deploy/Dockerfile: its runtime stage, carried out without Docker, serves as a replica on PostgreSQL and S3', { skip: clusterSkip(), timeout: 300_000 }, () => {
  let work: string;
  let pg: TestPostgres;
  let child: ChildProcess | null = null;
  let output = '';

  before(async () => {
    work = await tempDir('berth-image-');
    pg = await startPostgres({ fast: true });
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await exitCode(child);
    }
    await pg?.remove();
    await fs.rm(work, { recursive: true, force: true });
  });

  it('builds from a context that leaves out node_modules and dist, installs production dependencies only, and passes its HEALTHCHECK', async () => {
    // `COPY . .` in the build stage must not bring the host's node_modules or dist over what it builds.
    const ignored = (await fs.readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim().replace(/^\/|\/$/g, ''));
    for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), `.dockerignore leaves out ${entry}`);

    const stages = await dockerStages();
    assert.equal(stages.length, 2, 'a build stage and a runtime stage');
    const build = stages[0]!;
    const runtime = stages[1]!;
    assert.match(build.find((i) => i.instruction === 'FROM')!.args, /^node:20\S* AS build$/);
    assert.ok(build.some((i) => i.instruction === 'RUN' && i.args === 'npm run build'), 'the build stage builds dist/');
    const builtIn = build.find((i) => i.instruction === 'WORKDIR')!.args;
    const workdir = runtime.find((i) => i.instruction === 'WORKDIR')!.args;
    const image = path.join(work, workdir.replace(/^\//, ''));
    await fs.mkdir(image, { recursive: true });
    const env: Record<string, string> = {};
    for (const { instruction, args } of runtime) {
      if (instruction === 'ENV') Object.assign(env, envPairs(args));
      else if (instruction === 'COPY') {
        const parts = args.split(/\s+/);
        const from = parts[0]!.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : null;
        const dest = parts.pop()!;
        for (const source of parts) {
          // From the build stage: its WORKDIR is this tree once built (npm run build, as the tests need anyway).
          const local = from === 'build' ? path.join(ROOT, path.relative(builtIn, source)) : path.join(ROOT, source);
          assert.equal(from === null || from === 'build', true, `COPY --from=${from}`);
          const target = dest.endsWith('/') ? path.join(image, dest, path.basename(source)) : path.join(image, dest);
          await fs.cp(local, target, { recursive: true });
        }
      } else if (instruction === 'RUN') {
        const install = /^npm ci (--omit=dev[^&]*)/.exec(args);
        if (install) {
          // Its npm ci, from the npm cache where it can (the tree's own npm ci filled it); not its `npm cache clean`.
          await run('npm', ['ci', '--prefix', image, ...install[1]!.trim().split(/\s+/), '--prefer-offline'], { env: { npm_config_loglevel: 'error' }, timeoutMs: 240_000 });
        } else {
          // The one other step makes the data volume the node user's.
          assert.equal(args, `mkdir -p ${env.BERTH_DATA} && chown node:node ${env.BERTH_DATA}`);
        }
      }
    }
    assert.equal(runtime.find((i) => i.instruction === 'VOLUME')!.args, env.BERTH_DATA);
    assert.equal(runtime.find((i) => i.instruction === 'EXPOSE')!.args, env.BERTH_PORT);
    const entrypoint = JSON.parse(runtime.find((i) => i.instruction === 'ENTRYPOINT')!.args) as string[];
    const cmd = JSON.parse(runtime.find((i) => i.instruction === 'CMD')!.args) as string[];
    const health = /CMD (.*)$/.exec(runtime.find((i) => i.instruction === 'HEALTHCHECK')!.args)![1]!;
    assert.ok(health.includes(`127.0.0.1:${env.BERTH_PORT}/healthz`), 'the health check asks the port the image serves on');

    // The container, on this machine: its ENV (the port and the volume moved to free ones), a database and a bucket.
    const port = await freePort();
    const data = path.join(work, 'volume');
    await fs.mkdir(data);
    const databaseUrl = await pg.createDatabase('berth');
    const containerEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...env,
      BERTH_PORT: String(port),
      BERTH_DATA: data,
      BERTH_METADATA_URL: databaseUrl,
      BERTH_ADMIN_PASSWORD: 'image-admin-password',
      ...envOf(freshStorage('s3')),
    };
    const [program, ...args] = [...entrypoint, ...cmd];
    child = spawn(program!, args, { cwd: image, env: containerEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const check = health.replace(`127.0.0.1:${env.BERTH_PORT}/`, `127.0.0.1:${port}/`);
    const deadline = Date.now() + 120_000;
    for (;;) {
      assert.equal(child.exitCode, null, `the image's command exited: ${output}`);
      // Shell form, as Docker runs it (/bin/sh -c).
      const healthy = await run('sh', ['-c', check]).then(() => true, () => false);
      if (healthy) break;
      assert.ok(Date.now() < deadline, `HEALTHCHECK never passed: ${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const body = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string; store: string; metadata: { driver: string; state: string } };
    assert.deepEqual({ status: body.status, store: body.store, metadata: body.metadata.driver, state: body.metadata.state }, { status: 'ok', store: 'reachable', metadata: 'postgres', state: 'ok' });
    // Every interface, auth on (the image binds 0.0.0.0): the registry asks for a login.
    assert.equal((await fetch(`http://127.0.0.1:${port}/v2/`)).status, 401);
    child.kill('SIGTERM');
    assert.equal(await exitCode(child), 0, `a clean stop: ${output}`);
  });
});
