/**
 * A real Berth server on a random loopback port with a fresh data directory, in this process, on the
 * storage driver of this test run (helpers/storage.ts: BERTH_TEST_STORAGE). With BERTH_TEST_POSTGRES set
 * (scripts/test.js's PostgreSQL pass: the URL of a server it started), its metadata lives in a database
 * of its own there, one per data directory (a restart on the same directory finds its users and runs).
 * With BERTH_TEST_CLUSTER=1 as well (scripts/test.js's cluster pass, on S3), each server is a cluster:
 * three `berth serve` replicas behind HAProxy (helpers/cluster.ts: startClusterServer).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaults, type BerthConfig } from '../../server/config.ts';
import { createRegistry, type Registry, type RegistryDeps } from '../../server/index.ts';
import type { BerthProcess } from './berth-process.ts';
import { storageFor } from './storage.ts';

/** scripts/test.js's cluster pass: each test server is three replicas behind HAProxy. */
export const inCluster = process.env.BERTH_TEST_CLUSTER === '1';

/**
 * The skip of a test that needs one server process (it injects a clock, reads that process's files or
 * state, or sets what only an embedding program can): the reason in the cluster pass, else false.
 */
export function singleProcess(reason: string): string | false {
  return inCluster ? `cluster pass: ${reason}` : false;
}

export interface TestServer {
  url: string;
  dataDir: string;
  registry: Registry;
  /** The cluster pass: the `berth serve` replicas behind the URL (`registry` is then a fourth member, in this process). */
  replicas?: BerthProcess[];
  /** Stops the server; keeps the data directory (pass remove to delete it). */
  close(options?: { remove?: boolean }): Promise<void>;
}

export async function tempDir(prefix = 'berth-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function startServer(overrides: Partial<BerthConfig> = {}, deps: RegistryDeps = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? (await tempDir());
  const metadata = overrides.metadata ?? (await testMetadata(dataDir));
  const config: BerthConfig = { ...defaults(), host: '127.0.0.1', port: 0, logLevel: 'silent', shutdownGraceSeconds: 2, storage: storageFor(dataDir), ...overrides, dataDir, metadata };
  if (inCluster) {
    const { startClusterServer } = await import('./cluster.ts');
    return startClusterServer(config, overrides, deps);
  }
  const registry = createRegistry(config, deps);
  const { url } = await registry.listen();
  await registry.indexReady();
  return {
    url,
    dataDir,
    registry,
    async close(options = {}) {
      await registry.close();
      if (options.remove) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The metadata a test server uses: nedb, or (second pass) a PostgreSQL database of its data directory. */
export async function testMetadata(dataDir: string): Promise<BerthConfig['metadata']> {
  const server = process.env.BERTH_TEST_POSTGRES;
  if (!server) return { driver: 'nedb' };
  return { driver: 'postgres', url: await testDatabase(`t_${createHash('sha256').update(dataDir).digest('hex').slice(0, 20)}`) };
}

/** Creates (unless it exists) a database on the test run's PostgreSQL server; returns its URL. */
export async function testDatabase(name: string): Promise<string> {
  const server = process.env.BERTH_TEST_POSTGRES;
  if (!server) throw new Error('BERTH_TEST_POSTGRES is not set');
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rows.length === 0) await client.query(`CREATE DATABASE "${name}"`);
  } catch (err) {
    // Two files creating the same database at once: the other one made it.
    if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505') throw err;
  } finally {
    await client.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Whether this run keeps metadata in PostgreSQL (tests of nedb files skip their file checks then). */
export const metadataInPostgres = Boolean(process.env.BERTH_TEST_POSTGRES);
