/**
 * GET /v2/<name>/referrers/<digest> and the OCI-Subject header (spec "Listing Referrers", "Pushing
 * Manifests with Subject"; end-12a, end-12b), following the conformance suite's discovery scenario:
 * referrers pushed by digest before their subject exists, an index with a subject, custom config
 * media types, and a subject that is never pushed at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Client,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  UNKNOWN_DIGEST,
  descriptor,
  expectError,
  imageIndex,
  imageManifest,
  sha256,
  type Descriptor,
} from '../helpers/registry-client.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const REPO = 'discovery/referrers';
const ANNOTATION = 'org.opencontainers.conformance.test';
const BAGEL = 'application/vnd.nhl.peanut.butter.bagel';
const CROISSANT = 'application/vnd.nba.strawberry.jam.croissant';
const FOOD_STAND = 'application/vnd.food.stand';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: (Descriptor & { artifactType?: string; annotations?: Record<string, string> })[] | null;
}

interface Pushed {
  bytes: string;
  digest: string;
  /** The answer to its PUT. */
  res: Response;
}

describe('referrers', () => {
  let server: TestServer;
  let client: Client;
  const empty = descriptor(OCI_EMPTY, '{}');
  /** The subject (conformance manifests[4]); pushed after its first referrers. */
  let subject: Pushed;
  /** A subject that is never pushed (conformance manifests[3]). */
  let absentSubject: Descriptor;
  let refsAConfig: Pushed;
  let refsALayer: Pushed;
  let refsIndex: Pushed;
  let refsBConfig: Pushed;
  let refsBLayer: Pushed;
  let refsCLayer: Pushed;

  async function putByDigest(bytes: string, mediaType = OCI_MANIFEST): Promise<Pushed> {
    const digest = sha256(bytes);
    const res = await client.putManifest(REPO, digest, bytes, mediaType);
    assert.equal(res.status, 201, await res.clone().text());
    return { bytes, digest, res };
  }

  async function listReferrers(digest: string, query = ''): Promise<{ res: Response; index: ReferrersIndex }> {
    const res = await client.fetch(`/v2/${REPO}/referrers/${digest}${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('content-type'), OCI_INDEX, 'exactly the index media type, no parameters');
    return { res, index: (await res.json()) as ReferrersIndex };
  }

  before(async () => {
    server = await startServer();
    client = new Client(server.url);

    // The subject's bytes are known before it is pushed, so referrers can name it first.
    const config4 = JSON.stringify({ architecture: 'amd64', os: 'linux', author: 'subject' }, null, '\t');
    const layer = 'the shared layer';
    const subjectBytes = imageManifest(descriptor('application/vnd.oci.image.config.v1+json', config4), [
      descriptor('application/vnd.oci.image.layer.v1.tar+gzip', layer),
    ]);
    const subjectDescriptor = descriptor(OCI_MANIFEST, subjectBytes);
    absentSubject = descriptor(OCI_MANIFEST, imageManifest(empty, [], { never: 'pushed' }));

    await client.pushBlob(REPO, '{}');
    await client.pushBlob(REPO, 'NHL Peanut Butter on my NHL bagel');
    refsAConfig = await putByDigest(
      imageManifest({ ...empty, mediaType: BAGEL }, [empty], { subject: subjectDescriptor, annotations: { [ANNOTATION]: 'test config a' } }),
    );
    refsALayer = await putByDigest(
      imageManifest(empty, [descriptor(BAGEL, 'NHL Peanut Butter on my NHL bagel')], {
        artifactType: BAGEL,
        subject: subjectDescriptor,
        annotations: { [ANNOTATION]: 'test layer a' },
      }),
    );
    refsIndex = await putByDigest(
      imageIndex([descriptor(OCI_MANIFEST, refsAConfig.bytes), descriptor(OCI_MANIFEST, refsALayer.bytes)], {
        artifactType: FOOD_STAND,
        subject: subjectDescriptor,
        annotations: { [ANNOTATION]: 'test index' },
      }),
      OCI_INDEX,
    );

    await client.pushBlob(REPO, config4);
    await client.pushBlob(REPO, layer);
    const res = await client.putManifest(REPO, 'tagtest0', subjectBytes);
    assert.equal(res.status, 201);
    subject = { bytes: subjectBytes, digest: sha256(subjectBytes), res };

    await client.pushBlob(REPO, 'NBA Strawberry Jam on my NBA croissant');
    refsBConfig = await putByDigest(
      imageManifest({ ...empty, mediaType: CROISSANT }, [empty], { subject: subjectDescriptor, annotations: { [ANNOTATION]: 'test config b' } }),
    );
    const croissant = descriptor(CROISSANT, 'NBA Strawberry Jam on my NBA croissant');
    refsBLayer = await putByDigest(
      imageManifest(empty, [croissant], { artifactType: CROISSANT, subject: subjectDescriptor, annotations: { [ANNOTATION]: 'test layer b' } }),
    );
    refsCLayer = await putByDigest(imageManifest(empty, [croissant], { artifactType: CROISSANT, subject: absentSubject }));
  });
  after(() => server.close({ remove: true }));

  describe('OCI-Subject on PUT', () => {
    it('answers an image manifest whose subject was not pushed yet with 201 and OCI-Subject: <subject digest>', () => {
      assert.equal(refsAConfig.res.headers.get('oci-subject'), subject.digest);
      assert.equal(refsALayer.res.headers.get('oci-subject'), subject.digest);
    });

    it('answers an index with a subject with OCI-Subject too (conformance DISC-05 step 5)', () => {
      assert.equal(refsIndex.res.headers.get('oci-subject'), subject.digest);
    });

    it('answers referrers pushed after their subject with OCI-Subject', () => {
      assert.equal(refsBConfig.res.headers.get('oci-subject'), subject.digest);
      assert.equal(refsBLayer.res.headers.get('oci-subject'), subject.digest);
    });

    it('names a subject that is never pushed', () => {
      assert.equal(refsCLayer.res.headers.get('oci-subject'), absentSubject.digest);
    });

    it('does not send OCI-Subject for a manifest without a subject', () => {
      assert.equal(subject.res.headers.get('oci-subject'), null);
    });
  });

  describe('GET /v2/<name>/referrers/<digest>', () => {
    it('answers 200 with an image index of every manifest and index whose subject is the digest', async () => {
      const { index } = await listReferrers(subject.digest);
      assert.equal(index.schemaVersion, 2);
      assert.equal(index.mediaType, OCI_INDEX);
      const digests = (index.manifests ?? []).map((d) => d.digest).sort();
      const expected = [refsAConfig, refsALayer, refsIndex, refsBConfig, refsBLayer].map((p) => p.digest).sort();
      assert.deepEqual(digests, expected);
    });

    it('describes each referrer with its media type, digest and size', async () => {
      const { index } = await listReferrers(subject.digest);
      const byDigest = new Map((index.manifests ?? []).map((d) => [d.digest, d]));
      for (const [pushed, mediaType] of [[refsAConfig, OCI_MANIFEST], [refsIndex, OCI_INDEX]] as const) {
        const d = byDigest.get(pushed.digest)!;
        assert.equal(d.mediaType, mediaType);
        assert.equal(d.size, Buffer.byteLength(pushed.bytes));
      }
    });

    it('copies each referrer\'s annotations exactly, adding none', async () => {
      const { index } = await listReferrers(subject.digest);
      const annotations = new Map((index.manifests ?? []).map((d) => [d.digest, d.annotations]));
      assert.deepEqual(annotations.get(refsAConfig.digest), { [ANNOTATION]: 'test config a' });
      assert.deepEqual(annotations.get(refsALayer.digest), { [ANNOTATION]: 'test layer a' });
      assert.deepEqual(annotations.get(refsIndex.digest), { [ANNOTATION]: 'test index' });
      assert.deepEqual(annotations.get(refsBConfig.digest), { [ANNOTATION]: 'test config b' });
      assert.deepEqual(annotations.get(refsBLayer.digest), { [ANNOTATION]: 'test layer b' });
    });

    it('gives the manifest\'s artifactType, or for an image manifest without one its config media type', async () => {
      const { index } = await listReferrers(subject.digest);
      const types = new Map((index.manifests ?? []).map((d) => [d.digest, d.artifactType]));
      assert.equal(types.get(refsAConfig.digest), BAGEL);
      assert.equal(types.get(refsALayer.digest), BAGEL);
      assert.equal(types.get(refsIndex.digest), FOOD_STAND);
      assert.equal(types.get(refsBConfig.digest), CROISSANT);
      assert.equal(types.get(refsBLayer.digest), CROISSANT);
    });

    it('omits artifactType for an index that has none', async () => {
      const bytes = imageIndex([descriptor(OCI_MANIFEST, refsAConfig.bytes)], { subject: descriptor(OCI_MANIFEST, refsBLayer.bytes) });
      await putByDigest(bytes, OCI_INDEX);
      const { index } = await listReferrers(refsBLayer.digest);
      assert.equal(index.manifests?.length, 1);
      assert.equal(index.manifests![0]!.digest, sha256(bytes));
      assert.equal('artifactType' in index.manifests![0]!, false);
    });

    it('lists the referrer of a subject that was never pushed (conformance DISC-12)', async () => {
      const { index } = await listReferrers(absentSubject.digest);
      assert.deepEqual((index.manifests ?? []).map((d) => d.digest), [refsCLayer.digest]);
      assert.equal(index.manifests![0]!.annotations, undefined, 'a referrer without annotations has none');
    });

    it('answers a subject nobody refers to with 200 and an empty list, never 404', async () => {
      const { res, index } = await listReferrers(UNKNOWN_DIGEST);
      assert.deepEqual(index.manifests ?? [], []);
      assert.equal(res.headers.get('oci-filters-applied'), null);
    });

    it('does not list referrers pushed to another repository', async () => {
      await client.pushBlob('discovery/elsewhere', 'unrelated');
      const res = await client.fetch(`/v2/discovery/elsewhere/referrers/${subject.digest}`);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as ReferrersIndex).manifests ?? [], []);
    });

    it('lists a referrer pushed twice (by digest and by tag) once', async () => {
      const bytes = imageManifest(empty, [empty], { artifactType: 'application/vnd.example.twice', subject: descriptor(OCI_MANIFEST, refsBConfig.bytes) });
      await putByDigest(bytes);
      assert.equal((await client.putManifest(REPO, 'twice', bytes)).status, 201);
      const { index } = await listReferrers(refsBConfig.digest);
      assert.deepEqual((index.manifests ?? []).map((d) => d.digest), [sha256(bytes)]);
    });

    it('drops a referrer once it is deleted', async () => {
      const bytes = imageManifest(empty, [empty], { artifactType: 'application/vnd.example.doomed', subject: descriptor(OCI_MANIFEST, refsALayer.bytes) });
      const doomed = await putByDigest(bytes);
      assert.equal((await listReferrers(refsALayer.digest)).index.manifests?.length, 1);
      assert.equal((await client.deleteManifest(REPO, doomed.digest)).status, 202);
      assert.deepEqual((await listReferrers(refsALayer.digest)).index.manifests ?? [], []);
    });

    it('answers a malformed digest with 400 DIGEST_INVALID', async () => {
      for (const digest of ['sha256:nothex', 'latest', `sha256:${'A'.repeat(64)}`]) {
        await expectError(await client.fetch(`/v2/${REPO}/referrers/${digest}`), 400, 'DIGEST_INVALID');
      }
    });
  });

  describe('?artifactType= filter', () => {
    it('lists only referrers of that artifactType and says so with OCI-Filters-Applied: artifactType', async () => {
      const { res, index } = await listReferrers(subject.digest, `?artifactType=${encodeURIComponent(BAGEL)}`);
      assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
      const annotations = new Map((index.manifests ?? []).map((d) => [d.digest, d.annotations]));
      assert.deepEqual(
        annotations,
        new Map([
          [refsAConfig.digest, { [ANNOTATION]: 'test config a' }],
          [refsALayer.digest, { [ANNOTATION]: 'test layer a' }],
        ]),
      );
    });

    it('answers a type no referrer has with 200, an empty list and OCI-Filters-Applied', async () => {
      const { res, index } = await listReferrers(subject.digest, '?artifactType=application%2Fvnd.example.none');
      assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(index.manifests ?? [], []);
    });

    it('sends no OCI-Filters-Applied when no filter was asked for', async () => {
      const { res } = await listReferrers(subject.digest);
      assert.equal(res.headers.get('oci-filters-applied'), null);
    });
  });
});
