/**
 * The grammar of repository names, tags and digests (server/registry/reference.ts), against the
 * OCI Distribution Spec v1.1 regexes and the image-spec digest grammar.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../server/registry/errors.ts';
import {
  NAME_MAX_LENGTH,
  isValidName,
  isValidTag,
  looksLikeDigest,
  parseDigest,
  parseName,
  parseReference,
  referenceString,
  truncate,
  tryParseDigest,
} from '../../server/registry/reference.ts';

const HEX64 = 'a'.repeat(64);
const HEX128 = '0123456789abcdef'.repeat(8);

/** Runs `fn` and returns the RegistryError it throws. */
function registryErrorOf(fn: () => unknown): RegistryError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RegistryError, `expected a RegistryError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a RegistryError to be thrown');
}

describe('repository names', () => {
  const valid = [
    'a',
    '0',
    'ubuntu',
    'library/ubuntu',
    'a/b/c/d',
    'a.b',
    'a_b',
    'a__b',
    'a-b',
    'a--b',
    'a---b',
    'a-b.c_d__e',
    'conformance-0f8fad5b-d9cb-469f-a165-70867728950e',
    'a'.repeat(NAME_MAX_LENGTH),
  ];
  const invalid = [
    '',
    'A',
    'Library/ubuntu',
    '/a',
    'a/',
    'a//b',
    '..',
    '.',
    'a/../b',
    'a/./b',
    'a..b',
    'a___b',
    '_a',
    'a_',
    '-a',
    'a-',
    '.a',
    'a.',
    'a/_b',
    'a b',
    'a\\b',
    'ü',
    'a:b',
    'a'.repeat(NAME_MAX_LENGTH + 1),
  ];

  for (const name of valid) {
    it(`accepts ${JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}… (${name.length})` : name)}`, () => {
      assert.equal(isValidName(name), true);
      assert.equal(parseName(name), name);
    });
  }

  for (const name of invalid) {
    it(`refuses ${JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}… (${name.length})` : name)} with NAME_INVALID (400)`, () => {
      assert.equal(isValidName(name), false);
      const err = registryErrorOf(() => parseName(name));
      assert.equal(err.code, 'NAME_INVALID');
      assert.equal(err.status, 400);
    });
  }

  it('keeps the message short for a very long name', () => {
    const err = registryErrorOf(() => parseName('X'.repeat(10_000)));
    assert.ok(err.message.length < 600, `message of ${err.message.length} characters`);
  });
});

describe('tags', () => {
  for (const tag of ['latest', 'v1.0.0', '1', '_', '_underscore', 'UPPER', 'a-b_c.d', `a${'b'.repeat(127)}`]) {
    it(`accepts ${JSON.stringify(tag.length > 40 ? `${tag.slice(0, 10)}… (${tag.length})` : tag)}`, () => {
      assert.equal(isValidTag(tag), true);
      assert.deepEqual(parseReference(tag), { kind: 'tag', tag });
    });
  }

  for (const tag of ['', '.INVALID_MANIFEST_NAME', '.hidden', '-dash', 'a/b', 'a+b', 'a b', 'ü', `a${'b'.repeat(128)}`]) {
    it(`refuses ${JSON.stringify(tag.length > 40 ? `${tag.slice(0, 10)}… (${tag.length})` : tag)} with TAG_INVALID (400)`, () => {
      assert.equal(isValidTag(tag), false);
      const err = registryErrorOf(() => parseReference(tag));
      assert.equal(err.code, 'TAG_INVALID');
      assert.equal(err.status, 400);
    });
  }
});

describe('digests', () => {
  it('parses sha256 into algorithm, hex and value', () => {
    assert.deepEqual(tryParseDigest(`sha256:${HEX64}`), { algorithm: 'sha256', hex: HEX64, value: `sha256:${HEX64}` });
  });

  it('parses sha512', () => {
    assert.deepEqual(tryParseDigest(`sha512:${HEX128}`), { algorithm: 'sha512', hex: HEX128, value: `sha512:${HEX128}` });
  });

  const invalid: [string, string][] = [
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['63 hex digits', `sha256:${'a'.repeat(63)}`],
    ['65 hex digits', `sha256:${'a'.repeat(65)}`],
    ['sha512 with 64 digits', `sha512:${HEX64}`],
    ['sha256 with 128 digits', `sha256:${HEX128}`],
    ['non-hex digits', `sha256:${'z'.repeat(64)}`],
    ['an upper-case algorithm', `SHA256:${HEX64}`],
    ['an algorithm we do not store', `sha384:${'a'.repeat(96)}`],
    ['a grammatical but unregistered algorithm', `multihash+base58:${HEX64}`],
    ['an empty encoded part', 'sha256:'],
    ['an empty algorithm', `:${HEX64}`],
    ['no colon', HEX64],
    ['two colons', `sha256:${HEX64}:x`],
    ['a path', `sha256:../../${HEX64}`],
    ['surrounding space', ` sha256:${HEX64}`],
  ];
  for (const [why, digest] of invalid) {
    it(`refuses ${why} with DIGEST_INVALID (400)`, () => {
      assert.equal(tryParseDigest(digest), null);
      const err = registryErrorOf(() => parseDigest(digest));
      assert.equal(err.code, 'DIGEST_INVALID');
      assert.equal(err.status, 400);
    });
  }

  it('treats a reference with a colon as a digest, and a malformed one is DIGEST_INVALID, not TAG_INVALID', () => {
    assert.equal(looksLikeDigest('sha256:totallywrong'), true);
    assert.equal(looksLikeDigest('latest'), false);
    assert.equal(registryErrorOf(() => parseReference('sha256:totallywrong')).code, 'DIGEST_INVALID');
  });

  it('parses a digest reference', () => {
    const ref = parseReference(`sha512:${HEX128}`);
    assert.equal(ref.kind, 'digest');
    assert.equal(ref.kind === 'digest' && ref.digest.algorithm, 'sha512');
  });
});

describe('referenceString', () => {
  it('gives back the tag or the digest value', () => {
    assert.equal(referenceString(parseReference('v1')), 'v1');
    assert.equal(referenceString(parseReference(`sha256:${HEX64}`)), `sha256:${HEX64}`);
  });
});

describe('truncate', () => {
  it('leaves short values alone and cuts long ones with an ellipsis', () => {
    assert.equal(truncate('short'), 'short');
    assert.equal(truncate('abcdef', 3), 'abc…');
  });
});
