/**
 * HEAD, GET and DELETE /v2/<name>/blobs/<digest> (spec "Pulling blobs", "Deleting blobs"; end-2, end-10),
 * with the HTTP caching and range behaviour clients rely on (RFC 9110 §13, §14).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, UNKNOWN_DIGEST, expectError, expectHeadError, sha256, sha512 } from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/** 26 bytes whose ranges are easy to read. */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz';

describe('blobs', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  describe('HEAD /v2/<name>/blobs/<digest>', () => {
    it('answers 200 with Content-Length, Docker-Content-Digest and no body', async () => {
      const digest = await client.pushBlob('head/present', ALPHABET);
      const res = await client.headBlob('head/present', digest);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), '26');
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.equal(await res.text(), '');
    });

    it('answers 404 for a blob the registry does not have', async () => {
      await client.pushBlob('head/absent', 'something else');
      await expectHeadError(await client.headBlob('head/absent', UNKNOWN_DIGEST), 404);
    });
  });

  describe('GET /v2/<name>/blobs/<digest>', () => {
    it('answers 200 with the exact bytes, Content-Length and a Docker-Content-Digest that matches them', async () => {
      const digest = await client.pushBlob('get/bytes', ALPHABET);
      const res = await client.getBlob('get/bytes', digest);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), '26');
      assert.equal(res.headers.get('docker-content-digest'), digest);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.toString(), ALPHABET);
      assert.equal(sha256(body), digest);
    });

    it('serves the blob as application/octet-stream, cacheable for a long time', async () => {
      const digest = await client.pushBlob('get/headers', ALPHABET);
      const res = await client.getBlob('get/headers', digest);
      await res.arrayBuffer();
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.match(res.headers.get('cache-control') ?? '', /max-age=\d{7,}/);
      assert.equal(res.headers.get('accept-ranges'), 'bytes');
    });

    it('sends ETag "<digest>" on GET and HEAD', async () => {
      const digest = await client.pushBlob('get/etag', ALPHABET);
      const got = await client.getBlob('get/etag', digest);
      await got.arrayBuffer();
      assert.equal(got.headers.get('etag'), `"${digest}"`);
      assert.equal((await client.headBlob('get/etag', digest)).headers.get('etag'), `"${digest}"`);
    });

    // fetch() adds Cache-Control: no-cache to conditional requests; RFC 9110 §13.1.2 still makes the
    // origin answer 304 (no-cache only asks caches to revalidate, which is what this request is).
    it('answers If-None-Match with the ETag with 304 and no body', async () => {
      const digest = await client.pushBlob('get/not-modified', ALPHABET);
      const res = await client.getBlob('get/not-modified', digest, { 'If-None-Match': `"${digest}"` });
      assert.equal(res.status, 304);
      assert.equal(await res.text(), '');
    });

    it('answers HEAD with If-None-Match with the ETag with 304', async () => {
      const digest = await client.pushBlob('get/not-modified-head', ALPHABET);
      const res = await client.headBlob('get/not-modified-head', digest, { 'If-None-Match': `"${digest}"` });
      assert.equal(res.status, 304);
    });

    it('answers 304 to an If-None-Match list, a weak tag or * that covers the ETag (RFC 9110 §13.1.2)', async () => {
      const digest = await client.pushBlob('get/not-modified-forms', ALPHABET);
      for (const header of [`"${UNKNOWN_DIGEST}", "${digest}"`, `W/"${digest}"`, '*']) {
        const res = await client.getBlob('get/not-modified-forms', digest, { 'If-None-Match': header });
        assert.equal(res.status, 304, `If-None-Match: ${header}`);
        await res.arrayBuffer();
      }
    });

    it('answers If-None-Match with another ETag with the full blob', async () => {
      const digest = await client.pushBlob('get/modified', ALPHABET);
      const res = await client.getBlob('get/modified', digest, { 'If-None-Match': `"${UNKNOWN_DIGEST}"` });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), ALPHABET);
    });

    it('answers 404 BLOB_UNKNOWN for a blob the registry does not have', async () => {
      await client.pushBlob('get/absent', 'something');
      await expectError(await client.getBlob('get/absent', UNKNOWN_DIGEST), 404, 'BLOB_UNKNOWN');
    });

    it('answers 404 BLOB_UNKNOWN in a repository that does not exist', async () => {
      await expectError(await client.getBlob('get/no-such-repo', UNKNOWN_DIGEST), 404, 'BLOB_UNKNOWN');
    });

    it('does not serve a blob of another repository (404 BLOB_UNKNOWN)', async () => {
      const digest = await client.pushBlob('get/owner', 'private layer');
      await client.pushBlob('get/stranger', 'some other layer');
      await expectError(await client.getBlob('get/stranger', digest), 404, 'BLOB_UNKNOWN');
      await expectHeadError(await client.headBlob('get/stranger', digest), 404);
    });
  });

  describe('Range requests (RFC 9110 §14)', () => {
    let digest: string;
    before(async () => {
      digest = await client.pushBlob('range/alphabet', ALPHABET);
    });

    async function expectPartial(range: string, body: string, contentRange: string): Promise<void> {
      const res = await client.getBlob('range/alphabet', digest, { Range: range });
      assert.equal(res.status, 206, `Range ${range}`);
      assert.equal(res.headers.get('content-range'), contentRange);
      assert.equal(res.headers.get('content-length'), String(body.length));
      assert.equal(await res.text(), body);
    }

    async function expectUnsatisfiable(range: string): Promise<void> {
      const res = await client.getBlob('range/alphabet', digest, { Range: range });
      const contentRange = res.headers.get('content-range');
      await expectError(res, 416, 'RANGE_INVALID');
      assert.equal(contentRange, 'bytes */26', `Range ${range}`);
    }

    it('answers bytes=a-b with 206 and exactly those bytes', async () => {
      await expectPartial('bytes=2-5', 'cdef', 'bytes 2-5/26');
    });

    it('answers a one-byte range bytes=0-0', async () => {
      await expectPartial('bytes=0-0', 'a', 'bytes 0-0/26');
    });

    it('answers bytes=a- with the rest of the blob', async () => {
      await expectPartial('bytes=20-', 'uvwxyz', 'bytes 20-25/26');
    });

    it('answers bytes=-n with the last n bytes', async () => {
      await expectPartial('bytes=-3', 'xyz', 'bytes 23-25/26');
    });

    it('clamps an end past the blob to its last byte', async () => {
      await expectPartial('bytes=24-1000', 'yz', 'bytes 24-25/26');
    });

    it('clamps a suffix longer than the blob to the whole blob', async () => {
      await expectPartial('bytes=-100', ALPHABET, 'bytes 0-25/26');
    });

    it('answers a range that starts past the end with 416 RANGE_INVALID and Content-Range bytes */size', async () => {
      await expectUnsatisfiable('bytes=26-');
      await expectUnsatisfiable('bytes=100-200');
    });

    it('answers an empty suffix bytes=-0 with 416', async () => {
      await expectUnsatisfiable('bytes=-0');
    });

    it('answers a range that ends before it starts with 416', async () => {
      await expectUnsatisfiable('bytes=5-2');
    });

    it('answers a malformed bytes range with 416', async () => {
      for (const range of ['bytes=', 'bytes=-', 'bytes=a-b', 'bytes=1-2-3', 'bytes 1-2']) await expectUnsatisfiable(range);
    });

    it('ignores a Range in a unit it does not know and serves the whole blob (RFC 9110 §14.2 MUST)', async () => {
      const res = await client.getBlob('range/alphabet', digest, { Range: 'items=0-5' });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), ALPHABET);
    });

    it('ignores a set of several ranges and serves the whole blob (RFC 9110 §14.2 MAY; no multipart bodies)', async () => {
      const res = await client.getBlob('range/alphabet', digest, { Range: 'bytes=0-1, 4-5' });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), ALPHABET);
    });

    it('does not apply a Range to HEAD', async () => {
      const res = await client.headBlob('range/alphabet', digest, { Range: 'bytes=0-1' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), '26');
    });
  });

  describe('DELETE /v2/<name>/blobs/<digest>', () => {
    it('answers 202, after which the blob is 404 BLOB_UNKNOWN in that repository', async () => {
      const digest = await client.pushBlob('delete/one', 'to be deleted');
      const res = await client.deleteBlob('delete/one', digest);
      assert.equal(res.status, 202);
      assert.equal(await res.text(), '');
      await expectError(await client.getBlob('delete/one', digest), 404, 'BLOB_UNKNOWN');
      await expectHeadError(await client.headBlob('delete/one', digest), 404);
    });

    it('answers 404 BLOB_UNKNOWN when deleting it again', async () => {
      const digest = await client.pushBlob('delete/twice', 'deleted twice');
      assert.equal((await client.deleteBlob('delete/twice', digest)).status, 202);
      await expectError(await client.deleteBlob('delete/twice', digest), 404, 'BLOB_UNKNOWN');
    });

    it('leaves the same content in other repositories alone', async () => {
      const digest = await client.pushBlob('delete/mine', 'shared bytes');
      await client.pushBlob('delete/yours', 'shared bytes');
      assert.equal((await client.deleteBlob('delete/mine', digest)).status, 202);
      const res = await client.getBlob('delete/yours', digest);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'shared bytes');
    });

    it('answers 404 BLOB_UNKNOWN for a blob that only another repository holds', async () => {
      const digest = await client.pushBlob('delete/holder', 'held elsewhere');
      await client.pushBlob('delete/other', 'unrelated');
      await expectError(await client.deleteBlob('delete/other', digest), 404, 'BLOB_UNKNOWN');
      assert.equal((await client.headBlob('delete/holder', digest)).status, 200);
    });
  });

  describe('malformed digests', () => {
    const malformed = [
      'sha256:abc', // too short
      `sha256:${'A'.repeat(64)}`, // upper-case hex
      `sha256:${'g'.repeat(64)}`, // not hex
      `sha512:${'a'.repeat(64)}`, // sha512 needs 128 hex digits
      'sha256', // no encoded part
      'notadigest',
      `SHA256:${'a'.repeat(64)}`, // algorithm is lower case
      `md5:${'a'.repeat(32)}`, // not an algorithm we store
    ];

    for (const digest of malformed) {
      it(`answers GET, HEAD and DELETE of "${digest.slice(0, 24)}" with 400 DIGEST_INVALID`, async () => {
        await expectError(await client.getBlob('digests/bad', digest), 400, 'DIGEST_INVALID');
        await expectHeadError(await client.headBlob('digests/bad', digest), 400);
        await expectError(await client.deleteBlob('digests/bad', digest), 400, 'DIGEST_INVALID');
      });
    }
  });

  describe('sha512 blobs', () => {
    it('are pushed, stat-ed, served and deleted under their sha512 digest', async () => {
      const content = 'a blob addressed by sha512';
      const digest = await client.pushBlob('sha512/blob', content, 'sha512');
      assert.equal(digest, sha512(content));

      const head = await client.headBlob('sha512/blob', digest);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('docker-content-digest'), digest);
      assert.equal(head.headers.get('content-length'), String(content.length));

      const get = await client.getBlob('sha512/blob', digest);
      assert.equal(get.status, 200);
      assert.equal(await get.text(), content);

      assert.equal((await client.deleteBlob('sha512/blob', digest)).status, 202);
      await expectError(await client.getBlob('sha512/blob', digest), 404, 'BLOB_UNKNOWN');
    });

    it('are not found under the sha256 digest of the same content', async () => {
      const content = 'only sha512';
      await client.pushBlob('sha512/only', content, 'sha512');
      await expectError(await client.getBlob('sha512/only', sha256(content)), 404, 'BLOB_UNKNOWN');
    });
  });
});
