/**
 * Merged-tree benchmark (issue 15): how long building an image's merged file system keeps the
 * registry's event loop busy, for an image of ~100k files. In process, on the code the server runs:
 * listings stored by LayerIndex in the derived store (gzip'd JSON lines, written by a stand-in for
 * the layer workers), merged by mergeLayerSources() as InspectService does, while a timer measures
 * the longest gap between event-loop turns (what a manifest GET arriving then would wait).
 * For comparison: the same merge from listings held in memory (mergeLayers, one synchronous call),
 * and a full walk of the tree in one call and in slices (search, berth files and the diff use the latter).
 * Run: node --import tsx bench/merged-tree.ts   (FILES=100000 ROUNDS=3)
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { RegistryEvents } from '../server/registry/events.ts';
import type { LayerEntry } from '../server/registry/inspect-types.ts';
import type { ListSummary } from '../server/registry/layers/archive.ts';
import { mergeLayers, mergeLayerSources, walk, walkInSlices } from '../server/registry/layers/filesystem.ts';
import { LayerIndex } from '../server/registry/layers/layer-index.ts';
import type { LayerWorkers } from '../server/registry/layers/worker-pool.ts';
import { parseDigest } from '../server/registry/reference.ts';
import { FsLayerListingStore } from '../server/storage/derived-store.ts';
import { StoragePaths } from '../server/storage/paths.ts';

const FILES = Number(process.env.FILES ?? 100_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

/** A base layer of FILES files in 100-file directories, and a layer changing 5% and deleting 1%. */
function layers(): [LayerEntry[], LayerEntry[]] {
  const base: LayerEntry[] = [];
  const top: LayerEntry[] = [];
  const file = (p: string, size: number): LayerEntry => ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 1_767_225_600, sha256: 'ab'.repeat(32) });
  const dir = (p: string): LayerEntry => ({ path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_767_225_600 });
  for (let d = 0; d < FILES / 100; d++) {
    const at = `usr/lib/node_modules/package-${d}/lib`;
    base.push(dir(`usr/lib/node_modules/package-${d}`), dir(at));
    for (let f = 0; f < 100; f++) base.push(file(`${at}/module-${f}.js`, 1000 + f * 37));
    if (d % 20 === 0) {
      top.push(dir(at));
      for (let f = 0; f < 100; f++) top.push(file(`${at}/module-${f}.js`, 2000 + f));
    }
    if (d % 100 === 1) top.push({ ...file(`${at}/.wh.module-1.js`, 0), path: `${at}/module-1.js`, type: 'whiteout' });
  }
  return [base, top];
}

/** Stands in for the layer workers: hands the entries over as JSON lines, as layer-worker.ts does. */
function fakeWorkers(listings: Map<string, LayerEntry[]>): LayerWorkers {
  return {
    async list(digest: { value: string }, onLines: (bytes: Uint8Array) => Promise<void>): Promise<ListSummary> {
      const entries = listings.get(digest.value)!;
      const encoder = new TextEncoder();
      for (let i = 0; i < entries.length; i += 1500) {
        await onLines(encoder.encode(`${entries.slice(i, i + 1500).map((e) => JSON.stringify(e)).join('\n')}\n`));
      }
      return {
        compression: 'gzip', diffId: digest.value, uncompressedSize: 0, entryCount: entries.length,
        addedBytes: 0, whiteouts: entries.filter((e) => e.type === 'whiteout' || e.type === 'opaque').length, rejected: [], rejectedCount: 0,
      };
    },
  } as unknown as LayerWorkers;
}

/** Runs `work` while measuring the longest time the event loop did not turn. */
async function stalls<T>(work: () => Promise<T> | T): Promise<{ value: T; ms: number; longest: number }> {
  let last = performance.now();
  let longest = 0;
  let running = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const started = performance.now();
  const value = await work();
  const ms = performance.now() - started;
  running = false;
  longest = Math.max(longest, performance.now() - last);
  return { value, ms, longest };
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-merge-bench-'));
  try {
    const [base, top] = layers();
    const digests = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`].map(parseDigest);
    const listings = new Map([[digests[0]!.value, base], [digests[1]!.value, top]]);
    const index = new LayerIndex({
      workers: fakeWorkers(listings),
      store: new FsLayerListingStore(new StoragePaths(dir)),
      events: new RegistryEvents(),
      log: pino({ level: 'warn' }),
      sizeOf: async () => 0,
    });
    const summaries = await Promise.all(digests.map((d) => index.summary(d)));
    console.log(`image: ${base.length + top.length} entries in 2 layers (${top.length} in the top one); ${ROUNDS} rounds; Node ${process.version}; machine shared with other helpers`);
    console.log('| round | streamed merge (as the server does) | its longest event-loop stall | in-memory mergeLayers() (one call: its stall) | walk() of the tree (one call) | walkInSlices() (search, diff, berth files) |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (let round = 1; round <= ROUNDS; round++) {
      const streamed = await stalls(() => mergeLayerSources(digests.map((d, i) => ({ whiteouts: summaries[i]!.whiteouts, entries: () => index.entries(d) })), (_, err) => { throw err; }));
      const inMemory = await stalls(() => mergeLayers([{ entries: base }, { entries: top }]));
      const walked = await stalls(() => {
        let n = 0;
        for (const _node of walk(streamed.value)) n += 1;
        return n;
      });
      const sliced = await stalls(async () => {
        let n = 0;
        for await (const _node of walkInSlices(streamed.value)) n += 1;
        return n;
      });
      console.log(`| ${round} | ${streamed.ms.toFixed(0)} ms (${streamed.value.totals.files} files) | ${streamed.longest.toFixed(1)} ms | ${inMemory.ms.toFixed(0)} ms | ${walked.ms.toFixed(0)} ms (${walked.value} paths) | ${sliced.ms.toFixed(0)} ms, longest stall ${sliced.longest.toFixed(1)} ms |`);
    }
    index.close();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
