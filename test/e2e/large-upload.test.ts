/**
 * Streaming, measured: a 1 GiB blob pushed as one chunked PATCH and pulled back, while the server's
 * resident memory is sampled. Memory must stay flat (blobs are never held in memory).
 */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { rssOf, sampleRss } from '../helpers/process-memory.ts';
import { tempDir } from '../helpers/server.ts';

const GiB = 1024 * 1024 * 1024;
const CHUNK = 1024 * 1024;
/** Generous against the 30 MB target of the benchmark: this guards against buffering, not noise. */
const MAX_GROWTH = 64 * 1024 * 1024;

describe('a 1 GiB push and pull', { skip: process.platform !== 'linux' ? 'reads /proc' : false, timeout: 600_000 }, () => {
  let work: string;
  let berth: BerthProcess | undefined;
  after(async () => {
    await berth?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('streams both ways with flat server memory', async () => {
    work = await tempDir('berth-large-');
    berth = await startBerth({ dataDir: path.join(work, 'data') });
    const base = berth.url;
    const start = await fetch(`${base}/v2/large/blob/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location')!, base);

    // Warm up (first requests allocate), then take the baseline.
    for (let i = 0; i < 20; i++) await fetch(`${base}/v2/`);
    const baseline = await rssOf(berth.pid);
    const pushSampler = sampleRss(berth.pid);

    const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16));
    const zeros = Buffer.alloc(CHUNK);
    const hash = createHash('sha256');
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(location, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent < GiB) {
          const chunk = cipher.update(zeros);
          hash.update(chunk);
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    assert.equal(status, 202);
    const digest = `sha256:${hash.digest('hex')}`;
    const done = new URL(location);
    done.searchParams.set('digest', digest);
    assert.equal((await fetch(done, { method: 'PUT' })).status, 201);
    const pushPeak = await pushSampler.stop();

    const pullSampler = sampleRss(berth.pid);
    const res = await fetch(`${base}/v2/large/blob/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(Number(res.headers.get('content-length')), GiB);
    const check = createHash('sha256');
    let received = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      check.update(chunk);
      received += chunk.length;
    }
    const pullPeak = await pullSampler.stop();
    assert.equal(received, GiB);
    assert.equal(`sha256:${check.digest('hex')}`, digest);

    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    console.log(`RSS baseline ${mb(baseline)}, peak during push ${mb(pushPeak)}, during pull ${mb(pullPeak)}`);
    assert.ok(pushPeak - baseline < MAX_GROWTH, `push grew RSS by ${mb(pushPeak - baseline)}`);
    assert.ok(pullPeak - baseline < MAX_GROWTH, `pull grew RSS by ${mb(pullPeak - baseline)}`);
  });
});
