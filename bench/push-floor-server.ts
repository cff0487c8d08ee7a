/**
 * Node's floor for a push (issue 17): a bare node:http server that speaks just enough of the registry
 * API for `skopeo copy` to push an image to it, and does with a blob's body only what no registry can
 * skip. It checks nothing, keeps no index, logs nothing, and has no router or middleware.
 *
 *   receive  every byte received and hashed (SHA-256: the client names the digest), nothing stored;
 *            a minor GC asked for every 4 MiB of received chunks, as Berth does
 *            (storage/transient-memory.ts: without it this server's CPU per GB moved between 1.3 and
 *            2.8 s from one process to the next, with the memory the dead chunks held);
 *   store    also written to a file in DIR the way Berth writes an upload on a local disk
 *            (storage/append-sink.ts): copied into two 1 MiB page-aligned buffers, each written with
 *            O_DIRECT while the other fills, hashed once written, the file fsynced at the end and
 *            removed.
 *
 * bench/extra.ts (the `pushfloor` workload) pushes the kit's `big` image to both, to Berth and to
 * Distribution in interleaved rounds and measures each process's CPU. What `receive` costs is Node's
 * HTTP stack and the kernel's receive path on this machine with this client; `store` adds putting the
 * bytes on the disk; what Berth costs above `store` is the rest of a registry (the API and its checks,
 * upload sessions, links, the index, events).
 *
 *   node --max-semi-space-size=2 --expose-gc --import tsx bench/push-floor-server.ts PORT [DIR]
 */
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

const port = Number(process.argv[2] ?? 5157);
const storeIn = process.argv[3];
const STAGING = 1024 * 1024;
const GC_EVERY = 4 * 1024 * 1024;
/** A WebAssembly memory is whole pages: views into it at multiples of 4 KiB suit O_DIRECT. */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (pages: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;
const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;
let uploads = 0;
let released = 0;

/** A received chunk is garbage: a minor GC every GC_EVERY bytes of them. */
function release(bytes: number): void {
  released += bytes;
  if (released < GC_EVERY) return;
  released = 0;
  gc?.({ type: 'minor' });
}

/** The body into `file`, as Berth's direct writes do; resolves once it is written, hashed and synced. */
async function store(req: http.IncomingMessage, hash: Hash, file: string): Promise<void> {
  const memory = Buffer.from(new WasmMemory({ initial: (2 * STAGING) / 65536, maximum: (2 * STAGING) / 65536 }).buffer);
  const buffers = [memory.subarray(0, STAGING), memory.subarray(STAGING)];
  const direct = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT);
  let current = 0;
  let staged = 0;
  let position = 0;
  let writing: Promise<void> = Promise.resolve();
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      for (let from = 0; from < chunk.length;) {
        const staging = buffers[current]!;
        const n = chunk.copy(staging, staged, from);
        from += n;
        staged += n;
        if (staged === STAGING) {
          await writing;
          const at = position;
          position += STAGING;
          writing = direct.write(staging, 0, STAGING, at).then(() => void hash.update(staging));
          current ^= 1;
          staged = 0;
        }
      }
      release(chunk.length);
    }
    await writing;
  } finally {
    await direct.close();
  }
  // The tail, through the page cache (any length), then the whole file made durable.
  const buffered = await fs.open(file, 'r+');
  try {
    const tail = buffers[current]!.subarray(0, staged);
    if (tail.length > 0) await buffered.write(tail, 0, tail.length, position);
    hash.update(tail);
    await buffered.sync();
  } finally {
    await buffered.close();
  }
  await fs.rm(file);
}

http
  .createServer((req, res) => {
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://floor');
    const hash = createHash('sha256');
    const answer = (status: number, headers: Record<string, string> = {}) => {
      hash.digest();
      res.writeHead(status, { 'content-length': '0', ...headers });
      res.end();
    };
    const route = () => {
      if (pathname === '/v2/') return answer(200, { 'docker-distribution-api-version': 'registry/2.0' });
      // Nothing is kept, so nothing exists: every blob and manifest is pushed whole.
      if (req.method === 'HEAD' || req.method === 'GET') return answer(404);
      if (req.method === 'POST' && pathname.endsWith('/blobs/uploads/')) {
        uploads += 1;
        return answer(202, { location: `${pathname}${uploads}`, range: '0-0' });
      }
      if (req.method === 'PATCH') return answer(202, { location: pathname, range: '0-0' });
      if (req.method === 'PUT' && pathname.includes('/blobs/uploads/')) {
        return answer(201, { location: pathname, 'docker-content-digest': searchParams.get('digest') ?? '' });
      }
      if (req.method === 'PUT') return answer(201, { 'docker-content-digest': `sha256:${createHash('sha256').update(pathname).digest('hex')}` });
      answer(405);
    };
    if (storeIn && req.method === 'PATCH') {
      uploads += 1;
      store(req, hash, path.join(storeIn, String(uploads))).then(route, (err: Error) => {
        res.writeHead(500);
        res.end(err.message);
      });
      return;
    }
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      release(chunk.length);
    });
    req.on('end', route);
  })
  .listen(port, '127.0.0.1');
