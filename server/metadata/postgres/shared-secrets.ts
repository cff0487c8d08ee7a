/**
 * What every replica of a cluster must hold alike, kept in the shared database (shared_secrets): the
 * token signing key (a token one replica issues is verified by all), and the local CA and server
 * certificates of `--tls` (clients trust one CA, whichever replica answers). A secret is made by the
 * first replica that needs it; replicas starting at the same moment both try, and the first insert
 * wins (the others read it). Replacing one (a CA near its end) is a compare-and-set on its old value.
 * These rows are secrets: the database's access control is what guards them (docs/deploy.md).
 */
import { importSigningKey, newSigningJwk, type SigningKey } from '../../auth/signing-key.ts';
import type { JWK } from 'jose';
import type { KeyPairPem } from '../../tls/certificates.ts';
import type { SubjectNames } from '../../tls/names.ts';
import type { CertificateStore } from '../../tls/store.ts';
import { createHash } from 'node:crypto';
import type { Database } from './database.ts';

export class SharedSecrets {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async get(name: string): Promise<string | null> {
    const [row] = await this.db.query<{ value: string }>('SELECT value FROM shared_secrets WHERE name = $1', [name]);
    return row?.value ?? null;
  }

  /** The secret `name`, made with `make` when there is none yet (the first replica's wins). */
  async getOrCreate(name: string, make: () => Promise<string>): Promise<string> {
    const existing = await this.get(name);
    if (existing !== null) return existing;
    const value = await make();
    await this.db.query('INSERT INTO shared_secrets (name, value, updated_at) VALUES ($1, $2, now()) ON CONFLICT (name) DO NOTHING', [name, value]);
    return (await this.get(name)) ?? value;
  }

  /** Replaces `name` when it still holds `expected` (null: absent); returns the value in force. */
  async replace(name: string, expected: string | null, value: string): Promise<string> {
    if (expected === null) {
      await this.db.query('INSERT INTO shared_secrets (name, value, updated_at) VALUES ($1, $2, now()) ON CONFLICT (name) DO NOTHING', [name, value]);
    } else {
      await this.db.query('UPDATE shared_secrets SET value = $3, updated_at = now() WHERE name = $1 AND value = $2', [name, expected, value]);
    }
    return (await this.get(name)) ?? value;
  }

  /** The token signing key every replica signs and verifies with. */
  async signingKey(): Promise<SigningKey> {
    const jwk = await this.getOrCreate('token-signing-key', async () => JSON.stringify(await newSigningJwk()));
    return importSigningKey(JSON.parse(jwk) as JWK);
  }

  certificates(): CertificateStore {
    return new SharedCertificates(this);
  }
}

/**
 * The CA and server certificates of `--tls` in the shared database. Server certificates are kept per
 * set of names: replicas on one host (or configured alike) share one; a replica with other names has
 * its own, signed by the same CA.
 */
class SharedCertificates implements CertificateStore {
  private readonly secrets: SharedSecrets;

  constructor(secrets: SharedSecrets) {
    this.secrets = secrets;
  }

  async readCa(): Promise<KeyPairPem | null> {
    return parsePair(await this.secrets.get('tls-ca'));
  }

  async writeCa(ca: KeyPairPem, replacing: KeyPairPem | null): Promise<KeyPairPem> {
    const inForce = await this.secrets.replace('tls-ca', replacing ? JSON.stringify(replacing) : null, JSON.stringify(ca));
    return parsePair(inForce) ?? ca;
  }

  async readServer(names: SubjectNames): Promise<KeyPairPem | null> {
    return parsePair(await this.secrets.get(serverKey(names)));
  }

  async writeServer(names: SubjectNames, pair: KeyPairPem): Promise<void> {
    const name = serverKey(names);
    await this.secrets.replace(name, await this.secrets.get(name), JSON.stringify(pair));
  }
}

function serverKey(names: SubjectNames): string {
  const canonical = JSON.stringify({ dns: [...names.dns].sort(), ips: [...names.ips].sort() });
  return `tls-server:${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}`;
}

function parsePair(value: string | null): KeyPairPem | null {
  if (value === null) return null;
  const parsed = JSON.parse(value) as Partial<KeyPairPem>;
  return typeof parsed.certPem === 'string' && typeof parsed.keyPem === 'string' ? { certPem: parsed.certPem, keyPem: parsed.keyPem } : null;
}
