/**
 * Users and credentials (auth/store.ts UserStore) in the shared database: a user added, a token made
 * or revoked on one replica (or with `berth user` / `berth token` while the replicas run) counts on
 * every replica at its next login. Password and token hashes only, as in the nedb files.
 */
import type { CredentialDoc, UserDoc, UserStore } from '../../auth/store.ts';
import type { Database } from './database.ts';
import { decodeDoc, encodeDoc } from './docs.ts';

export class PostgresUserStore implements UserStore {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async findUser(name: string): Promise<UserDoc | null> {
    const [row] = await this.db.query<{ doc: unknown }>('SELECT doc FROM auth_users WHERE name = $1', [name]);
    return row ? decodeDoc<UserDoc>(row.doc) : null;
  }

  async listUsers(): Promise<UserDoc[]> {
    const rows = await this.db.query<{ doc: unknown }>('SELECT doc FROM auth_users ORDER BY name');
    return rows.map((r) => decodeDoc<UserDoc>(r.doc));
  }

  async insertUser(doc: UserDoc): Promise<void> {
    const rows = await this.db.query('INSERT INTO auth_users (name, doc) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING name', [doc.name, encodeDoc(doc)]);
    if (rows.length === 0) throw new Error(`user "${doc.name}" exists already`);
  }

  async updateUser(name: string, fields: Partial<Pick<UserDoc, 'passwordHash' | 'permissions' | 'kind'>>): Promise<boolean> {
    const rows = await this.db.query('UPDATE auth_users SET doc = doc || $2::jsonb WHERE name = $1 RETURNING name', [name, encodeDoc({ ...fields, updatedAt: new Date() })]);
    return rows.length > 0;
  }

  async removeUser(name: string): Promise<boolean> {
    const rows = await this.db.query(
      'WITH c AS (DELETE FROM auth_credentials WHERE user_name = $1) DELETE FROM auth_users WHERE name = $1 RETURNING name',
      [name],
    );
    return rows.length > 0;
  }

  async findCredential(id: string): Promise<CredentialDoc | null> {
    const [row] = await this.db.query<{ id: string; doc: unknown }>('SELECT id, doc FROM auth_credentials WHERE id = $1', [id]);
    return row ? decodeDoc<CredentialDoc>(row.doc, row.id) : null;
  }

  async listCredentials(user?: string): Promise<CredentialDoc[]> {
    const rows = user === undefined
      ? await this.db.query<{ id: string; doc: unknown }>('SELECT id, doc FROM auth_credentials ORDER BY user_name, created_at')
      : await this.db.query<{ id: string; doc: unknown }>('SELECT id, doc FROM auth_credentials WHERE user_name = $1 ORDER BY created_at', [user]);
    return rows.map((r) => decodeDoc<CredentialDoc>(r.doc, r.id));
  }

  async insertCredential(doc: CredentialDoc): Promise<void> {
    await this.db.query(
      'INSERT INTO auth_credentials (id, user_name, kind, parent, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6)',
      [doc._id, doc.user, doc.kind, doc.parent, doc.createdAt, encodeDoc(doc)],
    );
  }

  async touchCredential(id: string, at: Date): Promise<void> {
    await this.db.query('UPDATE auth_credentials SET doc = doc || $2::jsonb WHERE id = $1', [id, encodeDoc({ lastUsedAt: at })]);
  }

  async removeCredentials(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query('DELETE FROM auth_credentials WHERE id = ANY($1) OR parent = ANY($1)', [[...ids]]);
  }

  async removeCredential(id: string): Promise<boolean> {
    const rows = await this.db.query('DELETE FROM auth_credentials WHERE id = $1 OR parent = $1 RETURNING id', [id]);
    return rows.some((r) => r.id === id);
  }

  async removePasswordSessions(user: string): Promise<number> {
    const rows = await this.db.query(`DELETE FROM auth_credentials WHERE user_name = $1 AND kind = 'refresh' AND parent IS NULL RETURNING id`, [user]);
    return rows.length;
  }
}
