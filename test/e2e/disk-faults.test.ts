/**
 * Disks that fail in other ways, on real file systems the tests mount and remove: a read-only data
 * directory (a tmpfs remounted read-only: root ignores chmod), files that answer EIO (a FUSE mirror,
 * test/helpers/eio-fs.py: this kernel has no device-mapper for dmsetup's "error" target), and store
 * files whose contents are damaged. Each case must end in one clear message, lose nothing, and set a
 * file aside only when its contents really cannot be parsed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtures, type Fixture, type FixtureName } from '../fixtures/images.ts';
import { assertOneLine, runBerth, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { mountEioFs, mountTmpfs, skipUnlessRoot, type EioMount, type Tmpfs } from '../helpers/mounts.ts';
import { expectError, sha256, waitFor } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnlessRoot('mount', 'umount', 'fusermount3', '/usr/bin/python3') || skipUnless('skopeo');
const CLIENT = { 'X-Berth-Client': 'tests' };

async function setAsideFiles(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true })).filter((f) => f.includes('.unreadable-'));
}

describe('disk faults', { skip, timeout: 600_000 }, () => {
  let work: string;
  let images: Record<FixtureName, Fixture>;
  before(async () => {
    work = await tempDir('berth-disk-faults-');
    images = await fixtures();
  });
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  const push = (berth: BerthProcess, fixture: FixtureName, reference: string) =>
    run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${images[fixture].dir}:latest`, `docker://${berth.hostPort}/${reference}`]);

  async function addRule(berth: BerthProcess, repositories: string): Promise<string> {
    const res = await fetch(`${berth.url}/api/retention/rules`, {
      method: 'POST',
      headers: { ...CLIENT, 'Content-Type': 'application/json' },
      body: JSON.stringify({ repositories, keepLast: 2 }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  }

  async function rules(berth: BerthProcess): Promise<string[]> {
    const body = (await (await fetch(`${berth.url}/api/retention/rules`, { headers: CLIENT })).json()) as { rules: { repositories: string }[] };
    return body.rules.map((r) => r.repositories);
  }

  describe('a read-only data directory', () => {
    let disk: Tmpfs;
    before(async () => {
      disk = await mountTmpfs(path.join(work, 'ro'), 32 * 1024 * 1024);
    });
    after(async () => {
      await disk?.unmount();
    });

    it('refuses to start with one line naming the read-only file system, for a new and an existing directory', async () => {
      await fs.mkdir(path.join(disk.dir, 'existing'));
      await disk.remount('ro');
      try {
        for (const dataDir of [path.join(disk.dir, 'existing'), path.join(disk.dir, 'new', 'data')]) {
          const result = await runBerth(['serve', '--port', '0', '--data', dataDir]);
          assert.equal(result.code, 1, result.stderr);
          assertOneLine(result.stderr, new RegExp(`cannot use data directory ${dataDir}: it is on a read-only file system; remount it read-write or choose another data directory \\(--data\\)$`));
        }
      } finally {
        await disk.remount('rw');
      }
    });

    it('a server whose directory becomes read-only refuses pushes with "denied" and why, keeps serving pulls, and recovers', async () => {
      const dataDir = path.join(disk.dir, 'live');
      const berth = await startBerth({ dataDir });
      try {
        await push(berth, 'tiny', 'app/tiny:v1');
        await disk.remount('ro');
        const copied = await push(berth, 'small', 'app/small:v1').then(() => null, (err: Error) => err.message);
        assert.match(copied ?? 'pushed', /denied: the registry's data directory is on a read-only file system: .* cannot be stored\. Pulls still work/);
        const refused = await fetch(`${berth.url}/v2/app/tiny/blobs/uploads/`, { method: 'POST' });
        const error = await expectError(refused, 403, 'DENIED');
        assert.match(error.message, /read-only file system/);
        const health = await fetch(`${berth.url}/healthz`);
        assert.equal(health.status, 503);
        assert.match(((await health.json()) as { problem: string }).problem, /the data directory is not writable \(it is on a read-only file system\)/);
        const status = (await (await fetch(`${berth.url}/api/status`, { headers: CLIENT })).json()) as { storage: { state: string; headline: string } };
        assert.equal(status.storage.state, 'read-only');
        assert.match(status.storage.headline, /read-only: pushes fail/);
        await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${berth.hostPort}/app/tiny:v1`, `oci:${path.join(work, 'pulled-ro')}:v1`]);
        assert.equal(berth.child.exitCode, null, 'still running');

        await disk.remount('rw');
        await push(berth, 'small', 'app/small:v1');
        const healed = (await (await fetch(`${berth.url}/api/status`, { headers: CLIENT })).json()) as { storage: { state: string } };
        assert.equal(healed.storage.state, 'ok');
      } finally {
        await disk.remount('rw').catch(() => undefined);
        assert.equal(await berth.stop(), 0);
      }
    });
  });

  describe('files that answer EIO', () => {
    let disk: EioMount;
    let dataDir: string;
    let berth: BerthProcess | null = null;
    before(async () => {
      disk = await mountEioFs(path.join(work, 'eio-backing'), path.join(work, 'eio'));
      dataDir = path.join(disk.dir, 'data');
      berth = await startBerth({ dataDir });
      await push(berth, 'tiny', 'app/tiny:v1');
      await addRule(berth, 'team/*');
      assert.equal(await berth.stop(), 0);
      berth = null;
    });
    after(async () => {
      await berth?.stop();
      await disk?.fail([]);
      await disk?.unmount();
    });

    for (const [file, what] of [['maintenance/retention.db', 'cannot open the maintenance store'], ['activity.db', 'cannot open the activity log']] as const) {
      it(`an unreadable ${file} stops the start with one line, and is neither moved nor changed`, async () => {
        const before = await fs.readFile(path.join(disk.backing, 'data', file));
        await disk.fail([`data/${file}`]);
        try {
          const result = await runBerth(['serve', '--port', '0', '--data', dataDir]);
          assert.equal(result.code, 1, result.stderr);
          assertOneLine(result.stderr, new RegExp(`${what}.*: cannot read ${dataDir}/${file}: the disk reported an I/O error \\(EIO\\); it may be failing: check it \\(dmesg, fsck\\)\\. Nothing was changed or moved$`));
        } finally {
          await disk.fail([]);
        }
        assert.deepEqual(await fs.readFile(path.join(disk.backing, 'data', file)), before, 'the file is as it was');
        assert.deepEqual(await setAsideFiles(disk.backing), [], 'nothing set aside');
      });
    }

    it('after the disk heals, the server starts with every setting', async () => {
      berth = await startBerth({ dataDir });
      assert.deepEqual(await rules(berth), ['team/*']);
      assert.equal(await berth.stop(), 0);
      berth = null;
    });

    it('an unreadable index is rebuilt in memory and its files are left alone', async () => {
      const tagsFile = path.join(disk.backing, 'data', 'index', 'tags.db');
      const before = await fs.readFile(tagsFile);
      await disk.fail(['data/index/tags.db']);
      try {
        berth = await startBerth({ dataDir });
        const tags = (await (await fetch(`${berth.url}/v2/app/tiny/tags/list`)).json()) as { tags: string[] };
        assert.deepEqual(tags.tags, ['v1'], 'listings work');
        const server = berth;
        await waitFor(() => server.output().includes('the metadata index cannot be read from disk; rebuilding it in memory'), 'the log line');
        assert.equal(await berth.stop(), 0);
        berth = null;
      } finally {
        await disk.fail([]);
      }
      assert.deepEqual(await fs.readFile(tagsFile), before, 'the index file is as it was');
      const state = JSON.parse(await fs.readFile(path.join(disk.backing, 'data', 'index', 'state.json'), 'utf8')) as { clean: boolean };
      assert.equal(state.clean, false, 'the next start rebuilds it from the files again');
      assert.deepEqual(await setAsideFiles(disk.backing), []);
    });

    it('while serving: a blob that cannot be read and an upload that cannot be written get clean errors, and the server stays up', async () => {
      berth = await startBerth({ dataDir });
      const server = berth;
      // The index loads after the server listens: it must be in, before files start failing.
      await waitFor(async () => ((await (await fetch(`${server.url}/healthz`)).json()) as { index: string }).index === 'ready', 'the index');
      const layer = [...images.tiny.blobs.keys()].find((d) => d !== images.tiny.digest)!;
      const hex = layer.slice('sha256:'.length);
      await disk.fail([`data/blobs/sha256/${hex.slice(0, 2)}/${hex}`]);
      const pulled = await fetch(`${berth.url}/v2/app/tiny/blobs/${layer}`);
      const readError = await expectError(pulled, 500, 'UNKNOWN');
      assert.match(readError.message, /^the registry could not read its data \(EIO\)/);

      await disk.fail(['*']);
      const body = Buffer.from('a blob the disk cannot take');
      const upload = await fetch(`${berth.url}/v2/app/other/blobs/uploads/?digest=${sha256(body)}`, { method: 'POST', body });
      const writeError = await expectError(upload, 500, 'UNKNOWN');
      assert.match(writeError.message, /^the registry's disk reported an I\/O error \(EIO\) while storing/);
      // The log comes through a pipe: it may trail the answer.
      await waitFor(() => /"level":50.*the disk holding the registry's data directory reports I\/O errors \(EIO\)/.test(server.output()), 'the error in the log');
      await disk.fail([]);
      assert.equal(berth.child.exitCode, null, 'still running');
      assert.equal((await fetch(`${berth.url}/v2/app/tiny/blobs/${layer}`)).status, 200, 'the blob reads again');
      assert.equal(await berth.stop(), 0);
      berth = null;
      assert.deepEqual(await setAsideFiles(disk.backing), []);
    });
  });

  describe('store files with damaged contents', () => {
    let dataDir: string;
    before(async () => {
      dataDir = path.join(work, 'damaged');
      const berth = await startBerth({ dataDir });
      await addRule(berth, 'one/*');
      await addRule(berth, 'two/*');
      assert.equal(await berth.stop(), 0);
    });

    it('a last line cut off by a crash is dropped: nothing is set aside and every rule stays', async () => {
      const file = path.join(dataDir, 'maintenance', 'retention.db');
      await fs.appendFile(file, '{"_id":"cut-off","repositories":"thr');
      const berth = await startBerth({ dataDir });
      try {
        assert.deepEqual((await rules(berth)).sort(), ['one/*', 'two/*']);
        assert.deepEqual(await setAsideFiles(dataDir), []);
      } finally {
        assert.equal(await berth.stop(), 0);
      }
    });

    it('a file whose lines do not parse is set aside loudly, the readable rules kept, and the UI told how to restore it', async () => {
      const file = path.join(dataDir, 'maintenance', 'retention.db');
      const lines = (await fs.readFile(file, 'utf8')).trim().split('\n');
      const damaged = [lines[0], '{"_id": this is not JSON', ...lines.slice(1)].join('\n') + '\n';
      await fs.writeFile(file, damaged);
      const berth = await startBerth({ dataDir });
      try {
        const [aside] = await setAsideFiles(path.join(dataDir, 'maintenance'));
        assert.ok(aside, 'the damaged file is set aside');
        const keptAs = path.join(dataDir, 'maintenance', aside);
        assert.equal(await fs.readFile(keptAs, 'utf8'), damaged, 'set aside as it was, never deleted');
        assert.deepEqual((await rules(berth)).sort(), ['one/*', 'two/*'], 'the rules that could be read are kept');
        await waitFor(() => berth.output().includes(`berth: ${file} could not be read`), 'the console line');
        const out = berth.output();
        assert.match(out, new RegExp(`berth: ${file} could not be read \\(1 of its ${lines.length + 1} lines are damaged\\): it was set aside as ${keptAs}, and the ${lines.length} entries that could be read were kept\\. To restore it: stop Berth`));
        assert.match(out, /"level":50.*could not read .*retention\.db/);
        const status = (await (await fetch(`${berth.url}/api/status`, { headers: CLIENT })).json()) as {
          storage: { setAside: { file: string; holds: string; keptAs: string; restore: string }[] };
        };
        assert.deepEqual(status.storage.setAside.map((s) => [s.file, s.holds, s.keptAs]), [[file, 'the retention rules', keptAs]]);
        assert.match(status.storage.setAside[0]!.restore, new RegExp(`to restore it, stop Berth, repair the lines that are not valid JSON .* move it back to ${file}, and start Berth`));
      } finally {
        assert.equal(await berth.stop(), 0);
      }
    });
  });
});
