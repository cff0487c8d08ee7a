/**
 * The order in which a push becomes durable, read from the system calls of a real server (strace): a
 * manifest PUT syncs the links of the blobs it needs (their folder), its revision link's and its tag's
 * temp files at once, then puts the revision link in place and syncs its folder, and only then moves the tag. After a
 * crash at any point a tag never names a manifest the repository does not hold, nor a manifest a blob
 * the repository does not link (manifests.ts, FilesystemDriver.settle).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth-process.ts';
import { Client, OCI_CONFIG, OCI_LAYER, descriptor, imageManifest } from '../helpers/registry-client.ts';
import { tempDir } from '../helpers/server.ts';

/** One system call of the trace: where it began and where it returned, in the trace's order. */
interface Call {
  text: string;
  began: number;
  returned: number;
}

/** Parses `strace -f -y` output, joining the "<unfinished ...>" and "resumed>" halves of each thread's calls. */
function parseTrace(trace: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<string, Call>();
  trace.split('\n').forEach((line, at) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, pid, rest] = m as unknown as [string, string, string];
    if (rest.endsWith('<unfinished ...>')) {
      const call = { text: rest.slice(0, -'<unfinished ...>'.length).trimEnd(), began: at, returned: -1 };
      open.set(pid, call);
      calls.push(call);
    } else if (rest.startsWith('<... ')) {
      const call = open.get(pid);
      assert.ok(call, `a resumed call of thread ${pid} that never began: ${line}`);
      call.text += rest.replace(/^<\.\.\. \w+ resumed>\s*/, '');
      call.returned = at;
      open.delete(pid);
    } else {
      calls.push({ text: rest, began: at, returned: at });
    }
  });
  return calls;
}

/** The child is strace: the server (its one child) is stopped itself, and strace exits with its code. */
async function stopTraced(berth: BerthProcess): Promise<unknown> {
  const tracer = berth.child;
  if (tracer.exitCode !== null) return tracer.exitCode;
  const exited = new Promise((resolve) => tracer.once('exit', (code) => resolve(code)));
  const server = Number((await fs.readFile(`/proc/${berth.pid}/task/${berth.pid}/children`, 'utf8')).trim());
  process.kill(server, 'SIGTERM');
  return exited;
}

describe('durable order of a manifest PUT (strace)', { skip: process.platform !== 'linux' && 'strace is Linux', timeout: 120_000 }, () => {
  let work: string;
  let berth: BerthProcess | null = null;
  before(async () => {
    work = await tempDir('berth-durable-');
  });
  after(async () => {
    if (berth) await stopTraced(berth);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('syncs the blob links and both temp files before the revision link appears, and the revision link before the tag', async () => {
    const dataDir = path.join(work, 'data');
    const traceFile = path.join(work, 'trace');
    berth = await startBerth({ dataDir, prefix: ['strace', '-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', traceFile] });
    const client = new Client(berth.url);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const layer = 'a layer to mount';
    await client.pushBlob('durable/source', config);
    await client.pushBlob('durable/source', layer);
    const manifest = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]);
    await client.pushManifest('durable/source', 'v1', manifest);
    const digests = [descriptor(OCI_CONFIG, config).digest, descriptor(OCI_LAYER, layer).digest];
    for (const digest of digests) assert.equal((await client.mountBlob('durable/target', digest, 'durable/source')).status, 201);
    const manifestDigest = await client.pushManifest('durable/target', 'latest', manifest);
    assert.equal(await stopTraced(berth), 0);
    berth = null;

    const calls = parseTrace(await fs.readFile(traceFile, 'utf8'));
    const repo = path.join(dataDir, 'repositories', 'durable', 'target');
    const revisionLink = path.join(repo, '_manifests', 'revisions', 'sha256', manifestDigest.slice('sha256:'.length));
    const renameTo = (target: string) => {
      // A first rename may find the folder missing (ENOENT): it is made, and the rename done again.
      const found = calls.filter((c) => /^rename/.test(c.text) && c.text.includes(`"${target}"`) && /= 0$/.test(c.text));
      assert.equal(found.length, 1, `one rename to ${target}; the renames traced:\n${calls.filter((c) => /^rename/.test(c.text)).map((c) => c.text).join('\n')}`);
      return { call: found[0]!, from: /"([^"]+)"/.exec(found[0]!.text)![1]! };
    };
    const fsyncOf = (file: string) => {
      const found = calls.filter((c) => /^f(data)?sync\(/.test(c.text) && c.text.includes(`<${file}>)`) && /= 0$/.test(c.text));
      assert.ok(found.length > 0, `an fsync of ${file}`);
      return found;
    };
    /** `file` was synced (a call that returned) before `call` began. */
    const syncedBefore = (file: string, call: Call, what: string) =>
      assert.ok(fsyncOf(file).some((c) => c.returned >= 0 && c.returned < call.began), `${file} is synced before ${what}`);

    const revision = renameTo(revisionLink);
    const tagFiles = await fs.readdir(path.join(repo, '_manifests', 'tags'));
    assert.deepEqual(tagFiles, ['latest']);
    const tag = renameTo(path.join(repo, '_manifests', 'tags', 'latest'));
    assert.ok(revision.call.returned < tag.call.began, 'the revision link is in place before the tag moves');

    syncedBefore(revision.from, revision.call, 'the revision link appears');
    // The two blob links (made by the mounts, not synced by them) share their folder.
    for (const digest of digests) assert.ok((await fs.stat(path.join(repo, '_layers', 'sha256', digest.slice('sha256:'.length)))).isFile());
    syncedBefore(path.join(repo, '_layers', 'sha256'), revision.call, 'the revision link appears (the blob links)');
    syncedBefore(path.dirname(revisionLink), tag.call, 'the tag moves');
    syncedBefore(tag.from, tag.call, 'the tag moves');
    const tagFolder = fsyncOf(path.join(repo, '_manifests', 'tags'));
    assert.ok(tagFolder.some((c) => c.began > tag.call.returned), 'the tag folder is synced after the tag moved');
  });
});
