/**
 * Layer listing benchmark (issue 15): a ~1 GB tar (of this machine's /usr/share and node_modules,
 * real file-size mix) compressed with gzip and zstd, pushed to `berth serve` (built, port 5500-5599),
 * then for each compression, interleaved round by round:
 *   - `tar -tzvf` / `zstd -dc | tar -tv` on the same blob file: wall time and peak RSS (/usr/bin/time);
 *   - Berth listing it (GET .../-/layers/<digest> on a cold cache: the derived listing is deleted and
 *     the server restarted first): wall time, and the server's peak RSS from /proc;
 *   - manifest GET latency (p50/p99 over sequential requests) idle, and while the listing runs.
 * Run: flock /tmp/berth-bench.lock node --import tsx bench/layers.ts   (ROUNDS=3, PORT=5510, WORK=...)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { zstd } from '../test/fixtures/layers.ts';
import { startBerth, type BerthProcess } from '../test/helpers/berth-process.ts';
import { Client } from '../test/helpers/registry-client.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PORT = Number(process.env.PORT ?? 5510);
const WORK = process.env.WORK ?? '/tmp/berth-bench/layers';

function peakRss(pid: number): number {
  try {
    const status = execFileSync('cat', [`/proc/${pid}/status`]).toString();
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

function timed(cmd: string): { seconds: number; mb: number } {
  const out = spawnSync('/usr/bin/time', ['-f', '%e %M', 'bash', '-c', `${cmd} > /dev/null`], { encoding: 'utf8' });
  const [s, kb] = out.stderr.trim().split('\n').pop()!.split(' ');
  return { seconds: Number(s), mb: Number(kb) / 1024 };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function manifestLatencies(url: string, repo: string, until: () => boolean, max = 400): Promise<number[]> {
  const out: number[] = [];
  while (out.length < max && (out.length < 50 || !until())) {
    const t = performance.now();
    const res = await fetch(`${url}/v2/${repo}/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    await res.arrayBuffer();
    out.push(performance.now() - t);
  }
  return out;
}

async function main(): Promise<void> {
  await fs.mkdir(WORK, { recursive: true });
  const tarFile = path.join(WORK, 'layer.tar');
  try {
    await fs.access(tarFile);
  } catch {
    execFileSync('bash', ['-c', `tar -cf ${tarFile} /usr/share /work/wt/inspect/node_modules 2>/dev/null || true`]);
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
  const rows: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of ['gzip', 'zstd'] as const) {
      const tool = kind === 'gzip' ? timed(`tar -tzvf ${blobs.gzip}`) : timed(`zstd -dc ${blobs.zstd} | tar -tv`);
      // Cold: no derived listing, a fresh server (its peak RSS is its own).
      await berth.stop();
      await fs.rm(path.join(dataDir, 'derived'), { recursive: true, force: true });
      berth = await startBerth({ dataDir, port: PORT });
      const idle = await manifestLatencies(berth.url, `bench/${kind}`, () => true, 200);
      const rssBefore = peakRss(berth.pid);
      let done = false;
      const t = performance.now();
      const listing = fetch(`${berth.url}/api/repositories/bench/${kind}/-/layers/${digests[kind]}`).then(async (r) => {
        const body = await r.json() as { entries: unknown[] };
        done = true;
        return body.entries.length;
      });
      const busy = await manifestLatencies(berth.url, `bench/${kind}`, () => done, 100_000);
      const entries = await listing;
      const seconds = (performance.now() - t) / 1000;
      const rss = peakRss(berth.pid);
      rows.push(`| ${round} | ${kind} | ${tool.seconds.toFixed(2)} s | ${tool.mb.toFixed(0)} MB | ${seconds.toFixed(2)} s | ${(seconds / tool.seconds).toFixed(2)}x | ${rssBefore.toFixed(0)} -> ${rss.toFixed(0)} MB | ${entries} | ${percentile(idle, 0.5).toFixed(2)} / ${percentile(idle, 0.99).toFixed(2)} ms | ${percentile(busy, 0.5).toFixed(2)} / ${percentile(busy, 0.99).toFixed(2)} ms (${busy.length}) |`);
      console.log(rows[rows.length - 1]);
    }
  }
  await berth.stop();
  console.log('\n| round | layer | tar time | tar peak RSS | Berth time | ratio | Berth peak RSS (process, before -> after) | entries | manifest GET p50/p99 idle | while listing (requests) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
}

await main();
