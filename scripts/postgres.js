// A throwaway PostgreSQL server for tests and benchmarks: Debian's `postgresql` package (binaries under
// /usr/lib/postgresql/<version>/bin, or on PATH), a data directory made with initdb in a temp folder,
// listening on a loopback port and a socket in that folder, started and stopped with pg_ctl. As root
// (CI) the server runs as the `postgres` user the package creates: PostgreSQL refuses to run as root.
// Nothing outside the temp folder is touched.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The folder holding initdb, pg_ctl and postgres, or null when PostgreSQL is not installed. */
export function postgresBinDir() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'pg_ctl')) && existsSync(path.join(dir, 'initdb'))) return dir;
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const dir = path.join(root, version, 'bin');
    if (existsSync(path.join(dir, 'pg_ctl')) && existsSync(path.join(dir, 'initdb'))) return dir;
  }
  return null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function run(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024, ...options }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * Starts a PostgreSQL server. `fast` (tests) turns off fsync and synchronous commit: a test never
 * survives a power cut, and each commit would otherwise wait for the disk. Benchmarks leave them on.
 * Returns { url(database), port, dir, createDatabase(name), stop(), start(), remove(), postmasterPid() }.
 */
export async function startPostgres({ fast = true, maxConnections = 400, port: fixedPort = 0 } = {}) {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (Debian: apt-get install postgresql)');
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-pg-'));
  const dataDir = path.join(root, 'data');
  const socketDir = path.join(root, 'socket');
  await fs.mkdir(socketDir);
  const asRoot = process.getuid?.() === 0;
  // As root, the files belong to the postgres user and every command runs as it.
  const as = (file, args) => (asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args]);
  if (asRoot) {
    await fs.chmod(root, 0o755);
    await run('chown', ['-R', 'postgres:postgres', root]);
  }
  await run(...as(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'berth', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']));
  // A given port (benchmarks keep to their range) is used as it is; otherwise a free one is picked.
  let port = fixedPort;
  const options = () => [
    `-p ${port}`, `-k ${socketDir}`, `-c listen_addresses=127.0.0.1`, `-c max_connections=${maxConnections}`,
    ...(fast ? ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'] : []),
  ].join(' ');
  const pgCtl = (args) => run(...as(path.join(bin, 'pg_ctl'), ['-D', dataDir, ...args]));
  const start = async () => {
    for (let attempt = 0; ; attempt++) {
      if (!fixedPort && (!port || attempt > 0)) port = await freePort();
      try {
        await pgCtl(['-w', '-t', '60', '-l', path.join(root, 'postgres.log'), '-o', options(), 'start']);
        return;
      } catch (err) {
        if (fixedPort || attempt >= 4) throw err;
      }
    }
  };
  await start();
  const url = (database = 'postgres') => `postgres://berth@127.0.0.1:${port}/${database}`;
  const psql = async (sql, database = 'postgres') => {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    get port() {
      return port;
    },
    dir: root,
    url,
    psql,
    /** Creates the database unless it exists; returns its URL. */
    async createDatabase(name) {
      const exists = await psql(`SELECT 1 FROM pg_database WHERE datname = '${name.replace(/'/g, "''")}'`);
      if (exists.length === 0) await psql(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      return url(name);
    },
    /** Stops the server (fast: open connections are cut); start() brings it back on the same port. */
    async stop() {
      await pgCtl(['-w', '-m', 'fast', 'stop']);
    },
    /** Starts it again on the same port after stop(). */
    async start() {
      await pgCtl(['-w', '-t', '60', '-l', path.join(root, 'postgres.log'), '-o', options(), 'start']);
    },
    /** The server's main process (its children are the backends: benchmarks add up their CPU). */
    async postmasterPid() {
      const text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
      return Number(text.split('\n')[0]);
    },
    /** Stops it if running and removes every file of it. */
    async remove() {
      await pgCtl(['-w', '-m', 'immediate', 'stop']).catch(() => undefined);
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}

// `node scripts/postgres.js`: starts one, prints its URL, and stops it on Ctrl-C (manual runs).
if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startPostgres({ fast: false });
  process.stdout.write(`${server.url('postgres')}\n`);
  const stop = () => server.remove().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  spawn('sleep', ['infinity'], { stdio: 'ignore' });
}
