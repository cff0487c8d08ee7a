/**
 * `berth diff` of two images buildah built from scratch (issue 15), pushed to the shipped `berth serve`:
 * one file added, one removed, one changed, one env var changed, and exactly those reported (the
 * files are written at different times: timestamps are ignored by default). Offline: no base image.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageDiff } from '../../server/registry/inspect-types.ts';
import { runBerth, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

describe('berth diff of buildah images', { skip: skipUnless('buildah'), timeout: 300_000 }, () => {
  let berth: BerthProcess;
  let work: string;
  let storageArgs: string[];

  before(async () => {
    work = await tempDir('berth-buildah-diff-');
    berth = await startBerth({ dataDir: path.join(work, 'berth') });
    storageArgs = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'), '--storage-driver', 'vfs'];
  });
  after(async () => {
    await berth?.stop();
    await run('buildah', [...storageArgs, 'rm', '--all']).catch(() => undefined);
    await fs.rm(work, { recursive: true, force: true });
  });

  const buildah = (...args: string[]) => run('buildah', [...storageArgs, ...args]);

  async function build(tag: string, files: Record<string, string>, env: string): Promise<void> {
    const src = path.join(work, `src-${tag}`);
    await fs.mkdir(src, { recursive: true });
    const container = (await buildah('from', 'scratch')).trim().split('\n').pop()!;
    for (const [name, content] of Object.entries(files)) {
      await fs.writeFile(path.join(src, name), content);
      await buildah('copy', container, path.join(src, name), `/app/${name}`);
    }
    await buildah('config', '--env', env, '--cmd', '/app/run', container);
    await buildah('commit', '--format', 'oci', container, `localhost/diff-app:${tag}`);
    await buildah('push', '--tls-verify=false', `localhost/diff-app:${tag}`, `docker://${berth.hostPort}/buildah/app:${tag}`);
  }

  it('reports the added, removed and changed file and the changed env var, nothing else', async () => {
    await build('v1', { 'kept.txt': 'same\n', 'changed.txt': 'version 1\n', 'removed.txt': 'bye\n' }, 'MODE=dev');
    await build('v2', { 'kept.txt': 'same\n', 'changed.txt': 'version 2!\n', 'added.txt': 'hello\n' }, 'MODE=prod');
    const { code, stdout, stderr } = await runBerth(['diff', 'buildah/app:v1', 'buildah/app:v2', '--json', '--data', path.join(work, 'berth')]);
    assert.equal(code, 0, stderr);
    const diff = JSON.parse(stdout) as ImageDiff;
    assert.deepEqual(diff.config, [{ field: 'env.MODE', before: 'dev', after: 'prod' }]);
    assert.deepEqual(diff.files.added.map((c) => c.path), ['app/added.txt']);
    assert.deepEqual(diff.files.removed.map((c) => c.path), ['app/removed.txt']);
    assert.deepEqual(diff.files.changed.map((c) => [c.path, c.changes, c.sizeDelta]), [['app/changed.txt', ['content'], 1]]);

    const text = await runBerth(['diff', 'buildah/app:v1', 'buildah/app:v2', '--data', path.join(work, 'berth')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ {2}~ env\.MODE: dev -> prod$/m);
    assert.match(text.stdout, /^ {2}\+ \/app\/added\.txt \(6 B\)$/m);
    assert.match(text.stdout, /^ {2}- \/app\/removed\.txt \(4 B\)$/m);
    assert.match(text.stdout, /^ {2}~ \/app\/changed\.txt \[content\] \(\+1 B\)$/m);
    assert.match(text.stdout, /^files: 1 added, 1 removed, 1 changed \(\+3 B\)$/m);
  });
});
