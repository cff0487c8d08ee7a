/** GET /api/repositories/<name>/-/manifests/<reference>: images, indexes, artifacts and referrers. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ImageDetail, RepositoryDetail } from '../../server/registry/api-types.ts';
import { ApiClient, FIXTURE_CONFIG, pushImageWith, startApiServer } from '../helpers/api-client.ts';
import { Client, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, descriptor, expectError, imageIndex, imageManifest, sha256 } from '../helpers/registry-client.ts';
import type { TestServer } from '../helpers/server.ts';
import { singleProcess } from '../helpers/server.ts';

describe('management API: images', () => {
  let server: TestServer;
  let registry: Client;
  let api: ApiClient;
  let image: Awaited<ReturnType<typeof pushImageWith>>;

  before(async () => {
    ({ server, registry, api } = await startApiServer());
    image = await pushImageWith(registry, 'shop/web', '1.0', { layers: ['first layer', 'second layer'] });
  });
  after(() => server.close({ remove: true }));

  it('shows an image: layers with media type and size, and what its config says', async () => {
    const detail = await api.json<ImageDetail>('/api/repositories/shop/web/-/manifests/1.0');
    assert.equal(detail.kind, 'image');
    assert.equal(detail.digest, image.digest);
    assert.equal(detail.mediaType, OCI_MANIFEST);
    assert.deepEqual(detail.tags, ['1.0']);
    assert.equal(detail.totalSize, image.size);
    assert.equal(detail.manifestSize, image.manifestSize);
    assert.equal(detail.raw, image.bytes, 'the manifest exactly as stored');
    assert.deepEqual(
      detail.layers.map((l) => [l.mediaType, l.size]),
      [['application/vnd.oci.image.layer.v1.tar+gzip', 11], ['application/vnd.oci.image.layer.v1.tar+gzip', 12]],
    );
    assert.equal(detail.config?.mediaType, 'application/vnd.oci.image.config.v1+json');
    const config = detail.image!;
    assert.equal(config.os, 'linux');
    assert.equal(config.architecture, 'amd64');
    assert.equal(config.created, '2026-01-02T03:04:05Z');
    assert.equal(config.user, FIXTURE_CONFIG.User);
    assert.equal(config.workingDir, FIXTURE_CONFIG.WorkingDir);
    assert.deepEqual(config.entrypoint, FIXTURE_CONFIG.Entrypoint);
    assert.deepEqual(config.cmd, FIXTURE_CONFIG.Cmd);
    assert.deepEqual(config.env, FIXTURE_CONFIG.Env);
    assert.deepEqual(config.labels, FIXTURE_CONFIG.Labels);
    assert.deepEqual(config.exposedPorts, ['8080/tcp', '9090/udp']);
    assert.deepEqual(config.volumes, ['/data']);
    assert.equal(config.stopSignal, 'SIGTERM');
    assert.deepEqual(config.history.map((h) => [h.createdBy, h.emptyLayer]), [
      ['ENV GREETING=hello world', true],
      ['COPY part0 /srv/app/', false],
      ['COPY part1 /srv/app/', false],
    ]);
    assert.ok(detail.pushedAt && !Number.isNaN(Date.parse(detail.pushedAt)));
  });

  it('answers the same by digest', async () => {
    const detail = await api.json<ImageDetail>(`/api/repositories/shop/web/-/manifests/${image.digest}`);
    assert.equal(detail.digest, image.digest);
    assert.deepEqual(detail.tags, ['1.0']);
  });

  it('does not count as a pull (only registry GETs do)', { skip: singleProcess("it counts the events its one server emits during three requests; in a cluster the replicas' events reach this process relayed, later, with no last one to wait for (test/cluster checks the relay)") }, async () => {
    const events: string[] = [];
    const off = server.registry.events.on('manifest-pulled', (e) => events.push(e.reference));
    await api.json(`/api/repositories/shop/web/-/manifests/1.0`);
    await registry.headManifest('shop/web', '1.0', OCI_MANIFEST);
    await registry.getManifest('shop/web', '1.0', OCI_MANIFEST);
    off();
    assert.deepEqual(events, ['1.0'], 'a GET is a pull; HEAD and the management API are not');
  });

  it('shows an index with each platform, and its children name it as parent', async () => {
    const amd = await pushImageWith(registry, 'shop/multi', null, { platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await pushImageWith(registry, 'shop/multi', null, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const index = imageIndex([
      descriptor(OCI_MANIFEST, amd.bytes, { platform: { os: 'linux', architecture: 'amd64' } }),
      descriptor(OCI_MANIFEST, arm.bytes, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }),
    ]);
    const digest = await registry.pushManifest('shop/multi', 'latest', index, OCI_INDEX);
    const detail = await api.json<ImageDetail>('/api/repositories/shop/multi/-/manifests/latest');
    assert.equal(detail.kind, 'index');
    assert.equal(detail.digest, digest);
    assert.deepEqual(detail.platforms.map((p) => [p.platform, p.present, p.totalSize, p.attestation]), [
      ['linux/amd64', true, amd.size, false],
      ['linux/arm64/v8', true, arm.size, false],
    ]);
    assert.equal(detail.totalSize, amd.size + arm.size);
    assert.deepEqual(detail.layers, []);
    assert.equal(detail.image, null);
    const child = await api.json<ImageDetail>(`/api/repositories/shop/multi/-/manifests/${arm.digest}`);
    assert.deepEqual(child.parents, [digest]);
    assert.equal(child.image?.variant, 'v8');
  });

  it('dates an index by its platform images: the newest created, in its tag row and its page', async () => {
    const amd = await pushImageWith(registry, 'shop/dated', null, { platform: { os: 'linux', architecture: 'amd64' }, created: '2026-03-01T10:00:00Z' });
    const arm = await pushImageWith(registry, 'shop/dated', null, { platform: { os: 'linux', architecture: 'arm64' }, created: '2026-03-01T10:05:00Z' });
    const children = [
      descriptor(OCI_MANIFEST, amd.bytes, { platform: { os: 'linux', architecture: 'amd64' } }),
      descriptor(OCI_MANIFEST, arm.bytes, { platform: { os: 'linux', architecture: 'arm64' } }),
    ];
    await registry.pushManifest('shop/dated', 'latest', imageIndex(children), OCI_INDEX);
    const row = (await api.json<RepositoryDetail>('/api/repositories/shop/dated')).tags.find((t) => t.tag === 'latest')!;
    assert.equal(row.kind, 'index');
    assert.equal(row.created, '2026-03-01T10:05:00Z', 'the newest of its platforms');
    assert.equal((await api.json<ImageDetail>('/api/repositories/shop/dated/-/manifests/latest')).created, '2026-03-01T10:05:00Z');
    // The index's own org.opencontainers.image.created annotation (image-spec annotations.md) wins.
    await registry.pushManifest('shop/dated', 'annotated', imageIndex(children, { annotations: { 'org.opencontainers.image.created': '2026-03-02T00:00:00Z' } }), OCI_INDEX);
    assert.equal((await api.json<RepositoryDetail>('/api/repositories/shop/dated')).tags.find((t) => t.tag === 'annotated')!.created, '2026-03-02T00:00:00Z');
    assert.equal((await api.json<ImageDetail>('/api/repositories/shop/dated/-/manifests/latest')).created, '2026-03-01T10:05:00Z');
    assert.equal((await api.json<ImageDetail>(`/api/repositories/shop/dated/-/manifests/${amd.digest}`)).created, '2026-03-01T10:00:00Z', 'an image: its config');
  });

  it('marks attestation entries (buildx provenance) and children deleted since', async () => {
    const amd = await pushImageWith(registry, 'shop/attested', null);
    await registry.pushBlob('shop/attested', '{}');
    const attestation = imageManifest(descriptor(OCI_EMPTY, '{}'), []);
    const attestationDigest = await registry.pushManifest('shop/attested', sha256(attestation), attestation);
    const index = imageIndex([
      descriptor(OCI_MANIFEST, amd.bytes, { platform: { os: 'linux', architecture: 'amd64' } }),
      descriptor(OCI_MANIFEST, attestation, {
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd.digest },
      }),
    ]);
    await registry.pushManifest('shop/attested', 'latest', index, OCI_INDEX);
    assert.equal((await registry.deleteManifest('shop/attested', amd.digest)).status, 202);
    const detail = await api.json<ImageDetail>('/api/repositories/shop/attested/-/manifests/latest');
    assert.deepEqual(detail.platforms.map((p) => [p.digest, p.attestation, p.present]), [
      [amd.digest, false, false],
      [attestationDigest, true, true],
    ]);
  });

  it('shows an artifact with its subject, and the subject lists it as a referrer', async () => {
    await registry.pushBlob('shop/web', '{}');
    const signature = imageManifest(descriptor(OCI_EMPTY, '{}'), [], {
      artifactType: 'application/vnd.example.signature',
      subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifestSize },
      annotations: { 'org.example.signer': 'tests' },
    });
    const digest = await registry.pushManifest('shop/web', sha256(signature), signature);
    const subject = await api.json<ImageDetail>('/api/repositories/shop/web/-/manifests/1.0');
    assert.deepEqual(subject.referrers.map((r) => [r.digest, r.artifactType]), [[digest, 'application/vnd.example.signature']]);
    const artifact = await api.json<ImageDetail>(`/api/repositories/shop/web/-/manifests/${digest}`);
    assert.equal(artifact.kind, 'artifact');
    assert.equal(artifact.artifactType, 'application/vnd.example.signature');
    assert.equal(artifact.subject?.digest, image.digest);
    assert.deepEqual(artifact.annotations, { 'org.example.signer': 'tests' });
    assert.equal(artifact.image, null, 'an empty config is not an image config');
  });

  it('answers 404 for an unknown tag, digest or repository, and for a reference no manifest can have', async () => {
    await expectError(await api.fetch('/api/repositories/shop/web/-/manifests/2.0'), 404, 'MANIFEST_UNKNOWN');
    await expectError(await api.fetch(`/api/repositories/shop/web/-/manifests/sha256:${'a'.repeat(64)}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await api.fetch('/api/repositories/no/such/-/manifests/latest'), 404, 'NAME_UNKNOWN');
    const bad = await expectError(await api.fetch('/api/repositories/shop/web/-/manifests/sha256:zz'), 404, 'MANIFEST_UNKNOWN');
    assert.match(bad.message, /no manifest can exist/);
    await expectError(await api.fetch('/api/repositories/Shop/-/manifests/latest'), 400, 'NAME_INVALID');
  });
});
