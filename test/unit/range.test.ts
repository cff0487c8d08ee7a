/**
 * The two range grammars of the API (server/http/headers.ts): the Range header of a blob GET
 * (RFC 9110 §14.1.2, §14.2) and the Content-Range of an upload chunk (spec "Pushing a blob in chunks":
 * "<start>-<end>", inclusive).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { chunkOptions, parseRange } from '../../server/http/headers.ts';
import { RegistryError } from '../../server/registry/errors.ts';

function registryErrorOf(fn: () => unknown): RegistryError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RegistryError, `expected a RegistryError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a RegistryError to be thrown');
}

/** Just enough of a request for chunkOptions: its headers. */
function request(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

describe('parseRange (blob GET Range header)', () => {
  const SIZE = 26;

  it('returns null when there is no Range header', () => {
    assert.equal(parseRange(undefined, SIZE), null);
  });

  const satisfiable: [string, number, number][] = [
    ['bytes=0-0', 0, 0],
    ['bytes=2-5', 2, 5],
    ['bytes=0-25', 0, 25],
    ['bytes=25-25', 25, 25],
    ['bytes=20-', 20, 25],
    ['bytes=0-', 0, 25],
    ['bytes=-3', 23, 25],
    ['bytes=-26', 0, 25],
    ['bytes=-1000', 0, 25],
    ['bytes=24-1000', 24, 25],
    ['Bytes=1-2', 1, 2],
    [' bytes=1-2 ', 1, 2],
  ];
  for (const [header, start, end] of satisfiable) {
    it(`reads ${JSON.stringify(header)} as bytes ${start}-${end} of ${SIZE}`, () => {
      assert.deepEqual(parseRange(header, SIZE), { start, end });
    });
  }

  const unsatisfiable: [string, string][] = [
    ['bytes=26-', 'starts at the size'],
    ['bytes=100-200', 'starts past the end'],
    ['bytes=-0', 'is an empty suffix'],
    ['bytes=5-2', 'ends before it starts'],
    ['bytes=', 'has no range'],
    ['bytes=-', 'has neither start nor end'],
    ['bytes=a-b', 'is not numbers'],
    ['bytes=1-2-3', 'has three parts'],
    ['bytes 1-2', 'has no "="'],
    ['1-2', 'has no unit'],
    ['bytes=0-1,x', 'has a malformed second range'],
    [`bytes=${'9'.repeat(16)}-`, 'has a 16-digit start'],
  ];
  for (const [header, why] of unsatisfiable) {
    it(`refuses ${JSON.stringify(header)} (${why}) with 416 RANGE_INVALID and Content-Range: bytes */size`, () => {
      const err = registryErrorOf(() => parseRange(header, SIZE));
      assert.equal(err.code, 'RANGE_INVALID');
      assert.equal(err.status, 416);
      assert.deepEqual(err.headers, { 'Content-Range': `bytes */${SIZE}` });
    });
  }

  it('refuses any range of an empty blob', () => {
    for (const header of ['bytes=0-', 'bytes=0-0', 'bytes=-1']) {
      assert.equal(registryErrorOf(() => parseRange(header, 0)).code, 'RANGE_INVALID', header);
    }
  });

  it('ignores a range unit other than bytes (RFC 9110 §14.2: MUST ignore)', () => {
    assert.equal(parseRange('items=0-5', SIZE), null);
    assert.equal(parseRange('none=', SIZE), null);
  });

  it('ignores a well-formed set of several ranges (RFC 9110 §14.2: MAY ignore), so the whole blob is served', () => {
    assert.equal(parseRange('bytes=0-1,4-5', SIZE), null);
    assert.equal(parseRange('bytes=0-1, -3', SIZE), null);
  });
});

describe('chunkOptions (upload Content-Range and Content-Length)', () => {
  it('is empty for a streamed chunk: no Content-Range, no Content-Length', () => {
    assert.deepEqual(chunkOptions(request({ 'transfer-encoding': 'chunked' })), {});
  });

  it('carries Content-Length as the length', () => {
    assert.deepEqual(chunkOptions(request({ 'content-length': '42' })), { length: 42 });
  });

  it('reads the spec form "<start>-<end>", inclusive', () => {
    assert.deepEqual(chunkOptions(request({ 'content-range': '0-21', 'content-length': '22' })), {
      length: 22,
      range: { start: 0, end: 21 },
    });
    assert.deepEqual(chunkOptions(request({ 'content-range': '22-41' })).range, { start: 22, end: 41 });
  });

  it('reads the RFC 9110 forms some clients send: "bytes <start>-<end>/<total|*>" and "bytes=<start>-<end>"', () => {
    for (const header of ['bytes 22-41/42', 'bytes 22-41/*', 'bytes=22-41', 'bytes 22-41']) {
      assert.deepEqual(chunkOptions(request({ 'content-range': header })).range, { start: 22, end: 41 }, header);
    }
  });

  it('takes a one-byte chunk "<n>-<n>"', () => {
    assert.deepEqual(chunkOptions(request({ 'content-range': '7-7' })).range, { start: 7, end: 7 });
  });

  for (const header of ['abc', '5-2', '0-', '-5', '0-21/abc', 'bytes=0-21,22-41', '0x0-0x15', ' ', `0-${'9'.repeat(16)}`]) {
    it(`refuses ${JSON.stringify(header)} with 416 RANGE_INVALID and the session's Range`, () => {
      const err = registryErrorOf(() => chunkOptions(request({ 'content-range': header }), () => 10));
      assert.equal(err.code, 'RANGE_INVALID');
      assert.equal(err.status, 416);
      assert.deepEqual(err.headers, { Range: '0-9' });
    });
  }

  it('sends no Range with the refusal when the session size is not known', () => {
    assert.deepEqual(registryErrorOf(() => chunkOptions(request({ 'content-range': 'abc' }))).headers, {});
  });
});
