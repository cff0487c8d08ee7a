/**
 * The merged tree Berth shows equals what Debian's umoci unpacks from the same OCI layout (issue 15):
 * images written by the test, pushed with skopeo to the shipped `berth serve` (so the bundled layer
 * worker runs), then `berth files --json` (through the server, and on the directory directly once it
 * stopped) compared with `umoci unpack` of the layout: paths, types, modes, sizes, link targets, and
 * owners when running as root (umoci --rootless maps them to the caller otherwise).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FsNode } from '../../server/registry/inspect-types.ts';
import { layer, whiteoutImage, writeLayout, type ImageSpec } from '../fixtures/layers.ts';
import { runBerth, startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { tempDir } from '../helpers/server.ts';
import { run, skipUnless } from '../helpers/tools.ts';

const skip = skipUnless('skopeo', 'umoci');
const ROOT = process.getuid?.() === 0;

interface Seen {
  type: string;
  mode: number;
  size: number;
  link?: string;
  owner?: string;
}

/** What umoci unpacked: every path below rootfs/, by lstat. */
async function unpackedTree(rootfs: string): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  async function visit(dir: string, rel: string): Promise<void> {
    for (const name of await fs.readdir(dir)) {
      const full = path.join(dir, name);
      const at = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(full);
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isFile() ? 'file' : 'other';
      const seen: Seen = { type, mode: st.mode & 0o7777, size: type === 'file' ? st.size : 0 };
      if (type === 'symlink') seen.link = await fs.readlink(full);
      if (ROOT) seen.owner = `${st.uid}:${st.gid}`;
      out.set(at, seen);
      if (type === 'dir') await visit(full, at);
    }
  }
  await visit(rootfs, '');
  return out;
}

/** Berth's tree in the same terms (a hard link is a regular file on disk). */
function berthTree(nodes: FsNode[]): Map<string, Seen> {
  return new Map(nodes.map((n) => {
    const type = n.type === 'hardlink' ? 'file' : n.type;
    const seen: Seen = { type, mode: n.mode, size: type === 'file' ? n.size : 0 };
    if (n.type === 'symlink') seen.link = n.linkTarget!;
    if (ROOT) seen.owner = `${n.uid}:${n.gid}`;
    return [n.path, seen];
  }));
}

describe('merged file system equals umoci unpack', { skip }, () => {
  let work: string;
  let dataDir: string;
  let berth: BerthProcess | null = null;

  before(async () => {
    work = await tempDir('berth-umoci-');
    dataDir = path.join(work, 'data');
    berth = await startBerth({ dataDir });
  });
  after(async () => {
    await berth?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  async function unpack(layout: string, tag: string, name: string): Promise<Map<string, Seen>> {
    const bundle = path.join(work, `bundle-${name}`);
    await run('umoci', ['unpack', ...(ROOT ? [] : ['--rootless']), '--image', `${layout}:${tag}`, bundle]);
    return unpackedTree(path.join(bundle, 'rootfs'));
  }

  async function berthFiles(ref: string, platform?: string): Promise<Map<string, Seen>> {
    const { code, stdout, stderr } = await runBerth(['files', ref, '--json', '--data', dataDir, ...(platform ? ['--platform', platform] : [])]);
    assert.equal(code, 0, stderr);
    return berthTree((JSON.parse(stdout) as { nodes: FsNode[] }).nodes);
  }

  async function pushAndCompare(name: string, images: ImageSpec[]): Promise<void> {
    const layout = path.join(work, `layout-${name}`);
    await writeLayout(layout, images);
    await run('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${berth!.hostPort}/umoci/${name}:latest`]);
    if (images.length === 1) {
      assert.deepEqual(await berthFiles(`umoci/${name}:latest`), await unpack(layout, 'latest', name));
      return;
    }
    for (const spec of images) {
      const platform = `${spec.platform!.os}/${spec.platform!.architecture}`;
      // umoci unpacks one image manifest: a single-platform layout of this platform, made by skopeo.
      const single = path.join(work, `layout-${name}-${spec.platform!.architecture}`);
      await run('skopeo', ['copy', '--src-tls-verify=false', '--override-os', spec.platform!.os, '--override-arch', spec.platform!.architecture,
        `docker://${berth!.hostPort}/umoci/${name}:latest`, `oci:${single}:latest`]);
      assert.deepEqual(await berthFiles(`umoci/${name}:latest`, platform), await unpack(single, 'latest', `${name}-${spec.platform!.architecture}`), platform);
    }
  }

  it('a single-layer image', async () => {
    await pushAndCompare('single', [{ layers: [await layer([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/hostname', content: 'berth\n' },
      { name: 'usr/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/bin/app', content: 'binary'.repeat(100), mode: 0o4755 },
      { name: 'usr/bin/link', type: 'symlink', linkname: '/usr/bin/app' },
      { name: 'srv/', type: 'directory', uid: 1000, gid: 1000, mode: 0o750 },
      { name: 'srv/data.txt', content: 'data', uid: 1000, gid: 1000 },
    ])] }]);
  });

  it('a multi-layer image with whiteouts, an opaque directory, hard links and a PAX long name', async () => {
    await pushAndCompare('whiteouts', [await whiteoutImage()]);
  });

  it('a multi-arch image, platform by platform', async () => {
    const amd = { ...(await whiteoutImage()), platform: { os: 'linux', architecture: 'amd64' } };
    const arm = { layers: [await layer([{ name: 'arch/', type: 'directory' }, { name: 'arch/name', content: 'arm64\n' }, { name: 'arch/x', type: 'link', linkname: 'arch/name' }])], platform: { os: 'linux', architecture: 'arm64' } };
    await pushAndCompare('multi', [amd, arm]);
  });

  it('berth files also works on the data directory with no server, and says so when a platform is needed', async () => {
    const through = await runBerth(['files', 'umoci/whiteouts:latest', '--data', dataDir]);
    assert.equal(through.code, 0, through.stderr);
    await berth!.stop();
    berth = null;
    const direct = await runBerth(['files', 'umoci/whiteouts:latest', '--data', dataDir]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(direct.stdout, through.stdout, 'the same listing with and without a server');
    assert.match(direct.stdout, /^-rw------- 0:0 +21 +1 \/etc\/os-release$/m);
    assert.match(direct.stdout, /^lrwxrwxrwx 0:0 +0 +1 \/bin\/sh -> tool$/m);
    const multi = await runBerth(['files', 'umoci/multi', '--data', dataDir]);
    assert.equal(multi.code, 1);
    assert.match(multi.stderr, /^berth: umoci\/multi:latest is a multi-platform index: pick a platform \(linux\/amd64, linux\/arm64\)$/m);
    const usage = await runBerth(['files', '--data', dataDir]);
    assert.equal(usage.code, 2);
    const unknown = await runBerth(['files', 'nope/nothing:1', '--data', dataDir]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /repository nope\/nothing is not known/);
  });
});
