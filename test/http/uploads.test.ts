/**
 * /v2/<name>/blobs/uploads/ (spec "Pushing blobs"; end-4a, end-4b, end-5, end-6, end-11, end-13):
 * sessions, streamed and chunked PATCHes, the closing PUT, monolithic POST, cross-repository mounts,
 * cancellation, and clients that hang up half way.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../server/storage/paths.ts';
import {
  Client,
  UNKNOWN_DIGEST,
  describe as describeResponse,
  expectError,
  sha256,
  uploadId,
  waitFor,
} from '../helpers/registry-client.ts';
import { startServer, type TestServer, singleProcess } from '../helpers/server.ts';

/** The conformance suite's chunked blob: 42 bytes sent as 0-21 and 22-41. */
const BLOB_B = randomBytes(42);
const CHUNK_1 = BLOB_B.subarray(0, 22);
const CHUNK_2 = BLOB_B.subarray(22);

describe('blob uploads', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  /** The blob is there, with exactly these bytes. */
  async function expectBlob(repo: string, digest: string, bytes: Uint8Array): Promise<void> {
    const res = await client.getBlob(repo, digest);
    assert.equal(res.status, 200, await describeResponse(res));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(bytes));
  }

  /** Whether the session still has objects under uploads/ in the store. */
  async function sessionOnDisk(location: string): Promise<boolean> {
    return (await server.registry.driver.list(keys.upload(uploadId(location)))).length > 0;
  }

  async function sessionsOnDisk(): Promise<number> {
    return (await server.registry.driver.list(keys.uploads)).length;
  }

  async function expectNoBlob(repo: string, digest: string): Promise<void> {
    const res = await client.headBlob(repo, digest);
    assert.equal(res.status, 404, `${digest} must not be visible in ${repo}`);
  }

  /** 201 + Location of the blob + Docker-Content-Digest: what every completed upload answers. */
  async function expectBlobCreated(res: Response, repo: string, digest: string): Promise<void> {
    assert.equal(res.status, 201, await describeResponse(res));
    assert.equal(new URL(res.headers.get('location')!, server.url).pathname, `/v2/${repo}/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
  }

  /** 202/204 on an open session: its Location and Range "0-<last byte>" (no "bytes=" prefix). */
  async function expectSession(res: Response, status: 202 | 204, range: string): Promise<string> {
    assert.equal(res.status, status, await describeResponse(res));
    assert.equal(res.headers.get('range'), range);
    const location = res.headers.get('location');
    assert.ok(location, 'an open session answers its Location');
    return location;
  }

  describe('POST /v2/<name>/blobs/uploads/ (start a session)', () => {
    it('answers 202 with Location, Docker-Upload-UUID and Range 0-0', async () => {
      const res = await client.fetch('/v2/post/session/blobs/uploads/', { method: 'POST' });
      assert.equal(res.status, 202);
      const location = res.headers.get('location')!;
      assert.match(location, /^\/v2\/post\/session\/blobs\/uploads\/[0-9a-f-]{36}$/);
      assert.equal(res.headers.get('docker-upload-uuid'), uploadId(location));
      assert.equal(res.headers.get('range'), '0-0');
      assert.equal(await res.text(), '');
    });

    it('accepts the conformance suite\'s POST with Content-Length: 0', async () => {
      const res = await client.fetch('/v2/post/length-zero/blobs/uploads/', {
        method: 'POST',
        headers: { 'Content-Length': '0' },
      });
      assert.equal(res.status, 202);
    });

    it('accepts the path without the trailing slash', async () => {
      const res = await client.fetch('/v2/post/no-slash/blobs/uploads', { method: 'POST' });
      assert.equal(res.status, 202);
    });

    it('hands out a different session each time', async () => {
      const first = await client.startUpload('post/distinct');
      const second = await client.startUpload('post/distinct');
      assert.notEqual(first, second);
    });
  });

  describe('streamed PATCH (Docker, podman, buildah)', () => {
    it('takes a chunked body with no Content-Length and answers 202 with Range 0-<last byte>', async () => {
      const location = await client.startUpload('stream/one');
      const res = await client.streamChunk(location, BLOB_B);
      await expectSession(res, 202, '0-41');
      assert.equal(res.headers.get('docker-upload-uuid'), uploadId(location));
    });

    it('then completes with a PUT ?digest= and no body: 201, and the blob is served', async () => {
      const location = await client.startUpload('stream/complete');
      const next = await expectSession(await client.streamChunk(location, CHUNK_1, CHUNK_2), 202, '0-41');
      const digest = sha256(BLOB_B);
      await expectBlobCreated(await client.finishUpload(next, digest), 'stream/complete', digest);
      await expectBlob('stream/complete', digest, BLOB_B);
    });

    it('appends a second streamed PATCH to the first', async () => {
      const location = await client.startUpload('stream/two');
      await expectSession(await client.streamChunk(location, CHUNK_1), 202, '0-21');
      await expectSession(await client.streamChunk(location, CHUNK_2), 202, '0-41');
      const digest = sha256(BLOB_B);
      await expectBlobCreated(await client.finishUpload(location, digest), 'stream/two', digest);
      await expectBlob('stream/two', digest, BLOB_B);
    });

    it('streams a blob of several MiB in many pieces', async () => {
      const big = randomBytes(3 * 1024 * 1024 + 17);
      const pieces = Array.from({ length: 50 }, (_, i) => big.subarray(Math.floor((i * big.length) / 50), Math.floor(((i + 1) * big.length) / 50)));
      const location = await client.startUpload('stream/big');
      await expectSession(await client.streamChunk(location, ...pieces), 202, `0-${big.length - 1}`);
      const digest = sha256(big);
      await expectBlobCreated(await client.finishUpload(location, digest), 'stream/big', digest);
      await expectBlob('stream/big', digest, big);
    });
  });

  describe('chunked PATCH with Content-Range', () => {
    it('answers the first chunk 0-21 with 202 and Range exactly "0-21"', async () => {
      const location = await client.startUpload('chunked/first');
      await expectSession(await client.pushChunk(location, CHUNK_1, [0, 21]), 202, '0-21');
    });

    it('takes chunks in order and completes with a bodiless PUT', async () => {
      const location = await client.startUpload('chunked/in-order');
      const second = await expectSession(await client.pushChunk(location, CHUNK_1, [0, 21]), 202, '0-21');
      const third = await expectSession(await client.pushChunk(second, CHUNK_2, [22, 41]), 202, '0-41');
      const digest = sha256(BLOB_B);
      await expectBlobCreated(await client.finishUpload(third, digest), 'chunked/in-order', digest);
      await expectBlob('chunked/in-order', digest, BLOB_B);
    });

    it('answers a chunk that does not start at the current end with 416', async () => {
      const location = await client.startUpload('chunked/out-of-order');
      await expectError(await client.pushChunk(location, CHUNK_2, [22, 41]), 416, 'RANGE_INVALID');
    });

    it('keeps the session usable after an out-of-order chunk: GET status is 204 with Range and Location', async () => {
      const location = await client.startUpload('chunked/after-416');
      await expectError(await client.pushChunk(location, CHUNK_2, [22, 41]), 416, 'RANGE_INVALID');
      await expectSession(await client.uploadStatus(location), 204, '0-0');
      await expectSession(await client.pushChunk(location, CHUNK_1, [0, 21]), 202, '0-21');
    });

    it('answers a retried (overlapping) chunk on the original Location with 416 and keeps what it had', async () => {
      // Conformance PUSH-12..16: the stale POST Location still addresses the live session.
      const original = await client.startUpload('chunked/retry');
      await expectSession(await client.pushChunk(original, CHUNK_1, [0, 21]), 202, '0-21');
      await expectError(await client.pushChunk(original, CHUNK_1, [0, 21]), 416, 'RANGE_INVALID');
      const current = await expectSession(await client.uploadStatus(original), 204, '0-21');
      const last = await expectSession(await client.pushChunk(current, CHUNK_2, [22, 41]), 202, '0-41');
      const digest = sha256(BLOB_B);
      await expectBlobCreated(await client.finishUpload(last, digest), 'chunked/retry', digest);
      await expectBlob('chunked/retry', digest, BLOB_B);
    });

    for (const [what, body] of [['fewer', CHUNK_1.subarray(0, 10)], ['more', Buffer.concat([CHUNK_1, CHUNK_2])]] as const) {
      it(`rolls back a chunk whose body has ${what} bytes than its Content-Range says: 416, and the session keeps what it had`, async () => {
        const location = await client.startUpload(`chunked/short-${what}`);
        // Chunked, with no Content-Length: only the Content-Range announces a size.
        const target = new URL(client.url(location));
        const res = await client.raw({ method: 'PATCH', path: target.pathname + target.search, headers: { 'Content-Range': '0-21' }, chunks: [body] });
        assert.equal(res.headers.get('range'), '0-0');
        const error = await expectError(res, 416, 'RANGE_INVALID');
        assert.match(error.message, new RegExp(`Content-Range announced 22 bytes but ${body.length} arrived`));
        await expectSession(await client.uploadStatus(location), 204, '0-0');
        const next = await expectSession(await client.pushChunk(location, CHUNK_1, [0, 21]), 202, '0-21');
        const last = await expectSession(await client.pushChunk(next, CHUNK_2, [22, 41]), 202, '0-41');
        await expectBlobCreated(await client.finishUpload(last, sha256(BLOB_B)), `chunked/short-${what}`, sha256(BLOB_B));
      });
    }

    it('answers a chunk that skips ahead of the current end with 416 and Range of what it has', async () => {
      const location = await client.startUpload('chunked/gap');
      await expectSession(await client.pushChunk(location, CHUNK_1, [0, 21]), 202, '0-21');
      const res = await client.pushChunk(location, CHUNK_2, [30, 49]);
      const range = res.headers.get('range');
      await expectError(res, 416, 'RANGE_INVALID');
      assert.equal(range, '0-21');
    });
  });

  describe('GET /v2/<name>/blobs/uploads/<uuid> (status)', () => {
    it('answers 204 with Location, Range and Docker-Upload-UUID and no body', async () => {
      const location = await client.startUpload('status/one');
      await client.pushChunk(location, CHUNK_1, [0, 21]);
      const res = await client.uploadStatus(location);
      await expectSession(res, 204, '0-21');
      assert.equal(res.headers.get('docker-upload-uuid'), uploadId(location));
      assert.equal(await res.text(), '');
    });
  });

  describe('PUT /v2/<name>/blobs/uploads/<uuid>?digest= (complete)', () => {
    it('takes the whole blob as the body of the PUT: 201', async () => {
      const location = await client.startUpload('put/whole');
      const digest = sha256(BLOB_B);
      await expectBlobCreated(await client.finishUpload(location, digest, BLOB_B), 'put/whole', digest);
      await expectBlob('put/whole', digest, BLOB_B);
    });

    it('takes the last chunk as the body of the PUT: 201', async () => {
      const location = await client.startUpload('put/last-chunk');
      await expectSession(await client.pushChunk(location, CHUNK_1, [0, 21]), 202, '0-21');
      const digest = sha256(BLOB_B);
      await expectBlobCreated(await client.finishUpload(location, digest, CHUNK_2), 'put/last-chunk', digest);
      await expectBlob('put/last-chunk', digest, BLOB_B);
    });

    it('completes a zero-byte blob with a bodiless PUT', async () => {
      const location = await client.startUpload('put/empty');
      const digest = sha256('');
      await expectBlobCreated(await client.finishUpload(location, digest), 'put/empty', digest);
      await expectBlob('put/empty', digest, Buffer.alloc(0));
    });

    it('answers a digest that does not match the bytes with 400 DIGEST_INVALID, and stores nothing', async () => {
      const location = await client.startUpload('put/mismatch');
      const claimed = sha256('something else');
      await expectError(await client.finishUpload(location, claimed, BLOB_B), 400, 'DIGEST_INVALID');
      await expectNoBlob('put/mismatch', claimed);
      await expectNoBlob('put/mismatch', sha256(BLOB_B));
    });

    it('after a digest mismatch, rolls the PUT body back so the upload can be completed correctly', async () => {
      const location = await client.startUpload('put/retry');
      const first = BLOB_B.subarray(0, 10);
      assert.equal((await client.pushChunk(location, first, [0, first.length - 1])).status, 202);
      const rest = BLOB_B.subarray(10);
      const wrong = await client.finishUpload(location, sha256('something else'), rest);
      assert.equal(wrong.headers.get('range'), `0-${first.length - 1}`, 'the error says what the session still holds');
      await expectError(wrong, 400, 'DIGEST_INVALID');
      const status = await client.fetch(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${first.length - 1}`);
      await expectBlobCreated(await client.finishUpload(location, sha256(BLOB_B), rest), 'put/retry', sha256(BLOB_B));
      await expectBlob('put/retry', sha256(BLOB_B), BLOB_B);
    });

    it('answers a PUT without ?digest= with 400 DIGEST_INVALID', async () => {
      const location = await client.startUpload('put/no-digest');
      const res = await client.fetch(location, { method: 'PUT', body: BLOB_B });
      await expectError(res, 400, 'DIGEST_INVALID');
    });

    it('closes the session: afterwards its status is 404 BLOB_UPLOAD_UNKNOWN', async () => {
      const location = await client.startUpload('put/closed');
      const digest = sha256(BLOB_B);
      await expectBlobCreated(await client.finishUpload(location, digest, BLOB_B), 'put/closed', digest);
      await expectError(await client.uploadStatus(location), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.equal(await sessionOnDisk(location), false, 'the session\'s files are gone');
    });

    it('works on a Location that carries a query, when the client appends &digest=', async () => {
      // Clients append "&digest=" to whatever query the Location has (REGISTRY-NOTES, "Push").
      const location = `${await client.startUpload('put/query')}?_state=opaque-token`;
      await expectSession(await client.pushChunk(location, BLOB_B), 202, '0-41');
      const digest = sha256(BLOB_B);
      const res = await client.fetch(`${location}&digest=${digest}`, { method: 'PUT' });
      await expectBlobCreated(res, 'put/query', digest);
    });
  });

  describe('monolithic POST /v2/<name>/blobs/uploads/?digest=', () => {
    it('stores the body as the blob: 201 with Location and Docker-Content-Digest', async () => {
      const digest = sha256(BLOB_B);
      const res = await client.fetch(`/v2/monolithic/ok/blobs/uploads/?digest=${digest}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: BLOB_B,
      });
      await expectBlobCreated(res, 'monolithic/ok', digest);
      await expectBlob('monolithic/ok', digest, BLOB_B);
    });

    it('answers a body that does not match the digest with 400 DIGEST_INVALID, and stores nothing', async () => {
      const sessionsBefore = await sessionsOnDisk();
      const claimed = sha256('not the body');
      const res = await client.fetch(`/v2/monolithic/mismatch/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: BLOB_B });
      await expectError(res, 400, 'DIGEST_INVALID');
      await expectNoBlob('monolithic/mismatch', claimed);
      assert.equal(await sessionsOnDisk(), sessionsBefore, 'no session is left behind');
    });
  });

  describe('cross-repository mount POST ?mount=<digest>&from=<repo>', () => {
    it('links the blob of the source repository: 201 with Location exactly /v2/<to>/blobs/<digest>', async () => {
      const digest = await client.pushBlob('mount/source', BLOB_B);
      const res = await client.mountBlob('mount/target', digest, 'mount/source');
      assert.equal(res.status, 201, await describeResponse(res));
      const location = new URL(res.headers.get('location')!, server.url);
      assert.equal(location.pathname + location.search, `/v2/mount/target/blobs/${digest}`);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      await expectBlob('mount/target', digest, BLOB_B);
    });

    it('takes from before mount in the query', async () => {
      const digest = await client.pushBlob('mount/source-first', 'mounted, from first');
      const res = await client.fetch(`/v2/mount/target-first/blobs/uploads/?from=mount/source-first&mount=${digest}`, { method: 'POST' });
      assert.equal(res.status, 201);
    });

    it('answers 202 with an upload session when the source repository does not hold the blob', async () => {
      await client.pushBlob('mount/empty-source', 'something unrelated');
      const digest = sha256(BLOB_B);
      const res = await client.mountBlob('mount/fallback', digest, 'mount/empty-source');
      const location = await expectSession(res, 202, '0-0');
      assert.match(location, /^\/v2\/mount\/fallback\/blobs\/uploads\//);
      await expectBlobCreated(await client.finishUpload(location, digest, BLOB_B), 'mount/fallback', digest);
    });

    it('answers 202 with an upload session when from is missing, even if the blob exists elsewhere', async () => {
      const digest = await client.pushBlob('mount/elsewhere', 'exists in another repository');
      const location = await expectSession(await client.mountBlob('mount/no-from', digest), 202, '0-0');
      assert.match(location, /^\/v2\/mount\/no-from\/blobs\/uploads\//);
      await expectNoBlob('mount/no-from', digest);
    });

    it('answers 202 for a blob that exists nowhere, in a repository that does not exist yet', async () => {
      const location = await expectSession(await client.mountBlob(`mount/new-${randomUUID().slice(0, 8)}`, UNKNOWN_DIGEST), 202, '0-0');
      assert.match(location, /^\/v2\/mount\/new-[0-9a-f]{8}\/blobs\/uploads\//);
    });
  });

  describe('DELETE /v2/<name>/blobs/uploads/<uuid> (cancel)', () => {
    it('answers 204, after which the session is 404 BLOB_UPLOAD_UNKNOWN', async () => {
      const location = await client.startUpload('cancel/one');
      await client.pushChunk(location, CHUNK_1, [0, 21]);
      const res = await client.cancelUpload(location);
      assert.equal(res.status, 204);
      assert.equal(await sessionOnDisk(location), false, 'the session\'s files are gone');
      await expectError(await client.uploadStatus(location), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await client.pushChunk(location, CHUNK_2, [22, 41]), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await client.finishUpload(location, sha256(CHUNK_1)), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await client.cancelUpload(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    });
  });

  describe('upload ids that are not sessions of this repository', () => {
    const requests: [string, (location: string) => Promise<Response>][] = [
      ['GET', (location) => client.uploadStatus(location)],
      ['PATCH', (location) => client.pushChunk(location, CHUNK_1)],
      ['PUT', (location) => client.finishUpload(location, sha256(CHUNK_1), CHUNK_1)],
      ['DELETE', (location) => client.cancelUpload(location)],
    ];

    for (const [method, send] of requests) {
      it(`answers ${method} on an unknown id with 404 BLOB_UPLOAD_UNKNOWN`, async () => {
        await expectError(await send(`/v2/ids/unknown/blobs/uploads/${randomUUID()}`), 404, 'BLOB_UPLOAD_UNKNOWN');
      });

      it(`answers ${method} on a malformed id with 404 BLOB_UPLOAD_UNKNOWN`, async () => {
        for (const id of ['not-a-uuid', randomUUID().toUpperCase(), '0', `${randomUUID()}x`]) {
          await expectError(await send(`/v2/ids/malformed/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
        }
      });

      it(`answers ${method} on the id of another repository's session with 404 BLOB_UPLOAD_UNKNOWN`, async () => {
        const mine = await client.startUpload('ids/owner');
        await client.pushChunk(mine, CHUNK_1, [0, 21]);
        const theirs = mine.replace('/v2/ids/owner/', '/v2/ids/intruder/');
        await expectError(await send(theirs), 404, 'BLOB_UPLOAD_UNKNOWN');
        await expectSession(await client.uploadStatus(mine), 204, '0-21');
      });
    }
  });

  describe('sessions and restarts', () => {
    it('a session survives a server restart and completes on the new server', async () => {
      const first = await startServer();
      const beforeRestart = new Client(first.url);
      const location = await beforeRestart.startUpload('restart/session');
      await expectSession(await beforeRestart.pushChunk(location, CHUNK_1, [0, 21]), 202, '0-21');
      await first.close();

      const second = await startServer({ dataDir: first.dataDir });
      try {
        const again = new Client(second.url);
        const status = await again.uploadStatus(location);
        assert.equal(status.status, 204);
        assert.equal(status.headers.get('range'), '0-21');
        assert.equal((await again.pushChunk(location, CHUNK_2, [22, 41])).status, 202);
        const digest = sha256(BLOB_B);
        const done = await again.finishUpload(location, digest);
        assert.equal(done.status, 201, await describeResponse(done));
        const blob = await again.getBlob('restart/session', digest);
        assert.deepEqual(Buffer.from(await blob.arrayBuffer()), BLOB_B);
      } finally {
        await second.close({ remove: true });
      }
    });
  });

  describe('a client that hangs up half way', { skip: singleProcess('it hangs up once its own server process has the first half (activeUploads of that process); a replica is another process (test/e2e/crash-safety hangs up on `berth serve`, also on S3)') }, () => {
    const blob = randomBytes(256 * 1024);
    const firstHalf = blob.subarray(0, 100_000);

    /** Sends `firstHalf` of the body, hangs up once it is on disk, and waits for the server to let go. */
    async function hangUp(location: string, method: 'PATCH' | 'PUT'): Promise<void> {
      const id = uploadId(location);
      const arrived = () => server.registry.services.uploads.activeUploads().some((u) => u.id === id && u.size >= firstHalf.length);
      await client.hangUpMidBody(location, firstHalf, async () => arrived(), method);
      // The server notices the hang-up on its own time; the session is free again once it has.
      await waitFor(
        () => server.registry.services.uploads.activeUploads().some((u) => u.id === id && !u.receiving),
        `the server to let go of the interrupted ${method}`,
      );
    }

    /** The session reports the bytes that arrived, takes the rest from there, and completes. */
    async function resumeAndFinish(repo: string, location: string): Promise<void> {
      const resumed = await expectSession(await client.uploadStatus(location), 204, `0-${firstHalf.length - 1}`);
      const rest = blob.subarray(firstHalf.length);
      await expectSession(await client.pushChunk(resumed, rest, [firstHalf.length, blob.length - 1]), 202, `0-${blob.length - 1}`);
      const digest = sha256(blob);
      await expectBlobCreated(await client.finishUpload(resumed, digest), repo, digest);
      await expectBlob(repo, digest, blob);
    }

    it('mid-PATCH leaves no blob visible, and the session resumes from the bytes that arrived', async () => {
      const repo = 'hangup/patch';
      const location = await client.startUpload(repo);
      await hangUp(location, 'PATCH');
      await expectNoBlob(repo, sha256(blob));
      await expectNoBlob(repo, sha256(firstHalf));
      await resumeAndFinish(repo, location);
    });

    it('mid-PUT leaves no blob visible, and the session resumes from the bytes that arrived', async () => {
      const repo = 'hangup/put';
      const location = await client.startUpload(repo);
      await hangUp(`${location}?digest=${sha256(blob)}`, 'PUT');
      await expectNoBlob(repo, sha256(blob));
      await resumeAndFinish(repo, location);
    });

    it('mid-monolithic POST leaves no blob and no session behind', async () => {
      const repo = 'hangup/post';
      const sessions = () => server.registry.driver.list(keys.uploads);
      const before = new Set(await sessions());
      const received = async () => server.registry.services.uploads.activeUploads().some((u) => !before.has(u.id) && u.size >= firstHalf.length);
      await client.hangUpMidBody(`/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, firstHalf, received, 'POST');
      await waitFor(async () => (await sessions()).length === before.size, 'the server to drop the interrupted session');
      await expectNoBlob(repo, sha256(blob));
    });
  });
});
