/**
 * The auth service the HTTP layer and the CLI use: logins (passwords, personal/robot access tokens,
 * refresh tokens) with throttling, the token grant (requested scopes intersected with permissions),
 * JWT issue and verification, and user and token management. Composed of the store (store.ts), the
 * signer (jwt.ts) and the throttles (throttle.ts).
 */
import path from 'node:path';
import { AuthError } from './errors.ts';
import { parseHtpasswd, type SkippedLine } from './htpasswd.ts';
import { TokenSigner, type AccessClaims, type IssuedToken } from './jwt.ts';
import { intersect, isAdmin, type Grant } from './permissions.ts';
import type { ResourceAccess } from './scope.ts';
import {
  ACCESS_TOKEN_PREFIX, REFRESH_TOKEN_PREFIX, generatePassword, hashPassword, newTokenSecret, parseTokenSecret, sameHash, sha256, verifyPassword,
} from './secrets.ts';
import { loadOrCreateSigningKey } from './signing-key.ts';
import { AuthStore, type CredentialDoc, type UserDoc } from './store.ts';
import { LoginThrottle, type ThrottlePolicy } from './throttle.ts';

export interface Principal {
  /** The user or robot name; '' when the client did not authenticate (jwt.md, `sub`). */
  subject: string;
  /** Every one of these must allow an action for it to be granted (a token is limited by its owner too). */
  grantSets: Grant[][];
  /** The access token this login used, if any: refresh tokens made from it are revoked with it. */
  viaCredential: string | null;
}

export interface AuthServiceOptions {
  /** <data>/auth */
  dir: string;
  anonymousPull: boolean;
  now?: () => number;
  /** Per user name: 5 free failures, then waits doubling from 1 s up to 5 minutes. */
  userThrottle?: ThrottlePolicy;
  /** Per client address: more free failures (people share addresses behind NAT), same doubling. */
  addressThrottle?: ThrottlePolicy;
}

export const INITIAL_ADMIN = 'admin';
export const MIN_PASSWORD_LENGTH = 8;
/** A login does not rewrite a token's last-used time more often than this. */
const TOUCH_INTERVAL_MS = 60_000;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function userNameProblem(name: string): string | null {
  return USER_NAME.test(name) ? null : 'a user name is 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit';
}

export interface UserSummary {
  name: string;
  kind: UserDoc['kind'];
  permissions: Grant[];
  createdAt: Date;
}

export interface CredentialSummary {
  id: string;
  kind: CredentialDoc['kind'];
  user: string;
  label: string;
  permissions: Grant[] | null;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

export class AuthService {
  readonly store: AuthStore;
  readonly anonymousPull: boolean;
  private readonly dir: string;
  private readonly now: () => number;
  private readonly users: LoginThrottle;
  private readonly addresses: LoginThrottle;
  private signer: TokenSigner | null = null;

  constructor(options: AuthServiceOptions) {
    this.dir = options.dir;
    this.anonymousPull = options.anonymousPull;
    this.now = options.now ?? Date.now;
    this.store = new AuthStore(options.dir);
    this.users = new LoginThrottle(options.userThrottle ?? { freeFailures: 5, maxDelayMs: 300_000, forgetAfterMs: 900_000 }, this.now);
    this.addresses = new LoginThrottle(options.addressThrottle ?? { freeFailures: 20, maxDelayMs: 300_000, forgetAfterMs: 900_000 }, this.now);
  }

  /** Opens the user store and the signing key (made on first use). */
  async open(): Promise<void> {
    await this.store.open();
    this.signer = new TokenSigner(await loadOrCreateSigningKey(path.join(this.dir, 'signing-key.jwk')), this.now);
  }

  close(): Promise<void> {
    return this.store.close();
  }

  private get tokens(): TokenSigner {
    if (!this.signer) throw new Error('the auth service is not open');
    return this.signer;
  }

  // ---- logins -------------------------------------------------------------------------------

  anonymous(): Principal {
    return { subject: '', grantSets: [this.anonymousPull ? [{ repository: '*', actions: ['pull'] }] : []], viaCredential: null };
  }

  /**
   * A user name with a password or an access token. Failures are counted per user and per address;
   * past the free ones, attempts (even right ones) are refused until the wait is over.
   */
  async login(username: string, password: string, address: string): Promise<Principal> {
    const userKey = `user:${username.toLowerCase()}`;
    const addressKey = `address:${address}`;
    const wait = Math.max(this.users.waitMs(userKey), this.addresses.waitMs(addressKey));
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new AuthError('throttled', `too many failed logins; try again in ${seconds} s`, seconds);
    }
    const principal = await this.checkCredentials(username, password);
    if (!principal) {
      this.users.failed(userKey);
      this.addresses.failed(addressKey);
      throw new AuthError('invalid-credentials', 'incorrect user name or password');
    }
    this.users.succeeded(userKey);
    return principal;
  }

  private async checkCredentials(username: string, password: string): Promise<Principal | null> {
    const user = await this.store.findUser(username);
    const asToken = parseTokenSecret(ACCESS_TOKEN_PREFIX, password);
    if (asToken) {
      const credential = await this.store.findCredential(asToken.id);
      if (!user || !credential || credential.kind !== 'access' || credential.user !== user.name) return null;
      if (!sameHash(credential.secretHash, sha256(asToken.secret))) return null;
      if (credential.expiresAt && credential.expiresAt.getTime() <= this.now()) return null;
      if (!credential.lastUsedAt || this.now() - credential.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
        await this.store.touchCredential(credential._id, new Date(this.now()));
      }
      return {
        subject: user.name,
        grantSets: credential.permissions ? [user.permissions, credential.permissions] : [user.permissions],
        viaCredential: credential._id,
      };
    }
    // Unknown users cost a bcrypt comparison too, so response times do not tell which names exist.
    const ok = await verifyPassword(password, user?.kind === 'user' ? user.passwordHash : null);
    return ok && user ? { subject: user.name, grantSets: [user.permissions], viaCredential: null } : null;
  }

  /** A new refresh token for this principal (OAuth access_type=offline, Docker's offline_token=true). */
  async createRefreshToken(principal: Principal, clientId: string): Promise<string> {
    if (principal.subject === '') throw new AuthError('invalid-input', 'anonymous clients get no refresh token');
    const { id, secret, token } = newTokenSecret(REFRESH_TOKEN_PREFIX);
    await this.store.insertCredential({
      _id: id, kind: 'refresh', user: principal.subject, label: clientId, secretHash: sha256(secret),
      permissions: null, parent: principal.viaCredential, createdAt: new Date(this.now()), expiresAt: null, lastUsedAt: null,
    });
    return token;
  }

  /** The principal behind a refresh token, with the user's (and token's) permissions as they are now. */
  async redeemRefreshToken(token: string): Promise<Principal> {
    const invalid = () => new AuthError('invalid-grant', 'the refresh token is not valid (revoked, or from another Berth); log in again');
    const parsed = parseTokenSecret(REFRESH_TOKEN_PREFIX, token);
    const credential = parsed ? await this.store.findCredential(parsed.id) : null;
    if (!parsed || !credential || credential.kind !== 'refresh' || !sameHash(credential.secretHash, sha256(parsed.secret))) throw invalid();
    const user = await this.store.findUser(credential.user);
    if (!user) throw invalid();
    const grantSets = [user.permissions];
    if (credential.parent) {
      const parent = await this.store.findCredential(credential.parent);
      if (!parent || (parent.expiresAt && parent.expiresAt.getTime() <= this.now())) throw invalid();
      if (parent.permissions) grantSets.push(parent.permissions);
    }
    if (!credential.lastUsedAt || this.now() - credential.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
      await this.store.touchCredential(credential._id, new Date(this.now()));
    }
    return { subject: user.name, grantSets, viaCredential: credential.parent };
  }

  // ---- tokens -------------------------------------------------------------------------------

  /** What of `requested` this principal gets (token.md: the intersection, never an error). */
  grant(principal: Principal, requested: ResourceAccess[]): ResourceAccess[] {
    return intersect(principal.grantSets, requested);
  }

  issue(principal: Principal, requested: ResourceAccess[]): Promise<IssuedToken> {
    return this.tokens.issue(principal.subject, this.grant(principal, requested));
  }

  verify(token: string): Promise<AccessClaims> {
    return this.tokens.verify(token);
  }

  // ---- users --------------------------------------------------------------------------------

  /**
   * On the first start with auth on: the `admin` user (`*:admin`), with BERTH_ADMIN_PASSWORD or a
   * generated password that the caller shows once. "First" means no one can administer the registry
   * yet (users imported or added with the CLI beforehand do not count unless one has `*:admin`), so
   * there is always a way in. Null when an admin exists.
   */
  async ensureInitialAdmin(password: string | undefined): Promise<{ name: string; password: string; generated: boolean } | null> {
    const users = await this.store.listUsers();
    if (users.some((u) => isAdmin(u.permissions))) return null;
    if (users.some((u) => u.name === INITIAL_ADMIN)) {
      throw new AuthError('conflict', `no user has *:admin, and "${INITIAL_ADMIN}" exists without it; give someone admin: berth user remove ${INITIAL_ADMIN}, then start again`);
    }
    const chosen = password ?? generatePassword();
    await this.addUser({ name: INITIAL_ADMIN, password: chosen, permissions: [{ repository: '*', actions: ['admin'] }] });
    return { name: INITIAL_ADMIN, password: chosen, generated: password === undefined };
  }

  async addUser(input: { name: string; password: string | null; permissions: Grant[]; kind?: UserDoc['kind'] }): Promise<void> {
    const problem = userNameProblem(input.name);
    if (problem) throw new AuthError('invalid-input', `"${input.name}": ${problem}`);
    if (await this.store.findUser(input.name)) throw new AuthError('conflict', `user "${input.name}" exists already`);
    const kind = input.kind ?? 'user';
    if (kind === 'user') checkPassword(input.password);
    const at = new Date(this.now());
    await this.store.insertUser({
      name: input.name, kind, passwordHash: kind === 'user' ? await hashPassword(input.password!) : null,
      permissions: input.permissions, createdAt: at, updatedAt: at,
    });
  }

  async setPassword(name: string, password: string): Promise<void> {
    const user = await this.requireUser(name);
    if (user.kind === 'robot') throw new AuthError('invalid-input', `"${name}" is a robot account: it has tokens, not a password`);
    checkPassword(password);
    await this.store.updateUser(name, { passwordHash: await hashPassword(password) });
    // Logins made with the old password end; personal tokens stay (revoke them with `berth token revoke`).
    await this.store.removePasswordSessions(name);
  }

  /** Replaces the permissions of a user or robot account (its tokens stay, limited by the new ones). */
  async setPermissions(name: string, permissions: Grant[]): Promise<void> {
    await this.requireUser(name);
    await this.store.updateUser(name, { permissions });
  }

  async removeUser(name: string): Promise<void> {
    if (!(await this.store.removeUser(name))) throw new AuthError('not-found', `no user "${name}"`);
  }

  async listUsers(): Promise<UserSummary[]> {
    return (await this.store.listUsers()).map((u) => ({ name: u.name, kind: u.kind, permissions: u.permissions, createdAt: u.createdAt }));
  }

  /**
   * Imports the bcrypt entries of an htpasswd file; users that exist are skipped unless `replace`.
   * Lines that cannot be imported (other hashes, bad names) are returned in `unusable`, with why.
   */
  async importHtpasswd(text: string, options: { permissions: Grant[]; replace: boolean }): Promise<{ added: string[]; replaced: string[]; skipped: string[]; unusable: SkippedLine[] }> {
    const { entries, skipped: unusable } = parseHtpasswd(text, userNameProblem);
    const result = { added: [] as string[], replaced: [] as string[], skipped: [] as string[], unusable };
    for (const entry of entries) {
      const existing = await this.store.findUser(entry.name);
      if (existing && !options.replace) {
        result.skipped.push(entry.name);
      } else if (existing) {
        await this.store.updateUser(entry.name, { passwordHash: entry.hash, kind: 'user' });
        await this.store.removePasswordSessions(entry.name);
        result.replaced.push(entry.name);
      } else {
        const at = new Date(this.now());
        await this.store.insertUser({ name: entry.name, kind: 'user', passwordHash: entry.hash, permissions: options.permissions, createdAt: at, updatedAt: at });
        result.added.push(entry.name);
      }
    }
    return result;
  }

  private async requireUser(name: string): Promise<UserDoc> {
    const user = await this.store.findUser(name);
    if (!user) throw new AuthError('not-found', `no user "${name}"`);
    return user;
  }

  // ---- personal and robot access tokens -----------------------------------------------------

  /**
   * A new access token, usable as the password of `user` in `docker login`; its secret is returned
   * here once and stored only hashed. A robot account is created on first use (`robot` set).
   */
  async createAccessToken(input: {
    user: string; label: string; expiresAt: Date | null; permissions: Grant[] | null; robot?: boolean;
  }): Promise<{ id: string; token: string }> {
    if (input.robot) {
      const existing = await this.store.findUser(input.user);
      if (existing && existing.kind !== 'robot') throw new AuthError('conflict', `"${input.user}" is a user, not a robot account; use --user`);
      if (!existing) {
        if (!input.permissions || input.permissions.length === 0) {
          throw new AuthError('invalid-input', 'a new robot account needs its permissions (--permission PATTERN:ACTIONS)');
        }
        await this.addUser({ name: input.user, password: null, permissions: input.permissions, kind: 'robot' });
        input = { ...input, permissions: null };
      }
    } else {
      const user = await this.requireUser(input.user);
      if (user.kind === 'robot') throw new AuthError('invalid-input', `"${input.user}" is a robot account; use --robot`);
    }
    if (input.expiresAt && input.expiresAt.getTime() <= this.now()) throw new AuthError('invalid-input', 'the expiry must be in the future');
    const { id, secret, token } = newTokenSecret(ACCESS_TOKEN_PREFIX);
    await this.store.insertCredential({
      _id: id, kind: 'access', user: input.user, label: input.label, secretHash: sha256(secret),
      permissions: input.permissions, parent: null, createdAt: new Date(this.now()), expiresAt: input.expiresAt, lastUsedAt: null,
    });
    return { id, token };
  }

  async listCredentials(user?: string): Promise<CredentialSummary[]> {
    return (await this.store.listCredentials(user)).map((c) => ({
      id: c._id, kind: c.kind, user: c.user, label: c.label, permissions: c.permissions, createdAt: c.createdAt, expiresAt: c.expiresAt, lastUsedAt: c.lastUsedAt,
    }));
  }

  /** Revokes an access or refresh token (and the refresh tokens obtained with it). */
  async revokeCredential(id: string): Promise<void> {
    if (!(await this.store.removeCredential(id))) throw new AuthError('not-found', `no token with id "${id}" (see berth token list)`);
  }
}

/** What is wrong with a password as a new password, or null. */
export function passwordProblem(password: string | null): string | null {
  if (password === null || password.length < MIN_PASSWORD_LENGTH) return `a password needs at least ${MIN_PASSWORD_LENGTH} characters`;
  // bcrypt reads only the first 72 bytes: a longer password would silently be cut.
  if (Buffer.byteLength(password) > 72) return 'a password can have at most 72 bytes (bcrypt ignores the rest)';
  return null;
}

function checkPassword(password: string | null): void {
  const problem = passwordProblem(password);
  if (problem) throw new AuthError('invalid-input', problem);
}
