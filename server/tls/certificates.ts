/**
 * Certificate generation with @peculiar/x509 over Node's WebCrypto (no hand-written ASN.1):
 *   - a local CA: ECDSA P-256, 10 years, basicConstraints CA:true pathlen 0, keyCertSign + cRLSign;
 *   - a server certificate signed by it: ECDSA P-256, 1 year, CA:false, digitalSignature, serverAuth,
 *     the subject names as SANs (RFC 5280 §4.2.1.6; Go rejects certificates that rely on the CN).
 * Keys are exported as PKCS#8 PEM for Node's tls module.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import os from 'node:os';
import { normalizeIp, type SubjectNames } from './names.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type X509 = typeof import('@peculiar/x509');

let x509Module: Promise<X509> | null = null;

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
export const CA_LIFETIME_DAYS = 3650;
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

export async function createCa(now = new Date()): Promise<KeyPairPem> {
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
    notAfter: new Date(now.getTime() + SERVER_LIFETIME_DAYS * DAY_MS),
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
