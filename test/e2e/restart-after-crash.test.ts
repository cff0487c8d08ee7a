/**
 * The data directory lock never outlives its process (storage/lock.ts): `berth serve` killed with
 * SIGKILL is started again at once, 20 times in a row, and every start succeeds. Each killed server
 * is left a zombie on purpose (its parent is a shell that exec'd `sleep`, which never reaps): its
 * pid stays visible, the case where a pid check took the dead for the living. And the other cases a
 * lock must get right: a live holder is refused, a lock file of an older Berth whose pid now belongs
 * to a younger process (reused after a reboot) is not.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataDirLock } from '../../server/storage/lock.ts';
import { BERTH_BIN, freePort, runBerth, startBerth } from '../helpers/berth-process.ts';
import { Client, waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';

function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
  } catch {
    return null;
  }
}

/** The shells (turned `sleep`) that hold killed servers as zombies; killed at the end, even when a test fails. */
const parents: ChildProcess[] = [];

/** `berth serve` under a parent that will never reap it; resolves once it answers. */
async function serveUnreaped(dataDir: string): Promise<{ pid: number; port: number; parent: ChildProcess }> {
  const port = await freePort();
  const command = `"${process.execPath}" "${BERTH_BIN}" serve --port ${port} --data "${dataDir}" --log-level warn >/dev/null 2>&1 & echo $!; exec sleep 600`;
  const parent = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'] });
  parents.push(parent);
  const pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status, () => 0)) === 200, `berth serve (pid ${pid}) to answer`, 20_000);
  return { pid, port, parent };
}

describe('the data directory lock', { skip: process.platform !== 'linux' && 'zombies are made with sh and read from /proc', timeout: 300_000 }, () => {
  let work: string;
  before(async () => {
    work = await tempDir('berth-restart-');
  });
  after(async () => {
    for (const parent of parents) parent.kill('SIGKILL'); // their zombies go to init, which reaps them
    await fs.rm(work, { recursive: true, force: true });
  });

  it('lets berth serve start again at once after kill -9, 20 times in a row', async () => {
    const dataDir = path.join(work, 'data');
    let previous = await serveUnreaped(dataDir);
    const timings: number[] = [];
    const killed: number[] = [];
    for (let round = 1; round <= 20; round++) {
      process.kill(previous.pid, 'SIGKILL');
      killed.push(previous.pid);
      const started = Date.now();
      const next = round < 20 ? await serveUnreaped(dataDir) : await startBerth({ dataDir });
      timings.push(Date.now() - started);
      const state = processState(previous.pid);
      assert.ok(state === 'Z' || state === null, `round ${round}: the killed server is gone or a zombie (${state})`);
      if ('parent' in next) {
        previous = next;
      } else {
        // The last one: it works, and shuts down cleanly, releasing the lock.
        const client = new Client(next.url);
        await client.pushBlob('after/crashes', `round ${round}`);
        assert.equal(await next.stop(), 0);
        await assert.rejects(fs.access(path.join(dataDir, 'berth.lock')), 'the lock is released');
      }
    }
    assert.deepEqual(killed.map(processState), killed.map(() => 'Z'), 'the killed servers stayed zombies throughout, their pids visible');
    console.log(`20 restarts after kill -9, each up in ${Math.min(...timings)}-${Math.max(...timings)} ms`);
  });

  it('refuses a directory a live process holds, naming it', async () => {
    const dataDir = path.join(work, 'held');
    await fs.mkdir(dataDir, { recursive: true });
    const lock = await DataDirLock.acquire(path.join(dataDir, 'berth.lock'));
    try {
      const result = await runBerth(['serve', '--port', String(await freePort()), '--data', dataDir]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`in use by another Berth \\(pid ${process.pid}\\)`));
    } finally {
      await lock.release();
    }
  });

  it('takes over the lock file of an older Berth whose pid now belongs to a younger process', async () => {
    const dataDir = path.join(work, 'reused');
    await fs.mkdir(dataDir, { recursive: true });
    // This test's own pid is alive, but started long after this lock was written: a pid reused after a reboot.
    await fs.writeFile(path.join(dataDir, 'berth.lock'), JSON.stringify({ pid: process.pid, startedAt: '2020-01-01T00:00:00.000Z' }));
    const berth = await startBerth({ dataDir });
    assert.equal(await berth.stop(), 0);
  });
});
