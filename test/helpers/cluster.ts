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
import { randomUUID } from 'node:crypto';
import { startPostgres, postgresBinDir, type TestPostgres } from '../../scripts/postgres.js';
import { ROOT, freePort, startBerth, type BerthProcess } from './berth-process.ts';
import { tempDir } from './server.ts';
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
    // One at a time: the first applies the migrations; the others would wait for its lock anyway.
    for (let i = 0; i < count; i++) started.push(await startBerth({ dataDir: dataDir(i), env, tls }));
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

/** HAProxy in the foreground (-db) with deploy/haproxy.cfg, its addresses in the environment. */
export async function startHaproxy(work: string, replicas: string[]): Promise<LoadBalancer> {
  if (replicas.length !== 3) throw new Error('deploy/haproxy.cfg lists three replicas');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_LB_BIND: `127.0.0.1:${port}`,
    BERTH_REPLICA_1: replicas[0],
    BERTH_REPLICA_2: replicas[1],
    BERTH_REPLICA_3: replicas[2],
  };
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', HAPROXY_CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: work });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  // Up once a request through it reaches a replica.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${output}`);
    if ((await status(`${url}/v2/`)) === 200) break;
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
