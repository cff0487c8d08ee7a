/**
 * The auth service the HTTP layer and the CLI use: logins (passwords, personal/robot access tokens,
 * refresh tokens) with throttling, the token grant (requested scopes intersected with permissions),
 * JWT issue and verification, and user and token management. Composed of the store (store.ts), the
 * signer (jwt.ts), the throttles (throttle.ts) and the bcrypt threads (password-pool.ts).
 *
 * Throttling never refuses what is right: an access or refresh token (256 random bits: no one
 * guesses them, and checking one is a hash lookup) is checked before anything else and accepted
 * whatever failed before it. Passwords are what can be guessed, so a password attempt is refused
 * unchecked while its address prefix has failed too often lately, or while its user name has and
 * the user was never seen logging in from that prefix (TrustedClients). Only failures count.
 *
 * Refresh tokens (what `docker login` keeps, and the UI's session) end after REFRESH_IDLE_MS unused
 * and REFRESH_LIFETIME_MS in all, with the access token they came from (revoked or expired), with
 * a password change, and when their user has more than REFRESH_PER_USER (the least recently used
 * goes); a client ends its own with revokeSecret() (POST /token/revoke, the UI's sign-out).
 */
import path from 'node:path';
import { AuthError } from './errors.ts';
import { parseHtpasswd, type SkippedLine } from './htpasswd.ts';
import { TokenSigner, type AccessClaims, type IssuedToken } from './jwt.ts';
import { intersect, isAdmin, type Grant } from './permissions.ts';
import type { ResourceAccess } from './scope.ts';
import { PasswordPool } from './password-pool.ts';
import {
  ACCESS_TOKEN_PREFIX, BCRYPT_COST, REFRESH_TOKEN_PREFIX, generatePassword, newTokenSecret, parseTokenSecret, sameHash, sha256,
} from './secrets.ts';
import { loadOrCreateSigningKey, type SigningKey } from './signing-key.ts';
import { AuthStore, type CredentialDoc, type UserDoc, type UserStore } from './store.ts';
import { KeyedGate, LoginThrottle, TrustedClients, addressPrefix, type SharedLoginState, type ThrottlePolicy } from './throttle.ts';

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
  /** Per user name, at addresses the user is not known at: 10 free failures, then waits doubling from 1 s up to a minute. */
  userThrottle?: ThrottlePolicy;
  /** Per address prefix: more free failures (people share addresses behind NAT), same doubling. */
  addressThrottle?: ThrottlePolicy;
  /** The bcrypt threads (default: a pool of its own, closed with the service). */
  passwords?: PasswordPool;
  /** Refresh token limits (defaults below); tests shorten them. */
  refresh?: Partial<RefreshPolicy>;
  /** Where users and credentials live (default: the nedb files in `dir`); a cluster shares one database. */
  store?: UserStore;
  /** The token signing key (default: <dir>/signing-key.jwk, made on first use); a cluster shares one. */
  signingKey?: () => Promise<SigningKey>;
  /** Failed logins and known clients (default: this process's memory); a cluster shares them. */
  loginState?: SharedLoginState;
}

export interface RefreshPolicy {
  /** Unused for this long, a refresh token ends. */
  idleMs: number;
  /** However used, a refresh token ends this long after the login that made it. */
  lifetimeMs: number;
  /** Refresh tokens one user may hold; a new one beyond ends the least recently used. */
  perUser: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * A month unused ends a `docker login` (a laptop back from holidays logs in again); three months in
 * all, like an access token's default expiry. 50 logins per user covers every machine and CI runner
 * a person has, and bounds what repeated logins can pile up.
 */
export const REFRESH_POLICY: RefreshPolicy = { idleMs: 30 * DAY_MS, lifetimeMs: 90 * DAY_MS, perUser: 50 };

/**
 * A client names itself in client_id (Docker: "docker", the UI: "berth-ui"), and `berth token list`
 * shows it: printable ASCII, up to 100 characters. Anything else is refused rather than stored.
 */
const CLIENT_ID = /^[\x20-\x7e]{1,100}$/;

export function clientIdProblem(clientId: string): string | null {
  return CLIENT_ID.test(clientId) ? null : 'client_id must be 1-100 printable ASCII characters';
}

/** A token's name (what the user calls it): any text up to 100 characters, but no control characters or bidi overrides. */
const LABEL = /^[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]{1,100}$/u;

export function tokenLabelProblem(label: string): string | null {
  return LABEL.test(label) ? null : 'a token name is 1-100 characters, without control characters';
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
  readonly store: UserStore;
  private readonly signingKey: () => Promise<SigningKey>;
  readonly anonymousPull: boolean;
  private readonly dir: string;
  private readonly now: () => number;
  private readonly users: LoginThrottle;
  private readonly addresses: LoginThrottle;
  private readonly trusted: TrustedClients;
  /** Four password checks of one address prefix at a time; the others wait (up to 64). */
  private readonly perAddress = new KeyedGate(4, 64);
  private readonly passwords: PasswordPool;
  private readonly ownPool: boolean;
  readonly refresh: RefreshPolicy;
  private signer: TokenSigner | null = null;
  /** A bcrypt hash of a password no one knows, to spend the same time on unknown users. */
  private decoy: Promise<string> | null = null;

  constructor(options: AuthServiceOptions) {
    this.dir = options.dir;
    this.anonymousPull = options.anonymousPull;
    this.now = options.now ?? Date.now;
    this.store = options.store ?? new AuthStore(options.dir);
    this.signingKey = options.signingKey ?? (() => loadOrCreateSigningKey(path.join(this.dir, 'signing-key.jwk')));
    const shared = options.loginState ?? null;
    this.users = new LoginThrottle(options.userThrottle ?? { freeFailures: 10, maxDelayMs: 60_000, forgetAfterMs: 900_000 }, this.now, shared);
    this.addresses = new LoginThrottle(options.addressThrottle ?? { freeFailures: 20, maxDelayMs: 60_000, forgetAfterMs: 900_000 }, this.now, shared);
    this.trusted = new TrustedClients(this.now, shared);
    this.passwords = options.passwords ?? new PasswordPool();
    this.ownPool = options.passwords === undefined;
    this.refresh = { ...REFRESH_POLICY, ...options.refresh };
  }

  /** Opens the user store and the signing key (made on first use). */
  async open(): Promise<void> {
    await this.store.open();
    this.signer = new TokenSigner(await this.signingKey(), this.now);
    // Refresh tokens that ended while no server ran: they could not be used, now they are not listed either.
    await this.store.removeCredentials((await this.store.listCredentials()).filter((c) => this.refreshEnded(c)).map((c) => c._id));
  }

  async close(): Promise<void> {
    if (this.ownPool) await this.passwords.close();
    await this.store.close();
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
   * A user name with a password or an access token. An access token is checked first and, when
   * valid, accepted whatever failed before; a password is refused unchecked while its address prefix
   * or (at a prefix the user is not known at) its user name is throttled. See the top.
   */
  async login(username: string, password: string, address: string): Promise<Principal> {
    const prefix = addressPrefix(address);
    const addressKey = `address:${prefix}`;
    const asToken = parseTokenSecret(ACCESS_TOKEN_PREFIX, password);
    if (asToken) {
      const principal = await this.checkAccessToken(username, asToken);
      if (principal) return principal;
      await this.addresses.fail(addressKey);
      throw new AuthError('invalid-credentials', 'incorrect user name or password');
    }
    const userKey = `user:${username.toLowerCase()}`;
    const known = await this.trusted.isKnown(username, prefix);
    const release = await this.perAddress.enter(addressKey);
    if (!release) throw new AuthError('throttled', 'too many logins from this address at once; try again in a second', 1);
    try {
      // A cluster: what the other replicas counted counts here too.
      await Promise.all([this.addresses.load(addressKey), known ? undefined : this.users.load(userKey)]);
      const wait = Math.max(this.addresses.waitMs(addressKey), known ? 0 : this.users.waitMs(userKey));
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        throw new AuthError('throttled', `too many failed logins; try again in ${seconds} s`, seconds);
      }
      const principal = await this.checkPassword(username, password, known);
      if (!principal) {
        await Promise.all([this.addresses.fail(addressKey), known ? undefined : this.users.fail(userKey)]);
        throw new AuthError('invalid-credentials', 'incorrect user name or password');
      }
      await this.trusted.remember(username, prefix);
      return principal;
    } finally {
      release();
    }
  }

  private async checkAccessToken(username: string, asToken: { id: string; secret: string }): Promise<Principal | null> {
    const [user, credential] = await Promise.all([this.store.findUser(username), this.store.findCredential(asToken.id)]);
    if (!user || !credential || credential.kind !== 'access' || credential.user !== user.name) return null;
    if (!sameHash(credential.secretHash, sha256(asToken.secret))) return null;
    if (credential.expiresAt && credential.expiresAt.getTime() <= this.now()) return null;
    await this.touch(credential);
    return {
      subject: user.name,
      grantSets: credential.permissions ? [user.permissions, credential.permissions] : [user.permissions],
      viaCredential: credential._id,
    };
  }

  private async checkPassword(username: string, password: string, known: boolean): Promise<Principal | null> {
    const user = await this.store.findUser(username);
    // Unknown users cost a bcrypt comparison too, so response times do not tell which names exist.
    const hash = user?.kind === 'user' && user.passwordHash ? user.passwordHash : await this.decoyHash();
    const ok = await this.passwords.compare(password, hash, known);
    return ok && user?.kind === 'user' ? { subject: user.name, grantSets: [user.permissions], viaCredential: null } : null;
  }

  private decoyHash(): Promise<string> {
    this.decoy ??= this.passwords.hash(newTokenSecret('decoy').secret, BCRYPT_COST);
    this.decoy.catch(() => (this.decoy = null));
    return this.decoy;
  }

  /** A login does not rewrite a token's last-used time more often than TOUCH_INTERVAL_MS. */
  private async touch(credential: CredentialDoc): Promise<void> {
    if (!credential.lastUsedAt || this.now() - credential.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
      await this.store.touchCredential(credential._id, new Date(this.now()));
    }
  }

  /** Whether a refresh token has ended by time (idle or absolute); other kinds never do here. */
  private refreshEnded(credential: CredentialDoc): boolean {
    if (credential.kind !== 'refresh') return false;
    const now = this.now();
    const lastUse = (credential.lastUsedAt ?? credential.createdAt).getTime();
    return now - lastUse >= this.refresh.idleMs || now - credential.createdAt.getTime() >= this.refresh.lifetimeMs ||
      (credential.expiresAt !== null && credential.expiresAt.getTime() <= now);
  }

  /**
   * A new refresh token for this principal (OAuth access_type=offline, Docker's offline_token=true).
   * Past REFRESH_PER_USER, the user's least recently used ones end; ended ones are swept here too.
   */
  async createRefreshToken(principal: Principal, clientId: string): Promise<string> {
    if (principal.subject === '') throw new AuthError('invalid-input', 'anonymous clients get no refresh token');
    const problem = clientIdProblem(clientId);
    if (problem) throw new AuthError('invalid-input', problem);
    const now = new Date(this.now());
    const theirs = (await this.store.listCredentials(principal.subject)).filter((c) => c.kind === 'refresh');
    const live = theirs.filter((c) => !this.refreshEnded(c));
    const lastUse = (c: CredentialDoc) => (c.lastUsedAt ?? c.createdAt).getTime();
    const over = live.sort((a, b) => lastUse(a) - lastUse(b)).slice(0, Math.max(0, live.length - this.refresh.perUser + 1));
    await this.store.removeCredentials([...theirs.filter((c) => this.refreshEnded(c)), ...over].map((c) => c._id));
    const { id, secret, token } = newTokenSecret(REFRESH_TOKEN_PREFIX);
    await this.store.insertCredential({
      _id: id, kind: 'refresh', user: principal.subject, label: clientId, secretHash: sha256(secret),
      permissions: null, parent: principal.viaCredential, createdAt: now, expiresAt: new Date(now.getTime() + this.refresh.lifetimeMs), lastUsedAt: now,
    });
    return token;
  }

  /**
   * The principal behind a refresh token, with the user's (and token's) permissions as they are now.
   * A token never outlives what it came from: its parent access token must still exist and be
   * unexpired, and its own idle and absolute limits hold. Failures count for `address`'s prefix,
   * but a valid token is never refused.
   */
  async redeemRefreshToken(token: string, address: string): Promise<Principal> {
    const invalid = (why: string) => {
      this.addresses.failed(`address:${addressPrefix(address)}`);
      return new AuthError('invalid-grant', `the refresh token ${why}; log in again`);
    };
    const parsed = parseTokenSecret(REFRESH_TOKEN_PREFIX, token);
    const credential = parsed ? await this.store.findCredential(parsed.id) : null;
    if (!parsed || !credential || credential.kind !== 'refresh' || !sameHash(credential.secretHash, sha256(parsed.secret))) {
      throw invalid('is not valid (revoked, or from another Berth)');
    }
    if (this.refreshEnded(credential)) {
      await this.store.removeCredentials([credential._id]);
      throw invalid('has expired');
    }
    const user = await this.store.findUser(credential.user);
    if (!user) throw invalid('is not valid (its user was removed)');
    const grantSets = [user.permissions];
    if (credential.parent) {
      const parent = await this.store.findCredential(credential.parent);
      if (!parent || (parent.expiresAt && parent.expiresAt.getTime() <= this.now())) throw invalid('ended with the access token it was made with');
      if (parent.permissions) grantSets.push(parent.permissions);
    }
    await this.touch(credential);
    return { subject: user.name, grantSets, viaCredential: credential.parent };
  }

  /**
   * Ends the refresh or access token a client presents (RFC 7009: holding it is the right to end
   * it). Anything else, or a token that is not valid, is ignored: the answer is the same.
   */
  async revokeSecret(token: string): Promise<void> {
    for (const [prefix, kind] of [[REFRESH_TOKEN_PREFIX, 'refresh'], [ACCESS_TOKEN_PREFIX, 'access']] as const) {
      const parsed = parseTokenSecret(prefix, token);
      if (!parsed) continue;
      const credential = await this.store.findCredential(parsed.id);
      if (credential?.kind === kind && sameHash(credential.secretHash, sha256(parsed.secret))) await this.store.removeCredential(credential._id);
    }
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
      name: input.name, kind, passwordHash: kind === 'user' ? await this.passwords.hash(input.password!, BCRYPT_COST) : null,
      permissions: input.permissions, createdAt: at, updatedAt: at,
    });
  }

  async setPassword(name: string, password: string): Promise<void> {
    const user = await this.requireUser(name);
    if (user.kind === 'robot') throw new AuthError('invalid-input', `"${name}" is a robot account: it has tokens, not a password`);
    checkPassword(password);
    await this.store.updateUser(name, { passwordHash: await this.passwords.hash(password, BCRYPT_COST) });
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
    const labelProblem = tokenLabelProblem(input.label);
    if (labelProblem) throw new AuthError('invalid-input', labelProblem);
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

  /** Access tokens and the refresh tokens still in force (ended ones are not listed). */
  async listCredentials(user?: string): Promise<CredentialSummary[]> {
    return (await this.store.listCredentials(user)).filter((c) => !this.refreshEnded(c)).map((c) => ({
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
