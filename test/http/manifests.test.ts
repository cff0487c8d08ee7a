/**
 * GET, HEAD, PUT and DELETE /v2/<name>/manifests/<reference> (spec "Pulling manifests", "Pushing
 * manifests", "Deleting manifests"; end-3, end-7, end-9), with content negotiation as Docker does it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Client,
  DOCKER_CONFIG,
  DOCKER_LAYER,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  UNKNOWN_DIGEST,
  describe as describeResponse,
  descriptor,
  expectError,
  expectHeadError,
  imageIndex,
  imageManifest,
  sha256,
  sha512,
  type Descriptor,
} from '../helpers/registry-client.ts';
import { MAX_DESCRIPTORS } from '../../server/registry/manifest.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

describe('manifests', () => {
  let server: TestServer;
  let client: Client;
  before(async () => {
    server = await startServer();
    client = new Client(server.url);
  });
  after(() => server.close({ remove: true }));

  /** Pushes a config and a layer to `repo` and returns their descriptors. */
  async function pushParts(repo: string, configMediaType = OCI_CONFIG, layerMediaType = OCI_LAYER): Promise<{ config: Descriptor; layer: Descriptor }> {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', author: `${repo} ${Math.random()}` });
    const layer = `layer of ${repo} ${Math.random()}`;
    await client.pushBlob(repo, config);
    await client.pushBlob(repo, layer);
    return { config: descriptor(configMediaType, config), layer: descriptor(layerMediaType, layer) };
  }

  /** An OCI image manifest over freshly pushed parts (not pushed itself). */
  async function newManifest(repo: string, extra: Record<string, unknown> = {}): Promise<string> {
    const { config, layer } = await pushParts(repo);
    return imageManifest(config, [layer], extra);
  }

  /** 201 + Location of the manifest by digest + Docker-Content-Digest. */
  async function expectManifestCreated(res: Response, repo: string, digest: string): Promise<void> {
    assert.equal(res.status, 201, await describeResponse(res));
    assert.equal(new URL(res.headers.get('location')!, server.url).pathname, `/v2/${repo}/manifests/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
  }

  /** 200 with exactly these bytes, this Content-Type and this digest. */
  async function expectManifest(res: Response, bytes: string, mediaType: string): Promise<void> {
    assert.equal(res.status, 200, await describeResponse(res));
    assert.equal(res.headers.get('content-type'), mediaType);
    assert.equal(res.headers.get('docker-content-digest'), sha256(bytes));
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(bytes)));
    assert.equal(await res.text(), bytes);
  }

  describe('PUT', () => {
    it('by tag answers 201 with Location by digest and Docker-Content-Digest', async () => {
      const bytes = await newManifest('put/tag');
      await expectManifestCreated(await client.putManifest('put/tag', 'v1', bytes), 'put/tag', sha256(bytes));
    });

    it('by digest answers 201 with Location and Docker-Content-Digest', async () => {
      const bytes = await newManifest('put/digest');
      const digest = sha256(bytes);
      await expectManifestCreated(await client.putManifest('put/digest', digest, bytes), 'put/digest', digest);
      await expectManifest(await client.getManifest('put/digest', digest), bytes, OCI_MANIFEST);
    });

    it('stores the exact bytes: tab-indented JSON with unknown fields and data comes back unchanged', async () => {
      const { config, layer } = await pushParts('put/exact');
      const bytes = imageManifest(
        { ...config, data: Buffer.from('{}').toString('base64'), newUnspecifiedField: null },
        [{ ...layer, newUnspecifiedField: null }],
        { newUnspecifiedField: { nested: [1, 2, 3] }, annotations: { 'org.example.note': 'ünïcödé' } },
      );
      assert.match(bytes, /\n\t"config"/);
      await client.pushManifest('put/exact', 'exact', bytes);
      await expectManifest(await client.getManifest('put/exact', 'exact'), bytes, OCI_MANIFEST);
    });

    it('answers a digest reference that does not match the body with 400 DIGEST_INVALID', async () => {
      const bytes = await newManifest('put/wrong-digest');
      const res = await client.putManifest('put/wrong-digest', sha256(`${bytes} `), bytes);
      await expectError(res, 400, 'DIGEST_INVALID');
    });

    it('answers an invalid tag with 400 TAG_INVALID', async () => {
      const bytes = await newManifest('put/bad-tag');
      for (const tag of ['.INVALID_MANIFEST_NAME', '-leading-dash', 'a'.repeat(129), 'semi;colon']) {
        await expectError(await client.putManifest('put/bad-tag', encodeURIComponent(tag), bytes), 400, 'TAG_INVALID');
      }
    });

    it('accepts a tag of 128 characters, the longest the grammar allows', async () => {
      const bytes = await newManifest('put/long-tag');
      const tag = `_${'A'.repeat(127)}`;
      await client.pushManifest('put/long-tag', tag, bytes);
      await expectManifest(await client.getManifest('put/long-tag', tag), bytes, OCI_MANIFEST);
    });

    it('accepts a 128-character all-upper-case tag (too long to escape into one file name)', async () => {
      const bytes = await newManifest('put/upper-tag');
      const tag = 'A'.repeat(128);
      await client.pushManifest('put/upper-tag', tag, bytes);
      await expectManifest(await client.getManifest('put/upper-tag', tag), bytes, OCI_MANIFEST);
      assert.deepEqual((await client.listTags('put/upper-tag')).tags, [tag]);
      assert.equal((await client.deleteManifest('put/upper-tag', tag)).status, 202);
      await expectError(await client.getManifest('put/upper-tag', tag), 404, 'MANIFEST_UNKNOWN');
    });

    it('ignores Content-Type parameters and serves the bare media type', async () => {
      const bytes = await newManifest('put/params');
      await client.pushManifest('put/params', 'v1', bytes, `${OCI_MANIFEST}; charset=utf-8`);
      await expectManifest(await client.getManifest('put/params', 'v1'), bytes, OCI_MANIFEST);
    });

    it('accepts a manifest with no mediaType field and no layers (conformance "emptylayer")', async () => {
      const { config } = await pushParts('put/empty-layers');
      const bytes = JSON.stringify({ schemaVersion: 2, config, layers: [] }, null, '\t');
      await client.pushManifest('put/empty-layers', 'emptylayer', bytes);
      await expectManifest(await client.getManifest('put/empty-layers', 'emptylayer'), bytes, OCI_MANIFEST);
    });
  });

  describe('PUT: references must exist', () => {
    it('answers a missing config with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const { layer } = await pushParts('refs/no-config');
      const bytes = imageManifest(descriptor(OCI_CONFIG, 'a config nobody pushed'), [layer]);
      await expectError(await client.putManifest('refs/no-config', 'v1', bytes), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('answers a missing layer with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const { config } = await pushParts('refs/no-layer');
      const bytes = imageManifest(config, [descriptor(OCI_LAYER, 'a layer nobody pushed')]);
      await expectError(await client.putManifest('refs/no-layer', 'v1', bytes), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('answers a layer that only another repository holds with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const { config } = await pushParts('refs/mine');
      const { layer } = await pushParts('refs/theirs');
      const bytes = imageManifest(config, [layer]);
      await expectError(await client.putManifest('refs/mine', 'v1', bytes), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('does not require non-distributable layers that carry urls', async () => {
      const { config, layer } = await pushParts('refs/foreign');
      const foreign = descriptor('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'a windows base layer', {
        urls: ['https://example.invalid/layer.tar.gz'],
      });
      const bytes = imageManifest(config, [foreign, layer]);
      await client.pushManifest('refs/foreign', 'v1', bytes);
    });

    it('requires the config even when its descriptor carries urls (only layers may be foreign)', async () => {
      const { layer } = await pushParts('refs/foreign-config');
      const config = descriptor(OCI_CONFIG, '{"os":"linux","architecture":"amd64"} nobody pushed', { urls: ['https://example.invalid/c'] });
      const bytes = imageManifest(config, [layer]);
      await expectError(await client.putManifest('refs/foreign-config', 'v1', bytes), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('answers an index whose child manifest is missing with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const child = await newManifest('refs/index');
      const bytes = imageIndex([descriptor(OCI_MANIFEST, child, { platform: { os: 'linux', architecture: 'amd64' } })]);
      await expectError(await client.putManifest('refs/index', 'v1', bytes, OCI_INDEX), 400, 'MANIFEST_BLOB_UNKNOWN');
    });
  });

  describe('PUT: descriptors must say what is stored', () => {
    for (const [what, delta] of [['larger', 1], ['smaller', -1]] as const) {
      it(`answers a layer descriptor ${what} than its blob with 400 MANIFEST_INVALID, naming both sizes`, async () => {
        const repo = `sizes/layer-${what}`;
        const { config, layer } = await pushParts(repo);
        const bytes = imageManifest(config, [{ ...layer, size: layer.size + delta }]);
        const error = await expectError(await client.putManifest(repo, 'v1', bytes), 400, 'MANIFEST_INVALID');
        assert.match(error.message, new RegExp(`says ${layer.size + delta} bytes, but the blob has ${layer.size}`));
        assert.deepEqual(error.detail, { digest: layer.digest, declared: layer.size + delta, actual: layer.size });
        await expectError(await client.getManifest(repo, 'v1'), 404, 'MANIFEST_UNKNOWN');
      });
    }

    it('answers a config descriptor of the wrong size with 400 MANIFEST_INVALID', async () => {
      const { config, layer } = await pushParts('sizes/config');
      await expectError(await client.putManifest('sizes/config', 'v1', imageManifest({ ...config, size: config.size * 2 }, [layer])), 400, 'MANIFEST_INVALID');
    });

    it('answers a blob listed twice with two sizes with 400 MANIFEST_INVALID', async () => {
      const { config, layer } = await pushParts('sizes/twice');
      const error = await expectError(await client.putManifest('sizes/twice', 'v1', imageManifest(config, [layer, { ...layer, size: layer.size + 5 }])), 400, 'MANIFEST_INVALID');
      assert.match(error.message, /listed with two sizes/);
    });

    it(`takes ${MAX_DESCRIPTORS} descriptors and refuses one more with 400 MANIFEST_INVALID`, async () => {
      const { config, layer } = await pushParts('sizes/many');
      // Short media types keep 32,768 descriptors under the 4 MiB body limit.
      const short = { ...layer, mediaType: 'a/b' };
      const compact = (layers: Descriptor[]) => JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers });
      const atLimit = compact(Array.from({ length: MAX_DESCRIPTORS - 1 }, () => short));
      await client.pushManifest('sizes/many', 'v1', atLimit);
      const over = compact(Array.from({ length: MAX_DESCRIPTORS }, () => short));
      assert.ok(Buffer.byteLength(over) < MAX_MANIFEST_BYTES);
      const error = await expectError(await client.putManifest('sizes/many', 'v2', over), 400, 'MANIFEST_INVALID');
      assert.match(error.message, new RegExp(`holds ${MAX_DESCRIPTORS + 1} descriptors; at most ${MAX_DESCRIPTORS}`));
      assert.deepEqual(error.detail, { limit: MAX_DESCRIPTORS, descriptors: MAX_DESCRIPTORS + 1 });
    });
  });

  describe('PUT: invalid manifests', () => {
    it('refuses Docker schema 1 with 400 MANIFEST_INVALID', async () => {
      const schema1 = JSON.stringify({ schemaVersion: 1, name: 'invalid/schema1', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [] });
      await expectError(
        await client.putManifest('invalid/schema1', 'v1', schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
        400,
        'MANIFEST_INVALID',
      );
      await expectError(await client.putManifest('invalid/schema1', 'v1', schema1, 'application/json'), 400, 'MANIFEST_INVALID');
    });

    it('answers a body that is not JSON with 400 MANIFEST_INVALID', async () => {
      await expectError(await client.putManifest('invalid/json', 'v1', '{"schemaVersion": 2,'), 400, 'MANIFEST_INVALID');
      await expectError(await client.putManifest('invalid/json', 'v1', '[1, 2]'), 400, 'MANIFEST_INVALID');
    });

    it('answers a schemaVersion other than 2 with 400 MANIFEST_INVALID', async () => {
      const manifest = JSON.parse(await newManifest('invalid/schema-version')) as Record<string, unknown>;
      for (const schemaVersion of [3, '2', undefined]) {
        const bytes = JSON.stringify({ ...manifest, schemaVersion });
        await expectError(await client.putManifest('invalid/schema-version', 'v1', bytes), 400, 'MANIFEST_INVALID');
      }
    });

    it('answers a Content-Type that contradicts the body\'s mediaType with 400 MANIFEST_INVALID', async () => {
      const bytes = await newManifest('invalid/contradiction');
      await expectError(await client.putManifest('invalid/contradiction', 'v1', bytes, DOCKER_MANIFEST), 400, 'MANIFEST_INVALID');
      await expectError(await client.putManifest('invalid/contradiction', 'v1', bytes, OCI_INDEX), 400, 'MANIFEST_INVALID');
    });

    it('answers an image manifest without a config with 400 MANIFEST_INVALID', async () => {
      const bytes = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] });
      await expectError(await client.putManifest('invalid/no-config', 'v1', bytes), 400, 'MANIFEST_INVALID');
    });

    it('answers a descriptor with a malformed digest with 400 MANIFEST_INVALID', async () => {
      const { layer } = await pushParts('invalid/descriptor');
      const bytes = imageManifest({ mediaType: OCI_CONFIG, digest: 'sha256:nothex', size: 2 }, [layer]);
      await expectError(await client.putManifest('invalid/descriptor', 'v1', bytes), 400, 'MANIFEST_INVALID');
    });

    it(`accepts a manifest of exactly ${MAX_MANIFEST_BYTES} bytes (the spec asks for at least 4 MB)`, async () => {
      const bytes = padTo(await newManifest('size/at-limit'), MAX_MANIFEST_BYTES);
      await client.pushManifest('size/at-limit', 'big', bytes);
      const res = await client.getManifest('size/at-limit', 'big');
      assert.equal(res.headers.get('content-length'), String(MAX_MANIFEST_BYTES));
      assert.equal(await res.text(), bytes);
    });

    it('answers a body over 4 MiB with 413 TOO_LARGE', async () => {
      const bytes = padTo(await newManifest('size/over-limit'), MAX_MANIFEST_BYTES + 1);
      await expectError(await client.putManifest('size/over-limit', 'big', bytes), 413, 'TOO_LARGE');
    });

    it('answers a chunked body over 4 MiB (no Content-Length) with 413 TOO_LARGE', async () => {
      const bytes = Buffer.from(padTo(await newManifest('size/chunked'), MAX_MANIFEST_BYTES + 64 * 1024));
      const chunks = Array.from({ length: 10 }, (_, i) => bytes.subarray(Math.floor((i * bytes.length) / 10), Math.floor(((i + 1) * bytes.length) / 10)));
      const res = await client.raw({ method: 'PUT', path: '/v2/size/chunked/manifests/big', headers: { 'Content-Type': OCI_MANIFEST }, chunks });
      await expectError(res, 413, 'TOO_LARGE');
    });
  });

  describe('manifest kinds', () => {
    it('takes a Docker schema 2 manifest and serves it as such', async () => {
      const { config, layer } = await pushParts('kinds/docker', DOCKER_CONFIG, DOCKER_LAYER);
      const bytes = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] }, null, 3);
      await client.pushManifest('kinds/docker', 'v1', bytes, DOCKER_MANIFEST);
      await expectManifest(await client.getManifest('kinds/docker', 'v1', DOCKER_MANIFEST), bytes, DOCKER_MANIFEST);
    });

    it('takes a Docker manifest list over pushed manifests', async () => {
      const { config, layer } = await pushParts('kinds/docker-list', DOCKER_CONFIG, DOCKER_LAYER);
      const child = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] });
      await client.pushManifest('kinds/docker-list', sha256(child), child, DOCKER_MANIFEST);
      const bytes = JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST_LIST,
        manifests: [descriptor(DOCKER_MANIFEST, child, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } })],
      });
      await client.pushManifest('kinds/docker-list', 'multi', bytes, DOCKER_MANIFEST_LIST);
      await expectManifest(await client.getManifest('kinds/docker-list', 'multi', DOCKER_MANIFEST_LIST), bytes, DOCKER_MANIFEST_LIST);
    });

    it('takes an OCI index over pushed manifests', async () => {
      const amd64 = await newManifest('kinds/oci-index');
      const arm64 = await newManifest('kinds/oci-index');
      await client.pushManifest('kinds/oci-index', sha256(amd64), amd64);
      await client.pushManifest('kinds/oci-index', sha256(arm64), arm64);
      const bytes = imageIndex([
        descriptor(OCI_MANIFEST, amd64, { platform: { os: 'linux', architecture: 'amd64' } }),
        descriptor(OCI_MANIFEST, arm64, { platform: { os: 'linux', architecture: 'arm64' } }),
      ]);
      await client.pushManifest('kinds/oci-index', 'multi', bytes, OCI_INDEX);
      await expectManifest(await client.getManifest('kinds/oci-index', 'multi', OCI_INDEX), bytes, OCI_INDEX);
    });

    it('takes an artifact with artifactType and the empty config', async () => {
      const empty = await client.pushBlob('kinds/artifact', '{}');
      assert.equal(empty, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
      await client.pushBlob('kinds/artifact', 'signature bytes');
      const bytes = imageManifest(
        descriptor(OCI_EMPTY, '{}', { data: 'e30=' }),
        [descriptor('application/vnd.example.signature', 'signature bytes')],
        { artifactType: 'application/vnd.example.signature.v1' },
      );
      await client.pushManifest('kinds/artifact', 'sig', bytes);
      await expectManifest(await client.getManifest('kinds/artifact', 'sig'), bytes, OCI_MANIFEST);
    });

    it('takes a sha512 digest reference end to end: push, Location, get, head, delete', async () => {
      const bytes = await newManifest('kinds/sha512');
      const digest = sha512(bytes);
      const res = await client.putManifest('kinds/sha512', digest, bytes);
      await expectManifestCreated(res, 'kinds/sha512', digest);
      const got = await client.getManifest('kinds/sha512', digest);
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('docker-content-digest'), digest);
      assert.equal(await got.text(), bytes);
      assert.equal((await client.headManifest('kinds/sha512', digest)).status, 200);
      assert.equal((await client.deleteManifest('kinds/sha512', digest)).status, 202);
      await expectError(await client.getManifest('kinds/sha512', digest), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('sha512 content', () => {
    it('takes a manifest whose config and layers are sha512 blobs', async () => {
      const config = JSON.stringify({ architecture: 'arm64', os: 'linux' });
      const layer = 'a sha512 layer';
      await client.pushBlob('sha512/parts', config, 'sha512');
      await client.pushBlob('sha512/parts', layer, 'sha512');
      const bytes = imageManifest(
        { mediaType: OCI_CONFIG, digest: sha512(config), size: Buffer.byteLength(config) },
        [{ mediaType: OCI_LAYER, digest: sha512(layer), size: Buffer.byteLength(layer) }],
      );
      await client.pushManifest('sha512/parts', 'v1', bytes);
      await expectManifest(await client.getManifest('sha512/parts', 'v1'), bytes, OCI_MANIFEST);
    });

    it('answers a sha512 descriptor of a blob pushed only as sha256 with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const config = JSON.stringify({ architecture: 'arm64', os: 'linux', only: 'sha256' });
      const { layer } = await pushParts('sha512/mixed');
      await client.pushBlob('sha512/mixed', config);
      const bytes = imageManifest({ mediaType: OCI_CONFIG, digest: sha512(config), size: Buffer.byteLength(config) }, [layer]);
      await expectError(await client.putManifest('sha512/mixed', 'v1', bytes), 400, 'MANIFEST_BLOB_UNKNOWN');
    });
  });

  describe('?digest= on a push by tag (the spec draft: the client chooses the algorithm)', () => {
    it('digests the manifest with sha512 when ?digest= is a sha512 digest, and answers with it', async () => {
      const bytes = await newManifest('digest-param/sha512');
      const digest = sha512(bytes);
      const res = await client.fetch(`/v2/digest-param/sha512/manifests/v1?digest=${digest}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
      await expectManifestCreated(res, 'digest-param/sha512', digest);
      const pulled = await client.getManifest('digest-param/sha512', 'v1');
      assert.equal(pulled.headers.get('docker-content-digest'), digest);
      const byDigest = await client.getManifest('digest-param/sha512', digest);
      assert.equal(byDigest.headers.get('docker-content-digest'), digest);
      assert.equal(await byDigest.text(), bytes);
      await expectError(await client.getManifest('digest-param/sha512', sha256(bytes)), 404, 'MANIFEST_UNKNOWN');
    });

    it('takes a matching sha256 ?digest= too', async () => {
      const bytes = await newManifest('digest-param/sha256');
      const res = await client.fetch(`/v2/digest-param/sha256/manifests/v1?digest=${sha256(bytes)}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
      await expectManifestCreated(res, 'digest-param/sha256', sha256(bytes));
    });

    it('answers a ?digest= that does not match the body, or an unsupported algorithm, with 400 DIGEST_INVALID and stores nothing', async () => {
      const bytes = await newManifest('digest-param/bad');
      for (const digest of [sha512('other bytes'), sha256('other bytes'), `sha384:${'a'.repeat(96)}`, 'sha512:short']) {
        const res = await client.fetch(`/v2/digest-param/bad/manifests/v1?digest=${digest}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
        await expectError(res, 400, 'DIGEST_INVALID');
      }
      await expectError(await client.getManifest('digest-param/bad', 'v1'), 404, 'MANIFEST_UNKNOWN');
    });

    it('pushed by digest, wants ?digest= to name the same digest', async () => {
      const bytes = await newManifest('digest-param/by-digest');
      const ok = await client.fetch(`/v2/digest-param/by-digest/manifests/${sha512(bytes)}?digest=${sha512(bytes)}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
      await expectManifestCreated(ok, 'digest-param/by-digest', sha512(bytes));
      const other = await client.fetch(`/v2/digest-param/by-digest/manifests/${sha256(bytes)}?digest=${sha512(bytes)}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: bytes });
      await expectError(other, 400, 'DIGEST_INVALID');
    });
  });

  describe('GET and HEAD', () => {
    let bytes: string;
    let digest: string;
    before(async () => {
      bytes = await newManifest('get/image');
      digest = await client.pushManifest('get/image', 'latest', bytes);
    });

    it('GET by tag serves the bytes with the pushed media type', async () => {
      await expectManifest(await client.getManifest('get/image', 'latest'), bytes, OCI_MANIFEST);
    });

    it('GET by digest serves the bytes with the pushed media type', async () => {
      await expectManifest(await client.getManifest('get/image', digest), bytes, OCI_MANIFEST);
    });

    for (const reference of ['tag', 'digest'] as const) {
      it(`HEAD by ${reference} answers 200 with Content-Type, Content-Length, Docker-Content-Digest and no body`, async () => {
        const res = await client.headManifest('get/image', reference === 'tag' ? 'latest' : digest, OCI_MANIFEST);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
        assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(bytes)));
        assert.equal(res.headers.get('docker-content-digest'), digest);
        assert.equal(await res.text(), '');
      });
    }

    it('answers an unknown tag with 404 MANIFEST_UNKNOWN', async () => {
      await expectError(await client.getManifest('get/image', 'nope'), 404, 'MANIFEST_UNKNOWN');
      await expectHeadError(await client.headManifest('get/image', 'nope'), 404);
    });

    it('answers an unknown digest with 404 MANIFEST_UNKNOWN', async () => {
      await expectError(await client.getManifest('get/image', UNKNOWN_DIGEST), 404, 'MANIFEST_UNKNOWN');
    });

    it('answers the invalid tag .INVALID_MANIFEST_NAME with 404 on GET and HEAD (conformance PULL-11, PULL-15)', async () => {
      await expectError(await client.getManifest('get/image', '.INVALID_MANIFEST_NAME', OCI_MANIFEST), 404, 'MANIFEST_UNKNOWN');
      await expectHeadError(await client.headManifest('get/image', '.INVALID_MANIFEST_NAME', OCI_MANIFEST), 404);
    });

    it('answers a malformed digest reference with 404 MANIFEST_UNKNOWN (conformance PULL-19 takes 400 or 404)', async () => {
      await expectError(await client.getManifest('get/image', 'sha256:totallywrong'), 404, 'MANIFEST_UNKNOWN');
    });

    it('does not serve a manifest of another repository', async () => {
      await client.pushBlob('get/other', 'make the repository exist');
      await expectError(await client.getManifest('get/other', digest), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.getManifest('get/other', 'latest'), 404, 'MANIFEST_UNKNOWN');
    });

    it('answers a repository the registry does not know with 404 NAME_UNKNOWN', async () => {
      await expectError(await client.getManifest('get/never-pushed', 'latest'), 404, 'NAME_UNKNOWN');
      await expectError(await client.getManifest('get/never-pushed', digest), 404, 'NAME_UNKNOWN');
      await expectHeadError(await client.headManifest('get/never-pushed', 'latest'), 404);
    });

    it('answers If-None-Match with its ETag with 304', async () => {
      const res = await client.fetch(`/v2/get/image/manifests/latest`, { headers: { 'If-None-Match': `"${digest}"` } });
      assert.equal(res.status, 304);
      assert.equal(res.headers.get('etag'), `"${digest}"`);
    });
  });

  describe('Accept negotiation', () => {
    let bytes: string;
    let digest: string;
    before(async () => {
      bytes = await newManifest('accept/image');
      digest = await client.pushManifest('accept/image', 'latest', bytes);
    });

    it('serves a tag when the Accept header lists its type among several, joined with ", " and with q params', async () => {
      const accept = [`${DOCKER_MANIFEST}`, `${DOCKER_MANIFEST_LIST};q=0.9`, `${OCI_MANIFEST}; q=0.5`, OCI_INDEX];
      await expectManifest(await client.getManifest('accept/image', 'latest', accept), bytes, OCI_MANIFEST);
    });

    it('serves a tag to Accept: */* and to no Accept header', async () => {
      await expectManifest(await client.getManifest('accept/image', 'latest', '*/*'), bytes, OCI_MANIFEST);
      await expectManifest(await client.getManifest('accept/image', 'latest'), bytes, OCI_MANIFEST);
    });

    it('answers a tag whose type the Accept header does not list with 404 MANIFEST_UNKNOWN', async () => {
      await expectError(await client.getManifest('accept/image', 'latest', [DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]), 404, 'MANIFEST_UNKNOWN');
      await expectHeadError(await client.headManifest('accept/image', 'latest', DOCKER_MANIFEST), 404);
    });

    it('treats a type weighted q=0 as not acceptable (RFC 9110 §12.4.2)', async () => {
      await expectError(await client.getManifest('accept/image', 'latest', [`${OCI_MANIFEST};q=0`, DOCKER_MANIFEST]), 404, 'MANIFEST_UNKNOWN');
    });

    it('always serves a manifest asked for by digest, whatever the Accept header says', async () => {
      await expectManifest(await client.getManifest('accept/image', digest, DOCKER_MANIFEST), bytes, OCI_MANIFEST);
    });
  });

  describe('tags', () => {
    it('overwriting a tag points it at the new manifest', async () => {
      const first = await newManifest('tags/overwrite');
      const second = await newManifest('tags/overwrite');
      await client.pushManifest('tags/overwrite', 'latest', first);
      await client.pushManifest('tags/overwrite', 'latest', second);
      await expectManifest(await client.getManifest('tags/overwrite', 'latest'), second, OCI_MANIFEST);
      await expectManifest(await client.getManifest('tags/overwrite', sha256(first)), first, OCI_MANIFEST);
    });

    it('keeps tags that differ only in case apart ("Latest" and "latest")', async () => {
      const lower = await newManifest('tags/case');
      const upper = await newManifest('tags/case');
      await client.pushManifest('tags/case', 'latest', lower);
      await client.pushManifest('tags/case', 'Latest', upper);
      await expectManifest(await client.getManifest('tags/case', 'latest'), lower, OCI_MANIFEST);
      await expectManifest(await client.getManifest('tags/case', 'Latest'), upper, OCI_MANIFEST);
      assert.deepEqual((await client.listTags('tags/case')).tags, ['Latest', 'latest']);
      assert.equal((await client.deleteManifest('tags/case', 'Latest')).status, 202);
      await expectManifest(await client.getManifest('tags/case', 'latest'), lower, OCI_MANIFEST);
    });
  });

  describe('DELETE', () => {
    it('by tag answers 202 and untags only: the digest is still served', async () => {
      const bytes = await newManifest('delete/tag');
      const digest = await client.pushManifest('delete/tag', 'v1', bytes);
      const res = await client.deleteManifest('delete/tag', 'v1');
      assert.equal(res.status, 202);
      await expectError(await client.getManifest('delete/tag', 'v1'), 404, 'MANIFEST_UNKNOWN');
      await expectManifest(await client.getManifest('delete/tag', digest), bytes, OCI_MANIFEST);
    });

    it('by digest answers 202 and removes the manifest and every tag pointing to it', async () => {
      const bytes = await newManifest('delete/digest');
      const digest = await client.pushManifest('delete/digest', 'v1', bytes);
      await client.pushManifest('delete/digest', 'v1.0', bytes);
      const keep = await newManifest('delete/digest');
      await client.pushManifest('delete/digest', 'other', keep);

      assert.equal((await client.deleteManifest('delete/digest', digest)).status, 202);
      await expectError(await client.getManifest('delete/digest', digest), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.getManifest('delete/digest', 'v1'), 404, 'MANIFEST_UNKNOWN');
      await expectError(await client.getManifest('delete/digest', 'v1.0'), 404, 'MANIFEST_UNKNOWN');
      assert.deepEqual((await client.listTags('delete/digest')).tags, ['other']);
    });

    it('by digest a second time answers 404 MANIFEST_UNKNOWN', async () => {
      const bytes = await newManifest('delete/twice');
      const digest = await client.pushManifest('delete/twice', sha256(bytes), bytes);
      assert.equal((await client.deleteManifest('delete/twice', digest)).status, 202);
      await expectError(await client.deleteManifest('delete/twice', digest), 404, 'MANIFEST_UNKNOWN');
    });

    it('of an unknown tag answers 404 MANIFEST_UNKNOWN', async () => {
      await client.pushManifest('delete/unknown-tag', 'v1', await newManifest('delete/unknown-tag'));
      await expectError(await client.deleteManifest('delete/unknown-tag', 'v2'), 404, 'MANIFEST_UNKNOWN');
    });

    it('in a repository the registry does not know answers 404 NAME_UNKNOWN', async () => {
      await expectError(await client.deleteManifest('delete/never-pushed', UNKNOWN_DIGEST), 404, 'NAME_UNKNOWN');
      await expectError(await client.deleteManifest('delete/never-pushed', 'latest'), 404, 'NAME_UNKNOWN');
    });
  });
});

/** Grows a manifest to exactly `size` bytes with an annotation (still valid JSON, still the same image). */
function padTo(manifestJson: string, size: number): string {
  const manifest = JSON.parse(manifestJson) as Record<string, unknown>;
  const skeleton = JSON.stringify({ ...manifest, annotations: { 'org.example.padding': '' } });
  const padding = 'x'.repeat(size - Buffer.byteLength(skeleton));
  const bytes = JSON.stringify({ ...manifest, annotations: { 'org.example.padding': padding } });
  assert.equal(Buffer.byteLength(bytes), size);
  return bytes;
}
