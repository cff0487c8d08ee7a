/**
 * The order in which a push becomes durable, read from the system calls of a real server (strace): a
 * manifest PUT syncs the links of the blobs it needs (their folder), its content's, its revision
 * link's and its tag's temp files at once; puts the content in place and syncs its folder; then puts
 * the link and the tag in place together and syncs both folders before it answers 201. After a crash at any point the tag names either its old manifest or the new one,
 * whose content and blobs are durable; a crash between the two folders' syncs can leave the tag
 * without the revision link, which the index rebuild puts back (test/unit/crash-link.test.ts, test/e2e/crash-link.test.ts). Nothing
 * is ever a tag to a manifest whose content or blobs could be lost (manifests.ts, commitTagged,
 * FilesystemDriver.settle).
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

  it('syncs the blob links, the content and both temp files before the link and the tag move, and both folders before the 201', async () => {
    const dataDir = path.join(work, 'data');
    const traceFile = path.join(work, 'trace');
    berth = await startBerth({ dataDir, prefix: ['strace', '-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,write,writev', '-o', traceFile] });
    const client = new Client(berth.url);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const layer = 'a layer to mount';
    await client.pushBlob('durable/source', config);
    await client.pushBlob('durable/source', layer);
    const manifest = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)]);
    await client.pushManifest('durable/source', 'v1', manifest);
    const digests = [descriptor(OCI_CONFIG, config).digest, descriptor(OCI_LAYER, layer).digest];
    for (const digest of digests) assert.equal((await client.mountBlob('durable/target', digest, 'durable/source')).status, 201);
    // A manifest of its own (an annotation more), so that its content is new to the store as well.
    const targetManifest = imageManifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)], { annotations: { 'org.example.repository': 'durable/target' } });
    const manifestDigest = await client.pushManifest('durable/target', 'latest', targetManifest);
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
    const moved = [revision.call, tag.call];
    const firstMove = moved.reduce((a, b) => (a.began < b.began ? a : b));
    const lastMove = moved.reduce((a, b) => (a.returned > b.returned ? a : b));

    // The manifest's content: synced, put in place and its folder synced before anything names it.
    const blobFile = path.join(dataDir, 'blobs', 'sha256', manifestDigest.slice(7, 9), manifestDigest.slice(7));
    const content = renameTo(blobFile);
    syncedBefore(content.from, content.call, 'the manifest content appears');
    assert.ok(
      fsyncOf(path.dirname(blobFile)).some((c) => c.began > content.call.returned && c.returned >= 0 && c.returned < firstMove.began),
      "the manifest content's folder is synced before the revision link and the tag move",
    );
    // Everything the link and the tag stand for is durable before either moves.
    syncedBefore(revision.from, firstMove, 'the revision link and the tag move');
    syncedBefore(tag.from, firstMove, 'the revision link and the tag move');
    // The two blob links (made by the mounts, not synced by them) share their folder.
    for (const digest of digests) assert.ok((await fs.stat(path.join(repo, '_layers', 'sha256', digest.slice('sha256:'.length)))).isFile());
    syncedBefore(path.join(repo, '_layers', 'sha256'), firstMove, 'the revision link and the tag move (the blob links)');

    // The 201 of the PUT: the first response written after the moves.
    const created = calls.find((c) => c.began > lastMove.returned && /^writev?\(\d+<(socket|TCP|TCPv6):/.test(c.text) && c.text.includes('HTTP/1.1 201 Created'));
    assert.ok(created, `the 201 of the manifest PUT is in the trace; the writes after the moves:\n${calls.filter((c) => c.began > lastMove.returned && /^write/.test(c.text)).slice(0, 8).map((c) => c.text).join('\n')}`);
    for (const [folder, move] of [[path.dirname(revisionLink), revision.call], [path.join(repo, '_manifests', 'tags'), tag.call]] as const) {
      assert.ok(
        fsyncOf(folder).some((c) => c.began > move.returned && c.returned >= 0 && c.returned < created.began),
        `${folder} is synced after its entry moved and before the 201`,
      );
    }
  });
});
