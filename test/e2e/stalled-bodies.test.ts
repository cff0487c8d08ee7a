/**
 * Bodies that never arrive (http/request-bodies.ts), against `berth serve`: 2,000 uploads that send
 * their headers and a little of their body, then nothing. The report: 21 -> 4,021 open files, for
 * good. Now each connection is closed once it has been idle for the body idle timeout (set to 15 s
 * here), its upload session removed, and the server's open files go back to where they were. One
 * address may hold only so many uploads open at once: the rest are told to retry (429).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_UPLOADS_PER_CLIENT } from '../../server/config.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { sha256, waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';

const STALLED = 2000;
const ADDRESSES = 40;
const IDLE_SECONDS = 15;

async function openFiles(pid: number): Promise<number> {
  return (await fs.readdir(`/proc/${pid}/fd`)).length;
}

interface Stalled {
  socket: net.Socket;
  closed: Promise<void>;
  isClosed(): boolean;
  answer(): string;
}

/** A monolithic upload that announces 1 MB, sends 64 bytes, and then nothing. */
async function stall(berth: BerthProcess, from: string, repo: string): Promise<Stalled> {
  const socket = net.connect({ port: berth.port, host: '127.0.0.1', localAddress: from });
  let answer = '';
  socket.on('data', (d) => (answer += d));
  socket.on('error', () => undefined);
  let isClosed = false;
  const closed = new Promise<void>((resolve) => socket.on('close', () => {
    isClosed = true;
    resolve();
  }));
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`POST /v2/${repo}/blobs/uploads/?digest=${sha256(repo)} HTTP/1.1\r\nHost: 127.0.0.1:${berth.port}\r\nContent-Length: 1048576\r\n\r\n${'x'.repeat(64)}`);
  return { socket, closed, isClosed: () => isClosed, answer: () => answer };
}

describe('stalled request bodies against berth serve', { skip: process.platform !== 'linux' && 'reads /proc', timeout: 180_000 }, () => {
  let work: string;
  let berth: BerthProcess;
  before(async () => {
    work = await tempDir('berth-stalled-');
    berth = await startBerth({ dataDir: path.join(work, 'data'), env: { BERTH_BODY_IDLE_TIMEOUT: `${IDLE_SECONDS}s` } });
  });
  after(async () => {
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  it(`closes ${STALLED} stalled bodies after the idle timeout, and its open files come back down`, async () => {
    const baseline = await openFiles(berth.pid);
    // In batches of 200: the listen backlog (511) would drop a burst of 2,000 SYNs, and the retries
    // take seconds.
    const stalled: Stalled[] = [];
    for (let batch = 0; batch < STALLED; batch += 200) {
      stalled.push(...(await Promise.all(Array.from({ length: 200 }, (_, j) => stall(berth, `127.0.7.${1 + ((batch + j) % ADDRESSES)}`, `stalled/u${batch + j}`)))));
    }
    const lastSent = Date.now();
    // Every one reached the server and opened its upload file.
    let peak = 0;
    await waitFor(async () => (peak = Math.max(peak, await openFiles(berth.pid))) >= baseline + STALLED + STALLED / 2, `the server to hold ${STALLED} connections and most of their files`, (IDLE_SECONDS - 1) * 1000)
      .catch((err: Error) => assert.fail(`${err.message}: at most ${peak} open files (${baseline} at rest)`));
    await waitFor(async () => {
      peak = Math.max(peak, await openFiles(berth.pid).catch(() => 0));
      return stalled.every((s) => s.isClosed());
    }, 'every stalled connection to be closed', 60_000);
    const closedAfter = Date.now() - lastSent;
    await waitFor(async () => (await openFiles(berth.pid)) <= baseline + 5, 'the server\'s open files to come back down', 30_000);
    const after = await openFiles(berth.pid);
    await waitFor(async () => (await fs.readdir(path.join(work, 'data', 'uploads')).catch(() => [])).length === 0, 'the cut sessions to be removed', 30_000);
    console.log(`open files: ${baseline} at rest, ${peak} with ${STALLED} stalled uploads, ${after} once they were cut (all closed ${closedAfter} ms after the last was sent; idle timeout ${IDLE_SECONDS} s)`);
    assert.ok(closedAfter >= IDLE_SECONDS * 1000 - 200, 'not before the idle timeout');
    assert.ok(stalled.every((s) => s.answer() === ''), 'cut without an answer: the client sees its connection end');
    assert.equal((await fetch(`${berth.url}/v2/`)).status, 200, 'and the server serves on');
  });

  it(`lets one address send ${DEFAULT_UPLOADS_PER_CLIENT} bodies at once, and tells the next ones to retry (429 with Retry-After)`, async () => {
    const from = '127.0.8.1';
    const held: Stalled[] = [];
    for (let i = 0; i < DEFAULT_UPLOADS_PER_CLIENT; i++) held.push(await stall(berth, from, `capped/u${i}`));
    await waitFor(async () => (await openFiles(berth.pid)) >= 2 * DEFAULT_UPLOADS_PER_CLIENT, 'the uploads to be open on the server', 30_000);
    const refused = await stall(berth, from, 'capped/one-more');
    await refused.closed;
    assert.match(refused.answer(), /^HTTP\/1\.1 429 /);
    assert.match(refused.answer(), /\r\nRetry-After: 2\r\n/i);
    assert.match(refused.answer(), /\r\nConnection: close\r\n/i);
    assert.match(refused.answer(), /"code":"TOOMANYREQUESTS"/);
    // Another address is not held back by this one.
    const other = await stall(berth, '127.0.8.2', 'capped/elsewhere');
    await waitFor(async () => (await fs.readdir(path.join(work, 'data', 'uploads'))).length >= DEFAULT_UPLOADS_PER_CLIENT + 1, 'the other address\'s upload to start', 10_000);
    assert.equal(other.answer(), '');
    for (const s of [...held, other]) s.socket.destroy();
  });
});
