/**
 * Users and credentials in nedb (files in <data>/auth/, see storage/paths.ts). Unlike the metadata
 * index this is primary data: nothing can rebuild it, so it is never cleared, and a file nedb cannot
 * read stops the start instead of being replaced. nedb allows one writer per file, so only the process
 * holding the data directory lock opens it (the server, or a CLI command while no server runs).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type Datastore from 'nedb-promises';
import { openNedb } from '../metadata/nedb-file.ts';
import { makeStoreDir } from '../storage/files.ts';
import type { Grant } from './permissions.ts';

export interface UserDoc {
  _id?: string;
  name: string;
  /** A robot account has no password: it logs in only with its access tokens. */
  kind: 'user' | 'robot';
  /** bcrypt hash; null for robots. */
  passwordHash: string | null;
  permissions: Grant[];
  createdAt: Date;
  updatedAt: Date;
}

export interface CredentialDoc {
  /** The public id, shown by `berth token list` and used to revoke. */
  _id: string;
  /** access: a personal/robot token used as a password; refresh: what a login with offline access returns. */
  kind: 'access' | 'refresh';
  /** The user (or robot) the credential acts for. */
  user: string;
  /** What the user called it (access), or the client it was issued to (refresh: "docker", "berth-ui"). */
  label: string;
  /** SHA-256 of the secret part (secrets.ts). */
  secretHash: string;
  /** Access tokens may be narrower than their user; null: the user's own permissions. */
  permissions: Grant[] | null;
  /** For a refresh token obtained by logging in with an access token: that token's id (revoked with it). */
  parent: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

/**
 * nedb appends every change (a token's last use, each login's refresh token) to its file: the files
 * are rewritten to what they hold this often, as well as at close.
 */
const COMPACT_EVERY_MS = 10 * 60_000;

/**
 * Where users and credentials live: this nedb store (one server), or the shared database of a cluster
 * (metadata/postgres/user-store.ts), where every replica sees a user or token the moment it is made.
 */
export interface UserStore {
  open(): Promise<void>;
  close(): Promise<void>;
  findUser(name: string): Promise<UserDoc | null>;
  listUsers(): Promise<UserDoc[]>;
  /** Adds a user; rejects when the name exists. */
  insertUser(doc: UserDoc): Promise<void>;
  updateUser(name: string, fields: Partial<Pick<UserDoc, 'passwordHash' | 'permissions' | 'kind'>>): Promise<boolean>;
  /** Removes a user and every credential of theirs. */
  removeUser(name: string): Promise<boolean>;
  findCredential(id: string): Promise<CredentialDoc | null>;
  /** Sorted by user, then creation. */
  listCredentials(user?: string): Promise<CredentialDoc[]>;
  insertCredential(doc: CredentialDoc): Promise<void>;
  touchCredential(id: string, at: Date): Promise<void>;
  /** Removes these credentials (refresh tokens that ended), and the refresh tokens obtained with them. */
  removeCredentials(ids: readonly string[]): Promise<void>;
  /** Removes a credential and the refresh tokens obtained with it. */
  removeCredential(id: string): Promise<boolean>;
  /** Removes a user's refresh tokens that came from a password login (after a password change). */
  removePasswordSessions(user: string): Promise<number>;
}

export class AuthStore implements UserStore {
  readonly dir: string;
  private usersDb: Datastore<UserDoc> | null = null;
  private credentialsDb: Datastore<CredentialDoc> | null = null;
  private compactTimer: ReturnType<typeof setInterval> | null = null;

  constructor(dir: string) {
    this.dir = dir;
  }

  async open(): Promise<void> {
    await makeStoreDir(this.dir, 0o700);
    let users: Datastore<UserDoc>;
    let credentials: Datastore<CredentialDoc>;
    try {
      // Through nedb-file.ts: a full disk does not stop the start, and a failed write leaves the file whole.
      users = await openNedb<UserDoc>(path.join(this.dir, 'users.db'));
      credentials = await openNedb<CredentialDoc>(path.join(this.dir, 'credentials.db'));
    } catch (err) {
      throw new Error(`cannot read the users in ${this.dir} (${(err as Error).message}); restore the folder from a backup`);
    }
    await users.ensureIndex({ fieldName: 'name', unique: true });
    await credentials.ensureIndex({ fieldName: 'user' });
    await this.restrictFiles();
    this.usersDb = users;
    this.credentialsDb = credentials;
    this.compactTimer = setInterval(() => void this.compact().catch(() => undefined), COMPACT_EVERY_MS);
    this.compactTimer.unref();
  }

  private async compact(): Promise<void> {
    for (const db of [this.usersDb, this.credentialsDb]) {
      if (db) await (db as unknown as { compactDatafileAsync(): Promise<void> }).compactDatafileAsync();
    }
    await this.restrictFiles();
  }

  async close(): Promise<void> {
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.compactTimer = null;
    if (this.usersDb) await this.compact();
    this.usersDb = null;
    this.credentialsDb = null;
  }

  /**
   * Password and token hashes: readable by this user only. nedb rewrites its files (compaction) with
   * the default mode, so this runs after it; the 0700 folder already keeps others out in between.
   */
  private async restrictFiles(): Promise<void> {
    await Promise.all(['users.db', 'credentials.db'].map((f) => fs.chmod(path.join(this.dir, f), 0o600).catch(() => undefined)));
  }

  private get users(): Datastore<UserDoc> {
    if (!this.usersDb) throw new Error('the auth store is not open');
    return this.usersDb;
  }

  private get credentials(): Datastore<CredentialDoc> {
    if (!this.credentialsDb) throw new Error('the auth store is not open');
    return this.credentialsDb;
  }

  findUser(name: string): Promise<UserDoc | null> {
    return this.users.findOne({ name });
  }

  listUsers(): Promise<UserDoc[]> {
    return this.users.find({}).sort({ name: 1 });
  }

  async insertUser(doc: UserDoc): Promise<void> {
    await this.users.insert(doc);
  }

  async updateUser(name: string, fields: Partial<Pick<UserDoc, 'passwordHash' | 'permissions' | 'kind'>>): Promise<boolean> {
    const n = await this.users.update({ name }, { $set: { ...fields, updatedAt: new Date() } }, {});
    return n > 0;
  }

  /** Removes a user and every credential of theirs. */
  async removeUser(name: string): Promise<boolean> {
    const n = await this.users.remove({ name }, { multi: false });
    await this.credentials.remove({ user: name }, { multi: true });
    return n > 0;
  }

  findCredential(id: string): Promise<CredentialDoc | null> {
    return this.credentials.findOne({ _id: id });
  }

  listCredentials(user?: string): Promise<CredentialDoc[]> {
    return this.credentials.find(user === undefined ? {} : { user }).sort({ user: 1, createdAt: 1 });
  }

  async insertCredential(doc: CredentialDoc): Promise<void> {
    await this.credentials.insert(doc);
  }

  async touchCredential(id: string, at: Date): Promise<void> {
    await this.credentials.update({ _id: id }, { $set: { lastUsedAt: at } }, {});
  }

  /** Removes these credentials (refresh tokens that ended), and the refresh tokens obtained with them. */
  async removeCredentials(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.credentials.remove({ _id: { $in: [...ids] } }, { multi: true });
    await this.credentials.remove({ parent: { $in: [...ids] } }, { multi: true });
  }

  /** Removes a credential and the refresh tokens obtained with it. */
  async removeCredential(id: string): Promise<boolean> {
    const n = await this.credentials.remove({ _id: id }, { multi: false });
    await this.credentials.remove({ parent: id }, { multi: true });
    return n > 0;
  }

  /** Removes a user's refresh tokens that came from a password login (after a password change). */
  async removePasswordSessions(user: string): Promise<number> {
    return this.credentials.remove({ user, kind: 'refresh', parent: null }, { multi: true });
  }
}
