/**
 * Layer listing benchmark (issue 15): a ~1 GB tar (of this machine's /usr/share and node_modules,
 * real file-size mix) compressed with gzip and zstd, pushed to `berth serve` (built, port 5500-5599),
 * then for each compression, interleaved round by round:
 *   - `tar -tzvf` / `zstd -dc | tar -tv` on the same blob file: wall time, CPU and peak RSS (/usr/bin/time);
 *   - Berth listing it (GET .../-/layers/<digest> on a cold cache: the derived listing is deleted and
 *     the server restarted first), with nothing else running: wall time, the server's CPU (its threads
 *     and the zstd process it ran, /proc/PID/stat) and peak RSS (VmHWM);
 *   - the CPU of the busiest process (tar side: the decompressor and `tar -tv` timed alone) or thread
 *     (Berth: its threads and the zstd program, sampled from /proc/PID/task): the floor of each wall
 *     time on an idle machine, which the shared machine's wall clock does not show;
 *   - again cold, now with a paced probe (one manifest GET every PROBE_MS, not a closed loop: a loop
 *     of back-to-back requests would itself take both cores from the listing): GET latency p50/p99
 *     idle and while listing.
 * `zstd` is listed twice: with the `zstd` program on PATH (Berth's fast path on Node 20) and without
 * it (PATH holding only a link to node: fzstd, the portable fallback); with NEWER_NODE, a third time by
 * a server on that Node, whose zlib decodes zstd.
 * Run: flock /tmp/berth-bench.lock node --import tsx bench/layers.ts   (ROUNDS=3, PORT=5510, WORK=...)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { zstd } from '../test/fixtures/layers.ts';
import { startBerth, type BerthProcess } from '../test/helpers/berth-process.ts';
import { Client } from '../test/helpers/registry-client.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PORT = Number(process.env.PORT ?? 5510);
const WORK = process.env.WORK ?? '/tmp/berth-bench/layers';
const PROBE_MS = Number(process.env.PROBE_MS ?? 20);
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime, stime, cutime, cstime (fields 14-17 of proc(5)) of a /proc stat file, in seconds. */
function statTimes(file: string): number[] {
  const stat = readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [11, 12, 13, 14].map((i) => Number(fields[i]) / CLOCK_TICKS);
}

/** CPU seconds of a process: its threads, and its children it waited for (the zstd program). */
function cpuSeconds(pid: number): number {
  return statTimes(`/proc/${pid}/stat`).reduce((a, b) => a + b, 0);
}

/**
 * While `work` runs, the CPU each thread of `pid` used (sampled every 50 ms: a worker thread ends with
 * its read), and its children's. The busiest thread (or child) is the floor of the wall time on an
 * idle machine with enough cores: a load-independent view of what the shared machine's wall clock blurs.
 */
async function busiestThread<T>(pid: number, work: () => Promise<T>): Promise<{ value: T; seconds: number; where: string; threads: string }> {
  const start = new Map<string, number>();
  const last = new Map<string, { cpu: number; name: string }>();
  const sample = () => {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const file = `/proc/${pid}/task/${tid}/stat`;
        const [user, system] = statTimes(file);
        const name = /\(([^)]*)\)/.exec(readFileSync(file, 'utf8'))?.[1] ?? tid;
        if (!start.has(tid)) start.set(tid, user! + system!);
        last.set(tid, { cpu: user! + system!, name });
      } catch {
        // the thread ended between readdir and read
      }
    }
  };
  const children = () => statTimes(`/proc/${pid}/stat`).slice(2).reduce((a, b) => a + b, 0);
  const childrenBefore = children();
  sample();
  const timer = setInterval(sample, 50);
  const value = await work();
  clearInterval(timer);
  sample();
  let seconds = children() - childrenBefore;
  let where = 'child process';
  const each: { name: string; used: number }[] = [{ name: 'zstd', used: seconds }];
  for (const [tid, { cpu, name }] of last) {
    const used = cpu - (start.get(tid) ?? cpu);
    each.push({ name, used });
    if (used > seconds) {
      seconds = used;
      where = name;
    }
  }
  // Every thread that used 0.1 s or more, busiest first: where the CPU went, not only the floor.
  const threads = each.filter((t) => t.used >= 0.1).sort((a, b) => b.used - a.used).map((t) => `${t.name} ${t.used.toFixed(2)}`).join(', ');
  return { value, seconds, where, threads };
}

function peakRss(pid: number): number {
  try {
    const status = execFileSync('cat', [`/proc/${pid}/status`]).toString();
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

function timed(cmd: string): { seconds: number; cpu: number; mb: number } {
  const out = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', 'bash', '-c', `${cmd} > /dev/null`], { encoding: 'utf8' });
  const [s, user, sys, kb] = out.stderr.trim().split('\n').pop()!.split(' ');
  return { seconds: Number(s), cpu: Number(user) + Number(sys), mb: Number(kb) / 1024 };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Manifest GETs one every PROBE_MS (at least `min` of them) until `until()`; their latencies. */
async function manifestLatencies(url: string, repo: string, until: () => boolean, min = 50): Promise<number[]> {
  const out: number[] = [];
  while (out.length < min || !until()) {
    const started = performance.now();
    const res = await fetch(`${url}/v2/${repo}/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    await res.arrayBuffer();
    out.push(performance.now() - started);
    const rest = PROBE_MS - (performance.now() - started);
    if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  }
  return out;
}

async function main(): Promise<void> {
  await fs.mkdir(WORK, { recursive: true });
  const tarFile = path.join(WORK, 'layer.tar');
  try {
    await fs.access(tarFile);
  } catch {
    execFileSync('bash', ['-c', `tar -cf ${tarFile} /usr/share ${path.resolve(import.meta.dirname, "../node_modules")} 2>/dev/null || true`]);
  }
  const raw = await fs.readFile(tarFile);
  const blobs = { gzip: path.join(WORK, 'layer.tar.gz'), zstd: path.join(WORK, 'layer.tar.zst') };
  try { await fs.access(blobs.gzip); } catch { execFileSync('bash', ['-c', `gzip -6 -c ${tarFile} > ${blobs.gzip}`]); }
  try { await fs.access(blobs.zstd); } catch { await fs.writeFile(blobs.zstd, zstd(raw, 3)); }
  const dataDir = path.join(WORK, 'data');
  await fs.rm(dataDir, { recursive: true, force: true });
  let berth: BerthProcess = await startBerth({ dataDir, port: PORT });
  const client = new Client(berth.url);
  const digests: Record<string, string> = {};
  for (const [kind, file] of Object.entries(blobs)) {
    const bytes = await fs.readFile(file);
    digests[kind] = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const config = JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(raw).digest('hex')}`] } });
    await client.pushBlob(`bench/${kind}`, config);
    await client.pushBlob(`bench/${kind}`, bytes);
    await client.pushManifest(`bench/${kind}`, 'v1', JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${createHash('sha256').update(config).digest('hex')}`, size: config.length },
      layers: [{ mediaType: `application/vnd.oci.image.layer.v1.tar+${kind}`, digest: digests[kind], size: bytes.length }],
    }));
  }
  console.log(`layer: ${(raw.length / 1e9).toFixed(2)} GB uncompressed; gzip ${(await fs.stat(blobs.gzip)).size / 1e6 | 0} MB, zstd ${(await fs.stat(blobs.zstd)).size / 1e6 | 0} MB; ${ROUNDS} rounds, machine shared with other helpers`);
  // A PATH with node and nothing else (node's own folder, /usr/bin, also holds zstd).
  const nodeOnly = path.join(WORK, 'node-only');
  await fs.mkdir(nodeOnly, { recursive: true });
  await fs.rm(path.join(nodeOnly, 'node'), { force: true });
  await fs.symlink(process.execPath, path.join(nodeOnly, 'node'));
  const rows: string[] = [];
  // Per variant, for the target line: wall ratio, busiest-thread ratio, manifest GET p50 while listing / idle.
  const measured = new Map<string, { wall: number[]; busiest: number[]; get: number[] }>();
  // VARIANTS=gzip,zstd leaves out the fzstd fallback (20 s a round, and not what a machine with zstd runs).
  // BASE_BIN=<another build>/bin/berth.js adds that build's gzip and zstd listings to each round, so a
  // change is measured against the build before it in the same interleaved run. DIGEST_THREAD=1 lists
  // with the DiffID thread forced on (worker-pool.ts uses it by default only with more than 2 cores).
  // NEWER_NODE=<a Node 22.15+ binary> (scripts/newer-node.js fetches them) adds a zstd listing by a server
  // on that Node, decoding in zlib as Electron does (variant name: zlib).
  const newer = process.env.NEWER_NODE;
  const newerVersion = newer ? execFileSync(newer, ['--version']).toString().trim() : '';
  const only = process.env.VARIANTS?.split(',');
  const base = process.env.BASE_BIN;
  const split = process.env.DIGEST_THREAD === '1' ? { BERTH_LAYER_DIGEST_THREAD: '1' } : {};
  const splitLabel = process.env.DIGEST_THREAD === '1' ? ', DiffID thread' : '';
  type Variant = { name: string; label: string; kind: 'gzip' | 'zstd'; env: NodeJS.ProcessEnv; bin?: string; node?: string };
  const variants: Variant[] = ([
    { name: 'gzip', label: `gzip${splitLabel}`, kind: 'gzip', env: split },
    ...(base ? [{ name: 'gzip', label: 'gzip, base build', kind: 'gzip', env: {}, bin: base }] : []),
    { name: 'zstd', label: `zstd (zstd program)${splitLabel}`, kind: 'zstd', env: split },
    ...(base ? [{ name: 'zstd', label: 'zstd (zstd program), base build', kind: 'zstd', env: {}, bin: base }] : []),
    ...(newer ? [{ name: 'zlib', label: `zstd (zlib, Node ${newerVersion})${splitLabel}`, kind: 'zstd', env: split, node: newer }] : []),
    { name: 'fzstd', label: 'zstd (fzstd, no zstd on PATH)', kind: 'zstd', env: { PATH: nodeOnly } },
  ] as Variant[]).filter((v) => !only || only.includes(v.name));
  const cold = async (variant: Variant) => {
    await berth.stop();
    await fs.rm(path.join(dataDir, 'derived'), { recursive: true, force: true });
    berth = await startBerth({ dataDir, port: PORT, env: variant.env, ...(variant.bin ? { bin: variant.bin } : {}), ...(variant.node ? { node: variant.node } : {}) });
  };
  const listLayer = async (kind: string) => {
    const r = await fetch(`${berth.url}/api/repositories/bench/${kind}/-/layers/${digests[kind]}`);
    if (r.status !== 200) throw new Error(`listing answered ${r.status}: ${await r.text()}`);
    return ((await r.json()) as { entries: unknown[] }).entries.length;
  };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of variants) {
      const { kind } = variant;
      const tool = kind === 'gzip' ? timed(`tar -tzvf ${blobs.gzip}`) : timed(`zstd -dc ${blobs.zstd} | tar -tv`);
      // The tool's busiest process: the decompressor or tar, each timed alone.
      const toolBusiest = Math.max(timed(kind === 'gzip' ? `gzip -dc ${blobs.gzip}` : `zstd -dc ${blobs.zstd}`).cpu, timed(`tar -tvf ${tarFile}`).cpu);
      // 1. The listing alone: time, CPU, memory.
      await cold(variant);
      const rssBefore = peakRss(berth.pid);
      const cpuBefore = cpuSeconds(berth.pid);
      const t = performance.now();
      const busiest = await busiestThread(berth.pid, () => listLayer(kind));
      const entries = busiest.value;
      const seconds = (performance.now() - t) / 1000;
      const cpu = cpuSeconds(berth.pid) - cpuBefore;
      const rss = peakRss(berth.pid);
      // 2. The registry's latency while it lists (a fresh cold listing, probed).
      await cold(variant);
      const idle = await manifestLatencies(berth.url, `bench/${kind}`, () => true, 100);
      let done = false;
      const listing = listLayer(kind).finally(() => (done = true));
      const busy = await manifestLatencies(berth.url, `bench/${kind}`, () => done);
      await listing;
      rows.push(`| ${round} | ${variant.label} | ${tool.seconds.toFixed(2)} s (CPU ${tool.cpu.toFixed(2)} s) | ${tool.mb.toFixed(0)} MB | ${seconds.toFixed(2)} s (CPU ${cpu.toFixed(2)} s) | **${(seconds / tool.seconds).toFixed(2)}x** | ${toolBusiest.toFixed(2)} s / ${busiest.seconds.toFixed(2)} s (${busiest.where}): **${(busiest.seconds / toolBusiest).toFixed(2)}x** | ${rssBefore.toFixed(0)} -> ${rss.toFixed(0)} MB | ${entries} | ${percentile(idle, 0.5).toFixed(2)} / ${percentile(idle, 0.99).toFixed(2)} ms | ${percentile(busy, 0.5).toFixed(2)} / ${percentile(busy, 0.99).toFixed(2)} ms (${busy.length}) |`);
      const m = measured.get(variant.label) ?? { wall: [], busiest: [], get: [] };
      m.wall.push(seconds / tool.seconds);
      m.busiest.push(busiest.seconds / toolBusiest);
      m.get.push(percentile(busy, 0.5) / percentile(idle, 0.5));
      measured.set(variant.label, m);
      console.log(rows[rows.length - 1]);
      console.log(`  threads (CPU s): ${busiest.threads}`);
    }
  }
  await berth.stop();
  console.log('\n| round | layer | tar time | tar peak RSS | Berth time (listing alone) | ratio | busiest process or thread: tar / Berth | Berth peak RSS (process, before -> after) | entries | manifest GET p50/p99 idle | while listing (requests) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  // The targets, on medians of the rounds: within 1.5x of tar's time (wall, and the busiest
  // thread: the wall floor an idle machine would show), manifest GET p50 while listing within 2x idle.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  console.log('');
  for (const [label, m] of measured) {
    const wall = median(m.wall);
    const floor = median(m.busiest);
    const get = median(m.get);
    console.log(`target (issue 15) ${label}: time ${wall.toFixed(2)}x tar (busiest thread ${floor.toFixed(2)}x), target 1.5x: ${wall <= 1.5 ? 'met' : 'MISSED'} (busiest: ${floor <= 1.5 ? 'met' : 'MISSED'}); manifest GET p50 while listing ${get.toFixed(2)}x idle, target 2x: ${get <= 2 ? 'met' : 'MISSED'}`);
  }
}

await main();
