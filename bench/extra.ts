/**
 * Workloads the shared kit lacks (issue 3), measured on Berth and, where a comparison means something,
 * on Distribution:
 *   startup   time from spawn to the first 200 on /v2/, and to the first listing answered from the
 *             index, with 10,000 and 100,000 tags in the index (Berth only: the target is absolute)
 *   rss1g     resident memory sampled every 50 ms during a 1 GiB chunked push
 *   push20    20 concurrent pushes of distinct images (3 x 4 MiB layers each): wall time and the
 *             registry's CPU
 *   pushfloor the kit's `big` image pushed with skopeo, back to back in interleaved rounds after a
 *             round of warm-up, to Berth, to Distribution and to bench/push-floor-server.ts twice (Node's
 *             floor: the body received and hashed; and also written to disk as Berth writes it): each
 *             process's CPU per GB
 *   populate  the kit's catalog populate (two mounts and a manifest PUT per new repository) in
 *             interleaved batches on a fresh Berth and on Distribution, with the kit's own client code
 *             (bench/populate-batches.py): repos/s, CPU per repository, mount and PUT times
 * Usage: tsx bench/extra.ts --distribution URL --distribution-pid PID --work DIR --out FILE
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { keys, tagFileName } from '../server/storage/paths.ts';
import { run } from '../test/helpers/tools.ts';

const { values: args } = parseArgs({
  options: {
    distribution: { type: 'string' },
    'distribution-pid': { type: 'string' },
    work: { type: 'string', default: '/tmp/berth-bench/bench' },
    out: { type: 'string', default: '/tmp/berth-bench/bench/extra.json' },
    only: { type: 'string' },
    /** Port of the Berth it starts (bench/s3.sh keeps to its own range). */
    port: { type: 'string', default: '5156' },
    'startup-port': { type: 'string', default: '5155' },
    'floor-port': { type: 'string', default: '5157' },
    /** Counted rounds of the pushfloor workload (after one of warm-up). */
    'floor-rounds': { type: 'string', default: '6' },
    /** Batches of the populate workload, and new repositories per batch. */
    'populate-batches': { type: 'string', default: '6' },
    'populate-per': { type: 'string', default: '250' },
    /** The shared kit (its registry_bench.py is the populate's client), as bench/run.sh finds it. */
    kit: { type: 'string', default: process.env.BENCH_KIT ?? path.resolve(import.meta.dirname, '../../shared/bench') },
    /** The kit's test images (../shared/bench/make-images.sh writes them there when missing). */
    images: { type: 'string', default: process.env.IMAGES ?? '/tmp/berth-bench/images' },
  },
});
const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.resolve(args.work!);
const only = new Set((args.only ?? 'startup,rss1g,push20,pushfloor,populate').split(','));
const log = (...parts: unknown[]) => console.error('[extra]', ...parts);

// ---- process measurements -------------------------------------------------------------------

const HZ = 100;
async function treeCpuSeconds(pid: number): Promise<number> {
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    if (!text) continue;
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    stats.set(Number(entry), { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / HZ });
  }
  let total = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    total += stats.get(p)?.cpu ?? 0;
    for (const [child, s] of stats) if (s.ppid === p) todo.push(child);
  }
  return total;
}

async function rssBytes(pid: number): Promise<number> {
  const text = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(text)![1]) * 1024;
}

interface Berth {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function waitFor(url: string, deadlineMs = 120_000, everyMs = 5): Promise<number> {
  const started = performance.now();
  for (;;) {
    const ok = await fetch(url).then((r) => r.status === 200, () => false);
    if (ok) return performance.now() - started;
    if (performance.now() - started > deadlineMs) throw new Error(`${url} did not answer`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function spawnBerth(dataDir: string, port: number, logLevel = 'info'): Berth {
  // The server's own log goes next to its data (for a run that misbehaves); the bench's output stays clean.
  const logFile = `${dataDir}.log`;
  const child = spawn(path.join(ROOT, 'bin/berth.js'), ['serve', '--port', String(port), '--data', dataDir, '--log-level', logLevel], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sink = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(sink);
  child.stderr!.pipe(sink);
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const exited = new Promise((r) => child.once('exit', r));
      const late = setTimeout(() => log(`berth (pid ${child.pid}) has not stopped 30 s after SIGTERM; see ${logFile}`), 30_000);
      await exited;
      clearTimeout(late);
    },
  };
}

// ---- start-up with many tags ----------------------------------------------------------------

/** Writes a data directory in Berth's layout (server/storage/paths.ts) with `tags` tags, 100 per repository. */
async function writeTaggedDataDir(dir: string, tags: number): Promise<void> {
  const at = (key: string) => path.join(dir, ...key.split('/'));
  const put = async (bytes: Buffer) => {
    const digest = { algorithm: 'sha256' as const, hex: createHash('sha256').update(bytes).digest('hex'), value: '' };
    digest.value = `sha256:${digest.hex}`;
    await fs.mkdir(path.dirname(at(keys.blob(digest))), { recursive: true });
    await fs.writeFile(at(keys.blob(digest)), bytes);
    return { ...digest, size: bytes.length };
  };
  const layer = await put(Buffer.from('layer'));
  const config = await put(Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', created: '2026-01-01T00:00:00Z' })));
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = await put(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.value, size: config.size },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.value, size: layer.size }],
  })));
  const perRepo = 100;
  for (let r = 0; r < tags / perRepo; r++) {
    const repo = `startup/r${String(r).padStart(5, '0')}`;
    for (const d of [layer, config]) {
      await fs.mkdir(path.dirname(at(keys.layerLink(repo, d))), { recursive: true });
      await fs.writeFile(at(keys.layerLink(repo, d)), '');
    }
    await fs.mkdir(path.dirname(at(keys.revisionLink(repo, manifest))), { recursive: true });
    await fs.writeFile(at(keys.revisionLink(repo, manifest)), `${mediaType}\n`);
    await fs.mkdir(at(keys.tagsDir(repo)), { recursive: true });
    const writes = [];
    for (let t = 0; t < perRepo; t++) {
      const tag = `v${t}`;
      writes.push(fs.writeFile(path.join(at(keys.tagsDir(repo)), tagFileName(tag)), `${manifest.value}\n${tag}\n`));
    }
    await Promise.all(writes);
  }
}

async function startup(tags: number, port: number, rounds = 5) {
  const dir = path.join(WORK, `startup-${tags}`);
  await fs.rm(dir, { recursive: true, force: true });
  log(`start-up: writing ${tags} tags`);
  await writeTaggedDataDir(dir, tags);
  // First start rebuilds the index from disk (a one-off); a clean stop leaves it ready to load.
  let berth = spawnBerth(dir, port);
  await waitFor(`${berth.url}/v2/`);
  const rebuildMs = await waitFor(`${berth.url}/v2/_catalog?n=1`, 600_000, 50);
  await berth.stop();
  const firstV2: number[] = [];
  const indexReady: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    berth = spawnBerth(dir, port);
    await waitFor(`${berth.url}/v2/`, 60_000, 2);
    firstV2.push(performance.now() - started);
    await waitFor(`${berth.url}/v2/startup/r00000/tags/list?n=1`, 60_000, 2);
    indexReady.push(performance.now() - started);
    await berth.stop();
  }
  await fs.rm(dir, { recursive: true, force: true });
  return { tags, rebuildMs, firstV2Ms: firstV2, indexReadyMs: indexReady };
}

// ---- pushes ---------------------------------------------------------------------------------

function random(seed: string, size: number): Buffer {
  return createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(Buffer.alloc(size));
}

function request(url: string, method: string, body: Buffer | AsyncIterable<Buffer> | null, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
    const req = http.request(url, { method, headers: body ? headers : { ...headers, 'Content-Length': '0' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location }));
    });
    req.on('error', reject);
    if (!body) return void req.end();
    if (Buffer.isBuffer(body)) return void req.end(body);
    (async () => {
      for await (const chunk of body) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      req.end();
    })().catch(reject);
  });
}

async function pushBlob(base: string, repo: string, chunks: () => AsyncIterable<Buffer>, digest: string): Promise<void> {
  const start = await request(`${base}/v2/${repo}/blobs/uploads/`, 'POST', null);
  if (start.status !== 202) throw new Error(`POST upload: ${start.status}`);
  const patch = await request(new URL(start.location!, base).toString(), 'PATCH', chunks(), { 'Content-Type': 'application/octet-stream' });
  if (patch.status !== 202) throw new Error(`PATCH: ${patch.status}`);
  const done = new URL(patch.location!, base);
  done.searchParams.set('digest', digest);
  const put = await request(done.toString(), 'PUT', null);
  if (put.status !== 201) throw new Error(`PUT: ${put.status}`);
}

async function* pieces(bytes: Buffer, size = 64 * 1024): AsyncIterable<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function rss1g(url: string, pid: number) {
  const GiB = 1024 ** 3;
  for (let i = 0; i < 20; i++) await fetch(`${url}/v2/`);
  const baseline = await rssBytes(pid);
  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await rssBytes(pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const hash = createHash('sha256');
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 9), Buffer.alloc(16));
  const zeros = Buffer.alloc(1024 * 1024);
  async function* stream(): AsyncIterable<Buffer> {
    for (let sent = 0; sent < GiB; sent += zeros.length) {
      const chunk = cipher.update(zeros);
      hash.update(chunk);
      yield chunk;
    }
  }
  const cpu0 = await treeCpuSeconds(pid);
  const started = performance.now();
  const start = await request(`${url}/v2/rss/one-gib/blobs/uploads/`, 'POST', null);
  const patch = await request(new URL(start.location!, url).toString(), 'PATCH', stream(), { 'Content-Type': 'application/octet-stream' });
  const done = new URL(patch.location!, url);
  done.searchParams.set('digest', `sha256:${hash.digest('hex')}`);
  const put = await request(done.toString(), 'PUT', null);
  const seconds = (performance.now() - started) / 1000;
  const cpu = (await treeCpuSeconds(pid)) - cpu0;
  sampling = false;
  await sampler;
  if (put.status !== 201) throw new Error(`1 GiB push: ${put.status}`);
  const peak = Math.max(...samples);
  return { baselineMB: baseline / 1e6, peakMB: peak / 1e6, growthMB: (peak - baseline) / 1e6, seconds, cpuSecondsPerGB: cpu / (GiB / 1e9), samples: samples.length };
}

async function push20(url: string, pid: number, label: string) {
  const images = Array.from({ length: 20 }, (_, i) => {
    const layers = [0, 1, 2].map((j) => random(`${label}-${i}-${j}`, 4 * 1024 * 1024));
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [] }, i }));
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
    }));
    return { repo: `push20/${label}-${i}`, layers, config, manifest, sha };
  });
  const bytes = images.reduce((n, im) => n + im.layers.reduce((m, l) => m + l.length, 0), 0);
  const cpu0 = await treeCpuSeconds(pid);
  const started = performance.now();
  await Promise.all(images.map(async (im) => {
    for (const blob of [...im.layers, im.config]) await pushBlob(url, im.repo, () => pieces(blob), im.sha(blob));
    const res = await request(`${url}/v2/${im.repo}/manifests/v1`, 'PUT', im.manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    if (res.status !== 201) throw new Error(`manifest PUT ${im.repo}: ${res.status}`);
  }));
  const seconds = (performance.now() - started) / 1000;
  const cpu = (await treeCpuSeconds(pid)) - cpu0;
  for (const im of images) {
    const res = await fetch(`${url}/v2/${im.repo}/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    if (res.status !== 200) throw new Error(`${im.repo}:v1 not pullable after the push`);
  }
  return { images: 20, bytes, wallSeconds: seconds, MBps: bytes / 1e6 / seconds, cpuSeconds: cpu, cpuSecondsPerGB: cpu / (bytes / 1e9) };
}

// ---- Node's floor for a push ----------------------------------------------------------------

/** Bytes of an OCI layout's blobs: what a push of it sends (as the kit counts it). */
async function layoutBytes(dir: string): Promise<number> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  let total = 0;
  for (const name of await fs.readdir(blobs)) total += (await fs.stat(path.join(blobs, name))).size;
  return total;
}

/**
 * skopeo remembers where it pushed a blob and would mount it instead of sending it again; each push
 * here must send every byte.
 */
async function forgetSkopeoBlobs(): Promise<void> {
  const home = process.env.HOME ?? '/root';
  for (const file of ['/var/lib/containers/cache/blob-info-cache-v1.boltdb', path.join(home, '.local/share/containers/cache/blob-info-cache-v1.boltdb')]) {
    await fs.rm(file, { force: true });
  }
}

/** The kit's test image `name` (an OCI layout), made with the kit's make-images.sh when missing. */
async function kitImage(name: string): Promise<string> {
  const images = path.resolve(args.images!);
  await fs.access(path.join(images, name, 'index.json')).catch(async () => {
    log(`making the kit's test images in ${images}`);
    await run('bash', [path.join(path.resolve(args.kit!), 'make-images.sh'), images], { timeoutMs: 1_800_000 });
  });
  return path.join(images, name);
}

/**
 * The kit's catalog populate in interleaved batches (bench/populate-batches.py) on `berth` and on
 * Distribution. The kit's own figure is one pass per registry on a cold server; these show what the
 * ratio is on warm ones, and how much it moves from batch to batch on this machine.
 */
async function populateBatches(berthUrl: string, berthPid: number) {
  await kitImage('tiny');
  // The pushes before this leave gigabytes of dirty pages; their writeback would stall every fsync of it.
  await run('sync', []);
  const sides = [`berth=${berthUrl}=${berthPid}`, ...(distribution ? [`distribution=${distribution.url}=${distribution.pid}`] : [])];
  const out = await run('python3', [
    path.join(ROOT, 'bench/populate-batches.py'),
    '--kit', path.resolve(args.kit!),
    '--images', path.resolve(args.images!),
    '--probe-dir', path.join(WORK, 'extra-fsync-probe'),
    '--batches', args['populate-batches']!,
    '--per', args['populate-per']!,
    ...sides,
  ], { timeoutMs: 1_800_000 });
  return JSON.parse(out) as unknown;
}

/**
 * The kit's `big` image (210 MB) pushed by skopeo to Berth, to Distribution and to Node's floor
 * (bench/push-floor-server.ts), in rounds, the order turning each round, the first round not counted
 * (JIT warm-up, first allocations). Pushes follow each other with nothing between them: the kit's
 * "push big" comes after its other phases, whose leftover garbage a registry may collect during the
 * push; here each side only pays for the push itself.
 */
async function pushFloor(berthUrl: string, berthPid: number) {
  const image = await kitImage('big');
  const bytes = await layoutBytes(image);
  const floorPort = Number(args['floor-port']);
  const storeDir = path.join(WORK, 'extra-pushfloor-store');
  await fs.mkdir(storeDir, { recursive: true });
  // Node's floor twice (bench/push-floor-server.ts): the body received and hashed; and also written to disk as Berth writes it.
  const floors = [[String(floorPort)], [String(floorPort + 1), storeDir]].map((argv) => spawn(process.execPath, ['--max-semi-space-size=2', '--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench/push-floor-server.ts'), ...argv], {
    cwd: ROOT,
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
    stdio: 'ignore',
  }));
  try {
    await waitFor(`http://127.0.0.1:${floorPort}/v2/`);
    await waitFor(`http://127.0.0.1:${floorPort + 1}/v2/`);
    const sides = [
      { label: 'receive', hostPort: `127.0.0.1:${floorPort}`, pid: floors[0]!.pid! },
      { label: 'store', hostPort: `127.0.0.1:${floorPort + 1}`, pid: floors[1]!.pid! },
      { label: 'berth', hostPort: new URL(berthUrl).host, pid: berthPid },
      ...(distribution ? [{ label: 'distribution', hostPort: new URL(distribution.url).host, pid: distribution.pid }] : []),
    ];
    const cpuPerGB: Record<string, number[]> = Object.fromEntries(sides.map((s) => [s.label, []]));
    const rounds = Number(args['floor-rounds']);
    // A repository of its own per push and run: a registry that already has the blobs is not sent them.
    const runId = Date.now().toString(36);
    for (let round = 0; round <= rounds; round++) {
      for (let i = 0; i < sides.length; i++) {
        const side = sides[(i + round) % sides.length]!;
        await forgetSkopeoBlobs();
        const cpu0 = await treeCpuSeconds(side.pid);
        await run('skopeo', ['copy', '-q', '--retry-times', '0', '--dest-tls-verify=false', `oci:${image}:latest`, `docker://${side.hostPort}/floor/big-${runId}-${round}:latest`]);
        const cpu = (await treeCpuSeconds(side.pid)) - cpu0;
        if (round > 0) cpuPerGB[side.label]!.push(cpu / (bytes / 1e9));
      }
    }
    return { bytes, rounds, cpuSecondsPerGB: cpuPerGB };
  } finally {
    for (const floor of floors) floor.kill('SIGTERM');
    await fs.rm(storeDir, { recursive: true, force: true });
  }
}

// ---- main -----------------------------------------------------------------------------------

const results: Record<string, unknown> = { date: new Date().toISOString() };
const distribution = args.distribution ? { url: args.distribution, pid: Number(args['distribution-pid']) } : null;

if (only.has('startup')) {
  results.startup = [await startup(10_000, Number(args['startup-port'])), await startup(100_000, Number(args['startup-port']))];
  log('start-up', JSON.stringify(results.startup));
}
for (const [name, workload] of [['rss1g', rss1g], ['push20', push20]] as const) {
  if (!only.has(name)) continue;
  const entry: Record<string, unknown> = {};
  const dir = path.join(WORK, `extra-${name}`);
  await fs.rm(dir, { recursive: true, force: true });
  const berth = spawnBerth(dir, Number(args.port));
  await waitFor(`${berth.url}/v2/`);
  // Interleaved: Berth, then Distribution, on the same machine state.
  entry.berth = await workload(berth.url, berth.pid, 'berth');
  await berth.stop();
  await fs.rm(dir, { recursive: true, force: true });
  if (distribution) entry.distribution = await workload(distribution.url, distribution.pid, 'distribution');
  results[name] = entry;
  log(name, JSON.stringify(entry));
}
/** Runs `work` on a Berth started on a fresh data directory (WORK/extra-NAME), stopped and removed after. */
async function onFreshBerth<T>(name: string, work: (url: string, pid: number) => Promise<T>, logLevel?: string): Promise<T> {
  const dir = path.join(WORK, `extra-${name}`);
  await fs.rm(dir, { recursive: true, force: true });
  const berth = spawnBerth(dir, Number(args.port), logLevel);
  try {
    await waitFor(`${berth.url}/v2/`);
    return await work(berth.url, berth.pid);
  } finally {
    await berth.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

if (only.has('pushfloor')) {
  results.pushfloor = await onFreshBerth('pushfloor', pushFloor);
  log('pushfloor', JSON.stringify(results.pushfloor));
}
if (only.has('populate')) {
  // As the kit runs it (bench/run.sh): no line per request, as Distribution's access log is off.
  results.populate = await onFreshBerth('populate', populateBatches, 'warn').finally(() => fs.rm(path.join(WORK, 'extra-fsync-probe'), { recursive: true, force: true }));
  log('populate', JSON.stringify(results.populate));
}
await fs.writeFile(args.out!, JSON.stringify(results, null, 2));
log(`wrote ${args.out}`);
