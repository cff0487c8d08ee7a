/**
 * Stopping `berth serve` as a user does (Ctrl-C, SIGTERM) with things still open: the UI's live event
 * stream, a download, an upload. Measured on the real process, from the signal to its exit.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser } from '../helpers/browser.ts';
import { waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

/**
 * Bytes the server has taken of an upload in progress, as the activity feed reports them. Not the size of
 * the session's file: the filesystem driver stages up to 1 MiB for a direct write before it reaches the
 * file (storage/append-sink.ts).
 */
async function received(berth: BerthProcess, id: string): Promise<number> {
  const feed = (await (await fetch(`${berth.url}/api/activity`)).json()) as { uploads: { id: string; bytes: number }[] };
  return feed.uploads.find((u) => u.id === id)?.bytes ?? 0;
}

const skip = skipUnless('chromium', 'skopeo');
/**
 * What the server logs when the shutdown grace period ends with connections still open. Its absence (at
 * --log-level info) shows the stop did not wait for the grace period: a condition, where a time limit
 * would fail on a loaded machine whose stores take long to compact as they close.
 */
const GRACE_OVER = /shutdown grace period is over/;
const CLIENT = { 'X-Berth-Client': 'tests' };

/** Sends `signal` and resolves with the exit code and the milliseconds from the signal to the exit. */
function signalAndTime(berth: BerthProcess, signal: NodeJS.Signals): Promise<{ code: number | null; ms: number }> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    berth.child.once('exit', (code) => resolve({ code, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    berth.child.kill(signal);
  });
}

describe('stopping berth serve', { skip, timeout: 180_000 }, () => {
  let work: string;
  let images: Record<FixtureName, Fixture>;
  before(async () => {
    work = await tempDir('berth-shutdown-');
    images = await fixtures();
  });
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('Ctrl-C with the UI open (its live event stream) exits without waiting for the grace period, and the UI shows live updates stopped', async () => {
    const berth = await startBerth({ dataDir: path.join(work, 'ui'), args: ['--log-level', 'info'] });
    const ui = await openBrowser(berth.url);
    try {
      await ui.page.goto('/');
      const live = ui.page.locator('.live');
      await live.filter({ hasText: 'Live' }).waitFor();
      // A second stream, read here: it is told the server is stopping before it ends.
      let connected!: () => void;
      const open = new Promise<void>((resolve) => (connected = resolve));
      const told = new Promise<string>((resolve, reject) => {
        http.get(`${berth.url}/api/events`, { headers: CLIENT }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            text += d;
            if (text.includes(': connected')) connected();
          });
          res.on('end', () => resolve(text));
          res.on('error', reject);
        }).on('error', reject);
      });
      await open;
      const stopped = await signalAndTime(berth, 'SIGINT');
      assert.equal(stopped.code, 0);
      assert.doesNotMatch(berth.output(), GRACE_OVER, 'an event stream must not hold the stop until the grace period ends');
      assert.match(await told, /event: stopping\n/);
      await live.filter({ hasText: 'Reconnecting…' }).waitFor({ timeout: 30_000 });
      assert.notEqual(await live.textContent(), 'Live');
    } finally {
      await ui.close();
      await berth.stop();
    }
  });

  it('a request that finishes just after the signal does not keep its connection (and the stop) open', async () => {
    const berth = await startBerth({ dataDir: path.join(work, 'finishing'), args: ['--log-level', 'info'] });
    try {
      const started = await fetch(`${berth.url}/v2/app/finishing/blobs/uploads/`, { method: 'POST' });
      const location = started.headers.get('location')!;
      // A keep-alive connection whose PATCH is still sending when the signal comes, and ends after it.
      const agent = new http.Agent({ keepAlive: true });
      const patch = http.request(`${berth.url}${location}`, { method: 'PATCH', agent, headers: { 'Transfer-Encoding': 'chunked' } });
      const answered = new Promise<number>((resolve, reject) => {
        patch.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        patch.on('error', reject);
      });
      patch.write(Buffer.alloc(1024, 1));
      await waitFor(async () => (await received(berth, location.split('/').pop()!)) === 1024, 'the server to receive the first part');
      const stopping = signalAndTime(berth, 'SIGTERM');
      await waitFor(() => berth.output().includes('stopping: letting in-flight requests finish'), 'the server to begin stopping');
      patch.end(Buffer.alloc(1024, 2));
      assert.equal(await answered, 202, 'the upload in flight is answered');
      const stopped = await stopping;
      agent.destroy();
      assert.equal(stopped.code, 0);
      assert.doesNotMatch(berth.output(), GRACE_OVER, 'it exits once the last request is answered, not when the 10 s grace period ends');
    } finally {
      await berth.stop();
    }
  });

  it('an upload cut off when the grace period ends is logged as cut off by the shutdown, not as a 404', async () => {
    const config = path.join(work, 'grace.json');
    await fs.writeFile(config, JSON.stringify({ shutdownGraceSeconds: 1 }));
    const dataDir = path.join(work, 'upload');
    const berth = await startBerth({ dataDir, args: ['--config', config, '--log-level', 'info'] });
    try {
      const started = await fetch(`${berth.url}/v2/app/slow/blobs/uploads/`, { method: 'POST' });
      const location = started.headers.get('location')!;
      const id = location.split('/').pop()!;
      // A chunked PATCH that sends a first part and then nothing: a slow push.
      const patch = http.request(`${berth.url}${location}`, { method: 'PATCH', headers: { 'Transfer-Encoding': 'chunked' } });
      patch.on('error', () => undefined);
      patch.write(Buffer.alloc(64 * 1024, 1));
      await waitFor(async () => (await received(berth, id)) === 64 * 1024, 'the server to receive the first part');
      const stopped = await signalAndTime(berth, 'SIGTERM');
      patch.destroy();
      assert.equal(stopped.code, 0);
      assert.ok(stopped.ms >= 1000, `the upload had its 1 s of grace (${Math.round(stopped.ms)} ms)`);
      await waitFor(() => berth.output().includes('"method":"PATCH"'), 'the request log line');
      const lines = berth.output().split('\n');
      assert.ok(
        lines.some((l) => /"level":40/.test(l) && l.includes('the 1 s shutdown grace period is over: cutting off 1 upload(s) still receiving') && l.includes('"repository":"app/slow"')),
        berth.output(),
      );
      const logged = lines.find((l) => l.includes('"method":"PATCH"'));
      assert.ok(logged, 'the PATCH is logged');
      assert.match(logged, /"aborted":true,"cutOffBy":"shutdown"/);
      assert.doesNotMatch(logged, /"status":/, 'no status: it was never answered (Koa\'s default 404 would be a lie)');
    } finally {
      await berth.stop();
    }
  });
});
