/**
 * Webhooks never slow the registry (issue 14): push throughput of `berth serve` with a webhook endpoint
 * whose receiver takes 2 s per request, against the same server with that endpoint disabled (nothing
 * recorded, nothing delivered), in interleaved rounds on one server and one disk.
 *
 * A round pushes IMAGES distinct images (a config and LAYERS random layers of LAYER_MB each, then the
 * manifest with a tag), CONCURRENCY at a time, as clients do: POST an upload, PUT the bytes with the
 * digest, PUT the manifest. Measured per round: wall time -> MB/s, and the registry's CPU seconds.
 * With webhooks on, each push writes LAYERS + 2 deliveries to the outbox (fdatasync'd before the 201),
 * and the receiver's 2 s answers pile them up in the queue: throughput must stay within 5%.
 *
 * Usage: flock /tmp/berth-bench.lock npx tsx bench/webhooks.ts [--rounds 10] [--images 16] [--port 5401] [--out FILE]
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    port: { type: 'string', default: '5401' },
    'receiver-port': { type: 'string', default: '5402' },
    images: { type: 'string', default: '16' },
    out: { type: 'string' },
  },
});
const ROOT = path.resolve(import.meta.dirname, '..');
const PORT = Number(args.port);
const RECEIVER_PORT = Number(args['receiver-port']);
const ROUNDS = Number(args.rounds);
const IMAGES = Number(args.images);
const LAYERS = 3;
const LAYER_MB = 4;
const CONCURRENCY = 4;
const RECEIVER_DELAY_MS = 2000;
const BASE = `http://127.0.0.1:${PORT}`;
const log = (...parts: unknown[]) => console.error('[webhooks-bench]', ...parts);

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

function request(method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(repo: string, bytes: Buffer): Promise<string> {
  const d = digest(bytes);
  const start = await request('POST', `${BASE}/v2/${repo}/blobs/uploads/`);
  if (start.status !== 202) throw new Error(`POST upload: ${start.status} ${start.text}`);
  const location = new URL(String(start.headers.location), BASE);
  location.searchParams.set('digest', d);
  const done = await request('PUT', location.toString(), bytes, { 'Content-Type': 'application/octet-stream' });
  if (done.status !== 201) throw new Error(`PUT upload: ${done.status} ${done.text}`);
  return d;
}

async function pushImage(repo: string, layers: Buffer[]): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const descriptors = [];
  for (const layer of layers) descriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await pushBlob(repo, layer), size: layer.length });
  const configDigest = await pushBlob(repo, config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: descriptors }));
  const res = await request('PUT', `${BASE}/v2/${repo}/manifests/v1`, manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
  if (res.status !== 201) throw new Error(`PUT manifest: ${res.status} ${res.text}`);
}

async function cpuSeconds(pid: number): Promise<number> {
  const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One round: IMAGES images of fresh random layers, CONCURRENCY at a time. */
async function round(label: string, n: number, pid: number): Promise<{ mbPerSecond: number; cpuSecondsPerGb: number; seconds: number }> {
  const images = Array.from({ length: IMAGES }, () => Array.from({ length: LAYERS }, () => randomBytes(LAYER_MB * 1024 * 1024)));
  const bytes = IMAGES * LAYERS * LAYER_MB * 1024 * 1024;
  const cpuBefore = await cpuSeconds(pid);
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < images.length) {
        const i = next++;
        await pushImage(`bench/${label}-${n}-${i}`, images[i]!);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (await cpuSeconds(pid)) - cpuBefore;
  return { mbPerSecond: bytes / 1e6 / seconds, cpuSecondsPerGb: cpu / (bytes / 1e9), seconds };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-webhooks-bench-'));
  // The receiver: answers every delivery after 2 s, and counts them.
  let received = 0;
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => {
      received++;
      res.end('ok');
    }, RECEIVER_DELAY_MS));
  });
  await new Promise<void>((resolve, reject) => receiver.once('error', reject).listen(RECEIVER_PORT, '127.0.0.1', () => resolve()));
  const berth = spawn(process.execPath, [path.join(ROOT, 'bin', 'berth.js'), 'serve', '--port', String(PORT), '--data', path.join(work, 'data'), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; ; i++) {
      if (berth.exitCode !== null) throw new Error('berth serve exited');
      if ((await request('GET', `${BASE}/v2/`).catch(() => ({ status: 0 }))).status === 200) break;
      if (i > 200) throw new Error(`berth serve did not answer on ${BASE} (is the port taken?)`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const created = await request('POST', `${BASE}/api/webhooks`, Buffer.from(JSON.stringify({ url: `http://127.0.0.1:${RECEIVER_PORT}/hook`, events: ['push'], enabled: false })), { 'Content-Type': 'application/json', 'X-Berth-Client': 'bench' });
    const id = (JSON.parse(created.text) as { endpoint: { id: string } }).endpoint.id;
    const setEnabled = async (enabled: boolean) => {
      const res = await request('PUT', `${BASE}/api/webhooks/${id}`, Buffer.from(JSON.stringify({ enabled })), { 'Content-Type': 'application/json', 'X-Berth-Client': 'bench' });
      if (res.status !== 200) throw new Error(`PUT webhook: ${res.status} ${res.text}`);
    };
    log('warm-up round');
    await round('warmup', 0, berth.pid!);
    const results: Record<'off' | 'on', { mbPerSecond: number; cpuSecondsPerGb: number; seconds: number }[]> = { off: [], on: [] };
    for (let n = 1; n <= ROUNDS; n++) {
      for (const mode of n % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        await setEnabled(mode === 'on');
        const r = await round(mode, n, berth.pid!);
        results[mode].push(r);
        log(`round ${n} webhooks ${mode}: ${r.mbPerSecond.toFixed(1)} MB/s, ${r.cpuSecondsPerGb.toFixed(2)} CPU s/GB`);
      }
    }
    const status = JSON.parse((await request('GET', `${BASE}/api/webhooks/${id}`)).text) as { stats: { queued: number; delivered: number } };
    const summary = {
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, shared: true },
      workload: { images: IMAGES, layers: LAYERS, layerMb: LAYER_MB, concurrency: CONCURRENCY, receiverDelayMs: RECEIVER_DELAY_MS, rounds: ROUNDS },
      off: { mbPerSecond: median(results.off.map((r) => r.mbPerSecond)), cpuSecondsPerGb: median(results.off.map((r) => r.cpuSecondsPerGb)) },
      on: { mbPerSecond: median(results.on.map((r) => r.mbPerSecond)), cpuSecondsPerGb: median(results.on.map((r) => r.cpuSecondsPerGb)) },
      rounds: results,
      receiver: { received, queuedAtEnd: status.stats.queued, delivered: status.stats.delivered },
    };
    const ratio = summary.on.mbPerSecond / summary.off.mbPerSecond;
    console.log(JSON.stringify({ ...summary, throughputRatio: ratio, cpuRatio: summary.on.cpuSecondsPerGb / summary.off.cpuSecondsPerGb }, null, 2));
    log(`push throughput with webhooks / without: ${ratio.toFixed(3)} (target >= 0.95)`);
    if (args.out) await fs.writeFile(args.out, JSON.stringify({ ...summary, throughputRatio: ratio }, null, 2));
  } finally {
    berth.kill('SIGTERM');
    await new Promise((r) => berth.once('exit', r));
    receiver.closeAllConnections();
    receiver.close();
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
