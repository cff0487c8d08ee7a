/** GET /api/activity: pushes, pulls and deletes (persisted), uploads in progress, and their live events. */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { ActivityFeed, UploadProgress } from '../../server/registry/api-types.ts';
import { ApiClient, pushImageBlobs, pushImageWith, startApiServer } from '../helpers/api-client.ts';
import { Client, OCI_MANIFEST, expectError, sha256 } from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

/** Starts a streamed PATCH that sends `first` and stays open until end() is called. */
function slowPatch(base: string, location: string, first: Buffer): { end(rest: Buffer): Promise<number> } {
  const url = new URL(location, base);
  const request = http.request({ host: url.hostname, port: url.port, method: 'PATCH', path: url.pathname + url.search, agent: false });
  const answered = new Promise<number>((resolve, reject) => {
    request.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    request.on('error', reject);
  });
  request.write(first);
  return {
    end(rest: Buffer) {
      request.end(rest);
      return answered;
    },
  };
}

/** Polls `probe` until it gives a value; the 30 s bound is for a hang on a loaded machine. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('management API: activity', () => {
  let server: TestServer;
  let registry: Client;
  let api: ApiClient;

  before(async () => {
    ({ server, registry, api } = await startApiServer());
  });
  after(() => server.close({ remove: true }));

  const feed = (query = '') => api.json<ActivityFeed>(`/api/activity${query}`);

  it('records a push with its tag and the image size', async () => {
    const image = await pushImageWith(registry, 'act/push', 'v1');
    const entry = (await feed()).entries.find((e) => e.repository === 'act/push')!;
    assert.equal(entry.kind, 'push');
    assert.deepEqual(entry.tags, ['v1']);
    assert.deepEqual(entry.digests, [image.digest]);
    assert.equal(entry.bytes, image.size);
    assert.equal(entry.count, 1);
  });

  it('records a pull when a manifest is fetched (GET), naming the tags of a pull by digest; HEAD alone is not a pull', async () => {
    const image = await pushImageWith(registry, 'act/pull', 'stable');
    await registry.headManifest('act/pull', 'stable', OCI_MANIFEST);
    assert.ok(!(await feed()).entries.some((e) => e.kind === 'pull' && e.repository === 'act/pull'));
    const res = await registry.getManifest('act/pull', image.digest, OCI_MANIFEST);
    assert.equal(res.status, 200);
    // A pull is recorded by the replica that served it, in its next batch (at most 250 ms later: a pull
    // storm is one write, not one per GET); one server flushes before it answers the feed.
    const pull = await until('the pull in the feed', async () => (await feed()).entries.find((e) => e.kind === 'pull' && e.repository === 'act/pull'));
    assert.equal(pull.count, 1, 'the GET alone: the HEAD before it was not a pull');
    assert.deepEqual(pull.tags, ['stable']);
    assert.deepEqual(pull.digests, [image.digest]);
  });

  it('folds events close together into one entry (a multi-manifest push)', async () => {
    // The manifests back to back, as a multi-manifest push sends them: the blobs first, as uploads on a
    // loaded machine (three replicas in the cluster pass) can take longer than the fold window.
    const a = await pushImageBlobs(registry, 'act/fold');
    const b = await pushImageBlobs(registry, 'act/fold');
    await a.pushManifest('a');
    await b.pushManifest('b');
    const entries = (await feed()).entries.filter((e) => e.repository === 'act/fold');
    assert.equal(entries.length, 1);
    assert.deepEqual(entries[0]!.tags, ['a', 'b']);
    assert.deepEqual(entries[0]!.digests, [a.digest, b.digest]);
    assert.equal(entries[0]!.count, 2);
  });

  it('never folds a push across a later delete: push, delete, push are three entries, newest first', async () => {
    await pushImageWith(registry, 'act/order', 'todelete');
    await api.delete('/api/repositories/act/order/-/tags/todelete');
    await pushImageWith(registry, 'act/order', '1.0');
    const entries = (await feed()).entries.filter((e) => e.repository === 'act/order');
    assert.deepEqual(entries.map((e) => [e.kind, e.tags]), [['push', ['1.0']], ['delete', ['todelete']], ['push', ['todelete']]]);
    // And a delete after that push starts a new delete entry instead of joining the first one.
    await api.delete('/api/repositories/act/order/-/tags/1.0');
    const again = (await feed()).entries.filter((e) => e.repository === 'act/order');
    assert.deepEqual(again.map((e) => [e.kind, e.tags]), [['delete', ['1.0']], ['push', ['1.0']], ['delete', ['todelete']], ['push', ['todelete']]]);
  });

  it('records deletes of tags and of whole repositories', async () => {
    await pushImageWith(registry, 'act/delete', 'x');
    await pushImageWith(registry, 'act/delete', 'y');
    await api.delete('/api/repositories/act/delete/-/tags/x');
    await api.delete('/api/repositories/act/delete');
    const deletes = (await feed()).entries.filter((e) => e.kind === 'delete' && e.repository === 'act/delete');
    assert.equal(deletes.length, 1);
    assert.deepEqual(deletes[0]!.tags.sort(), ['x', 'y']);
    assert.equal(deletes[0]!.repositoryDeleted, true);
  });

  it('pages newest first with limit and before', async () => {
    const all = (await feed('?limit=500')).entries;
    assert.ok(all.length >= 4);
    const sorted = [...all].sort((x, y) => y.at.localeCompare(x.at));
    assert.deepEqual(all.map((e) => e.at), sorted.map((e) => e.at), 'newest first');
    const first = await feed('?limit=2');
    assert.equal(first.entries.length, 2);
    assert.ok(first.next);
    const second = await feed(`?limit=2&before=${encodeURIComponent(first.next)}`);
    assert.deepEqual(second.entries.map((e) => e.id), all.slice(2, 4).map((e) => e.id));
    const last = await feed(`?limit=500&before=${encodeURIComponent(first.next)}`);
    assert.equal(last.next, null);
  });

  it('rejects a bad limit or cursor with BAD_REQUEST', async () => {
    await expectError(await api.fetch('/api/activity?limit=0'), 400, 'BAD_REQUEST');
    await expectError(await api.fetch('/api/activity?limit=501'), 400, 'BAD_REQUEST');
    const cursor = await expectError(await api.fetch('/api/activity?before=yesterday'), 400, 'BAD_REQUEST');
    assert.match(cursor.message, /"before"/);
  });

  it('shows an upload in progress with the bytes received, and drops it once complete', { skip: singleProcess("not fixed yet (docs/deploy.md says so): uploads in progress are each replica's own, so the feed and the live stream of one replica show only the uploads it receives") }, async () => {
    const location = await registry.startUpload('act/upload');
    const first = Buffer.alloc(64 * 1024, 1);
    const rest = Buffer.alloc(32 * 1024, 2);
    const patch = slowPatch(server.url, location, first);
    const upload = await until('the upload to show its first bytes', async () => {
      const found = (await feed()).uploads.find((u) => u.repository === 'act/upload');
      return found && found.bytes >= first.length ? found : undefined;
    });
    assert.equal(upload.receiving, true);
    assert.ok(upload.rate >= 0);
    assert.ok(!Number.isNaN(Date.parse(upload.startedAt)));
    assert.equal(await patch.end(rest), 202);
    const after = (await feed()).uploads.find((u) => u.repository === 'act/upload')!;
    assert.equal(after.bytes, first.length + rest.length);
    assert.equal(after.receiving, false);
    assert.equal((await registry.finishUpload(location, sha256(Buffer.concat([first, rest])))).status, 201);
    assert.ok(!(await feed()).uploads.some((u) => u.repository === 'act/upload'));
  });

  it('streams upload progress as "uploads" events, and repository deletes', { skip: singleProcess("not fixed yet (docs/deploy.md says so): uploads in progress are each replica's own, so the feed and the live stream of one replica show only the uploads it receives") }, async () => {
    const controller = new AbortController();
    const res = await api.fetch('/api/events', { signal: controller.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const read = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}`);
        text += decoder.decode(value);
      }
    };
    const location = await registry.startUpload('act/live');
    const patch = slowPatch(server.url, location, Buffer.alloc(10_000, 7));
    await read(/event: uploads\ndata: (\{.*"repository":"act\/live".*\})\n/);
    const data = /event: uploads\ndata: (\{.*\})\n/.exec(text)![1]!;
    const uploads = (JSON.parse(data) as { uploads: UploadProgress[] }).uploads;
    assert.ok(uploads.some((u) => u.repository === 'act/live' && u.bytes >= 0));
    await patch.end(Buffer.alloc(0));
    await pushImageWith(registry, 'act/live-gone', 'v1');
    await api.delete('/api/repositories/act/live-gone');
    await read(/event: repository-deleted\ndata: \{"repository":"act\/live-gone"/);
    controller.abort();
  });

  it('keeps the history across a restart', async () => {
    const own = await startServer();
    const ownRegistry = new Client(own.url);
    await pushImageWith(ownRegistry, 'act/kept', 'v1');
    await ownRegistry.getManifest('act/kept', 'v1', OCI_MANIFEST);
    await own.close();
    const again = await startServer({ dataDir: own.dataDir });
    try {
      const entries = (await new ApiClient(again.url).json<ActivityFeed>('/api/activity')).entries;
      assert.deepEqual(entries.map((e) => [e.kind, e.repository]), [['pull', 'act/kept'], ['push', 'act/kept']]);
    } finally {
      await again.close({ remove: true });
    }
  });
});
