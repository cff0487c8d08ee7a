/**
 * A Berth cluster's throughput against one Berth on nedb (docs/benchmarks.md, "A cluster"), on this
 * machine, loopback only, ports 5700-5799:
 *   Swift + s3api          :5710-5713  (scripts/swift-s3.sh), one bucket
 *   PostgreSQL             :5720       (scripts/postgres.js, fsync on: as deployed)
 *   berth on nedb          :5730       (the single-server default, same S3 bucket, own prefix)
 *   3 replicas on PG       :5731-5733  (BERTH_METADATA_URL, one shared prefix)
 *   HAProxy                :5740 (nedb), :5741 (1 replica), :5742 (2), :5743 (3): deploy/haproxy.cfg
 *                          with its server lines set to the replicas of each configuration.
 * Every configuration goes through HAProxy, so the balancer's cost is the same in each. Rounds are
 * interleaved (each round runs every configuration once per workload):
 *   manifest GET   wrk, 2 threads, 32 connections, DUR seconds, GET by tag with an OCI Accept
 *   push           8 concurrent pushes of an image (4 layers x 4 MiB, fresh bytes every round), each
 *                  request through HAProxy (so a push's requests spread over the replicas)
 * CPU is read from /proc (utime+stime) for the Berth processes and, separately, for PostgreSQL's
 * processes: per request for GETs, per GB for pushes.
 *
 *   flock /tmp/berth-bench.lock npx tsx bench/cluster.ts [--runs 3] [--dur 8] [--out bench-cluster.json]
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startPostgres } from '../scripts/postgres.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, dur: { type: 'string', default: '8' }, out: { type: 'string', default: '' } } });
const RUNS = Number(values.runs);
const DUR = Number(values.dur);
const S3_PORT = 5710;
const PG_PORT = 5720;
const NEDB_PORT = 5730;
const REPLICA_PORTS = [5731, 5732, 5733];
const LB_PORTS = { nedb: 5740, r1: 5741, r2: 5742, r3: 5743 } as const;
type Config = keyof typeof LB_PORTS;
const CONFIGS: Config[] = ['nedb', 'r1', 'r2', 'r3'];
const LAYERS = 4;
const LAYER_BYTES = 4 * 1024 * 1024;
const PUSHES = 8;
const HZ = 100; // USER_HZ: /proc's clock ticks per second on Linux

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-bench-cluster-'));
const children: ChildProcess[] = [];

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

function start(file: string, args: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => out.push(d));
  child.on('exit', () => void fs.writeFile(path.join(work, log), Buffer.concat(out)).catch(() => undefined));
  children.push(child);
  return child;
}

function status(url: string, headers: Record<string, string> = {}): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('error', () => resolve(null));
  });
}

async function waitUp(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await status(url)) !== 200) {
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** utime + stime of a process and its children (seconds). */
async function cpuOf(pid: number): Promise<number> {
  try {
    const fields = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
    // After "pid (comm) ": state is field 3, utime 14, stime 15 -> indexes 11 and 12 here.
    return (Number(fields[11]) + Number(fields[12])) / HZ;
  } catch {
    return 0;
  }
}

/** The postmaster and every backend (its children) at this moment. */
async function postgresPids(postmaster: number): Promise<number[]> {
  const pids = [postmaster];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.replace(/^.*\) /, '').split(' ')[1]);
    if (ppid === postmaster) pids.push(Number(entry));
  }
  return pids;
}

/** CPU seconds of PostgreSQL between two calls: backends come and go, so per-pid deltas are summed. */
async function pgCpuSnapshot(postmaster: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const pid of await postgresPids(postmaster)) out.set(pid, await cpuOf(pid));
  return out;
}

function pgCpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
  return sum;
}

const swiftDir = path.join(work, 'swift');
let pgHandle: Awaited<ReturnType<typeof startPostgres>> | null = null;
try {
  // ---- set-up -------------------------------------------------------------------------------------

  const s3vars = Object.fromEntries(
    (await run('bash', [path.join(ROOT, 'scripts/swift-s3.sh'), 'start', swiftDir, String(S3_PORT)]))
      .split('\n').map((l) => /^(?:export )?([A-Z0-9_]+)=["']?([^"']*)["']?$/.exec(l.trim())).filter((m) => m !== null).map((m) => [m![1], m![2]]),
  );
  await run('bash', [path.join(ROOT, 'scripts/swift-s3.sh'), 'create-bucket', swiftDir, 'cluster-bench']);
  const pg = await startPostgres({ fast: false, port: PG_PORT });
  pgHandle = pg;
  const databaseUrl = await pg.createDatabase('berth');
  const postmaster = await pg.postmasterPid();

  const storageEnv = (prefix: string): NodeJS.ProcessEnv => ({
    BERTH_STORAGE_DRIVER: 's3', BERTH_STORAGE_S3_ENDPOINT: s3vars.S3_ENDPOINT, BERTH_STORAGE_S3_BUCKET: 'cluster-bench',
    BERTH_STORAGE_S3_FORCE_PATH_STYLE: 'true', BERTH_STORAGE_S3_PREFIX: prefix,
    AWS_ACCESS_KEY_ID: s3vars.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: s3vars.AWS_SECRET_ACCESS_KEY,
  });
  const berth = (port: number, dataDir: string, env: NodeJS.ProcessEnv) =>
    start(process.execPath, ['--max-semi-space-size=2', '--expose-gc', path.join(ROOT, 'bin/berth.js'), 'serve', '--port', String(port), '--data', dataDir, '--log-level', 'warn'], env, `berth-${port}.log`);

  const nedb = berth(NEDB_PORT, path.join(work, 'nedb'), storageEnv('nedb'));
  const replicas: ChildProcess[] = [];
  for (const [i, port] of REPLICA_PORTS.entries()) {
    replicas.push(berth(port, path.join(work, `replica${i + 1}`), { ...storageEnv('cluster'), BERTH_METADATA_URL: databaseUrl }));
    await waitUp(`http://127.0.0.1:${port}/v2/`);
  }
  await waitUp(`http://127.0.0.1:${NEDB_PORT}/v2/`);

  // deploy/haproxy.cfg with the server lines of each configuration.
  const template = (await fs.readFile(path.join(ROOT, 'deploy/haproxy.cfg'), 'utf8')).split('\n').filter((l) => !/^\s*server berth\d/.test(l)).join('\n');
  const backends: Record<Config, number[]> = { nedb: [NEDB_PORT], r1: REPLICA_PORTS.slice(0, 1), r2: REPLICA_PORTS.slice(0, 2), r3: REPLICA_PORTS };
  for (const config of CONFIGS) {
    const file = path.join(work, `haproxy-${config}.cfg`);
    const servers = backends[config].map((p, i) => `    server berth${i + 1} 127.0.0.1:${p}`).join('\n');
    await fs.writeFile(file, `${template.trimEnd()}\n${servers}\n`);
    start('haproxy', ['-db', '-f', file], { BERTH_LB_BIND: `127.0.0.1:${LB_PORTS[config]}` }, `haproxy-${config}.log`);
    await waitUp(`http://127.0.0.1:${LB_PORTS[config]}/v2/`);
  }
  const berthPids: Record<Config, number[]> = {
    nedb: [nedb.pid!], r1: [replicas[0]!.pid!], r2: replicas.slice(0, 2).map((r) => r.pid!), r3: replicas.map((r) => r.pid!),
  };

  // ---- workloads ----------------------------------------------------------------------------------

  function request(port: number, method: string, pathname: string, body: Buffer | null, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: pathname, headers: { ...headers, 'Content-Length': String(body?.length ?? 0) } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(body ?? undefined);
    });
  }

  const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

  async function pushBlob(port: number, repo: string, bytes: Buffer): Promise<void> {
    const started = await request(port, 'POST', `/v2/${repo}/blobs/uploads/`, null);
    if (started.status !== 202) throw new Error(`POST ${started.status} (${repo})`);
    const location = new URL(started.headers.location!, 'http://x');
    const patched = await request(port, 'PATCH', location.pathname + location.search, bytes, { 'Content-Type': 'application/octet-stream' });
    if (patched.status !== 202) throw new Error(`PATCH ${patched.status} (${repo})`);
    const done = new URL(patched.headers.location!, 'http://x');
    done.searchParams.set('digest', sha256(bytes));
    const put = await request(port, 'PUT', done.pathname + done.search, null);
    if (put.status !== 201) throw new Error(`PUT ${put.status} (${repo})`);
  }

  function fill(seed: string, size: number): Buffer {
    const out = Buffer.alloc(size);
    let block = createHash('sha256').update(seed).digest();
    for (let o = 0; o < size; o += block.length) {
      block.copy(out, o);
      block = createHash('sha256').update(block).digest();
    }
    return out;
  }

  async function pushImage(port: number, repo: string, seed: string): Promise<number> {
    const layers = Array.from({ length: LAYERS }, (_, j) => fill(`${seed}-${j}`, LAYER_BYTES));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
    await Promise.all(layers.map((l) => pushBlob(port, repo, l)));
    await pushBlob(port, repo, config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: l.length })),
    }));
    const put = await request(port, 'PUT', `/v2/${repo}/manifests/v1`, manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    if (put.status !== 201) throw new Error(`manifest PUT ${put.status}`);
    return layers.length * LAYER_BYTES + config.length + manifest.length;
  }

  interface Sample { config: Config; round: number; reqPerS?: number; berthCpuUsPerReq?: number; pgCpuUsPerReq?: number; mbPerS?: number; berthCpuSPerGb?: number; pgCpuSPerGb?: number }
  const samples: Sample[] = [];
  const retries: string[] = [];

  async function measure<T>(config: Config, work: () => Promise<T>): Promise<{ result: T; seconds: number; berthCpu: number; pgCpu: number }> {
    const pids = berthPids[config];
    const before = await Promise.all(pids.map(cpuOf));
    const pgBefore = await pgCpuSnapshot(postmaster);
    const t0 = process.hrtime.bigint();
    const result = await work();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const after = await Promise.all(pids.map(cpuOf));
    const pgAfter = await pgCpuSnapshot(postmaster);
    return { result, seconds, berthCpu: after.reduce((s, c, i) => s + c - before[i]!, 0), pgCpu: pgCpuDelta(pgBefore, pgAfter) };
  }

  // A manifest to GET on every configuration (pushed through its own balancer).
  for (const config of CONFIGS) await pushImage(LB_PORTS[config], 'bench/get', `get-${config}`);

  for (let round = 1; round <= RUNS; round++) {
    for (const config of CONFIGS) {
      const port = LB_PORTS[config];
      const get = await measure(config, () =>
        run('wrk', ['-t2', '-c32', `-d${DUR}s`, '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', `http://127.0.0.1:${port}/v2/bench/get/manifests/v1`]));
      const requests = Number(/(\d+) requests in/.exec(get.result)?.[1] ?? 0);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(get.result)?.[1] ?? 0);
      if (non2xx > 0) throw new Error(`${config}: ${non2xx} GETs failed`);
      samples.push({ config, round, reqPerS: requests / get.seconds, berthCpuUsPerReq: (get.berthCpu / requests) * 1e6, pgCpuUsPerReq: (get.pgCpu / requests) * 1e6 });
    }
    for (const config of CONFIGS) {
      const port = LB_PORTS[config];
      const push = await measure(config, async () => {
        // A push refused by the store under load (Swift answers 503 now and then on this shared machine)
      // is pushed again, as a client would, and counted.
      const pushOnce = async (i: number): Promise<number> => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await pushImage(port, `bench/push-${config}-${round}-${i}`, `push-${config}-${round}-${i}`);
          } catch (err) {
            if (attempt >= 3) throw err;
            retries.push(`${config} round ${round}: ${(err as Error).message}`);
          }
        }
      };
      const sizes = await Promise.all(Array.from({ length: PUSHES }, (_, i) => pushOnce(i)));
        return sizes.reduce((a, b) => a + b, 0);
      });
      const gb = push.result / 1e9;
      const sample = samples.find((s) => s.config === config && s.round === round)!;
      sample.mbPerS = push.result / 1e6 / push.seconds;
      sample.berthCpuSPerGb = push.berthCpu / gb;
      sample.pgCpuSPerGb = push.pgCpu / gb;
    }
    process.stderr.write(`round ${round}/${RUNS} done\n`);
  }

  // ---- report -------------------------------------------------------------------------------------

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const NAMES: Record<Config, string> = { nedb: '1 Berth, nedb', r1: '1 replica, PostgreSQL', r2: '2 replicas, PostgreSQL', r3: '3 replicas, PostgreSQL' };
  const rows = CONFIGS.map((config) => {
    const of = (key: keyof Sample) => samples.filter((s) => s.config === config).map((s) => s[key] as number);
    return {
      config: NAMES[config],
      manifestGetReqPerS: median(of('reqPerS')),
      berthCpuUsPerGet: median(of('berthCpuUsPerReq')),
      pgCpuUsPerGet: median(of('pgCpuUsPerReq')),
      pushMbPerS: median(of('mbPerS')),
      berthCpuSPerGbPushed: median(of('berthCpuSPerGb')),
      pgCpuSPerGbPushed: median(of('pgCpuSPerGb')),
    };
  });
  const lines = [
    `| configuration | manifest GET req/s | Berth CPU us/GET | PostgreSQL CPU us/GET | push MB/s (8 at once) | Berth CPU s/GB pushed | PostgreSQL CPU s/GB |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.config} | ${r.manifestGetReqPerS.toFixed(0)} | ${r.berthCpuUsPerGet.toFixed(0)} | ${r.pgCpuUsPerGet.toFixed(0)} | ${r.pushMbPerS.toFixed(1)} | ${r.berthCpuSPerGbPushed.toFixed(2)} | ${r.pgCpuSPerGbPushed.toFixed(2)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n\nmedians of ${RUNS} interleaved rounds, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), wrk ${DUR} s x 32 connections, ${PUSHES} pushes x ${LAYERS} x ${LAYER_BYTES / 1048576} MiB\n`);
  if (retries.length > 0) process.stdout.write(`pushes retried: ${retries.length}\n${retries.map((r) => `  ${r}`).join('\n')}\n`);
  if (values.out) await fs.writeFile(values.out, JSON.stringify({ rows, samples, retries, runs: RUNS, dur: DUR }, null, 2));
} finally {
  // ---- tear-down ----------------------------------------------------------------------------------
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  await pgHandle?.remove();
  await run('bash', [path.join(ROOT, 'scripts/swift-s3.sh'), 'stop', swiftDir]).catch(() => undefined);
  await fs.rm(work, { recursive: true, force: true });
}
