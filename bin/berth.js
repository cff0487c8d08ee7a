#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --expose-gc
// The `berth` command. Runs the built CLI (npm run build writes dist/, and npm install runs the build).
// Node flags (measured: docs/benchmarks.md; package.json "serve" and scripts/start.js pass the same):
// --max-semi-space-size=2 (MiB): V8 otherwise grows its young generation to 16 MiB semi-spaces under a
//   burst of requests and keeps it; capped, peak memory under load is ~30 MB lower at no measurable CPU
//   cost (wrk, 32 connections, manifest GETs).
// --expose-gc: lets uploads free the request-body buffers they are done with while they are young
//   (server/storage/transient-memory.ts): RSS growth during a 1 GiB push 40 -> 11 MB, less CPU.
// MALLOC_ARENA_MAX=2 (glibc; deploy/ and scripts/start.js set it too): glibc gives each thread that
//   allocates (V8's GC helpers, libuv's pool) a heap of its own, and keeps what it freed there. Two heaps
//   for the process: peak RSS over the benchmark kit's run 109-111 -> 104-105 MB, CPU within the noise.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('berth: the server is not built yet; run "npm run build" (npm install does it too)\n');
  process.exit(1);
}
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
