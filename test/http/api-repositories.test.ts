/**
 * GET /api/repositories (search, sort, paging, sizes), GET and DELETE /api/repositories/<name>, and
 * DELETE .../-/tags/<tag> and .../-/manifests/<digest>: answers, bad input and 404s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeleteResult, RepositoryDetail, RepositoryList } from '../../server/registry/api-types.ts';
import { parseDigest } from '../../server/registry/reference.ts';
import { keys } from '../../server/storage/paths.ts';
import { ApiClient, pushImageWith, startApiServer } from '../helpers/api-client.ts';
import { Client, OCI_INDEX, descriptor, expectError, imageIndex } from '../helpers/registry-client.ts';
import type { TestServer } from '../helpers/server.ts';

describe('management API: repositories', () => {
  let server: TestServer;
  let registry: Client;
  let api: ApiClient;
  const shared = 'a layer both repositories use';

  before(async () => {
    ({ server, registry, api } = await startApiServer());
    await pushImageWith(registry, 'alpha/one', 'v1', { layers: [shared, 'only in alpha/one'] });
    await pushImageWith(registry, 'beta', 'v1', { layers: [shared] });
    await pushImageWith(registry, 'beta', 'v2', { layers: ['beta v2 layer, a bit longer than the others'] });
    await pushImageWith(registry, 'gamma/tools', 'latest');
  });
  after(() => server.close({ remove: true }));

  describe('GET /api/repositories', () => {
    it('lists every repository with tag count, sizes and last push, by name', async () => {
      const list = await api.json<RepositoryList>('/api/repositories');
      assert.equal(list.total, 3);
      assert.equal(list.matched, 3);
      assert.deepEqual(list.repositories.map((r) => r.name), ['alpha/one', 'beta', 'gamma/tools']);
      const beta = list.repositories.find((r) => r.name === 'beta')!;
      assert.equal(beta.tagCount, 2);
      assert.equal(beta.manifestCount, 2);
      assert.equal(beta.totalSize, beta.uniqueSize + beta.sharedSize);
      assert.ok(beta.sharedSize > Buffer.byteLength(shared) - 1, 'the shared layer counts as shared');
      assert.ok(beta.lastPushAt && !Number.isNaN(Date.parse(beta.lastPushAt)));
    });

    it('counts a layer two repositories share as shared in both', async () => {
      const { repositories } = await api.json<RepositoryList>('/api/repositories');
      const alpha = repositories.find((r) => r.name === 'alpha/one')!;
      const beta = repositories.find((r) => r.name === 'beta')!;
      assert.equal(alpha.sharedSize, Buffer.byteLength(shared));
      assert.equal(beta.sharedSize, Buffer.byteLength(shared));
      assert.equal(repositories.find((r) => r.name === 'gamma/tools')!.sharedSize, 0);
    });

    it('searches by part of the name, case-insensitively', async () => {
      const list = await api.json<RepositoryList>('/api/repositories?q=TOOL');
      assert.deepEqual(list.repositories.map((r) => r.name), ['gamma/tools']);
      assert.equal(list.matched, 1);
      assert.equal(list.total, 3);
    });

    it('sorts by size (largest first by default) and by last push', async () => {
      const bySize = await api.json<RepositoryList>('/api/repositories?sort=size');
      const sizes = bySize.repositories.map((r) => r.totalSize);
      assert.deepEqual(sizes, [...sizes].sort((a, b) => b - a));
      const ascending = await api.json<RepositoryList>('/api/repositories?sort=size&order=asc');
      assert.deepEqual(ascending.repositories.map((r) => r.name), bySize.repositories.map((r) => r.name).reverse());
      const byPush = await api.json<RepositoryList>('/api/repositories?sort=pushed');
      assert.equal(byPush.repositories[0]!.name, 'gamma/tools', 'the newest push first');
    });

    it('pages with limit and offset, saying how many matched', async () => {
      const page = await api.json<RepositoryList>('/api/repositories?limit=1&offset=1');
      assert.deepEqual(page.repositories.map((r) => r.name), ['beta']);
      assert.equal(page.matched, 3);
    });

    it('rejects bad parameters with a clear BAD_REQUEST', async () => {
      const sort = await expectError(await api.fetch('/api/repositories?sort=colour'), 400, 'BAD_REQUEST');
      assert.match(sort.message, /"sort" must be one of name, size, pushed/);
      await expectError(await api.fetch('/api/repositories?order=sideways'), 400, 'BAD_REQUEST');
      const limit = await expectError(await api.fetch('/api/repositories?limit=0'), 400, 'BAD_REQUEST');
      assert.match(limit.message, /"limit" must be a whole number from 1 to 10000/);
      await expectError(await api.fetch('/api/repositories?limit=abc'), 400, 'BAD_REQUEST');
      await expectError(await api.fetch('/api/repositories?offset=-1'), 400, 'BAD_REQUEST');
      await expectError(await api.fetch('/api/repositories?q=a&q=b'), 400, 'BAD_REQUEST');
      await expectError(await api.fetch(`/api/repositories?q=${'x'.repeat(256)}`), 400, 'BAD_REQUEST');
    });
  });

  describe('GET /api/repositories/<name>', () => {
    it('answers a repository with its tags: digest, size, platforms, created and pushed times', async () => {
      const repo = await api.json<RepositoryDetail>('/api/repositories/beta');
      assert.equal(repo.name, 'beta');
      assert.deepEqual(repo.tags.map((t) => t.tag), ['v2', 'v1'], 'newest first');
      const v1 = repo.tags.find((t) => t.tag === 'v1')!;
      assert.match(v1.digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(v1.kind, 'image');
      assert.deepEqual(v1.platforms, ['linux/amd64']);
      assert.equal(v1.created, '2026-01-02T03:04:05Z');
      assert.ok(v1.size > 0);
      assert.ok(!Number.isNaN(Date.parse(v1.pushedAt)) && !Number.isNaN(Date.parse(v1.taggedAt)));
      assert.deepEqual(repo.untagged, []);
    });

    it('lists an index with the platforms of its children, and children are not "untagged"', async () => {
      const amd = await pushImageWith(registry, 'multi', null, { platform: { os: 'linux', architecture: 'amd64' } });
      const arm = await pushImageWith(registry, 'multi', null, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
      const index = imageIndex([
        descriptor('application/vnd.oci.image.manifest.v1+json', amd.bytes, { platform: { os: 'linux', architecture: 'amd64' } }),
        descriptor('application/vnd.oci.image.manifest.v1+json', arm.bytes, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
      ]);
      await registry.pushManifest('multi', 'latest', index, OCI_INDEX);
      const repo = await api.json<RepositoryDetail>('/api/repositories/multi');
      assert.equal(repo.tags.length, 1);
      assert.equal(repo.tags[0]!.kind, 'index');
      assert.deepEqual(repo.tags[0]!.platforms, ['linux/amd64', 'linux/arm64/v8']);
      assert.equal(repo.tags[0]!.size, amd.size + arm.size);
      assert.deepEqual(repo.untagged, []);
    });

    it('answers 404 NAME_UNKNOWN for an unknown repository and 400 NAME_INVALID for a bad name', async () => {
      await expectError(await api.fetch('/api/repositories/nobody/here'), 404, 'NAME_UNKNOWN');
      await expectError(await api.fetch('/api/repositories/Upper/Case'), 400, 'NAME_INVALID');
    });
  });

  describe('DELETE /api/repositories/<name>/-/tags/<tag>', () => {
    it('untags: the tag leaves tags/list, the manifest stays as untagged', async () => {
      const image = await pushImageWith(registry, 'untag/me', 'a');
      await registry.pushManifest('untag/me', 'b', image.bytes);
      const result = await api.delete<DeleteResult>('/api/repositories/untag/me/-/tags/a');
      assert.deepEqual(result.tags, ['a']);
      assert.match(result.note, /garbage collection/);
      assert.deepEqual((await registry.listTags('untag/me')).tags, ['b']);
      await api.delete('/api/repositories/untag/me/-/tags/b');
      const repo = await api.json<RepositoryDetail>('/api/repositories/untag/me');
      assert.deepEqual(repo.tags, []);
      assert.deepEqual(repo.untagged.map((m) => m.digest), [image.digest]);
    });

    it('answers 404 for an unknown tag, 400 TAG_INVALID for a bad one, and 405 for GET', async () => {
      await expectError(await api.fetch('/api/repositories/beta/-/tags/nope', { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      await expectError(await api.fetch('/api/repositories/nobody/-/tags/v1', { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
      await expectError(await api.fetch('/api/repositories/beta/-/tags/.bad', { method: 'DELETE' }), 400, 'TAG_INVALID');
      const res = await api.fetch('/api/repositories/beta/-/tags/v1');
      await expectError(res, 405, 'UNSUPPORTED');
      assert.equal(res.headers.get('allow'), 'DELETE');
    });
  });

  describe('DELETE /api/repositories/<name>/-/manifests/<digest>', () => {
    it('deletes the manifest with every tag pointing to it', async () => {
      const image = await pushImageWith(registry, 'by/digest', 'one');
      await registry.pushManifest('by/digest', 'two', image.bytes);
      const result = await api.delete<DeleteResult>(`/api/repositories/by/digest/-/manifests/${image.digest}`);
      assert.deepEqual(result.tags, ['one', 'two']);
      assert.equal(result.manifests, 1);
      assert.equal((await registry.getManifest('by/digest', image.digest)).status, 404);
    });

    it('answers 400 DIGEST_INVALID for something that is not a digest and 404 for an unknown one', async () => {
      await expectError(await api.fetch('/api/repositories/beta/-/manifests/latest', { method: 'DELETE' }), 400, 'DIGEST_INVALID');
      await expectError(await api.fetch(`/api/repositories/beta/-/manifests/sha256:${'0'.repeat(64)}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('DELETE /api/repositories/<name>', () => {
    it('removes every tag and manifest link; the repository leaves the catalog; blobs stay for GC', async () => {
      const image = await pushImageWith(registry, 'doomed/app', 'v1', { layers: ['doomed layer'] });
      await pushImageWith(registry, 'doomed/app', 'v2');
      await pushImageWith(registry, 'doomed/app/nested', 'keep');
      const result = await api.delete<DeleteResult>('/api/repositories/doomed/app');
      assert.deepEqual(result.tags, ['v1', 'v2']);
      assert.equal(result.manifests, 2);
      assert.match(result.note, /garbage collection/);

      const { repositories } = await registry.catalog();
      assert.ok(!repositories.includes('doomed/app'));
      assert.ok(repositories.includes('doomed/app/nested'), 'a nested repository is left alone');
      await expectError(await registry.fetch('/v2/doomed/app/tags/list'), 404, 'NAME_UNKNOWN');
      await expectError(await registry.getManifest('doomed/app', image.digest), 404, 'NAME_UNKNOWN');
      await expectError(await api.fetch('/api/repositories/doomed/app'), 404, 'NAME_UNKNOWN');
      assert.deepEqual((await registry.listTags('doomed/app/nested')).tags, ['keep']);
      // The bytes are still stored: deleting unlinks, garbage collection frees.
      assert.ok(await server.registry.driver.stat(keys.blob(parseDigest(image.digest))));
    });

    it('lets the same name be pushed again afterwards', async () => {
      await pushImageWith(registry, 'reborn', 'v1');
      await api.delete('/api/repositories/reborn');
      await pushImageWith(registry, 'reborn', 'v2');
      assert.deepEqual((await registry.listTags('reborn')).tags, ['v2']);
    });

    it('answers 404 NAME_UNKNOWN for an unknown repository', async () => {
      await expectError(await api.fetch('/api/repositories/never/was', { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
    });

    it('refuses without the X-Berth-Client header (a cross-site form cannot delete)', async () => {
      await expectError(await api.fetch('/api/repositories/beta', { method: 'DELETE', client: false }), 403, 'DENIED');
      assert.equal((await api.json<RepositoryDetail>('/api/repositories/beta')).name, 'beta');
    });
  });
});
