/**
 * A Berth cluster as docs/deploy.md sets one up, on loopback: a PostgreSQL server of its own
 * (scripts/postgres.js), one bucket prefix on the run's S3 server (Swift + s3api, started by
 * scripts/test.js), N `berth serve` replicas from dist/ (each with its own --data for local state,
 * all with BERTH_METADATA_URL and the same BERTH_STORAGE_*), and HAProxy in round-robin in front of
 * them, configured by deploy/haproxy.cfg itself (its addresses come from the environment).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import { startPostgres, postgresBinDir, type TestPostgres } from '../../scripts/postgres.js';
import { ROOT, freePort, startBerth, type BerthProcess } from './berth-process.ts';
import type { BerthConfig } from '../../server/config.ts';
import { createRegistry, type RegistryDeps } from '../../server/index.ts';
import { tempDir, type TestServer } from './server.ts';
import { envOf, freshStorage, missingServer } from './storage.ts';
import { hasTool } from './tools.ts';

export const HAPROXY_CONFIG = path.join(ROOT, 'deploy', 'haproxy.cfg');

/** Why the cluster tests cannot run here, or false; under CI=true a missing piece fails instead. */
export function clusterSkip(): string | false {
  const missing: string[] = [];
  if (!postgresBinDir()) missing.push('PostgreSQL (apt-get install postgresql)');
  if (!hasTool('haproxy')) missing.push('HAProxy (apt-get install haproxy)');
  const s3 = missingServer('s3');
  if (s3) missing.push(s3);
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(', ')}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and the cluster ${reason}`);
  return reason;
}

export interface LoadBalancer {
  url: string;
  hostPort: string;
  stop(): Promise<void>;
}

export interface Cluster {
  pg: TestPostgres;
  databaseUrl: string;
  /** The environment every replica gets: BERTH_METADATA_URL and the storage settings. */
  env: NodeJS.ProcessEnv;
  replicas: BerthProcess[];
  lb: LoadBalancer;
  work: string;
  /** kill -9 of replica `i` if it runs, then starts it again on its data directory and port (its slot behind HAProxy). */
  restart(i: number): Promise<BerthProcess>;
  stop(): Promise<void>;
}

export async function startCluster(options: { replicas?: number; env?: NodeJS.ProcessEnv; haproxy?: boolean; tls?: boolean } = {}): Promise<Cluster> {
  const count = options.replicas ?? 3;
  const work = await tempDir('berth-cluster-');
  const pg = await startPostgres({ fast: true });
  const started: BerthProcess[] = [];
  let lb: LoadBalancer | null = null;
  try {
    const databaseUrl = await pg.createDatabase('berth');
    const env = { ...envOf(freshStorage('s3', { prefix: `cluster-${randomUUID()}` })), BERTH_METADATA_URL: databaseUrl, ...(options.tls ? { BERTH_TLS: 'true' } : {}), ...options.env };
    const tls = options.tls === true;
    const dataDir = (i: number) => path.join(work, `replica${i + 1}`);
    started.push(...(await startReplicas(Array.from({ length: count }, (_, i) => dataDir(i)), { env, tls })));
    if (options.haproxy !== false) lb = await startHaproxy(work, started.map((r) => r.hostPort));
    const cluster: Cluster = {
      pg,
      databaseUrl,
      env,
      replicas: started,
      lb: lb ?? { url: '', hostPort: '', stop: async () => undefined },
      work,
      async restart(i) {
        await cluster.replicas[i]!.kill9();
        const again = await startBerth({ dataDir: dataDir(i), env, tls, port: cluster.replicas[i]!.port });
        cluster.replicas[i] = again;
        return again;
      },
      async stop() {
        await cluster.lb.stop();
        await Promise.all(cluster.replicas.map((r) => r.stop().catch(() => undefined)));
        await pg.remove();
        await fs.rm(work, { recursive: true, force: true });
      },
    };
    return cluster;
  } catch (err) {
    await lb?.stop();
    await Promise.all(started.map((r) => r.kill9()));
    await pg.remove();
    await fs.rm(work, { recursive: true, force: true });
    throw err;
  }
}

/**
 * `berth serve` on each of `dataDirs`, all with `env`: the first alone (it applies the migrations; the
 * others would wait for its lock anyway), then the others together. On a failure, those started are killed.
 */
export async function startReplicas(dataDirs: string[], options: { env: NodeJS.ProcessEnv; tls?: boolean }): Promise<BerthProcess[]> {
  const start = (dataDir: string) => startBerth({ dataDir, env: options.env, tls: options.tls === true });
  const [first, ...rest] = dataDirs;
  if (first === undefined) return [];
  const one = await start(first);
  const others = await Promise.allSettled(rest.map(start));
  const started = [one, ...others.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))];
  const failed = others.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => r.kill9()));
    throw failed.reason;
  }
  return started;
}

/** The addresses deploy/haproxy.cfg reads from the environment (docs/deploy.md, "The load balancer"). */
export function haproxyEnv(bind: string, replicas: string[]): Record<string, string> {
  if (replicas.length !== 3) throw new Error('deploy/haproxy.cfg lists three replicas');
  return { BERTH_LB_BIND: bind, BERTH_REPLICA_1: replicas[0]!, BERTH_REPLICA_2: replicas[1]!, BERTH_REPLICA_3: replicas[2]! };
}

/** HAProxy in the foreground (-db) with deploy/haproxy.cfg, its addresses in the environment. */
export async function startHaproxy(work: string, replicas: string[]): Promise<LoadBalancer> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, ...haproxyEnv(`127.0.0.1:${port}`, replicas) };
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', HAPROXY_CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: work });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  // Up once a request through it reaches a replica (401: registry auth is on; HAProxy itself says 503).
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${output}`);
    const answer = await status(`${url}/v2/`);
    if (answer === 200 || answer === 401) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not forward to the replicas: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    hostPort: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function status(url: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('error', () => resolve(null));
  });
}

/**
 * What a test's startServer() may ask of a cluster: settings `berth serve` takes from the environment
 * (docs/deploy.md's berth.env). Anything else (a management token, TLS, another bind address, a web UI
 * folder, injected clocks) exists only for a server embedded in a process, so the test says why it
 * skips the cluster pass instead of silently testing less.
 */
const REPLICA_ENV: { [K in keyof BerthConfig]?: (config: BerthConfig) => NodeJS.ProcessEnv } = {
  auth: (c) => ({ BERTH_AUTH: c.auth }),
  adminPassword: (c) => (c.adminPassword ? { BERTH_ADMIN_PASSWORD: c.adminPassword } : {}),
  anonymousPull: (c) => ({ BERTH_ANONYMOUS_PULL: String(c.anonymousPull) }),
  allowedHosts: (c) => ({ BERTH_ALLOWED_HOSTS: c.allowedHosts.join(',') }),
  gcGraceMs: (c) => ({ BERTH_GC_GRACE: `${c.gcGraceMs}ms` }),
  gcUntagged: (c) => ({ BERTH_GC_UNTAGGED: String(c.gcUntagged) }),
  uploadPurgeAgeMs: (c) => ({ BERTH_UPLOAD_PURGE_AGE: `${c.uploadPurgeAgeMs}ms` }),
  bodyIdleTimeoutMs: (c) => ({ BERTH_BODY_IDLE_TIMEOUT: `${c.bodyIdleTimeoutMs}ms` }),
  uploadsPerClient: (c) => ({ BERTH_UPLOADS_PER_CLIENT: String(c.uploadsPerClient) }),
  // Given as the same store and database below, whatever the test passed.
  storage: () => ({}),
  metadata: () => ({}),
  dataDir: () => ({}),
};

/**
 * The cluster pass of test/http (scripts/test.js, BERTH_TEST_CLUSTER=1): in place of one server, three
 * `berth serve` replicas behind HAProxy (deploy/haproxy.cfg), with the settings the test asked for in
 * their environment, over the test server's store (a fresh prefix in the run's S3 bucket) and its
 * database (a fresh one on the run's PostgreSQL). The URL is HAProxy's. `registry` is a fourth member
 * of the same cluster in this process, which HAProxy sends nothing: what a test does through it (create
 * a token, look at the store, listen to events) it does to the shared state, as another replica would.
 * A restart on the same data directory finds the same store, database and replica directories.
 */
export async function startClusterServer(config: BerthConfig, overrides: Partial<BerthConfig>, deps: RegistryDeps): Promise<TestServer> {
  const unsupported = Object.keys(overrides).filter((k) => !(k in REPLICA_ENV) && !(k === 'port' && overrides.port === 0));
  if (Object.keys(deps).length > 0) unsupported.push(`injected ${Object.keys(deps).join(', ')}`);
  if (unsupported.length > 0) {
    throw new Error(`the cluster pass cannot give ${unsupported.join(', ')} to \`berth serve\` replicas: skip the test there (singleProcess(reason) in helpers/server.ts)`);
  }
  if (config.storage.driver === 'filesystem' || config.metadata.driver !== 'postgres') {
    throw new Error('the cluster pass needs a shared store and database: BERTH_TEST_STORAGE=s3 and BERTH_TEST_POSTGRES (node scripts/test.js starts both)');
  }
  const env: NodeJS.ProcessEnv = { ...envOf(config.storage), BERTH_METADATA_URL: config.metadata.url };
  for (const key of Object.keys(overrides) as (keyof BerthConfig)[]) Object.assign(env, REPLICA_ENV[key]?.(config));
  const registry = createRegistry(config, deps);
  await registry.listen();
  await registry.indexReady();
  // Elsewhere than beside the data directory (a test may check that nothing is written beside it), the
  // same ones on a restart on the same data directory.
  const replicasDir = path.join(os.tmpdir(), `berth-replicas-${createHash('sha256').update(path.resolve(config.dataDir)).digest('hex').slice(0, 16)}`);
  const dataDirs = [1, 2, 3].map((i) => path.join(replicasDir, `replica${i}`));
  let replicas: BerthProcess[] = [];
  let lb: LoadBalancer;
  try {
    replicas = await startReplicas(dataDirs, { env });
    lb = await startHaproxy(config.dataDir, replicas.map((r) => r.hostPort));
  } catch (err) {
    await Promise.all(replicas.map((r) => r.kill9()));
    await registry.close();
    throw err;
  }
  return {
    url: lb.url,
    dataDir: config.dataDir,
    registry,
    replicas,
    async close(options = {}) {
      await lb.stop();
      await Promise.all(replicas.map((r) => r.stop()));
      await registry.close();
      if (options.remove) await Promise.all([config.dataDir, replicasDir].map((d) => fs.rm(d, { recursive: true, force: true })));
    },
  };
}
