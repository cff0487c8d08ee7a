/** Accept and Content-Type parsing for manifests (server/registry/media-types.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, bareMediaType, parseAccept } from '../../server/registry/media-types.ts';

describe('parseAccept', () => {
  it('accepts anything when there is no Accept header', () => {
    assert.equal(parseAccept(undefined), null);
    assert.equal(parseAccept(''), null);
  });

  it('reads several types joined with ", " (Node joins repeated header lines so), parameters dropped', () => {
    assert.deepEqual(
      parseAccept(`${DOCKER_MANIFEST}, ${OCI_MANIFEST}; q=0.5,${OCI_INDEX};q=0.9`),
      new Set([DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX]),
    );
  });

  it('compares types case-insensitively', () => {
    assert.deepEqual(parseAccept('Application/VND.OCI.Image.Manifest.v1+JSON'), new Set([OCI_MANIFEST]));
  });

  it('accepts anything for */* or application/*', () => {
    assert.equal(parseAccept(`${DOCKER_MANIFEST}, */*`), null);
    assert.equal(parseAccept('application/*;q=0.1'), null);
  });

  it('leaves out a type weighted q=0 (RFC 9110 §12.4.2: not acceptable)', () => {
    assert.deepEqual(parseAccept(`${OCI_MANIFEST};q=0, ${DOCKER_MANIFEST}`), new Set([DOCKER_MANIFEST]));
    assert.deepEqual(parseAccept(`${OCI_MANIFEST}; Q=0.000`), new Set());
    assert.deepEqual(parseAccept(`*/*;q=0, ${OCI_INDEX}`), new Set([OCI_INDEX]));
  });

  it('keeps a type with a small but non-zero weight', () => {
    assert.deepEqual(parseAccept(`${OCI_MANIFEST};q=0.001`), new Set([OCI_MANIFEST]));
  });
});

describe('bareMediaType', () => {
  it('drops parameters, white space and case', () => {
    assert.equal(bareMediaType(` ${OCI_MANIFEST.toUpperCase()} ; charset=utf-8`), OCI_MANIFEST);
    assert.equal(bareMediaType(undefined), '');
  });
});
