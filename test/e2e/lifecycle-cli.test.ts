/**
 * The maintenance commands of the shipped CLI (`berth gc`, `scrub`, `reindex`, `purge-uploads`): on a
 * data directory no server holds they do the work themselves (under the lock); with a server running
 * they ask it through the management API. Clear output, and exit codes scripts can rely on.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetadataIndex } from '../../server/metadata/index-db.ts';
import type { RunJson } from '../../server/registry/maintenance.ts';
import { runBerth, startBerth } from '../helpers/berth-process.ts';
import { HOUR_MS, age, blobFiles } from '../helpers/lifecycle.ts';
import { Client } from '../helpers/registry-client.ts';
import { DataDirLock } from '../../server/storage/lock.ts';
import { tempDir } from '../helpers/server.ts';

describe('berth gc, scrub, reindex, purge-uploads', { timeout: 180_000 }, () => {
  let work: string;
  let dataDir: string;
  let garbage: string;
  before(async () => {
    work = await tempDir('berth-lifecycle-cli-');
    dataDir = path.join(work, 'data');
    const berth = await startBerth({ dataDir });
    const client = new Client(berth.url);
    await client.pushImage('cli/app', 'v1', { layer: 'kept layer' });
    garbage = await client.pushBlob('cli/app', 'garbage nobody references');
    await client.startUpload('cli/app');
    assert.equal(await berth.stop(), 0);
    await age(dataDir, 25 * HOUR_MS);
  });
  after(async () => {
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('gc --dry-run reports what would go, on the directory directly, and removes nothing', async () => {
    const before_ = await blobFiles(dataDir);
    const result = await runBerth(['gc', '--dry-run', '--data', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Garbage collection \(dry run\): would free 25 B \(on .* directly\)\n/);
    assert.match(result.stdout, /blobs deleted: +1 blob \(25 B\)/);
    assert.match(result.stdout, /Run without --dry-run to free the space\./);
    assert.deepEqual(await blobFiles(dataDir), before_);
    await assert.rejects(fs.access(path.join(dataDir, 'berth.lock')), 'the lock is released');
  });

  it('takes a bare 0 as a duration of nothing: --grace 0, --older-than 0', async () => {
    const gc = await runBerth(['gc', '--dry-run', '--grace', '0', '--json', '--data', dataDir]);
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal((JSON.parse(gc.stdout) as RunJson & { options: { graceSeconds: number } }).options.graceSeconds, 0);
    const summary = await runBerth(['gc', '--dry-run', '--grace', '0', '--data', dataDir]);
    assert.equal(summary.code, 0, summary.stderr);
    assert.match(summary.stdout, /^ {2}kept: .* in use by a push \(no grace window\)$/m);
    assert.doesNotMatch(summary.stdout, /0 ms/);
    const purge = await runBerth(['purge-uploads', '--dry-run', '--older-than', '0', '--json', '--data', dataDir]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.equal((JSON.parse(purge.stdout) as RunJson & { options: { olderThanSeconds: number } }).options.olderThanSeconds, 0);
  });

  it('gc --json frees exactly that and prints the run record', async () => {
    const result = await runBerth(['gc', '--json', '--data', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    const run = JSON.parse(result.stdout) as RunJson & { result: { bytesFreed: number; removed: { blobs: { digest: string }[] } } };
    assert.equal(run.trigger, 'cli');
    assert.equal(run.result.bytesFreed, 25);
    assert.deepEqual(run.result.removed.blobs.map((b) => b.digest), [garbage]);
    assert.ok(!(await blobFiles(dataDir)).has(garbage));
  });

  it('purge-uploads and scrub work on the directory directly', async () => {
    const purge = await runBerth(['purge-uploads', '--data', dataDir]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /^Upload purge: removed 1 session idle for more than 1 day \(0 B\); 0 kept/);
    const scrub = await runBerth(['scrub', '--data', dataDir]);
    assert.equal(scrub.code, 0, scrub.stderr);
    assert.match(scrub.stdout, /^Scrub: checked 3 blobs .*, 1 repository, 1 manifest, 1 tag in .*\nEverything is intact\.\n$/);
  });

  it('reindex rebuilds a deleted index without a server', async () => {
    await fs.rm(path.join(dataDir, 'index'), { recursive: true, force: true });
    const result = await runBerth(['reindex', '--data', dataDir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Index rebuilt: 1 repository, 1 manifest, 1 tag in .* \(on .* directly\)\n$/);
    const index = new MetadataIndex(path.join(dataDir, 'index'), path.join(dataDir, 'tmp'));
    const { rebuildReason } = await index.open();
    assert.equal(rebuildReason, null, 'left closed cleanly');
    assert.deepEqual(await index.repositoryNames(), ['cli/app']);
    assert.deepEqual(await index.tagNames('cli/app'), ['v1']);
    await index.close();
  });

  it('asks the running server to do the work', async () => {
    const berth = await startBerth({ dataDir });
    try {
      const client = new Client(berth.url);
      await client.pushImage('cli/second', 'v1');
      const reindex = await runBerth(['reindex', '--data', dataDir]);
      assert.equal(reindex.code, 0, reindex.stderr);
      assert.match(reindex.stdout, new RegExp(`^Index rebuilt: 2 repositories, 2 manifests, 2 tags in .* \\(done by the Berth server at ${berth.url.replace(/[.]/g, '\\.')}\\)\n$`));
      assert.deepEqual((await client.catalog()).repositories, ['cli/app', 'cli/second'], 'the server keeps serving from the rebuilt index');

      const gc = await runBerth(['gc', '--grace', '0s', '--untagged', '--data', dataDir]);
      assert.equal(gc.code, 0, gc.stderr);
      assert.match(gc.stdout, /^Garbage collection: freed 0 B in .* \(done by the Berth server at /);
      const runs = (await (await client.fetch('/api/runs?kind=gc&limit=1')).json()) as { runs: RunJson[] };
      assert.deepEqual(runs.runs[0]!.options, { dryRun: false, untagged: true, graceSeconds: 0 }, 'the server ran it with the options given');
      assert.equal(runs.runs[0]!.trigger, 'cli', 'and recorded that the command line asked');

      assert.equal((await runBerth(['scrub', '--data', dataDir])).code, 0);
      assert.equal((await runBerth(['purge-uploads', '--dry-run', '--older-than', '1h', '--data', dataDir])).code, 0);
    } finally {
      assert.equal(await berth.stop(), 0);
    }
  });

  it('reaches a server with HTTPS and registry auth on, with an admin\'s credentials', async () => {
    const berth = await startBerth({ dataDir, tls: true, args: ['--tls', '--auth', 'token'], env: { BERTH_ADMIN_PASSWORD: 'lifecycle-admin-pw' } });
    try {
      const anonymous = await runBerth(['reindex', '--data', dataDir]);
      assert.equal(anonymous.code, 1);
      assert.match(anonymous.stderr, /^berth: the Berth server at https:\/\/127\.0\.0\.1:\d+ refused: .*set BERTH_USERNAME and BERTH_PASSWORD of an admin/);
      const wrong = await runBerth(['reindex', '--data', dataDir], { BERTH_USERNAME: 'admin', BERTH_PASSWORD: 'not-it' });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /refused/);
      const admin = await runBerth(['reindex', '--data', dataDir], { BERTH_USERNAME: 'admin', BERTH_PASSWORD: 'lifecycle-admin-pw' });
      assert.equal(admin.code, 0, admin.stderr);
      assert.match(admin.stdout, /^Index rebuilt: 2 repositories, .* \(done by the Berth server at https:\/\/127\.0\.0\.1:\d+\)\n$/);
    } finally {
      assert.equal(await berth.stop(), 0);
    }
  });

  it('exits 1 when the scrub finds a corrupt blob, and names it', async () => {
    const files = await blobFiles(dataDir);
    const victim = [...files.keys()].find((d) => files.get(d) === 'kept layer'.length)!;
    const hex = victim.slice('sha256:'.length);
    await fs.writeFile(path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex), 'kept lay3r');
    const result = await runBerth(['scrub', '--data', dataDir]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, new RegExp(`corrupt: ${victim} .*used by cli/app; moved to .*quarantine`));
    // Missing for the manifest that uses it and for the layer link that names it.
    assert.match(result.stdout, /Found 1 corrupt file and 2 missing references\./);
  });

  it('exits 2 for bad options and 1 when the directory is not usable, with one line', async () => {
    const cases: [string[], number, RegExp][] = [
      [['gc', '--grace', '60', '--data', dataDir], 2, /^berth: --grace: "60" has no unit \(seconds\? minutes\?\); use a number with a unit: 30s, 15m, 1h, 7d\n$/],
      [['gc', '--grace', '-1h', '--data', dataDir], 2, /^berth: --grace: "-1h" is negative; use a number with a unit: 30s, 15m, 1h, 7d\n$/],
      [['purge-uploads', '--older-than', '-5m', '--data', dataDir], 2, /^berth: --older-than: "-5m" is negative; use a number with a unit: 30s, 15m, 1h, 7d\n$/],
      [['gc', '--grace', 'soon', '--data', dataDir], 2, /--grace: "soon" is not a duration/],
      [['purge-uploads', '--older-than', 'x', '--data', dataDir], 2, /--older-than: "x" is not a duration/],
      [['gc', '--everything', '--data', dataDir], 2, /^berth: unknown option --everything\n$/],
      [['scrub', '--data', path.join(work, 'nowhere')], 1, /no Berth data directory at .*nowhere \(it does not exist\): pass the one your server uses with --data\n$/],
      [['files', 'app:v1', '--data', path.join(work, 'nowhere')], 1, /no Berth data directory at .*nowhere \(it does not exist\)/],
    ];
    for (const [args, code, pattern] of cases) {
      const result = await runBerth(args);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, pattern);
    }
    await assert.rejects(fs.access(path.join(work, 'nowhere')), 'no directory is created by mistake');
  });

  it('waits for nobody else: a directory another berth command is working on is refused', async () => {
    // A live process holds the lock without a URL: another CLI command working on the directory.
    const lock = await DataDirLock.acquire(path.join(dataDir, 'berth.lock'));
    try {
      const result = await runBerth(['gc', '--data', dataDir]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`in use by another berth command \\(pid ${process.pid}\\)`));
    } finally {
      await lock.release();
    }
  });

  it('documents itself', async () => {
    for (const command of ['gc', 'scrub', 'reindex', 'purge-uploads']) {
      const result = await runBerth(['help', command]);
      assert.equal(result.code, 0);
      assert.match(result.stdout, new RegExp(`^Usage: berth ${command}`));
    }
    assert.match((await runBerth(['help'])).stdout, /gc +Free the space/);
  });
});
