/**
 * The certificates on disk (<data>/tls/, see storage/paths.ts) and when to make new ones: the CA once
 * (again only when it nears its end), the server certificate whenever its names no longer match this
 * machine's, it was not signed by the current CA, or it has less than RENEW_BEFORE_DAYS left.
 * Bring-your-own files (--tls-cert, --tls-key) are only read and checked, never changed.
 */
import { createSecureContext } from 'node:tls';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readProblem, writePrivateFile } from '../storage/files.ts';
import { createCa, createServerCertificate, describeCertificate, signedBy, type KeyPairPem } from './certificates.ts';
import { sameNames, type SubjectNames } from './names.ts';

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
}

export class TlsFiles {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  get caCert(): string { return path.join(this.dir, 'ca.crt'); }
  get caKey(): string { return path.join(this.dir, 'ca.key'); }
  get serverCert(): string { return path.join(this.dir, 'server.crt'); }
  get serverKey(): string { return path.join(this.dir, 'server.key'); }
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

/** The local CA, made now when there is none or it nears its end; `made` says whether it is new. */
export async function ensureCa(files: TlsFiles, now = new Date()): Promise<{ ca: KeyPairPem; made: boolean }> {
  const existing = await readPair(files.caCert, files.caKey);
  if (existing && (await usable(existing, now.getTime() + RENEW_BEFORE_DAYS * DAY_MS))) return { ca: existing, made: false };
  const ca = await createCa(now);
  await writePair(files.caCert, files.caKey, ca);
  return { ca, made: true };
}

/** The CA and a server certificate for `names`, making or renewing whichever needs it. */
export async function ensureCertificates(files: TlsFiles, names: SubjectNames, now = new Date()): Promise<TlsMaterial> {
  const { ca, made } = await ensureCa(files, now);
  let server = await readPair(files.serverCert, files.serverKey);
  const current = !made && (await usable(server, now.getTime() + RENEW_BEFORE_DAYS * DAY_MS)) &&
    (await signedBy(server!.certPem, ca.certPem)) && sameNames((await describeCertificate(server!.certPem)).names, names);
  if (!current) {
    server = await createServerCertificate(ca, names, now);
    await writePair(files.serverCert, files.serverKey, server);
  }
  return { cert: server!.certPem, key: server!.keyPem, ca: ca.certPem, issued: made ? 'ca' : current ? null : 'server' };
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
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`the TLS certificate ${certFile} and key ${keyFile} cannot be used together: ${(err as Error).message}`);
  }
  return { cert, key, ca: null, issued: null };
}
