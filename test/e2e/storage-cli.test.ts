/**
 * `berth storage copy` refusing what it cannot copy from the shipped CLI: a mistyped source, a store
 * named the way other tools name one, a config file with a typo; each one line and exit 2, before
 * anything is created or copied.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, assertOneLine, runBerth } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';

describe('berth storage copy refusals', { timeout: 60_000 }, () => {
  let work: string;
  let source: string;
  before(async () => {
    work = await tempDir('berth-storage-cli-');
    source = path.join(work, 'source');
    await fs.mkdir(path.join(source, 'blobs'), { recursive: true });
  });
  after(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  /** Runs the copy; it must exit 2 with one line matching `pattern`, and leave `work` as it was. */
  async function refused(args: string[], pattern: RegExp): Promise<void> {
    const before = (await fs.readdir(work)).sort();
    const result = await runBerth(['storage', 'copy', ...args]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assertOneLine(result.stderr, pattern);
    assert.equal(result.stdout, '');
    assert.deepEqual((await fs.readdir(work)).sort(), before, 'nothing was created');
  }

  it('refuses a source that does not exist or is not a registry', async () => {
    await refused(['--from', path.join(work, 'sorce'), '--to', path.join(work, 'dest')], /^berth: --from .*sorce: not found \(give the data directory or the config file of the registry to copy\)$/);
    const empty = path.join(work, 'empty');
    await fs.mkdir(empty);
    await refused(['--from', empty, '--to', path.join(work, 'dest')], /^berth: --from .*empty: not a Berth data directory \(it has no blobs\/ folder\)$/);
    await fs.rmdir(empty);
  });

  it('refuses a store named by a driver prefix or URL instead of a config file, creating no folder of that name', async () => {
    // Relative, as a user types it: it would be a folder in the current directory (the repository's).
    const name = `s4:berth-test-${process.pid}`;
    try {
      await refused(['--from', source, '--to', name], new RegExp(`^berth: --to ${name}: give a data directory or a config file; for S3 or Azure, a config file whose "storage" names the bucket or container$`));
      await refused(['--from', 's3://registry', '--to', path.join(work, 'dest')], /^berth: --from s3:\/\/registry: give a data directory or a config file/);
      await assert.rejects(fs.access(path.join(ROOT, name)), 'no folder named after the store');
    } finally {
      await fs.rm(path.join(ROOT, name), { recursive: true, force: true });
    }
  });

  it('refuses a config file with an unknown driver or setting, a missing one, and unknown options', async () => {
    const config = path.join(work, 'to.json');
    await fs.writeFile(config, JSON.stringify({ storage: { driver: 's4' } }));
    await refused(['--from', source, '--to', config], /^berth: config file .*to\.json: "storage\.driver": "s4" is not one of filesystem, s3, azure$/);
    await fs.writeFile(config, JSON.stringify({ storage: { driver: 's3', s3: { bukket: 'registry' } } }));
    await refused(['--from', source, '--to', config], /"storage\.s3": unknown setting "bukket"/);
    await fs.rm(config);
    await refused(['--from', source, '--to', path.join(work, 'nope.json')], /^berth: --to .*nope\.json: config file not found$/);
    await refused(['--frm', source, '--to', path.join(work, 'dest')], /^berth: unknown option --frm$/);
    await refused(['--from', source, '--to'], /^berth: --to needs a value$/);
    await refused(['--from', source], /^berth: berth storage copy needs --from CONFIG and --to CONFIG$/);
  });

  it('check on disk needs the data directory to exist, and makes none', async () => {
    const missing = path.join(work, 'tpyo');
    const gone = await runBerth(['storage', 'check', '--data', missing]);
    assert.equal(gone.code, 1, gone.stderr);
    assertOneLine(gone.stderr, new RegExp(`^berth: no Berth data directory at ${missing} \\(it does not exist\\)`));
    await assert.rejects(fs.access(missing), 'no directory made');
    const ok = await runBerth(['storage', 'check', '--data', source]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `storage ok: ${source}\n`);
  });

  it('names the storage subcommands', async () => {
    for (const [args, pattern] of [
      [['storage'], /^berth: storage needs a subcommand: copy or check; see berth help storage$/],
      [['storage', 'move'], /^berth: unknown storage subcommand "move": use copy or check \(see berth help storage\)$/],
    ] as const) {
      const result = await runBerth([...args]);
      assert.equal(result.code, 2, result.stderr);
      assertOneLine(result.stderr, pattern);
    }
  });
});
