/** If-None-Match evaluation (server/http/headers.ts ifNoneMatchHolds; RFC 9110 §13.1.2). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ifNoneMatchHolds } from '../../server/http/headers.ts';

const ETAG = '"sha256:abc"';

describe('ifNoneMatchHolds', () => {
  it('does not hold without the header', () => {
    assert.equal(ifNoneMatchHolds(undefined, ETAG), false);
  });

  it('holds for the same entity tag', () => {
    assert.equal(ifNoneMatchHolds('"sha256:abc"', ETAG), true);
  });

  it('holds for * (any current representation)', () => {
    assert.equal(ifNoneMatchHolds('*', ETAG), true);
  });

  it('holds when any tag of a list matches', () => {
    assert.equal(ifNoneMatchHolds('"sha256:000", "sha256:abc"', ETAG), true);
    assert.equal(ifNoneMatchHolds('"sha256:000","sha256:abc"', ETAG), true);
  });

  it('compares weakly: a W/ prefix still matches', () => {
    assert.equal(ifNoneMatchHolds('W/"sha256:abc"', ETAG), true);
  });

  it('does not hold for other tags, or the digest without quotes', () => {
    assert.equal(ifNoneMatchHolds('"sha256:000"', ETAG), false);
    assert.equal(ifNoneMatchHolds('sha256:abc', ETAG), false);
    assert.equal(ifNoneMatchHolds('', ETAG), false);
  });
});
