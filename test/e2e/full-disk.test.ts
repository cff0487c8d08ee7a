/**
 * A full disk, as a user meets it: `berth serve` with its data directory on a 24 MiB tmpfs made by the
 * test, then pushes larger than the disk with Docker, skopeo, podman and curl. Each must fail at once with an
 * error the client prints legibly, the partial files must be gone, the server must stay up and serve
 * pulls, and /healthz, the API and the UI must say the disk is full. Then the disk is filled to the
 * last block: every maintenance command must run (through the server and on the directory), a
 * restart must work, and no store file may be set aside or setting lost.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as tar from 'tar';
import { fixtures, pseudoRandom, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { runBerth, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { openBrowser } from '../helpers/browser.ts';
import { startDockerd, type Dockerd } from '../helpers/dockerd.ts';
import { fillDisk, mountTmpfs, skipUnlessRoot, type Tmpfs } from '../helpers/mounts.ts';
import { expectError, sha256, waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnlessRoot('mount', 'umount') || skipUnless('dockerd', 'docker', 'skopeo', 'podman', 'curl', 'chromium');
const execFileAsync = promisify(execFile);

/** The disk: big enough for Berth and a small image, far too small for BIG_BYTES. */
const DISK_BYTES = 24 * 1024 * 1024;
const BIG_BYTES = 40 * 1024 * 1024;
const CLIENT = { 'X-Berth-Client': 'tests' };

interface Health {
  status: string;
  storage: { state: string; freeBytes: number; totalBytes: number };
  problem?: string;
}

describe('a full disk', { skip, timeout: 900_000 }, () => {
  let work: string;
  let disk: Tmpfs;
  let dataDir: string;
  let dockerd: Dockerd;
  let berth: BerthProcess;
  let images: Record<FixtureName, Fixture>;
  let bigTar: string;
  let bigBlob: string;
  let ruleId: string;

  before(async () => {
    work = await tempDir('berth-full-disk-');
    disk = await mountTmpfs(path.join(work, 'disk'), DISK_BYTES);
    dataDir = path.join(disk.dir, 'data');
    images = await fixtures();
    // The big image's one layer: incompressible bytes, so no gzip makes it fit.
    const layerDir = path.join(work, 'layer');
    await fs.mkdir(layerDir);
    await fs.writeFile(path.join(layerDir, 'big.bin'), pseudoRandom('full-disk', BIG_BYTES));
    bigTar = path.join(work, 'big.tar');
    await tar.create({ cwd: layerDir, file: bigTar, portable: true }, ['big.bin']);
    bigBlob = path.join(work, 'big.bin');
    await fs.rename(path.join(layerDir, 'big.bin'), bigBlob);
    dockerd = await startDockerd(path.join(work, 'dockerd'));
    await dockerd.docker('import', bigTar, 'fixtures/big:latest');
    berth = await startBerth({ dataDir });
  });
  after(async () => {
    await berth?.stop();
    await dockerd?.stop();
    await disk?.unmount();
    await fs.rm(work, { recursive: true, force: true });
  });

  const health = async (): Promise<Health> => (await (await fetch(`${berth.url}/healthz`)).json()) as Health;
  const pushTiny = (reference: string) =>
    run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images.tiny.dir}:latest`, `docker://${berth.hostPort}/${reference}`]);

  /** Uploads and temp files in the data directory: partial writes must never stay behind. */
  async function leftovers(): Promise<string[]> {
    const found = [];
    for (const dir of ['uploads', 'tmp']) found.push(...(await fs.readdir(path.join(dataDir, dir))).map((f) => `${dir}/${f}`));
    return found;
  }

  it('takes pushes and settings while there is room', async () => {
    await pushTiny('app/tiny:v1');
    const created = await fetch(`${berth.url}/api/retention/rules`, {
      method: 'POST',
      headers: { ...CLIENT, 'Content-Type': 'application/json' },
      body: JSON.stringify({ repositories: 'team/*', keepLast: 3 }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    ruleId = ((await created.json()) as { id: string }).id;
    assert.equal((await health()).storage.state, 'ok');
  });

  it('docker push of an image larger than the disk fails at once with "denied" and why', async () => {
    await dockerd.docker('tag', 'fixtures/big:latest', `${berth.hostPort}/app/big:v1`);
    const started = Date.now();
    const pushed = await execFileAsync('docker', ['push', `${berth.hostPort}/app/big:v1`], { env: { ...process.env, ...dockerd.env } })
      .then(() => null, (err: { stderr: string; stdout: string }) => `${err.stdout}${err.stderr}`);
    assert.ok(pushed !== null, 'the push fails');
    assert.match(pushed, /denied: the registry's disk ran out of space: the blob is larger than the [\d.]+ [kM]B free of [\d.]+ MB; the partial upload was removed\. To push, free space on the registry/);
    assert.doesNotMatch(pushed, /Retrying in/, 'Docker does not retry an error that cannot go away');
    assert.ok(Date.now() - started < 60_000, 'no minute of retries');
    assert.deepEqual(await leftovers(), []);
  });

  it('skopeo copy of it fails the same way', async () => {
    const archive = path.join(work, 'big-archive.tar');
    await dockerd.docker('save', '-o', archive, 'fixtures/big:latest');
    const copied = await run('skopeo', ['copy', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${berth.hostPort}/app/big:v2`])
      .then(() => null, (err: Error) => err.message);
    assert.ok(copied !== null, 'the copy fails');
    assert.match(copied, /uploading layer chunked: denied: the registry's disk ran out of space/);
    assert.deepEqual(await leftovers(), []);
  });

  it('podman push of it fails the same way', async () => {
    const storageArgs = ['--root', path.join(work, 'podman', 'storage'), '--runroot', path.join(work, 'podman', 'run'), '--storage-driver', 'vfs'];
    try {
      await run('podman', [...storageArgs, 'load', '-i', path.join(work, 'big-archive.tar')]);
      const pushed = await run('podman', [...storageArgs, 'push', '--tls-verify=false', 'fixtures/big:latest', `docker://${berth.hostPort}/app/big:v3`])
        .then(() => null, (err: Error) => err.message);
      assert.ok(pushed !== null, 'the push fails');
      assert.match(pushed, /Error: writing blob: uploading layer chunked: denied: the registry's disk ran out of space/);
      assert.deepEqual(await leftovers(), []);
    } finally {
      await run('podman', [...storageArgs, 'system', 'reset', '--force']).catch(() => undefined);
    }
  });

  it('curl: a monolithic upload whose Content-Length cannot fit is refused before a byte is sent or written', async () => {
    const digest = sha256(await fs.readFile(bigBlob));
    const url = `${berth.url}/v2/app/blob/blobs/uploads/?digest=${digest}`;
    // curl sends "Expect: 100-continue" for a body this large: the refusal comes instead of the 100.
    const expecting = await curl(['-X', 'POST', '--data-binary', `@${bigBlob}`, url]);
    assert.equal(expecting.status, 413);
    assert.equal(expecting.uploaded, 0, 'the client sent no byte of the body');
    const error = await expectError(new Response(expecting.body, { status: 413, headers: expecting.headers }), 413, 'DENIED');
    assert.match(error.message, /^the registry's disk has [\d.]+ [kM]B free of [\d.]+ MB, too little for this blob of 41.9 MB; nothing was written\./);
    // Without the expectation the body arrives anyway: it is read to nowhere and answered the same.
    const plain = await curl(['-X', 'POST', '-H', 'Expect:', '--data-binary', `@${bigBlob}`, url]);
    assert.equal(plain.status, 413);
    assert.match(plain.body, /nothing was written/);
    assert.deepEqual(await leftovers(), []);
  });

  it('curl: a streamed PATCH that fills the disk gets 413 and its upload is removed', async () => {
    const started = await fetch(`${berth.url}/v2/app/blob/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202);
    const location = new URL(started.headers.get('location')!, berth.url).toString();
    const patched = await curl(['-X', 'PATCH', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${bigBlob}`, location]);
    assert.equal(patched.status, 413, patched.body);
    assert.match(patched.body, /"code":"DENIED".*the registry's disk ran out of space: the blob is larger than the .* free .*; the partial upload was removed/);
    await expectError(await fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.deepEqual(await leftovers(), []);
  });

  it('the server stays up, serves pulls, and /healthz, the API, the log and the UI say the disk is full', async () => {
    assert.equal(berth.child.exitCode, null, 'still running');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${berth.hostPort}/app/tiny:v1`, `oci:${path.join(work, 'pulled')}:v1`]);
    const res = await fetch(`${berth.url}/healthz`);
    assert.equal(res.status, 200, 'a full disk still serves pulls: the health check must not take it away');
    const body = (await res.json()) as Health;
    assert.equal(body.status, 'degraded');
    assert.equal(body.storage.state, 'full');
    assert.ok(body.storage.freeBytes > 0 && body.storage.totalBytes <= DISK_BYTES);
    assert.match(body.problem ?? '', /^A push failed because the disk holding the data directory ran out of space: pushes that do not fit fail until there is more room; pulls still work\. To make room, free space on the registry/);
    const status = (await (await fetch(`${berth.url}/api/status`, { headers: CLIENT })).json()) as { storage: Health['storage'] & { problem: string } };
    assert.equal(status.storage.state, 'full');
    await waitFor(() => /"level":50.*the disk holding the data directory is full \(a push to app\/big\)/.test(berth.output()), 'the log to say the disk is full');

    const ui = await openBrowser(berth.url);
    try {
      await ui.page.goto('/');
      const alert = ui.page.getByRole('alert').filter({ hasText: 'A push did not fit on the registry’s disk.' });
      await alert.waitFor();
      assert.match(await alert.innerText(), /[\d.]+ [kM]B free of [\d.]+ MB/);
      await ui.screenshot('disk-full');
      assert.deepEqual(ui.errors, []);
    } finally {
      await ui.close();
    }
  });

  const MAINTENANCE = [['gc', '--dry-run'], ['gc', '--grace', '0'], ['scrub'], ['purge-uploads', '--dry-run'], ['purge-uploads', '--older-than', '0'], ['reindex']];

  it('on a disk full to the last block, every maintenance command runs through the server', async () => {
    await fillDisk(path.join(disk.dir, 'filler'));
    assert.ok((await fs.statfs(disk.dir)).bavail < 2, 'not a block left');
    const full = await health();
    assert.equal(full.storage.state, 'full');
    assert.match(full.problem ?? '', /^The disk holding the data directory is full: pushes fail until there is room; pulls still work\./);
    assert.ok(full.storage.freeBytes < 64 * 1024, `${full.storage.freeBytes} bytes free`);
    for (const args of MAINTENANCE) {
      const result = await runBerth([...args, '--data', dataDir]);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /done by the Berth server/);
    }
  });

  it('and on the directory directly, with the server stopped', async () => {
    assert.equal(await berth.stop(), 0);
    for (const args of MAINTENANCE) {
      const result = await runBerth([...args, '--data', dataDir]);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /directly\)/);
    }
  });

  it('a restart on the full disk works, and no setting is lost nor any file set aside', async () => {
    berth = await startBerth({ dataDir });
    const rules = (await (await fetch(`${berth.url}/api/retention/rules`, { headers: CLIENT })).json()) as { rules: { id: string; keepLast: number }[] };
    assert.deepEqual(rules.rules.map((r) => [r.id, r.keepLast]), [[ruleId, 3]]);
    const runs = (await (await fetch(`${berth.url}/api/runs?limit=50`, { headers: CLIENT })).json()) as { runs: { kind: string; state: string }[] };
    assert.ok(runs.runs.filter((r) => r.state === 'succeeded').length >= MAINTENANCE.length, 'the runs on the full disk were recorded');
    const tags = (await (await fetch(`${berth.url}/v2/app/tiny/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);
    const all = await fs.readdir(dataDir, { recursive: true });
    assert.deepEqual(all.filter((f) => f.includes('.unreadable-')), [], 'nothing set aside');
    const status = (await (await fetch(`${berth.url}/api/status`, { headers: CLIENT })).json()) as { storage: { setAside: unknown[] } };
    assert.deepEqual(status.storage.setAside, []);
  });

  it('once space is freed, pushes work again and the disk is reported ok', async () => {
    await fs.rm(path.join(disk.dir, 'filler'));
    await pushTiny('app/tiny:v2');
    const after = await health();
    assert.equal(after.status, 'ok');
    assert.equal(after.storage.state, 'ok');
  });
});

/** curl with the status, the final response's headers and body, and how many body bytes it sent. */
async function curl(args: string[]): Promise<{ status: number; headers: Headers; body: string; uploaded: number }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-curl-'));
  try {
    const { stdout } = await execFileAsync('curl', ['-sS', '-D', path.join(dir, 'headers'), '-o', path.join(dir, 'body'), '-w', '%{http_code} %{size_upload}', ...args]);
    const [status, uploaded] = stdout.trim().split(' ').map(Number);
    // -D writes every header block (a "100 Continue" first, when there was one): the last is the answer's.
    const blocks = (await fs.readFile(path.join(dir, 'headers'), 'utf8')).trim().split(/\r\n\r\n/);
    const headers = new Headers();
    for (const line of blocks[blocks.length - 1]!.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    return { status: status!, headers, body: await fs.readFile(path.join(dir, 'body'), 'utf8'), uploaded: uploaded! };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
