/**
 * What is attached to an image: signatures, SBOMs and attestations, found three ways:
 *   - the OCI referrers API (distribution-spec v1.1 "Listing Referrers": manifests whose `subject` is
 *     the image), as oras, Notation and cosign with OCI 1.1 mode push them;
 *   - cosign's tag schema, for registries without referrers: tags "sha256-<hex>.sig", ".att", ".sbom"
 *     next to the image (sigstore/cosign, "Registry Details" in its specs);
 *   - attestation manifests BuildKit (docker buildx --sbom/--provenance) puts inside the image's
 *     index: entries with platform unknown/unknown annotated vnd.docker.reference.type
 *     "attestation-manifest" and vnd.docker.reference.digest naming the image they describe, whose
 *     layers are in-toto statements (SPDX SBOM, SLSA provenance) with in-toto.io/predicate-type
 *     (BuildKit docs, "Attestation storage"). For an index all of them are listed; for an image, those
 *     of the indexes in the repository that point at it.
 * Recognised formats:
 *   - cosign signatures: layers of media type application/vnd.dev.cosign.simplesigning.v1+json whose
 *     bytes are the signed "simple signing" payload, with the base64 signature in the annotation
 *     dev.cosignproject.cosign/signature (and a certificate for keyless signing);
 *   - Notation signatures: artifactType application/vnd.cncf.notary.signature, a JWS (JSON
 *     serialization) whose unprotected header carries the signer's x5c certificate chain;
 *   - SBOMs: SPDX (2.x JSON) and CycloneDX (JSON), as a layer of their own or as the predicate of an
 *     in-toto attestation (in a DSSE envelope, as cosign attest writes them);
 *   - attestations: in-toto statements in DSSE envelopes, listed with their predicate types.
 * Verification: cosign signatures against an ECDSA P-256 public key the user gives (PEM), with node's
 * crypto: the signature is ECDSA-SHA256 (DER) over the payload bytes, and the payload must name this
 * image's digest.
 */
import { createHash, createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import type { MetadataIndex } from '../metadata/index-db.ts';
import type { BlobReader } from '../storage/blob-store.ts';
import type { RepositoryStore } from '../storage/repository-store.ts';
import { RegistryError } from './errors.ts';
import type {
  ArtifactKind, ArtifactView, ArtifactsView, SbomPackage, SbomView, SignatureView, VerificationResult, VerifyView,
} from './inspect-types.ts';
import type { ListingService } from './listings.ts';
import { platformLabel, type Descriptor, type ParsedManifest } from './manifest.ts';
import { isIndexMediaType } from './media-types.ts';
import { readableReference, type ManifestService } from './manifests.ts';
import { parseName, tryParseDigest, type Digest } from './reference.ts';

export const COSIGN_SIMPLESIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const COSIGN_CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
const COSIGN_SIG_ARTIFACT = 'application/vnd.dev.cosign.artifact.sig.v1+json';
export const NOTATION_SIGNATURE = 'application/vnd.cncf.notary.signature';
const DSSE = 'application/vnd.dsse.envelope.v1+json';
const IN_TOTO = 'application/vnd.in-toto+json';
const SPDX_TYPES = new Set(['application/spdx+json', 'text/spdx+json', 'spdx+json', 'application/vnd.spdx+json']);
const CYCLONEDX_TYPES = new Set(['application/vnd.cyclonedx+json', 'application/cyclonedx+json', 'cyclonedx+json']);
/** BuildKit's attestation manifests inside an index (see the top of this file). */
export const REFERENCE_TYPE = 'vnd.docker.reference.type';
export const REFERENCE_DIGEST = 'vnd.docker.reference.digest';
export const ATTESTATION_MANIFEST = 'attestation-manifest';
const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
/** Signature payloads, SBOMs and envelopes are read whole; 16 MiB holds the SBOM of a large image. */
const MAX_ARTIFACT_BYTES = 16 * 1024 * 1024;
/** SBOM tables stop here (the largest real SBOMs list a few thousand packages). */
const MAX_PACKAGES = 50_000;

export interface ArtifactServiceDeps {
  manifests: ManifestService;
  repositories: RepositoryStore;
  listings: ListingService;
  blobs: BlobReader;
  /** The indexes of a repository (to find those holding attestations for an image). */
  index: Pick<MetadataIndex, 'manifestDocs'>;
}

interface Found {
  digest: Digest;
  via: ArtifactView['via'];
  tag: string | null;
  attests: ArtifactView['attests'];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function parseJson(bytes: Buffer | null): unknown {
  if (!bytes) return null;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
}

/** An SBOM document: SPDX 2.x JSON or CycloneDX JSON, or null. */
function sbomFormat(doc: unknown): 'spdx' | 'cyclonedx' | null {
  if (!isObject(doc)) return null;
  if (typeof doc.spdxVersion === 'string') return 'spdx';
  if (doc.bomFormat === 'CycloneDX') return 'cyclonedx';
  return null;
}

/** A DSSE envelope's in-toto statement (payload is base64). */
function inTotoStatement(envelope: unknown): Json | null {
  if (!isObject(envelope) || typeof envelope.payload !== 'string') return null;
  const statement = parseJson(Buffer.from(envelope.payload, 'base64'));
  return isObject(statement) ? statement : null;
}

export class ArtifactService {
  private readonly deps: ArtifactServiceDeps;

  constructor(deps: ArtifactServiceDeps) {
    this.deps = deps;
  }

  /** Everything attached to the manifest `reference` of `repo`. */
  async list(repo: string, reference: string): Promise<ArtifactsView> {
    parseName(repo);
    const { digest } = await this.deps.manifests.resolve(repo, readableReference(reference));
    const found: Found[] = [];
    for (const r of await this.deps.listings.referrers(repo, digest)) {
      const d = tryParseDigest(r.digest);
      if (d) found.push({ digest: d, via: 'referrers', tag: null, attests: null });
    }
    for (const suffix of ['sig', 'att', 'sbom']) {
      const tag = `${digest.algorithm}-${digest.hex}.${suffix}`;
      const d = await this.deps.repositories.resolveTag(repo, tag);
      if (d && !found.some((f) => f.digest.value === d.value)) found.push({ digest: d, via: 'tag', tag, attests: null });
    }
    for (const f of await this.indexAttestations(repo, digest)) {
      if (!found.some((x) => x.digest.value === f.digest.value)) found.push(f);
    }
    const artifacts: ArtifactView[] = [];
    for (const f of found) {
      const view = await this.describe(repo, f);
      if (view) artifacts.push(view);
    }
    const counts: Record<ArtifactKind, number> = { signature: 0, sbom: 0, attestation: 0, other: 0 };
    for (const a of artifacts) counts[a.kind] += 1;
    return { subject: { repository: repo, digest: digest.value }, artifacts, counts };
  }

  private async manifestOf(repo: string, digest: Digest): Promise<ParsedManifest | null> {
    const mediaType = await this.deps.repositories.manifestMediaType(repo, digest);
    if (mediaType === null) return null;
    try {
      return (await this.deps.manifests.parseStored(repo, digest, mediaType)).manifest;
    } catch {
      return null;
    }
  }

  /**
   * BuildKit attestation manifests: every one in `digest` when it is an index; else those of the
   * repository's indexes that hold `digest` and point an attestation at it.
   */
  private async indexAttestations(repo: string, digest: Digest): Promise<Found[]> {
    const own = await this.manifestOf(repo, digest);
    if (!own) return [];
    const indexes: ParsedManifest[] = [];
    if (own.isIndex) {
      indexes.push(own);
    } else {
      // The index keeps no children (registry/repositories.ts childDigests): the indexes are read.
      for (const doc of await this.deps.index.manifestDocs(repo)) {
        if (!isIndexMediaType(doc.mediaType) || doc.descriptorCount === 0) continue;
        const parent = tryParseDigest(doc.digest);
        const parsed = parent ? await this.manifestOf(repo, parent) : null;
        if (parsed?.isIndex && parsed.manifests.some((d) => d.digest.value === digest.value)) indexes.push(parsed);
      }
    }
    const out: Found[] = [];
    for (const index of indexes) {
      for (const d of index.manifests) {
        if (d.annotations?.[REFERENCE_TYPE] !== ATTESTATION_MANIFEST) continue;
        const target = d.annotations[REFERENCE_DIGEST] ?? null;
        if (!own.isIndex && target !== digest.value) continue;
        const image = index.manifests.find((m) => m.digest.value === target);
        out.push({
          digest: d.digest,
          via: 'index',
          tag: null,
          attests: target ? { digest: target, platform: image?.platform ? platformLabel(image.platform) : null } : null,
        });
      }
    }
    return out;
  }

  private async describe(repo: string, found: Found): Promise<ArtifactView | null> {
    const { digest, via, tag } = found;
    const mediaType = await this.deps.repositories.manifestMediaType(repo, digest);
    const manifest = await this.manifestOf(repo, digest);
    if (!manifest || mediaType === null) return null;
    const artifactType = manifest.artifactType ?? manifest.config?.mediaType ?? null;
    const view: ArtifactView = {
      kind: 'other',
      via,
      tag,
      digest: digest.value,
      mediaType,
      artifactType,
      size: manifest.config ? manifest.config.size + manifest.layers.reduce((s, l) => s + l.size, 0) : 0,
      annotations: manifest.annotations ?? {},
      created: manifest.annotations?.['org.opencontainers.image.created'] ?? null,
      signatures: [],
      sbom: null,
      predicateTypes: [],
      provenance: null,
      attests: found.attests,
    };
    if (artifactType === NOTATION_SIGNATURE) {
      view.kind = 'signature';
      for (const layer of manifest.layers) {
        const signature = await this.notationSignature(layer);
        if (signature) view.signatures.push(signature);
      }
      return view;
    }
    const cosignLayers = manifest.layers.filter((l) => l.mediaType === COSIGN_SIMPLESIGNING);
    if (cosignLayers.length > 0 || artifactType === COSIGN_SIG_ARTIFACT || tag?.endsWith('.sig')) {
      view.kind = 'signature';
      for (const layer of cosignLayers) view.signatures.push(await this.cosignSignature(layer));
      return view;
    }
    for (const layer of manifest.layers) {
      const declared = layer.mediaType.toLowerCase();
      const declaredPredicate = layer.annotations?.predicateType ?? layer.annotations?.[PREDICATE_TYPE_ANNOTATION];
      const attestation = declared === DSSE || declared === IN_TOTO || declaredPredicate !== undefined || artifactType === IN_TOTO || tag?.endsWith('.att') || via === 'index';
      if (attestation) {
        view.kind = 'attestation';
        const doc = parseJson(await this.deps.blobs.read(layer.digest, MAX_ARTIFACT_BYTES));
        const statement = isObject(doc) && typeof doc._type === 'string' ? doc : inTotoStatement(doc);
        const predicateType = str(statement?.predicateType) ?? declaredPredicate ?? null;
        if (predicateType && !view.predicateTypes.includes(predicateType)) view.predicateTypes.push(predicateType);
        const format = sbomFormat(statement?.predicate);
        if (format && !view.sbom) view.sbom = sbomSummary(format, statement!.predicate as Json);
        if (!view.provenance && predicateType?.startsWith(SLSA_PROVENANCE) && isObject(statement?.predicate)) {
          view.provenance = provenanceSummary(predicateType, statement.predicate);
        }
        continue;
      }
      if (SPDX_TYPES.has(declared) || CYCLONEDX_TYPES.has(declared) || SPDX_TYPES.has(artifactType ?? '') || CYCLONEDX_TYPES.has(artifactType ?? '') || tag?.endsWith('.sbom')) {
        const doc = parseJson(await this.deps.blobs.read(layer.digest, MAX_ARTIFACT_BYTES));
        const format = sbomFormat(doc);
        if (format) {
          view.kind = 'sbom';
          view.sbom = sbomSummary(format, doc as Json);
        }
      }
    }
    // An attestation whose predicate is an SBOM is shown as an SBOM (it is one, in an envelope).
    if (view.kind === 'attestation' && view.sbom) view.kind = 'sbom';
    return view;
  }

  private async cosignSignature(layer: Descriptor): Promise<SignatureView> {
    const payload = parseJson(await this.deps.blobs.read(layer.digest, MAX_ARTIFACT_BYTES));
    const critical = isObject(payload) && isObject(payload.critical) ? payload.critical : {};
    const image = isObject(critical.image) ? critical.image : {};
    const identity = isObject(critical.identity) ? critical.identity : {};
    const optional = isObject(payload) && isObject(payload.optional) ? payload.optional : {};
    const details = Object.fromEntries(Object.entries(optional).filter((e): e is [string, string] => typeof e[1] === 'string'));
    const pem = layer.annotations?.[COSIGN_CERTIFICATE_ANNOTATION];
    return {
      format: 'cosign',
      signedDigest: str(image['docker-manifest-digest']),
      identity: str(identity['docker-reference']),
      certificate: pem ? certificateView(pem) : null,
      details,
      layerDigest: layer.digest.value,
      signature: layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION] ?? null,
    };
  }

  private async notationSignature(layer: Descriptor): Promise<SignatureView | null> {
    const envelope = parseJson(await this.deps.blobs.read(layer.digest, MAX_ARTIFACT_BYTES));
    const view: SignatureView = { format: 'notation', signedDigest: null, identity: null, certificate: null, details: { envelope: layer.mediaType }, layerDigest: layer.digest.value, signature: null };
    if (!isObject(envelope)) return view; // a COSE envelope: listed, not decoded
    const header = isObject(envelope.header) ? envelope.header : {};
    const chain = Array.isArray(header.x5c) ? header.x5c.filter((c): c is string => typeof c === 'string') : [];
    if (chain[0]) view.certificate = certificateView(Buffer.from(chain[0], 'base64'));
    const agent = str(header['io.cncf.notary.signingAgent']);
    if (agent) view.details.signingAgent = agent;
    if (typeof envelope.protected === 'string') {
      const protectedHeader = parseJson(Buffer.from(envelope.protected, 'base64url'));
      if (isObject(protectedHeader)) {
        for (const key of ['alg', 'io.cncf.notary.signingScheme', 'io.cncf.notary.signingTime', 'io.cncf.notary.expiry']) {
          const value = protectedHeader[key];
          if (typeof value === 'string') view.details[key.replace('io.cncf.notary.', '')] = value;
        }
      }
    }
    if (typeof envelope.payload === 'string') {
      const payload = parseJson(Buffer.from(envelope.payload, 'base64url'));
      const target = isObject(payload) && isObject(payload.targetArtifact) ? payload.targetArtifact : {};
      view.signedDigest = str(target.digest);
    }
    if (typeof envelope.signature === 'string') view.signature = envelope.signature;
    return view;
  }

  /** The package table of an SBOM attached to `reference`. */
  async sbom(repo: string, reference: string, artifactText: string): Promise<SbomView> {
    const artifacts = await this.list(repo, reference);
    const artifact = artifacts.artifacts.find((a) => a.digest === artifactText && a.sbom);
    if (!artifact) throw new RegistryError('NOT_FOUND', { message: `${artifactText.slice(0, 100)} is not an SBOM attached to ${repo}:${reference}` });
    const manifest = await this.manifestOf(repo, tryParseDigest(artifact.digest)!);
    for (const layer of manifest?.layers ?? []) {
      const doc = parseJson(await this.deps.blobs.read(layer.digest, MAX_ARTIFACT_BYTES));
      const direct = sbomFormat(doc) ? doc : null;
      const statement = direct ? null : isObject(doc) && typeof doc._type === 'string' ? doc : inTotoStatement(doc);
      const sbom = direct ?? (sbomFormat(statement?.predicate) ? statement!.predicate : null);
      const format = sbomFormat(sbom);
      if (format) return sbomView(artifact.digest, format, sbom as Json);
    }
    throw new RegistryError('CONTENT_INVALID', { message: `the SBOM ${artifact.digest} could not be read` });
  }

  /** Checks the cosign signatures of `reference` with an ECDSA P-256 public key (PEM). */
  async verify(repo: string, reference: string, publicKeyPem: string): Promise<VerifyView> {
    let key: KeyObject;
    try {
      key = createPublicKey(publicKeyPem);
    } catch (err) {
      throw new RegistryError('BAD_REQUEST', { message: `the public key is not a PEM public key: ${(err as Error).message}`, detail: { fields: ['publicKey'] } });
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new RegistryError('BAD_REQUEST', { message: 'cosign keys are ECDSA P-256: this key is not (cosign public-key prints the right one)', detail: { fields: ['publicKey'] } });
    }
    const fingerprint = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
    const artifacts = await this.list(repo, reference);
    const subject = artifacts.subject.digest;
    const results: VerificationResult[] = [];
    for (const artifact of artifacts.artifacts) {
      if (artifact.kind !== 'signature') continue;
      for (const signature of artifact.signatures) {
        const result: VerificationResult = { artifact: artifact.digest, layerDigest: signature.layerDigest, verified: false, reason: null };
        results.push(result);
        if (signature.format !== 'cosign') {
          result.reason = 'a Notation signature: verify it with notation and its trust policy';
          continue;
        }
        if (!signature.signature) {
          result.reason = `the signature layer has no ${COSIGN_SIGNATURE_ANNOTATION} annotation`;
          continue;
        }
        const payload = await this.deps.blobs.read(tryParseDigest(signature.layerDigest)!, MAX_ARTIFACT_BYTES);
        if (!payload) {
          result.reason = 'the signed payload is missing from storage';
          continue;
        }
        let ok = false;
        try {
          ok = verify('sha256', payload, key, Buffer.from(signature.signature, 'base64'));
        } catch {
          ok = false;
        }
        if (!ok) result.reason = 'the signature does not match this key';
        else if (signature.signedDigest !== subject) result.reason = `the signed payload names ${signature.signedDigest ?? 'no image'}, not ${subject}`;
        else result.verified = true;
      }
    }
    return { subject, keyFingerprint: `sha256:${fingerprint}`, results, verified: results.some((r) => r.verified) };
  }
}

function certificateView(pemOrDer: string | Buffer): SignatureView['certificate'] {
  try {
    const cert = new X509Certificate(pemOrDer);
    const emails = (cert.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('email:')).map((n) => n.slice(6));
    return {
      subject: cert.subject.replace(/\n/g, ', '),
      issuer: cert.issuer.replace(/\n/g, ', '),
      validFrom: new Date(cert.validFrom).toISOString(),
      validTo: new Date(cert.validTo).toISOString(),
      fingerprint: cert.fingerprint256,
      ...(emails.length ? { emails } : {}),
    };
  } catch {
    return null;
  }
}

/** SLSA provenance predicate types: https://slsa.dev/provenance/v0.2 (BuildKit's default) and /v1. */
const SLSA_PROVENANCE = 'https://slsa.dev/provenance/';

/** Where SLSA provenance keeps each fact: v1 (https://slsa.dev/spec/v1.0/provenance) and v0.2. */
const PROVENANCE_FIELDS = {
  v1: { builder: ['runDetails', 'builder', 'id'], buildType: ['buildDefinition', 'buildType'], started: ['runDetails', 'metadata', 'startedOn'], finished: ['runDetails', 'metadata', 'finishedOn'], materials: ['buildDefinition', 'resolvedDependencies'] },
  'v0.2': { builder: ['builder', 'id'], buildType: ['buildType'], started: ['metadata', 'buildStartedOn'], finished: ['metadata', 'buildFinishedOn'], materials: ['materials'] },
} as const;

/** Who built the image and how, from a SLSA provenance predicate. */
function provenanceSummary(predicateType: string, predicate: Json): NonNullable<ArtifactView['provenance']> {
  const fields = PROVENANCE_FIELDS[predicateType.endsWith('/v1') ? 'v1' : 'v0.2'];
  const at = (keys: readonly string[]): unknown => keys.reduce<unknown>((value, key) => (isObject(value) ? value[key] : undefined), predicate);
  const materials = at(fields.materials);
  return {
    builder: str(at(fields.builder)),
    buildType: str(at(fields.buildType)),
    started: str(at(fields.started)),
    finished: str(at(fields.finished)),
    materials: (Array.isArray(materials) ? materials : []).filter(isObject).map((m) => str(m.uri)).filter((u): u is string => u !== null).slice(0, 50),
  };
}

function sbomSummary(format: 'spdx' | 'cyclonedx', doc: Json): NonNullable<ArtifactView['sbom']> {
  const packages = format === 'spdx' ? (Array.isArray(doc.packages) ? doc.packages.length : 0) : (Array.isArray(doc.components) ? doc.components.length : 0);
  const metadata = isObject(doc.metadata) ? doc.metadata : {};
  const component = isObject(metadata.component) ? metadata.component : {};
  return { format, packages, name: format === 'spdx' ? str(doc.name) : str(component.name) };
}

function sbomView(digest: string, format: 'spdx' | 'cyclonedx', doc: Json): SbomView {
  const packages: SbomPackage[] = [];
  let truncated = false;
  const add = (p: SbomPackage) => {
    if (packages.length >= MAX_PACKAGES) truncated = true;
    else packages.push(p);
  };
  const tools: string[] = [];
  let created: string | null = null;
  let specVersion: string | null = null;
  let name: string | null = null;
  if (format === 'spdx') {
    specVersion = str(doc.spdxVersion);
    name = str(doc.name);
    const info = isObject(doc.creationInfo) ? doc.creationInfo : {};
    created = str(info.created);
    if (Array.isArray(info.creators)) for (const c of info.creators) if (typeof c === 'string' && c.startsWith('Tool:')) tools.push(c.slice(5).trim());
    for (const p of Array.isArray(doc.packages) ? doc.packages : []) {
      if (!isObject(p)) continue;
      const refs = Array.isArray(p.externalRefs) ? p.externalRefs.filter(isObject) : [];
      const purl = refs.find((r) => r.referenceType === 'purl');
      const licenses = [str(p.licenseConcluded), str(p.licenseDeclared)].filter((l): l is string => l !== null && l !== 'NOASSERTION' && l !== 'NONE');
      add({
        name: str(p.name) ?? '(unnamed)',
        version: str(p.versionInfo),
        type: str(p.primaryPackagePurpose),
        purl: purl ? str(purl.referenceLocator) : null,
        licenses: [...new Set(licenses)],
        supplier: str(p.supplier)?.replace(/^(Organization|Person): /, '') ?? null,
      });
    }
  } else {
    specVersion = str(doc.specVersion);
    const metadata = isObject(doc.metadata) ? doc.metadata : {};
    created = str(metadata.timestamp);
    const component = isObject(metadata.component) ? metadata.component : {};
    name = str(component.name);
    const toolList = Array.isArray(metadata.tools) ? metadata.tools : isObject(metadata.tools) && Array.isArray(metadata.tools.components) ? metadata.tools.components : [];
    for (const t of toolList) if (isObject(t) && str(t.name)) tools.push([str(t.name), str(t.version)].filter(Boolean).join(' '));
    const visit = (list: unknown) => {
      for (const c of Array.isArray(list) ? list : []) {
        if (!isObject(c)) continue;
        const licenses: string[] = [];
        for (const l of Array.isArray(c.licenses) ? c.licenses : []) {
          if (!isObject(l)) continue;
          const lic = isObject(l.license) ? l.license : null;
          const text = str(l.expression) ?? (lic ? str(lic.id) ?? str(lic.name) : null);
          if (text) licenses.push(text);
        }
        const supplier = isObject(c.supplier) ? str(c.supplier.name) : str(c.publisher);
        add({ name: str(c.name) ?? '(unnamed)', version: str(c.version), type: str(c.type), purl: str(c.purl), licenses, supplier });
        visit(c.components);
      }
    };
    visit(doc.components);
  }
  packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { digest, format, specVersion, name, created, tools, packages, truncated };
}
