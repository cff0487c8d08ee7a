/**
 * The certificates on disk (<data>/tls/, see storage/paths.ts) and when to make new ones: the CA once,
 * and again only when it nears its end, has no Name Constraints (made by a Berth before them: its key
 * could sign for any name), or may not sign for this machine's names any more (renamed, or given an
 * address outside the private ranges); the server certificate whenever its names no longer match
 * this machine's, it was not signed by the current CA, or it has less than RENEW_BEFORE_DAYS left.
 * A new CA must be trusted again by every client: the caller says so, with the reason.
 * Bring-your-own files (--tls-cert, --tls-key) are only read and checked, never changed.
 */
import { createSecureContext } from 'node:tls';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readProblem, writePrivateFile } from '../storage/files.ts';
import { caNameConstraints, createCa, createServerCertificate, describeCertificate, signedBy, type KeyPairPem } from './certificates.ts';
import { caConstraints, permits, sameNames, type SubjectNames } from './names.ts';

/** Renew this long before expiry, so a machine that sleeps for weeks still wakes to a valid certificate. */
export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The CA certificate clients must trust (null for bring-your-own). */
  ca: string | null;
  /** What changed on disk: 'ca' (a new CA: clients must trust it again), 'server', or null. */
  issued: 'ca' | 'server' | null;
  /** Why a new CA was made (issued 'ca'). */
  caReason?: string;
}

/**
 * Where the CA and the server certificate are kept: files in <data>/tls/ (TlsFiles), or, for a
 * cluster, the shared database (metadata/postgres/certificate-store.ts), so that every replica serves
 * certificates of one CA that clients trust once.
 */
export interface CertificateStore {
  readCa(): Promise<KeyPairPem | null>;
  /**
   * Stores a new CA in place of `replacing` (null: there was none); when another process replaced it
   * first, keeps theirs. Returns the CA in force.
   */
  writeCa(ca: KeyPairPem, replacing: KeyPairPem | null): Promise<KeyPairPem>;
  /** The server certificate made for these names, or null. */
  readServer(names: SubjectNames): Promise<KeyPairPem | null>;
  writeServer(names: SubjectNames, pair: KeyPairPem): Promise<void>;
}

export class TlsFiles implements CertificateStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  get caCert(): string { return path.join(this.dir, 'ca.crt'); }
  get caKey(): string { return path.join(this.dir, 'ca.key'); }
  get serverCert(): string { return path.join(this.dir, 'server.crt'); }
  get serverKey(): string { return path.join(this.dir, 'server.key'); }

  readCa(): Promise<KeyPairPem | null> {
    return readPair(this.caCert, this.caKey);
  }

  async writeCa(ca: KeyPairPem): Promise<KeyPairPem> {
    await writePair(this.caCert, this.caKey, ca);
    return ca;
  }

  /** One server certificate on disk, whatever names it was made for (it is re-made when they change). */
  readServer(): Promise<KeyPairPem | null> {
    return readPair(this.serverCert, this.serverKey);
  }

  writeServer(_names: SubjectNames, pair: KeyPairPem): Promise<void> {
    return writePair(this.serverCert, this.serverKey, pair);
  }
}

async function readPair(certFile: string, keyFile: string): Promise<KeyPairPem | null> {
  try {
    return { certPem: await fs.readFile(certFile, 'utf8'), keyPem: await fs.readFile(keyFile, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function writePair(certFile: string, keyFile: string, pair: KeyPairPem): Promise<void> {
  // Key first: a certificate on disk always has its key next to it.
  await writePrivateFile(keyFile, pair.keyPem);
  await writePrivateFile(certFile, pair.certPem);
  await fs.chmod(certFile, 0o644);
}

async function usable(pair: KeyPairPem | null, minValidUntil: number): Promise<boolean> {
  if (!pair) return false;
  try {
    return (await describeCertificate(pair.certPem)).notAfter.getTime() > minValidUntil;
  } catch {
    return false;
  }
}

/** Why the CA on disk cannot serve `names` any more, or null when it can. */
async function caProblem(existing: KeyPairPem | null, names: SubjectNames, now: Date): Promise<string | null> {
  if (!existing) return 'there was none';
  if (!(await usable(existing, now.getTime() + RENEW_BEFORE_DAYS * DAY_MS))) return 'the old one nears its end';
  const constraints = await caNameConstraints(existing.certPem).catch(() => null);
  if (!constraints) return 'the old one had no name constraints: its key could sign for any name';
  if (!permits(constraints, names)) return 'the old one may not sign for this machine\'s names as they are now';
  return null;
}

/**
 * The local CA for a server serving `names`, made now when there is none or the one there will not
 * do (see the top); `made` says whether it is new, `reason` why.
 */
export async function ensureCa(files: CertificateStore, names: SubjectNames, now = new Date()): Promise<{ ca: KeyPairPem; made: boolean; reason?: string }> {
  const existing = await files.readCa();
  const reason = await caProblem(existing, names, now);
  if (existing && reason === null) return { ca: existing, made: false };
  const made = await createCa(caConstraints(names), now);
  const ca = await files.writeCa(made, existing);
  // Another replica made one at the same moment: theirs is the CA, and it is not new to us.
  if (ca.certPem !== made.certPem) return { ca, made: false };
  return { ca, made: true, ...(existing ? { reason: reason! } : {}) };
}

/** The CA and a server certificate for `names`, making or renewing whichever needs it. */
export async function ensureCertificates(files: CertificateStore, names: SubjectNames, now = new Date()): Promise<TlsMaterial> {
  const { ca, made, reason } = await ensureCa(files, names, now);
  let server = await files.readServer(names);
  const current = !made && (await usable(server, now.getTime() + RENEW_BEFORE_DAYS * DAY_MS)) &&
    (await signedBy(server!.certPem, ca.certPem)) && sameNames((await describeCertificate(server!.certPem)).names, names);
  if (!current) {
    server = await createServerCertificate(ca, names, now);
    await files.writeServer(names, server);
  }
  return { cert: server!.certPem, key: server!.keyPem, ca: ca.certPem, issued: made ? 'ca' : current ? null : 'server', ...(made && reason ? { caReason: reason } : {}) };
}

/** Reads and checks a bring-your-own certificate chain and key; the message says what is wrong. */
export async function loadOwnCertificate(certFile: string, keyFile: string): Promise<TlsMaterial> {
  let cert: string;
  let key: string;
  try {
    cert = await fs.readFile(certFile, 'utf8');
  } catch (err) {
    throw new Error(`TLS certificate ${certFile}: ${readProblem(err)}`);
  }
  try {
    key = await fs.readFile(keyFile, 'utf8');
  } catch (err) {
    throw new Error(`TLS key ${keyFile}: ${readProblem(err)}`);
  }
  // Each file checked on its own first, so the one at fault is named (OpenSSL says only "no start line").
  if (!/-----BEGIN CERTIFICATE-----/.test(cert)) {
    throw new Error(`TLS certificate ${certFile} is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----" line`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
    throw new Error(`TLS key ${keyFile} is not a PEM private key: it has no "-----BEGIN ... PRIVATE KEY-----" line`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`the TLS certificate ${certFile} and key ${keyFile} cannot be used together: ${(err as Error).message}`);
  }
  return { cert, key, ca: null, issued: null };
}
