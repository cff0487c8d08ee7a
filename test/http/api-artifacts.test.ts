/**
 * What is attached to an image (issue 15), pushed through the registry API as real clients push them:
 * an SPDX SBOM and an attestation with a `subject` (referrers API), a CycloneDX SBOM and a cosign
 * signature under cosign's tag schema, a Notation signature with an x5c certificate; the signature is
 * verified with a key the test makes, and refused with another.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ArtifactsView, SbomView, VerifyView } from '../../server/registry/inspect-types.ts';
import { CYCLONEDX_DOC, SPDX_DOC, cosignSignature, pushArtifact as pushTo, pushBuildxIndex } from '../fixtures/artifacts.ts';
import { layer, pushImage } from '../fixtures/layers.ts';
import { startApiServer, type ApiTestServer } from '../helpers/api-client.ts';
import { skipUnless } from '../helpers/tools.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

describe('artifacts attached to an image', () => {
  let t: ApiTestServer;
  let digest: string;
  let size: number;
  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const otherKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const repo = 'signed/app';
  const pushArtifact = (server: ApiTestServer, r: string, options: Parameters<typeof pushTo>[2]) => pushTo(server.registry, r, options);

  before(async () => {
    t = await startApiServer();
    digest = await pushImage(t.registry, repo, 'v1', { layers: [await layer([{ name: 'app.txt', content: 'app\n' }])] });
    size = (await (await t.registry.getManifest(repo, digest)).arrayBuffer()).byteLength;
  });
  after(async () => {
    await t.server.close({ remove: true });
  });

  it('finds SBOMs, attestations and signatures through the referrers API and the cosign tag schema', async () => {
    const spdx = await pushArtifact(t, repo, { subject: { digest, size }, artifactType: 'application/spdx+json', layers: [{ mediaType: 'application/spdx+json', bytes: Buffer.from(JSON.stringify(SPDX_DOC)) }] });
    const hex = digest.slice(7);
    const cdx = await pushArtifact(t, repo, { tag: `sha256-${hex}.sbom`, layers: [{ mediaType: 'application/vnd.cyclonedx+json', bytes: Buffer.from(JSON.stringify(CYCLONEDX_DOC)) }] });
    const statement = { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: repo, digest: { sha256: hex } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {
      buildDefinition: { buildType: 'https://actions.github.io/buildtypes/workflow/v1', resolvedDependencies: [{ uri: 'git+https://example.com/app@refs/heads/main' }] },
      runDetails: { builder: { id: 'https://github.com/actions/runner' }, metadata: { startedOn: '2026-01-01T00:00:00Z', finishedOn: '2026-01-01T00:02:00Z' } },
    } };
    const envelope = { payloadType: 'application/vnd.in-toto+json', payload: Buffer.from(JSON.stringify(statement)).toString('base64'), signatures: [] };
    const att = await pushArtifact(t, repo, { subject: { digest, size }, artifactType: 'application/vnd.in-toto+json', layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', bytes: Buffer.from(JSON.stringify(envelope)), annotations: { predicateType: statement.predicateType } }] });
    const { payload, signature } = cosignSignature(digest, `localhost/${repo}`, keys.privateKey);
    const sig = await pushArtifact(t, repo, { tag: `sha256-${hex}.sig`, layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', bytes: payload, annotations: { 'dev.cosignproject.cosign/signature': signature } }] });

    const view = await t.api.json<ArtifactsView>(`/api/repositories/${repo}/-/manifests/v1/artifacts`);
    const byDigest = new Map(view.artifacts.map((a) => [a.digest, a]));
    assert.deepEqual(view.counts, { signature: 1, sbom: 2, attestation: 1, other: 0 });
    assert.deepEqual([byDigest.get(spdx)!.kind, byDigest.get(spdx)!.via, byDigest.get(spdx)!.sbom], ['sbom', 'referrers', { format: 'spdx', packages: 3, name: 'demo-image' }]);
    assert.deepEqual([byDigest.get(cdx)!.kind, byDigest.get(cdx)!.via, byDigest.get(cdx)!.tag], ['sbom', 'tag', `sha256-${hex}.sbom`]);
    assert.deepEqual([byDigest.get(att)!.kind, byDigest.get(att)!.predicateTypes], ['attestation', ['https://slsa.dev/provenance/v1']]);
    assert.deepEqual(byDigest.get(att)!.provenance, {
      builder: 'https://github.com/actions/runner', buildType: 'https://actions.github.io/buildtypes/workflow/v1',
      started: '2026-01-01T00:00:00Z', finished: '2026-01-01T00:02:00Z', materials: ['git+https://example.com/app@refs/heads/main'],
    });
    const cosign = byDigest.get(sig)!;
    assert.equal(cosign.kind, 'signature');
    assert.deepEqual([cosign.signatures[0]!.format, cosign.signatures[0]!.signedDigest, cosign.signatures[0]!.identity, cosign.signatures[0]!.details], ['cosign', digest, `localhost/${repo}`, { creator: 'berth tests' }]);

    const spdxTable = await t.api.json<SbomView>(`/api/repositories/${repo}/-/manifests/v1/sbom/${spdx}`);
    assert.deepEqual(spdxTable.packages.map((p) => [p.name, p.version, p.licenses, p.purl, p.supplier]), [
      ['busybox', '1.36.1', ['GPL-2.0-only'], null, null],
      ['openssl', '3.0.13', ['Apache-2.0'], 'pkg:deb/debian/openssl@3.0.13', 'Debian'],
      ['zlib', '1.3', [], null, null],
    ]);
    assert.deepEqual(spdxTable.tools, ['syft-1.0.0']);
    const cdxTable = await t.api.json<SbomView>(`/api/repositories/${repo}/-/manifests/v1/sbom/${cdx}`);
    assert.deepEqual(cdxTable.packages.map((p) => [p.name, p.version, p.licenses]), [['express', '4.19.2', ['MIT']], ['qs', '6.11.0', ['BSD-3-Clause']]]);
    assert.equal((await t.api.fetch(`/api/repositories/${repo}/-/manifests/v1/sbom/${sig}`)).status, 404);
  });

  it('verifies the cosign signature with the right key and refuses another', async () => {
    const pem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const good = await t.api.json<VerifyView>(`/api/repositories/${repo}/-/manifests/v1/verify`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ publicKey: pem }) });
    assert.equal(good.verified, true);
    assert.deepEqual(good.results.map((r) => [r.verified, r.reason]), [[true, null]]);
    const otherPem = otherKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const bad = await t.api.json<VerifyView>(`/api/repositories/${repo}/-/manifests/v1/verify`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ publicKey: otherPem }) });
    assert.equal(bad.verified, false);
    assert.equal(bad.results[0]!.reason, 'the signature does not match this key');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const refused = await t.api.fetch(`/api/repositories/${repo}/-/manifests/v1/verify`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ publicKey: rsa }) });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /ECDSA P-256/);
  });

  it('a signature over another image does not verify for this one', async () => {
    const other = await pushImage(t.registry, repo, 'v2', { layers: [await layer([{ name: 'v2.txt', content: 'v2\n' }])] });
    // Signed with the right key, but the payload names v1: copied onto v2's signature tag.
    const { payload, signature } = cosignSignature(digest, `localhost/${repo}`, keys.privateKey);
    await pushArtifact(t, repo, { tag: `sha256-${other.slice(7)}.sig`, layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', bytes: payload, annotations: { 'dev.cosignproject.cosign/signature': signature } }] });
    const pem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const result = await t.api.json<VerifyView>(`/api/repositories/${repo}/-/manifests/v2/verify`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ publicKey: pem }) });
    assert.equal(result.verified, false);
    assert.match(result.results[0]!.reason!, /names sha256:[0-9a-f]{64}, not/);
  });

  it('shows a Notation signature with its signer certificate', { skip: skipUnless('openssl') }, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-notation-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '30', '-subj', '/C=US/O=Berth Tests/CN=release-signer'], { stdio: 'ignore' });
      const der = execFileSync('openssl', ['x509', '-in', path.join(dir, 'cert.pem'), '-outform', 'DER']);
      const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const jws = {
        payload: b64url({ targetArtifact: { mediaType: OCI_MANIFEST, digest, size } }),
        protected: b64url({ alg: 'ES256', cty: 'application/vnd.cncf.notary.payload.v1+json', 'io.cncf.notary.signingScheme': 'notary.x509', 'io.cncf.notary.signingTime': '2026-01-01T00:00:00Z' }),
        header: { x5c: [der.toString('base64')], 'io.cncf.notary.signingAgent': 'notation-go/1.1.0' },
        signature: 'c2lnbmF0dXJl',
      };
      const notation = await pushArtifact(t, repo, { subject: { digest, size }, artifactType: 'application/vnd.cncf.notary.signature', layers: [{ mediaType: 'application/jose+json', bytes: Buffer.from(JSON.stringify(jws)) }] });
      const view = await t.api.json<ArtifactsView>(`/api/repositories/${repo}/-/manifests/v1/artifacts`);
      const found = view.artifacts.find((a) => a.digest === notation)!;
      assert.equal(found.kind, 'signature');
      const s = found.signatures[0]!;
      assert.equal(s.format, 'notation');
      assert.equal(s.signedDigest, digest);
      assert.match(s.certificate!.subject, /CN=release-signer/);
      assert.deepEqual([s.details.signingAgent, s.details.signingScheme, s.details.signingTime], ['notation-go/1.1.0', 'notary.x509', '2026-01-01T00:00:00Z']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('lists the attestations BuildKit puts in an image index: SBOM and provenance, per platform', async () => {
    const multi = 'signed/multi';
    const images = [];
    for (const architecture of ['amd64', 'arm64']) {
      const platform = { os: 'linux', architecture };
      const d = await pushImage(t.registry, multi, `only-${architecture}`, { platform, layers: [await layer([{ name: `${architecture}.txt`, content: `${architecture}\n` }])] });
      images.push({ digest: d, size: (await (await t.registry.getManifest(multi, d)).arrayBuffer()).byteLength, platform });
    }
    const { attestations } = await pushBuildxIndex(t.registry, multi, 'v1', images);

    const ofIndex = await t.api.json<ArtifactsView>(`/api/repositories/${multi}/-/manifests/v1/artifacts`);
    assert.deepEqual(ofIndex.counts, { signature: 0, sbom: 2, attestation: 0, other: 0 }, 'an attestation with an SBOM predicate counts as an SBOM');
    assert.deepEqual(ofIndex.artifacts.map((a) => [a.digest, a.via, a.attests]), [
      [attestations[0], 'index', { digest: images[0]!.digest, platform: 'linux/amd64' }],
      [attestations[1], 'index', { digest: images[1]!.digest, platform: 'linux/arm64' }],
    ]);
    const amd = ofIndex.artifacts[0]!;
    assert.deepEqual(amd.predicateTypes, ['https://spdx.dev/Document', 'https://slsa.dev/provenance/v0.2']);
    assert.deepEqual(amd.sbom, { format: 'spdx', packages: 3, name: 'sbom-amd64' });
    assert.deepEqual(amd.provenance, {
      builder: 'https://github.com/docker/buildx', buildType: 'https://mobyproject.org/buildkit@v1',
      started: '2026-01-01T00:00:00Z', finished: '2026-01-01T00:01:00Z', materials: ['pkg:docker/debian@bookworm?platform=linux%2Famd64'],
    });
    const table = await t.api.json<SbomView>(`/api/repositories/${multi}/-/manifests/v1/sbom/${attestations[1]}`);
    assert.deepEqual([table.name, table.packages.map((p) => p.name)], ['sbom-arm64', ['busybox', 'openssl', 'zlib']]);

    // Asked about one platform's image, only its own attestation is listed (found through the index).
    const ofArm = await t.api.json<ArtifactsView>(`/api/repositories/${multi}/-/manifests/${images[1]!.digest}/artifacts`);
    assert.deepEqual(ofArm.artifacts.map((a) => [a.digest, a.via, a.sbom?.name]), [[attestations[1], 'index', 'sbom-arm64']]);
    // The attestation manifests are not platforms to browse.
    const files = await t.api.fetch(`/api/repositories/${multi}/-/manifests/v1/files`);
    assert.equal(files.status, 400);
    assert.match(await files.text(), /pick a platform \(linux\/amd64, linux\/arm64\)/);
  });
});
