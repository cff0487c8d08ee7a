/**
 * The pull-through cache beside CNCF Distribution 2.8 in proxy mode (issue 12), on the same upstream:
 *
 *   upstream      Distribution 2.8 (plain) holding a 200 MB image (4 x 50 MB layers)       :5601
 *   counter       a TCP proxy in front of it that counts every byte the upstream sends      :5602
 *   berth         `berth serve --mirror docker.io=http://127.0.0.1:5602`                    :5610
 *   distribution  Distribution 2.8 with `proxy: remoteurl: http://127.0.0.1:5602`           :5620
 *
 * Workloads, each registry in turn, interleaved round by round (the machine is shared and noisy):
 *   direct        one pull straight from the upstream (through the counter): the wall time to beat
 *   cold          one pull through a mirror with an empty cache
 *   warm          the same pull again, 5 times (the CPU per pull: /proc counts in 10 ms ticks)
 *   cold20        20 concurrent pulls through a mirror with an empty cache
 * Measured: wall time, the mirror's CPU (/proc/<pid>/stat), bytes the upstream sent. A pull is what a
 * client does: the manifest, then the config and the layers 3 at a time (Docker's default), each
 * verified against its digest as every client does; the bytes are discarded.
 *
 * Usage: tsx bench/mirror.ts [--runs 3] [--work /tmp/berth-bench/mirror] [--out FILE]
 *
 * A change to the fill, before/after: `--compare DIR` (another built checkout: its bin/ and dist/) runs
 * only Berth's cold pull, this build and that one alternating, --runs rounds, and prints the medians of
 * the mirror's CPU and wall time and their ratio (one run on a shared machine swings by ~30%). Both run
 * with --trace-gc added to the shebang's node flags, and the table counts their full collections;
 * `--cpu-prof DIR` adds V8's CPU profiler (a .cpuprofile per cold pull in DIR/this and DIR/other).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.RUNS ?? '3' },
    work: { type: 'string', default: process.env.WORK ?? '/tmp/berth-bench/mirror' },
    out: { type: 'string' },
    'layer-mb': { type: 'string', default: '50' },
    layers: { type: 'string', default: '4' },
    clients: { type: 'string', default: '20' },
    /** The upstream link's bandwidth in MB/s, shared by every connection (0: loopback, unlimited). */
    'upstream-mbs': { type: 'string', default: process.env.UPSTREAM_MBS ?? '0' },
    /** Another built checkout to compare this one with (cold pulls only). */
    compare: { type: 'string' },
    /** With --compare: each build's mirror also writes a V8 CPU profile per run into DIR/this, DIR/other. */
    'cpu-prof': { type: 'string' },
    /** Internal: run only the counter (the upstream's link), in its own process, answering over IPC. */
    link: { type: 'boolean', default: false },
  },
});
const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.resolve(args.work!);
const RUNS = Number(args.runs);
const CLIENTS = Number(args.clients);
const LAYER_BYTES = Number(args['layer-mb']) * 1024 * 1024;
const LAYERS = Number(args.layers);
const UPSTREAM_BYTES_PER_S = Number(args['upstream-mbs']) * 1e6;
const PORTS = { upstream: 5601, counter: 5602, berth: 5610, distribution: 5620 };
/** Warm pulls per measurement: one warm pull costs a registry a few ticks of CPU. */
const WARM_PULLS = 5;
const IMAGE = { name: 'library/big', tag: 'latest' };
const log = (...parts: unknown[]) => console.error('[mirror-bench]', ...parts);

// ---- processes ------------------------------------------------------------------------------

const HZ = 100;
async function cpuSeconds(pid: number): Promise<number> {
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / HZ;
}

/** CPU seconds every process on the machine has used since boot (/proc/stat: all but idle and iowait). */
async function machineCpuSeconds(): Promise<number> {
  const cpu = (await fs.readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / HZ;
}

interface Server {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function portFree(port: number): Promise<void> {
  const taken = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
  if (taken) throw new Error(`port ${port} is in use: stop what listens there (it would be benchmarked in our place)`);
}

async function waitUp(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await fetch(`${url}/v2/`).then((r) => r.status, () => 0);
    if (status === 200 || status === 401) return;
    if (Date.now() > deadline) throw new Error(`${url} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startProcess(name: string, command: string, argv: string[], port: number, logFile: string): Promise<Server> {
  await portFree(port);
  const child: ChildProcess = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const sink = createWriteStream(logFile, { flags: 'a' });
  child.stdout!.pipe(sink);
  child.stderr!.pipe(sink);
  const exited = new Promise((r) => child.once('exit', r));
  const url = `http://127.0.0.1:${port}`;
  await waitUp(url);
  return {
    name,
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function distributionConfig(file: string, dir: string, port: number, proxy: string | null): Promise<void> {
  await fs.writeFile(file, [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  filesystem:',
    `    rootdirectory: ${dir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(proxy ? ['proxy:', `  remoteurl: ${proxy}`] : []),
    '',
  ].join('\n'));
}

/**
 * A mirror with an empty cache (its data directory wiped); Berth from the checkout at `root`, run as
 * users run it (`npx berth serve`): through the bin script and the node flags of its shebang. With
 * `traceGcLog`, node gets those flags and --trace-gc, and V8's line per collection goes to that (emptied)
 * file; with `profileDir` also --cpu-prof.
 */
async function startMirror(which: 'berth' | 'distribution', root = ROOT, traceGcLog?: string, profileDir?: string): Promise<Server> {
  const dir = path.join(WORK, `${which}-data`);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const upstream = `http://127.0.0.1:${PORTS.counter}`;
  if (which === 'berth') {
    const bin = path.join(root, 'bin/berth.js');
    const serve = ['serve', '--port', String(PORTS.berth), '--data', dir, '--log-level', 'warn', '--mirror', `docker.io=${upstream}`];
    if (!traceGcLog) return startProcess('berth', bin, serve, PORTS.berth, path.join(WORK, 'berth.log'));
    await fs.rm(traceGcLog, { force: true });
    const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
    return startProcess('berth', process.execPath, [...(await shebangFlags(bin)), '--trace-gc', ...profile, bin, ...serve], PORTS.berth, traceGcLog);
  }
  const config = path.join(WORK, 'distribution-proxy.yml');
  await distributionConfig(config, dir, PORTS.distribution, upstream);
  return startProcess('distribution', 'docker-registry', ['serve', config], PORTS.distribution, path.join(WORK, 'distribution-proxy.log'));
}

/** The node flags in a script's `#!/usr/bin/env -S node ...` line. */
async function shebangFlags(script: string): Promise<string[]> {
  const first = (await fs.readFile(script, 'utf8')).split('\n', 1)[0]!;
  const words = first.replace(/^#!\s*/, '').split(/\s+/);
  return words.slice(words.findIndex((w) => /(^|\/)node$/.test(w)) + 1);
}

/** Full collections (mark-compacts) in a --trace-gc log. */
async function markCompacts(traceGcLog: string): Promise<number> {
  return (await fs.readFile(traceGcLog, 'utf8')).split('Mark-Compact').length - 1;
}

// ---- the byte counter (and the upstream's link) -----------------------------------------------

/**
 * Counts what the upstream sends; with a bandwidth, shares it between all connections like one WAN
 * link: the link is busy until `linkFree`, each chunk extends it by its transfer time, and a connection
 * whose chunk would leave before then pauses until it may.
 */
function startLink(): Promise<{ bytes(): number; close(): Promise<void> }> {
  let bytes = 0;
  let linkFree = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(PORTS.upstream, '127.0.0.1');
    sockets.add(client).add(upstream);
    upstream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (UPSTREAM_BYTES_PER_S <= 0) return;
      const now = performance.now();
      linkFree = Math.max(linkFree, now) + (chunk.length / UPSTREAM_BYTES_PER_S) * 1000;
      const wait = linkFree - now;
      if (wait < 2) return;
      upstream.pause();
      const timer = setTimeout(() => {
        timers.delete(timer);
        upstream.resume();
      }, wait);
      timers.add(timer);
    });
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORTS.counter, '127.0.0.1', () =>
      resolve({
        bytes: () => bytes,
        close: () => new Promise((r) => {
          for (const t of timers) clearTimeout(t);
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      }));
  });
}

/**
 * The counter in a process of its own: the pulls hash what they receive on this process's thread,
 * which must not delay the link's pacing (nor its relaying) of the pulls it is measuring.
 */
async function startCounter(): Promise<{ bytes(): Promise<number>; close(): Promise<void> }> {
  const child = spawn(process.execPath, [...process.execArgv, import.meta.filename, '--link', '--upstream-mbs', String(UPSTREAM_BYTES_PER_S / 1e6)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((r) => child.once('exit', r));
  const ask = (question: string) =>
    new Promise<number>((resolve) => {
      child.once('message', (answer) => resolve(Number(answer)));
      child.send(question);
    });
  // The link says when it listens.
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', () => reject(new Error('the link process exited')));
  });
  return {
    bytes: () => ask('bytes'),
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function serveLink(): Promise<void> {
  const link = await startLink();
  process.on('message', (question) => process.send!(question === 'bytes' ? link.bytes() : 0));
  process.send!('ready');
  process.on('SIGTERM', () => void link.close().then(() => process.exit(0)));
}

// ---- the image ------------------------------------------------------------------------------

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function pseudoRandom(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

async function pushImage(base: string): Promise<{ bytes: number; manifest: string }> {
  const layers = Array.from({ length: LAYERS }, (_, i) => pseudoRandom(`mirror-bench-${i}`, LAYER_BYTES));
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: layers.map(sha256) } }));
  for (const blob of [config, ...layers]) {
    const start = await fetch(`${base}/v2/${IMAGE.name}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
    const location = new URL(start.headers.get('location')!, base);
    location.searchParams.set('digest', sha256(blob));
    const put = await fetch(location, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: blob });
    if (put.status !== 201) throw new Error(`upload: ${put.status} ${await put.text()}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(l), size: l.length })),
  });
  const res = await fetch(`${base}/v2/${IMAGE.name}/manifests/${IMAGE.tag}`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' }, body: manifest });
  if (res.status !== 201) throw new Error(`manifest: ${res.status} ${await res.text()}`);
  return { bytes: config.length + layers.reduce((s, l) => s + l.length, 0) + manifest.length, manifest: sha256(Buffer.from(manifest)) };
}

// ---- a client's pull ------------------------------------------------------------------------

const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

/** GET `url`, hashing the body as it arrives; resolves with its digest and length. */
function getHashed(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<{ digest: string; bytes: number; body: Buffer | null }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      if (res.statusCode === 307 || res.statusCode === 302) {
        res.resume();
        getHashed(agent, new URL(res.headers.location!, url).toString(), headers).then(resolve, reject);
        return;
      }
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: ${res.statusCode}`));
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const keep: Buffer[] | null = /manifests/.test(url) ? [] : null;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        keep?.push(chunk);
      });
      res.on('end', () => resolve({ digest: `sha256:${hash.digest('hex')}`, bytes, body: keep ? Buffer.concat(keep) : null }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

async function pull(base: string): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  try {
    const manifest = await getHashed(agent, `${base}/v2/${IMAGE.name}/manifests/${IMAGE.tag}`, { Accept: ACCEPT });
    const parsed = JSON.parse(manifest.body!.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
    const blobs = [parsed.config.digest, ...parsed.layers.map((l) => l.digest)];
    let total = manifest.bytes;
    let next = 0;
    const worker = async () => {
      while (next < blobs.length) {
        const digest = blobs[next++]!;
        const got = await getHashed(agent, `${base}/v2/${IMAGE.name}/blobs/${digest}`);
        if (got.digest !== digest) throw new Error(`blob ${digest} arrived as ${got.digest}`);
        total += got.bytes;
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    return total;
  } finally {
    agent.destroy();
  }
}

// ---- measuring ------------------------------------------------------------------------------

interface Sample {
  wallS: number;
  cpuS: number | null;
  upstreamBytes: number;
  /** CPU used by every process while the work ran: upstream, link, mirror, client. */
  machineCpuS: number;
}

async function measure(server: Server | null, counter: { bytes(): Promise<number> }, work: () => Promise<unknown>): Promise<Sample> {
  const cpu0 = server ? await cpuSeconds(server.pid) : 0;
  const bytes0 = await counter.bytes();
  const machine0 = await machineCpuSeconds();
  const t0 = performance.now();
  await work();
  const wallS = (performance.now() - t0) / 1000;
  const machineCpuS = (await machineCpuSeconds()) - machine0;
  // A blob's last bytes reach the client once verified; the mirror's commit follows: let it finish.
  await new Promise((r) => setTimeout(r, 500));
  return { wallS, cpuS: server ? (await cpuSeconds(server.pid)) - cpu0 : null, upstreamBytes: (await counter.bytes()) - bytes0, machineCpuS };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The upstream (a plain Distribution holding the image) and its byte counter, for `work`. */
async function withUpstream(work: (counter: { bytes(): Promise<number> }, image: { bytes: number }) => Promise<void>): Promise<void> {
  await fs.mkdir(WORK, { recursive: true });
  for (const port of Object.values(PORTS)) await portFree(port);
  const upstreamDir = path.join(WORK, 'upstream-data');
  await fs.rm(upstreamDir, { recursive: true, force: true });
  const upstreamConfig = path.join(WORK, 'upstream.yml');
  await distributionConfig(upstreamConfig, upstreamDir, PORTS.upstream, null);
  const upstream = await startProcess('upstream', 'docker-registry', ['serve', upstreamConfig], PORTS.upstream, path.join(WORK, 'upstream.log'));
  const counter = await startCounter();
  try {
    log(`pushing a ${((LAYERS * LAYER_BYTES) / 1e6).toFixed(0)} MB image to the upstream`);
    await work(counter, await pushImage(upstream.url));
  } finally {
    await counter.close();
    await upstream.stop();
  }
}

/** Berth's cold pull, this build against another, interleaved (see the header). */
async function compare(other: string): Promise<void> {
  const builds = [['this', ROOT], ['other', path.resolve(other)]] as const;
  const samples = new Map<string, (Sample & { markCompacts: number })[]>(builds.map(([label]) => [label, []]));
  await withUpstream(async (counter) => {
    for (let round = 1; round <= RUNS; round++) {
      for (const [label, root] of round % 2 ? builds : [...builds].reverse()) {
        const gcLog = path.join(WORK, `berth-${label}-gc.log`);
        const mirror = await startMirror('berth', root, gcLog, args['cpu-prof'] && path.resolve(args['cpu-prof'], label));
        const sample = { ...(await measure(mirror, counter, () => pull(mirror.url))), markCompacts: await markCompacts(gcLog) };
        await mirror.stop();
        samples.get(label)!.push(sample);
        log(`round ${round}/${RUNS} ${label}: cold pull ${sample.wallS.toFixed(2)} s, mirror CPU ${sample.cpuS!.toFixed(2)} s, ${sample.markCompacts} mark-compacts`);
      }
    }
  });
  const med = (label: string, key: 'wallS' | 'cpuS' | 'markCompacts') => median(samples.get(label)!.map((s) => s[key]!));
  console.log(`\nBerth cold pull, ${RUNS} interleaved rounds, medians (this = ${ROOT}, other = ${path.resolve(other)})\n`);
  console.log('| | this | other | this/other |\n|---|---:|---:|---:|');
  for (const [name, key] of [['cold pull: mirror CPU s', 'cpuS'], ['cold pull: wall s', 'wallS'], ['cold pull: mark-compacts (start-up included)', 'markCompacts']] as const) {
    console.log(`| ${name} | ${med('this', key).toFixed(2)} | ${med('other', key).toFixed(2)} | ${(med('this', key) / med('other', key)).toFixed(2)} |`);
  }
}

async function main(): Promise<void> {
  if (args.compare) return compare(args.compare);
  const results: Record<string, Sample[]> = {};
  const add = (key: string, sample: Sample) => (results[key] ??= []).push(sample);
  let imageBytes = 0;
  await withUpstream(async (counter, image) => {
    imageBytes = image.bytes;
    for (let round = 1; round <= RUNS; round++) {
      const order: ('berth' | 'distribution')[] = round % 2 ? ['distribution', 'berth'] : ['berth', 'distribution'];
      log(`round ${round}/${RUNS}: direct pull`);
      add('direct', await measure(null, counter, () => pull(`http://127.0.0.1:${PORTS.counter}`)));
      for (const which of order) {
        log(`round ${round}/${RUNS}: ${which} cold, warm`);
        let mirror = await startMirror(which);
        add(`${which}.cold`, await measure(mirror, counter, () => pull(mirror.url)));
        const warm = await measure(mirror, counter, async () => {
          for (let i = 0; i < WARM_PULLS; i++) await pull(mirror.url);
        });
        add(`${which}.warm`, { wallS: warm.wallS / WARM_PULLS, cpuS: warm.cpuS! / WARM_PULLS, upstreamBytes: warm.upstreamBytes / WARM_PULLS, machineCpuS: warm.machineCpuS / WARM_PULLS });
        await mirror.stop();
        log(`round ${round}/${RUNS}: ${which} ${CLIENTS} concurrent cold`);
        mirror = await startMirror(which);
        const m = mirror;
        add(`${which}.cold${CLIENTS}`, await measure(mirror, counter, () => Promise.all(Array.from({ length: CLIENTS }, () => pull(m.url)))));
        await mirror.stop();
      }
    }
  });
  const summary = Object.fromEntries(Object.entries(results).map(([key, samples]) => [key, {
    wallS: median(samples.map((s) => s.wallS)),
    cpuS: samples[0]!.cpuS === null ? null : median(samples.map((s) => s.cpuS!)),
    upstreamBytes: median(samples.map((s) => s.upstreamBytes)),
    machineCpuS: median(samples.map((s) => s.machineCpuS)),
    samples,
  }]));
  const out = { date: new Date().toISOString(), runs: RUNS, clients: CLIENTS, upstreamMBs: UPSTREAM_BYTES_PER_S / 1e6, imageBytes, summary };
  const file = args.out ?? path.join(WORK, 'mirror.json');
  await fs.writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
  printTable(out);
  log(`raw numbers: ${file}`);
}

function printTable(out: { imageBytes: number; clients: number; upstreamMBs: number; summary: Record<string, { wallS: number; cpuS: number | null; upstreamBytes: number; machineCpuS: number }> }): void {
  const s = out.summary;
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const x = (b: number) => (b / out.imageBytes).toFixed(2);
  const row = (cells: (string | number)[]) => console.log(`| ${cells.join(' | ')} |`);
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(3) : '—');
  const c = `cold${out.clients}`;
  console.log(`\nImage: ${mb(out.imageBytes)} MB; upstream link: ${out.upstreamMBs > 0 ? `${out.upstreamMBs} MB/s shared` : 'loopback, unlimited'}. Medians of the rounds.\n`);
  row(['workload', 'Distribution 2.8 proxy', 'Berth', 'ratio', 'target', '']);
  row(['---', '---', '---', '---', '---', '---']);
  const get = (key: string) => s[key]!;
  const coldWall = get('berth.cold').wallS / get('direct').wallS;
  row(['direct pull from the upstream: wall s', '—', get('direct').wallS.toFixed(2), '—', 'baseline', '']);
  row(['cold pull: wall s', get('distribution.cold').wallS.toFixed(2), get('berth.cold').wallS.toFixed(2), ratio(get('berth.cold').wallS, get('distribution.cold').wallS), '', '']);
  row(['cold pull: wall / direct pull', (get('distribution.cold').wallS / get('direct').wallS).toFixed(3), coldWall.toFixed(3), '—', '<= 1.1x direct', coldWall <= 1.1 ? 'met' : '**missed**']);
  row(['cold pull: registry CPU s', get('distribution.cold').cpuS!.toFixed(2), get('berth.cold').cpuS!.toFixed(2), ratio(get('berth.cold').cpuS!, get('distribution.cold').cpuS!), '', 'info']);
  // What the wall time can be at best on this machine: all the CPU the pull took, spread over every core.
  const cores = availableParallelism();
  const busy = (key: string) => `${get(key).machineCpuS.toFixed(2)} (${(get(key).machineCpuS / cores / get('direct').wallS).toFixed(2)}x direct)`;
  row([`CPU of all processes s (its wall-time floor on ${cores} cores): direct pull`, '—', busy('direct'), '—', '', 'info']);
  row([`CPU of all processes s (its wall-time floor on ${cores} cores): cold pull`, busy('distribution.cold'), busy('berth.cold'), '—', '', 'info']);
  row(['cold pull: upstream MB (x image)', `${mb(get('distribution.cold').upstreamBytes)} (${x(get('distribution.cold').upstreamBytes)})`, `${mb(get('berth.cold').upstreamBytes)} (${x(get('berth.cold').upstreamBytes)})`, '—', '', 'info']);
  row(['warm pull (each of 5): wall s', get('distribution.warm').wallS.toFixed(2), get('berth.warm').wallS.toFixed(2), ratio(get('berth.warm').wallS, get('distribution.warm').wallS), '', 'info']);
  const warmCpu = get('berth.warm').cpuS! / get('distribution.warm').cpuS!;
  row(['warm pull (each of 5): registry CPU s', get('distribution.warm').cpuS!.toFixed(3), get('berth.warm').cpuS!.toFixed(3), warmCpu.toFixed(3), "<= Distribution's", warmCpu <= 1 ? 'met' : '**missed**']);
  row(['warm pull (each of 5): upstream bytes', String(get('distribution.warm').upstreamBytes), String(get('berth.warm').upstreamBytes), '—', '', 'info']);
  row([`${out.clients} concurrent cold pulls: wall s`, get(`distribution.${c}`).wallS.toFixed(2), get(`berth.${c}`).wallS.toFixed(2), ratio(get(`berth.${c}`).wallS, get(`distribution.${c}`).wallS), '', 'info']);
  row([`${out.clients} concurrent cold pulls: registry CPU s`, get(`distribution.${c}`).cpuS!.toFixed(2), get(`berth.${c}`).cpuS!.toFixed(2), ratio(get(`berth.${c}`).cpuS!, get(`distribution.${c}`).cpuS!), '', 'info']);
  const fetched = get(`berth.${c}`).upstreamBytes / out.imageBytes;
  row([`${out.clients} concurrent cold pulls: upstream MB (x image)`, `${mb(get(`distribution.${c}`).upstreamBytes)} (${x(get(`distribution.${c}`).upstreamBytes)})`, `${mb(get(`berth.${c}`).upstreamBytes)} (${x(get(`berth.${c}`).upstreamBytes)})`, '—', '= 1x image', fetched < 1.01 ? 'met' : '**missed**']);
}

(args.link ? serveLink() : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
