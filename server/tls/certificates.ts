/**
 * Certificate generation with @peculiar/x509 over Node's WebCrypto (no hand-written ASN.1):
 *   - a local CA: ECDSA P-256, 2 years, basicConstraints CA:true pathlen 0, keyCertSign + cRLSign,
 *     and critical Name Constraints (RFC 5280 §4.2.1.10) permitting only the names and addresses it
 *     serves (names.ts caConstraints): a user trusts it system-wide, so its key must not be able to
 *     sign for anything else;
 *   - a server certificate signed by it: ECDSA P-256, 1 year (never past the CA's end), CA:false,
 *     digitalSignature, serverAuth, the subject names as SANs (RFC 5280 §4.2.1.6; Go rejects
 *     certificates that rely on the CN).
 * Keys are exported as PKCS#8 PEM for Node's tls module.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import os from 'node:os';
import { normalizeIp, type NameConstraints, type SubjectNames } from './names.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type X509 = typeof import('@peculiar/x509');

let x509Module: Promise<X509> | null = null;
let asnModules: Promise<{ asn1X509: typeof import('@peculiar/asn1-x509'); asn1Schema: typeof import('@peculiar/asn1-schema') }> | null = null;

/** @peculiar/x509's own ASN.1 layer, for the one extension it has no class for (Name Constraints). */
function loadAsn() {
  asnModules ??= (async () => ({ asn1X509: await import('@peculiar/asn1-x509'), asn1Schema: await import('@peculiar/asn1-schema') }))();
  return asnModules;
}

const NAME_CONSTRAINTS_OID = '2.5.29.30';

/**
 * @peculiar/x509 is some two hundred modules and half a second to load (measured on this project's
 * machine: it doubled the server's start-up time), so only the code paths that make or read a
 * certificate load it, once. It needs the reflect-metadata polyfill loaded first.
 */
function loadX509(): Promise<X509> {
  x509Module ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto);
    return x509;
  })();
  return x509Module;
}

const EC: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
/**
 * Two years: a CA users trust system-wide should not outlive the machine setup it was made for, and
 * re-trusting it every other year is a small price (Berth makes the next one a month ahead).
 */
export const CA_LIFETIME_DAYS = 730;
export const SERVER_LIFETIME_DAYS = 365;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** A positive 128-bit serial number (RFC 5280 §4.1.2.2: positive, at most 20 octets). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const x509 = await loadX509();
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const x509 = await loadX509();
  const der = x509.PemConverter.decodeFirst(pem);
  return webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign']);
}

async function nameConstraintsExtension(constraints: NameConstraints) {
  const x509 = await loadX509();
  const { asn1X509, asn1Schema } = await loadAsn();
  const subtrees = [
    ...constraints.dns.map((dNSName) => new asn1X509.GeneralSubtree({ base: new asn1X509.GeneralName({ dNSName }) })),
    ...constraints.ips.map((iPAddress) => new asn1X509.GeneralSubtree({ base: new asn1X509.GeneralName({ iPAddress }) })),
  ];
  const value = asn1Schema.AsnConvert.serialize(new asn1X509.NameConstraints({ permittedSubtrees: new asn1X509.GeneralSubtrees(subtrees) }));
  // Critical: RFC 5280 §4.2.1.10 says a CA MUST mark it so, and a client that cannot honour it must refuse.
  return new x509.Extension(NAME_CONSTRAINTS_OID, true, value);
}

/** The CA's permitted names, or null when it has no Name Constraints (made by a Berth before them). */
export async function caNameConstraints(caPem: string): Promise<NameConstraints | null> {
  const x509 = await loadX509();
  const { asn1X509, asn1Schema } = await loadAsn();
  const extension = new x509.X509Certificate(caPem).extensions.find((e) => e.type === NAME_CONSTRAINTS_OID);
  if (!extension) return null;
  const parsed = asn1Schema.AsnConvert.parse(extension.value, asn1X509.NameConstraints);
  const out: NameConstraints = { dns: [], ips: [] };
  for (const subtree of parsed.permittedSubtrees ?? []) {
    if (subtree.base.dNSName !== undefined) out.dns.push(subtree.base.dNSName);
    if (subtree.base.iPAddress !== undefined) out.ips.push(subtree.base.iPAddress);
  }
  return out;
}

export async function createCa(constraints: NameConstraints, now = new Date()): Promise<KeyPairPem> {
  const x509 = await loadX509();
  const keys = await newKeys();
  const host = os.hostname().replace(/[,+="<>#;\\]/g, '');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=Berth local CA (${host}), O=Berth`,
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(now.getTime() + CA_LIFETIME_DAYS * DAY_MS),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await nameConstraintsExtension(constraints),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

export async function createServerCertificate(ca: KeyPairPem, names: SubjectNames, now = new Date()): Promise<KeyPairPem> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: 'CN=localhost, O=Berth',
    issuer: caCert.subject,
    // A few minutes back, for clients whose clocks run a little behind ours.
    notBefore: new Date(now.getTime() - 5 * 60_000),
    notAfter: new Date(Math.min(now.getTime() + SERVER_LIFETIME_DAYS * DAY_MS, caCert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: await importPrivateKey(ca.keyPem),
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

export interface CertificateFacts {
  names: SubjectNames;
  notAfter: Date;
  fingerprint: string;
}

/** What a certificate says: its SANs, its expiry and its SHA-256 fingerprint. */
export async function describeCertificate(pem: string): Promise<CertificateFacts> {
  const x509 = await loadX509();
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const items = san?.names.items ?? [];
  const thumbprint = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
  return {
    names: {
      dns: items.filter((n) => n.type === 'dns').map((n) => n.value).sort(),
      ips: items.filter((n) => n.type === 'ip').map((n) => normalizeIp(n.value)).sort(),
    },
    notAfter: cert.notAfter,
    fingerprint: thumbprint.toUpperCase().match(/../g)!.join(':'),
  };
}

/** Whether `certPem` carries a valid signature of the CA. */
export async function signedBy(certPem: string, caPem: string): Promise<boolean> {
  const x509 = await loadX509();
  const cert = new x509.X509Certificate(certPem);
  const ca = new x509.X509Certificate(caPem);
  return cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
}
