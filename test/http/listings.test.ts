/**
 * GET /v2/<name>/tags/list and GET /v2/_catalog (spec "Content discovery", "Listing Tags"; end-8a,
 * end-8b, and Distribution's catalog): lexical order, n/last pagination and the RFC 8288 Link header.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, descriptor, expectError, imageManifest, OCI_CONFIG, OCI_LAYER } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/** The target of a `Link: <url>; rel="next"` header, or null when there is none. */
function nextLink(res: Response): string | null {
  const link = res.headers.get('link');
  if (link === null) return null;
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(link);
  assert.ok(match, `Link header "${link}" is <url>; rel="next"`);
  return match[1]!;
}

describe('GET /v2/<name>/tags/list', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  /** Pushes one small image to `repo` and tags it with each of `tags`. */
  async function tagImage(repo: string, tags: string[]): Promise<void> {
    await client.pushBlob(repo, '{}');
    await client.pushBlob(repo, 'layer');
    const manifest = imageManifest(descriptor(OCI_CONFIG, '{}'), [descriptor(OCI_LAYER, 'layer')]);
    for (const tag of tags) await client.pushManifest(repo, tag, manifest);
  }

  it('answers 200 with the name and the tags in lexical (code unit) order', async () => {
    await tagImage('tags/sorted', ['v2', 'latest', 'V1', '1.0', 'v10', '_hidden', 'a-b', 'a.b']);
    const { tags } = await client.listTags('tags/sorted');
    assert.deepEqual(tags, ['1.0', 'V1', '_hidden', 'a-b', 'a.b', 'latest', 'v10', 'v2']);
  });

  it('answers 200 with an empty list for a repository that has blobs but no tags', async () => {
    await client.pushBlob('tags/blobs-only', 'just a blob');
    assert.deepEqual((await client.listTags('tags/blobs-only')).tags, []);
  });

  it('answers 200 with an empty list once every tag has been deleted (conformance MGMT-08)', async () => {
    await tagImage('tags/emptied', ['one', 'two']);
    for (const tag of ['one', 'two']) assert.equal((await client.deleteManifest('tags/emptied', tag)).status, 202);
    assert.deepEqual((await client.listTags('tags/emptied')).tags, []);
  });

  it('answers a repository the registry does not know with 404 NAME_UNKNOWN', async () => {
    await expectError(await client.fetch('/v2/tags/never-pushed/tags/list'), 404, 'NAME_UNKNOWN');
  });

  describe('pagination', () => {
    const all = ['a', 'b', 'c', 'd', 'e'];
    before(async () => {
      await tagImage('tags/paged', ['e', 'c', 'a', 'd', 'b']);
    });

    it('answers n with exactly n tags and a Link rel="next" carrying n and last', async () => {
      const { res, tags } = await client.listTags('tags/paged', { n: '2' });
      assert.deepEqual(tags, ['a', 'b']);
      const next = new URL(nextLink(res)!, server.url);
      assert.equal(next.pathname, '/v2/tags/paged/tags/list');
      assert.equal(next.searchParams.get('n'), '2');
      assert.equal(next.searchParams.get('last'), 'b');
    });

    it('walks every tag exactly once by following Link headers, and the last page has none', async () => {
      const seen: string[] = [];
      let url: string | null = '/v2/tags/paged/tags/list?n=2';
      let pages = 0;
      while (url !== null) {
        const res = await client.fetch(url);
        assert.equal(res.status, 200);
        const { tags } = (await res.json()) as { tags: string[] };
        seen.push(...tags);
        url = nextLink(res);
        pages += 1;
      }
      assert.deepEqual(seen, all);
      assert.equal(pages, 3);
    });

    it('answers n equal to the number of tags with all of them and no Link', async () => {
      const { res, tags } = await client.listTags('tags/paged', { n: '5' });
      assert.deepEqual(tags, all);
      assert.equal(res.headers.get('link'), null);
    });

    it('answers n larger than the number of tags with all of them and no Link', async () => {
      const { res, tags } = await client.listTags('tags/paged', { n: '100' });
      assert.deepEqual(tags, all);
      assert.equal(res.headers.get('link'), null);
    });

    it('answers n=0 with an empty list and no Link (spec: MUST)', async () => {
      const { res, tags } = await client.listTags('tags/paged', { n: '0' });
      assert.deepEqual(tags, []);
      assert.equal(res.headers.get('link'), null);
    });

    it('answers last with the tags after it, excluding it', async () => {
      assert.deepEqual((await client.listTags('tags/paged', { last: 'b' })).tags, ['c', 'd', 'e']);
    });

    it('answers n and last together with the next n tags after last (conformance DISC-08)', async () => {
      assert.deepEqual((await client.listTags('tags/paged', { n: '2', last: 'b' })).tags, ['c', 'd']);
    });

    it('takes last as a value, not an index: a last that is no tag starts after where it would sort', async () => {
      assert.deepEqual((await client.listTags('tags/paged', { last: 'bb' })).tags, ['c', 'd', 'e']);
      assert.deepEqual((await client.listTags('tags/paged', { last: 'z' })).tags, []);
    });

    for (const n of ['-1', 'abc', '1.5', '1e3', '9999999999', ' 2']) {
      it(`answers n=${JSON.stringify(n)} with 400 PAGINATION_NUMBER_INVALID`, async () => {
        const res = await client.fetch(`/v2/tags/paged/tags/list?n=${encodeURIComponent(n)}`);
        await expectError(res, 400, 'PAGINATION_NUMBER_INVALID');
      });
    }
  });
});

describe('GET /v2/_catalog', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  it('answers 200 with an empty list on a new registry', async () => {
    const fresh = await startServer();
    try {
      assert.deepEqual((await new Client(fresh.url).catalog()).repositories, []);
    } finally {
      await fresh.close({ remove: true });
    }
  });

  describe('with repositories', () => {
    const names = ['alpine', 'a/b/c', 'a/b', 'library/ubuntu', 'zeta', 'a-b', 'a.b'];
    before(async () => {
      for (const name of names) await client.pushBlob(name, `blob of ${name}`);
    });

    it('lists every repository, nested names included, in lexical order', async () => {
      assert.deepEqual((await client.catalog()).repositories, ['a-b', 'a.b', 'a/b', 'a/b/c', 'alpine', 'library/ubuntu', 'zeta']);
    });

    it('pages with n and a Link rel="next"; following the Links visits every repository once', async () => {
      const first = await client.catalog({ n: '3' });
      assert.deepEqual(first.repositories, ['a-b', 'a.b', 'a/b']);
      const seen = [...first.repositories];
      let url = nextLink(first.res);
      while (url !== null) {
        const res = await client.fetch(url);
        assert.equal(res.status, 200);
        seen.push(...((await res.json()) as { repositories: string[] }).repositories);
        url = nextLink(res);
      }
      assert.deepEqual(seen, ['a-b', 'a.b', 'a/b', 'a/b/c', 'alpine', 'library/ubuntu', 'zeta']);
    });

    it('answers last with the repositories after it', async () => {
      assert.deepEqual((await client.catalog({ last: 'alpine' })).repositories, ['library/ubuntu', 'zeta']);
    });

    it('answers n=0 with an empty list and no Link', async () => {
      const { res, repositories } = await client.catalog({ n: '0' });
      assert.deepEqual(repositories, []);
      assert.equal(res.headers.get('link'), null);
    });

    it('answers a bad n with 400 PAGINATION_NUMBER_INVALID', async () => {
      await expectError(await client.fetch('/v2/_catalog?n=many'), 400, 'PAGINATION_NUMBER_INVALID');
    });
  });

  it('shows a repository from its first pushed blob on, before any manifest', async () => {
    assert.ok(!(await client.catalog()).repositories.includes('first/blob'));
    await client.pushBlob('first/blob', 'the very first blob');
    assert.ok((await client.catalog()).repositories.includes('first/blob'));
  });

  it('shows a repository created by a cross-repository mount', async () => {
    const digest = await client.pushBlob('mount/source', 'mounted blob');
    assert.equal((await client.mountBlob('mount/created', digest, 'mount/source')).status, 201);
    assert.ok((await client.catalog()).repositories.includes('mount/created'));
  });

  it('does not show a repository that only had an upload session started', async () => {
    await client.startUpload('session/only');
    assert.ok(!(await client.catalog()).repositories.includes('session/only'));
  });
});
