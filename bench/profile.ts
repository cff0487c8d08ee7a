/**
 * CPU profiles of the built `berth serve` during a large push and a pull (issue 17): the profile's top
 * frames by self time, the registry's CPU (user and system, from /proc) per GB, and the machine's sha256
 * floor, measured in the same run.
 *
 *   flock /tmp/berth-bench.lock npx tsx bench/profile.ts [--size-mib 1024] [--port 5160] [--work DIR] [--perf]
 *
 * The client is curl (one PATCH of the whole file, then PUT ?digest=; one GET), so that almost all the
 * CPU on the machine besides the registry's is the kernel's. With --perf the registry is also sampled by
 * `perf record` (kernel frames included; node runs with --perf-basic-prof so JIT frames have names).
 * Profiles are written to WORK/push.cpuprofile and WORK/pull.cpuprofile (open them in Chrome DevTools or
 * speedscope for the flame graph).
 *
 * With --compare DIR (another built checkout: its bin/ and dist/, e.g. a copy of main's) no profiles are
 * taken: both builds push and pull the file in --rounds interleaved rounds (the order alternating), and
 * the medians and their ratio are printed: how a change is measured on a shared machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    port: { type: 'string', default: '5160' },
    work: { type: 'string', default: '/tmp/berth-bench/profile' },
    perf: { type: 'boolean', default: false },
    top: { type: 'string', default: '14' },
    /** Extra node flags for the server, e.g. "--max-semi-space-size=4". */
    'node-flags': { type: 'string', default: '' },
    compare: { type: 'string' },
    /** Also profile populating a catalog: N repositories, each 2 cross-repository mounts + a manifest PUT (the kit's workload). */
    populate: { type: 'string', default: '0' },
    /** Also profile manifest GETs by tag: wrk, 32 connections, for this many seconds (the kit's workload). */
    'manifest-get': { type: 'string', default: '0' },
    rounds: { type: 'string', default: '5' },
  },
});
const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.resolve(args.work!);
const SIZE = Number(args['size-mib']) * 1024 * 1024;
const PORT = Number(args.port);
const URL_BASE = `http://127.0.0.1:${PORT}`;
const log = (...parts: unknown[]) => console.error('[profile]', ...parts);

// ---- the test file ---------------------------------------------------------------------------

async function testFile(): Promise<{ file: string; digest: string }> {
  const file = path.join(WORK, `blob-${SIZE}`);
  const digestFile = `${file}.sha256`;
  const known = await fs.readFile(digestFile, 'utf8').catch(() => null);
  if (known && (await fs.stat(file).catch(() => null))?.size === SIZE) return { file, digest: known.trim() };
  log(`writing ${SIZE} random bytes to ${file}`);
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16));
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  const zeros = Buffer.alloc(1024 * 1024);
  for (let n = 0; n < SIZE; n += zeros.length) {
    const chunk = cipher.update(zeros.subarray(0, Math.min(zeros.length, SIZE - n)));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const digest = `sha256:${hash.digest('hex')}`;
  await fs.writeFile(digestFile, digest);
  return { file, digest };
}

// ---- the process ---------------------------------------------------------------------------

const HZ = 100;
async function cpuOf(pid: number): Promise<{ user: number; system: number }> {
  // Threads included (utime/stime of the process cover all its threads).
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / HZ, system: Number(fields[12]) / HZ };
}

interface Server { child: ChildProcess; pid: number; stop(): Promise<void> }

async function startServer(dataDir: string, profileName: string | null, root = ROOT): Promise<Server> {
  const flags = ['--max-semi-space-size=2', '--expose-gc', ...args['node-flags']!.split(' ').filter(Boolean)];
  if (profileName) flags.push('--cpu-prof', `--cpu-prof-dir=${WORK}`, `--cpu-prof-name=${profileName}`, '--cpu-prof-interval=200');
  if (args.perf) flags.push('--perf-basic-prof');
  const child = spawn(process.execPath, [...flags, path.join(root, 'bin/berth.js'), 'serve', '--host', '127.0.0.1', '--port', String(PORT), '--data', dataDir, '--log-level', 'warn'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; ; i++) {
    const ok = await fetch(`${URL_BASE}/v2/`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 400 || child.exitCode !== null) throw new Error('berth did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    child,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function curl(argv: string[]): string {
  const r = spawnSync('curl', ['-sS', '--fail-with-body', ...argv], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`curl ${argv.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function perfRecord(pid: number, out: string): ChildProcess | null {
  if (!args.perf) return null;
  return spawn('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', out], { stdio: 'ignore' });
}

async function perfStop(p: ChildProcess | null): Promise<void> {
  if (!p) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGINT');
  await exited;
}

async function measure(pid: number, work: () => void | Promise<void>) {
  const before = await cpuOf(pid);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const after = await cpuOf(pid);
  const gb = SIZE / 1e9;
  return {
    seconds,
    MBps: SIZE / 1e6 / seconds,
    userSecondsPerGB: (after.user - before.user) / gb,
    systemSecondsPerGB: (after.system - before.system) / gb,
    cpuSecondsPerGB: (after.user - before.user + after.system - before.system) / gb,
  };
}

// ---- the profile's top frames ------------------------------------------------------------------

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

async function topFrames(file: string, top: number): Promise<{ totalMs: number; busyMs: number; frames: { frame: string; selfMs: number; share: number }[] }> {
  const profile = JSON.parse(await fs.readFile(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)!;
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    total += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idle += ms;
    const where = url ? `${path.basename(url.replace(/^file:\/\//, ''))}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + ms);
  }
  const busy = total - idle;
  const frames = [...self.entries()]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, selfMs]) => ({ frame, selfMs, share: selfMs / busy }));
  return { totalMs: total, busyMs: busy, frames };
}

function printFrames(title: string, t: Awaited<ReturnType<typeof topFrames>>): void {
  console.log(`\n${title}: main thread busy ${t.busyMs.toFixed(0)} ms of ${t.totalMs.toFixed(0)} ms profiled\n`);
  console.log('| self ms | share of busy | frame |');
  console.log('|---:|---:|---|');
  for (const f of t.frames) console.log(`| ${f.selfMs.toFixed(0)} | ${(100 * f.share).toFixed(1)}% | \`${f.frame}\` |`);
}

function sha256Floor(): number {
  const r = spawnSync('openssl', ['speed', '-seconds', '2', '-bytes', '16384', '-evp', 'sha256'], { encoding: 'utf8' });
  const m = /^sha256\s+([\d.]+)k/m.exec(r.stdout);
  return m ? (Number(m[1]) * 1000) / 1e6 : NaN;
}

function pushFile(file: string, digest: string, repo = 'profile/blob'): void {
  const location = /^location:\s*(\S+)/im.exec(curl(['-D', '-', '-o', '/dev/null', '-X', 'POST', `${URL_BASE}/v2/${repo}/blobs/uploads/`]))![1]!;
  const patched = /^location:\s*(\S+)/im.exec(curl(['-D', '-', '-o', '/dev/null', '-X', 'PATCH', '-H', 'Content-Type: application/octet-stream', '-T', file, new URL(location, URL_BASE).toString()]))![1]!;
  const done = new URL(patched, URL_BASE);
  done.searchParams.set('digest', digest);
  curl(['-o', '/dev/null', '-X', 'PUT', done.toString()]);
}

/** The kit's catalog populate: a tiny image pushed once, then per repository two mounts and the manifest PUT. */
async function populate(pid: number, n: number, prefix: string): Promise<{ reposPerSecond: number; cpuMsPerRepo: number }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.from(`layer of ${prefix}`);
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const blobs = [config, layer].map((b) => ({ bytes: b, digest: sha(b) }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blobs[0]!.digest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: blobs[1]!.digest, size: layer.length }],
  }));
  const put = (repo: string) => fetch(`${URL_BASE}/v2/${repo}/manifests/latest`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
  const source = `${prefix}/src`;
  for (const b of blobs) {
    const r = await fetch(`${URL_BASE}/v2/${source}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.bytes });
    if (r.status !== 201) throw new Error(`seed blob: ${r.status}`);
  }
  if ((await put(source)).status !== 201) throw new Error('seed manifest');
  const before = await cpuOf(pid);
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const repo = `${prefix}/cat/r${String(i).padStart(4, '0')}`;
    for (const b of blobs) {
      const r = await fetch(`${URL_BASE}/v2/${repo}/blobs/uploads/?mount=${b.digest}&from=${source}`, { method: 'POST' });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`mount: ${r.status}`);
    }
    const r = await put(repo);
    await r.arrayBuffer();
    if (r.status !== 201) throw new Error(`manifest PUT: ${r.status}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = await cpuOf(pid);
  return { reposPerSecond: n / seconds, cpuMsPerRepo: ((after.user - before.user + after.system - before.system) * 1000) / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Two builds, interleaved: push (to a fresh data directory) then three pulls, per round. */
async function compare(file: string, digest: string, other: string, rounds: number): Promise<void> {
  const builds = [['this', ROOT], ['other', path.resolve(other)]] as const;
  const results = new Map<string, Record<'push' | 'pushMBps' | 'pull' | 'rss' | 'repos' | 'repoCpu', number[]>>(builds.map(([label]) => [label, { push: [], pushMBps: [], pull: [], rss: [], repos: [], repoCpu: [] }]));
  const repos = Number(args.populate);
  for (let round = 0; round < rounds; round++) {
    for (const [label, root] of round % 2 ? [...builds].reverse() : builds) {
      const dataDir = path.join(WORK, `data-${label}`);
      await fs.rm(dataDir, { recursive: true, force: true });
      const server = await startServer(dataDir, null, root);
      const push = await measure(server.pid, () => pushFile(file, digest));
      const pull = await measure(server.pid, () => {
        for (let i = 0; i < 3; i++) curl(['-o', '/dev/null', `${URL_BASE}/v2/profile/blob/blobs/${digest}`]);
      });
      if (repos > 0) {
        const p = await populate(server.pid, repos, `round${round}`);
        results.get(label)!.repos.push(p.reposPerSecond);
        results.get(label)!.repoCpu.push(p.cpuMsPerRepo);
        log(`round ${round + 1} ${label}: populate ${p.reposPerSecond.toFixed(0)} repos/s, ${p.cpuMsPerRepo.toFixed(2)} ms CPU/repo`);
      }
      const hwm = /VmHWM:\s*(\d+)/.exec(await fs.readFile(`/proc/${server.pid}/status`, 'utf8'))![1]!;
      await server.stop();
      const r = results.get(label)!;
      r.push.push(push.cpuSecondsPerGB);
      r.pushMBps.push(push.MBps);
      r.pull.push(pull.cpuSecondsPerGB / 3);
      r.rss.push(Number(hwm) / 1024);
      log(`round ${round + 1} ${label}: push ${push.cpuSecondsPerGB.toFixed(3)} s/GB ${push.MBps.toFixed(0)} MB/s, pull ${(pull.cpuSecondsPerGB / 3).toFixed(3)} s/GB, VmHWM ${(Number(hwm) / 1024).toFixed(0)} MB`);
    }
  }
  const a = results.get('this')!;
  const b = results.get('other')!;
  console.log(`\n${rounds} interleaved rounds, medians (this = ${ROOT}, other = ${path.resolve(other)})\n`);
  console.log('| | this | other | this/other |');
  console.log('|---|---:|---:|---:|');
  for (const [name, key] of [['push registry CPU s/GB', 'push'], ['push MB/s', 'pushMBps'], ['pull registry CPU s/GB', 'pull'], ['catalog populate repos/s', 'repos'], ['catalog populate registry CPU ms/repo', 'repoCpu'], ['VmHWM MB', 'rss']] as const) {
    if (a[key].length === 0) continue;
    console.log(`| ${name} | ${median(a[key]).toFixed(3)} | ${median(b[key]).toFixed(3)} | ${(median(a[key]) / median(b[key])).toFixed(2)} |`);
  }
}

// ---- main ------------------------------------------------------------------------------------

await fs.mkdir(WORK, { recursive: true });
const { file, digest } = await testFile();
const dataDir = path.join(WORK, 'data');
await fs.rm(dataDir, { recursive: true, force: true });
const top = Number(args.top);
const shaMBps = sha256Floor();
log(`openssl sha256 (1 core, 16 KiB blocks): ${shaMBps.toFixed(0)} MB/s = ${(1000 / shaMBps).toFixed(3)} s/GB`);
if (args.compare) {
  await compare(file, digest, args.compare, Number(args.rounds));
  process.exit(0);
}

// Push
await fs.rm(path.join(WORK, 'push.cpuprofile'), { force: true });
let server = await startServer(dataDir, 'push.cpuprofile');
let recorder = perfRecord(server.pid, path.join(WORK, 'push.perf.data'));
const push = await measure(server.pid, () => pushFile(file, digest));
await perfStop(recorder);
await server.stop();
log('push', JSON.stringify(push));

// Pull (the file stays in the page cache: what the kit's pulls see too)
await fs.rm(path.join(WORK, 'pull.cpuprofile'), { force: true });
server = await startServer(dataDir, 'pull.cpuprofile');
recorder = perfRecord(server.pid, path.join(WORK, 'pull.perf.data'));
curl(['-o', '/dev/null', `${URL_BASE}/v2/profile/blob/blobs/${digest}`]);
const pull = await measure(server.pid, () => {
  for (let i = 0; i < 3; i++) curl(['-o', '/dev/null', `${URL_BASE}/v2/profile/blob/blobs/${digest}`]);
});
// Three GETs: per GB of the three.
for (const k of ['userSecondsPerGB', 'systemSecondsPerGB', 'cpuSecondsPerGB'] as const) pull[k] /= 3;
pull.MBps *= 3;
await perfStop(recorder);
await server.stop();
log('pull', JSON.stringify(pull));

console.log(`\nopenssl sha256, one core: ${shaMBps.toFixed(0)} MB/s (${(1000 / shaMBps).toFixed(3)} s/GB)`);
console.log(`push ${SIZE / 2 ** 20} MiB (curl, one PATCH): ${push.MBps.toFixed(0)} MB/s, registry CPU ${push.cpuSecondsPerGB.toFixed(3)} s/GB (user ${push.userSecondsPerGB.toFixed(3)}, system ${push.systemSecondsPerGB.toFixed(3)}) = ${(push.cpuSecondsPerGB / (1000 / shaMBps)).toFixed(2)}x the sha256 floor`);
console.log(`pull (curl GET x3): ${pull.MBps.toFixed(0)} MB/s, registry CPU ${pull.cpuSecondsPerGB.toFixed(3)} s/GB (user ${pull.userSecondsPerGB.toFixed(3)}, system ${pull.systemSecondsPerGB.toFixed(3)})`);
printFrames('push, top frames by self time', await topFrames(path.join(WORK, 'push.cpuprofile'), top));
printFrames('pull, top frames by self time', await topFrames(path.join(WORK, 'pull.cpuprofile'), top));
if (Number(args.populate) > 0) {
  await fs.rm(path.join(WORK, 'populate.cpuprofile'), { force: true });
  server = await startServer(dataDir, 'populate.cpuprofile');
  const p = await populate(server.pid, Number(args.populate), 'populate');
  await server.stop();
  console.log(`\ncatalog populate (${args.populate} repos, 2 mounts + manifest PUT each): ${p.reposPerSecond.toFixed(0)} repos/s, registry CPU ${p.cpuMsPerRepo.toFixed(2)} ms/repo`);
  printFrames('catalog populate, top frames by self time', await topFrames(path.join(WORK, 'populate.cpuprofile'), top));
}
if (Number(args['manifest-get']) > 0) {
  await fs.rm(path.join(WORK, 'manifest-get.cpuprofile'), { force: true });
  server = await startServer(dataDir, 'manifest-get.cpuprofile');
  await populate(server.pid, 1, 'get');
  const before = await cpuOf(server.pid);
  const r = spawnSync('wrk', ['-t', '2', '-c', '32', '-d', `${args['manifest-get']}s`, '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', `${URL_BASE}/v2/get/src/manifests/latest`], { encoding: 'utf8' });
  const after = await cpuOf(server.pid);
  await server.stop();
  const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? NaN);
  const rps = /Requests\/sec:\s*([\d.]+)/.exec(r.stdout)?.[1];
  console.log(`\nmanifest GET by tag (wrk, 32 connections, ${args['manifest-get']} s): ${rps} requests/s, registry CPU ${((after.user - before.user + after.system - before.system) * 1e6 / requests).toFixed(0)} us/request`);
  printFrames('manifest GET, top frames by self time', await topFrames(path.join(WORK, 'manifest-get.cpuprofile'), top));
}
await fs.writeFile(path.join(WORK, 'profile.json'), JSON.stringify({ date: new Date().toISOString(), shaMBps, push, pull }, null, 2));
