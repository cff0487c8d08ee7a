/**
 * Users and tokens as the management API (http/api/users.ts, tokens.ts) and the CLI (commands/user.ts,
 * token.ts) manage them, over the auth service (auth/service.ts):
 *   - requests arrive as JSON objects and are checked field by field: a 400 BAD_REQUEST names the
 *     fields at fault in its detail ({"fields": [...]}, FieldErrorDetail), so the UI shows the message
 *     next to them; an entry of a permission list is "permissions.<i>" (".repository", ".actions");
 *   - answers are the views of api-types.ts (times as ISO strings, secrets only where created);
 *   - the registry never loses its last administrator: removing them, or taking away their `*:admin`,
 *     is refused with 409 CONFLICT (with auth on, no one could manage the registry any more).
 * Changes run one at a time, so two requests cannot both pass that check.
 *
 * The CLI runs the same class on the data directory when no server holds it, and the same requests
 * through the server's API when one does: the UserDirectory interface is what both offer.
 */
import AsyncLock from 'async-lock';
import { AuthError } from '../auth/errors.ts';
import { ACTIONS, isAdmin, parseGrant, type Action, type Grant } from '../auth/permissions.ts';
import { generatePassword } from '../auth/secrets.ts';
import { passwordProblem, tokenLabelProblem, userNameProblem, type AuthService, type CredentialSummary, type UserSummary } from '../auth/service.ts';
import { ConfigError, parseDuration } from '../config.ts';
import type {
  CreatedToken, CreatedUser, FieldErrorDetail, HtpasswdImport, PasswordChange, PermissionView, TokenList, TokenView, UserList, UserView,
} from './api-types.ts';
import { RegistryError } from './errors.ts';

/** What managing users and tokens offers, here or through a server's management API. */
export interface UserDirectory {
  listUsers(): Promise<UserList>;
  /** {name, password?, permissions}: without a password one is generated and returned once. */
  createUser(body: Record<string, unknown>): Promise<CreatedUser>;
  /** {permissions}: replaces them. */
  updateUser(name: string, body: Record<string, unknown>): Promise<UserView>;
  /** {password?}: without one, one is generated and returned once. */
  setPassword(name: string, body: Record<string, unknown>): Promise<PasswordChange>;
  removeUser(name: string): Promise<void>;
  /** {text, permissions?, replace?}: the bcrypt lines of an htpasswd file. */
  importHtpasswd(body: Record<string, unknown>): Promise<HtpasswdImport>;
  listTokens(query: { user?: string }): Promise<TokenList>;
  /** {robot | user, name?, expires?, permissions?}: the secret is returned this once. */
  createToken(body: Record<string, unknown>): Promise<CreatedToken>;
  revokeToken(id: string): Promise<void>;
}

export interface UserAdminDeps {
  /** The user store: the server's auth service, or (auth off) one opened on first use. */
  auth(): Promise<AuthService>;
  /** Registry auth is on: users and tokens apply now (else they wait for it). */
  authEnabled: boolean;
  now?: () => number;
}

/** Tokens expire after this unless the request says otherwise (as `berth token create`). */
export const DEFAULT_TOKEN_EXPIRY = '90d';
/** Users with the default permissions get these when they give none (`berth user add`). */
export const DEFAULT_PERMISSIONS: readonly string[] = ['*:pull,push'];
/** An htpasswd file of a few thousand bcrypt lines (about 70 bytes each). */
export const MAX_HTPASSWD_CHARS = 1024 * 1024;

export class UserAdmin implements UserDirectory {
  private readonly deps: UserAdminDeps;
  private readonly changes = new AsyncLock({ maxPending: Infinity });

  constructor(deps: UserAdminDeps) {
    this.deps = deps;
  }

  // ---- users --------------------------------------------------------------------------------

  async listUsers(): Promise<UserList> {
    const auth = await this.deps.auth();
    const [users, credentials] = await Promise.all([auth.listUsers(), auth.listCredentials()]);
    return { authEnabled: this.deps.authEnabled, users: users.map((u) => userView(u, credentials)) };
  }

  async createUser(body: Record<string, unknown>): Promise<CreatedUser> {
    knownFields(body, ['name', 'password', 'permissions']);
    const name = userName(body.name, 'name');
    const given = optionalPassword(body.password);
    const permissions = grants(body.permissions, 'permissions', true)!;
    return this.change(async (auth) => {
      if (await auth.store.findUser(name)) throw new RegistryError('CONFLICT', { message: `user "${name}" exists already`, detail: fields('name') });
      const password = given ?? generatePassword();
      await auth.addUser({ name, password, permissions });
      return { user: await this.userView(auth, name), password: given === null ? password : null };
    });
  }

  async updateUser(name: string, body: Record<string, unknown>): Promise<UserView> {
    knownFields(body, ['permissions']);
    const permissions = grants(body.permissions, 'permissions', true)!;
    return this.change(async (auth) => {
      await this.existing(auth, name);
      if (!isAdmin(permissions)) await this.keepAnAdmin(auth, name, `taking *:admin from "${name}"`);
      await auth.setPermissions(name, permissions);
      return this.userView(auth, name);
    });
  }

  async setPassword(name: string, body: Record<string, unknown>): Promise<PasswordChange> {
    knownFields(body, ['password']);
    const given = optionalPassword(body.password);
    return this.change(async (auth) => {
      const user = await this.existing(auth, name);
      if (user.kind === 'robot') {
        throw new RegistryError('BAD_REQUEST', { message: `"${name}" is a robot account: it logs in with its tokens, not a password`, detail: fields() });
      }
      const password = given ?? generatePassword();
      await auth.setPassword(name, password);
      return { password: given === null ? password : null };
    });
  }

  async removeUser(name: string): Promise<void> {
    await this.change(async (auth) => {
      await this.existing(auth, name);
      await this.keepAnAdmin(auth, name, `removing "${name}"`);
      await auth.removeUser(name);
    });
  }

  async importHtpasswd(body: Record<string, unknown>): Promise<HtpasswdImport> {
    knownFields(body, ['text', 'permissions', 'replace']);
    if (typeof body.text !== 'string' || body.text.length > MAX_HTPASSWD_CHARS) {
      throw invalid(`"text" must be the htpasswd file's content (up to ${MAX_HTPASSWD_CHARS} characters)`, 'text');
    }
    const text = body.text;
    const permissions = grants(body.permissions ?? DEFAULT_PERMISSIONS, 'permissions', true)!;
    if (body.replace !== undefined && typeof body.replace !== 'boolean') throw invalid('"replace" must be true or false', 'replace');
    const replace = body.replace === true;
    return this.change(async (auth) => {
      const result = await auth.importHtpasswd(text, { permissions, replace });
      return { added: result.added, replaced: result.replaced, existing: result.skipped, skipped: result.unusable };
    });
  }

  // ---- tokens -------------------------------------------------------------------------------

  async listTokens(query: { user?: string }): Promise<TokenList> {
    const auth = await this.deps.auth();
    const [users, credentials] = await Promise.all([auth.listUsers(), auth.listCredentials(query.user)]);
    const kinds = new Map(users.map((u) => [u.name, u.kind]));
    return { authEnabled: this.deps.authEnabled, tokens: credentials.map((c) => this.tokenView(c, kinds.get(c.user) ?? 'user')) };
  }

  async createToken(body: Record<string, unknown>): Promise<CreatedToken> {
    knownFields(body, ['robot', 'user', 'name', 'expires', 'permissions']);
    if ((body.robot === undefined) === (body.user === undefined)) {
      throw invalid('say whose token it is: "robot" (a robot account, made on its first token) or "user" (a personal token), not both', 'robot', 'user');
    }
    const robot = body.robot !== undefined;
    const owner = userName(robot ? body.robot : body.user, robot ? 'robot' : 'user');
    if (body.name !== undefined) {
      const problem = typeof body.name === 'string' ? tokenLabelProblem(body.name.trim()) : 'a token name is text';
      if (problem) throw invalid(`"name": ${problem}`, 'name');
    }
    const label = typeof body.name === 'string' ? body.name.trim() : robot ? 'robot' : 'personal';
    const expiresAt = parseExpiry(body.expires ?? DEFAULT_TOKEN_EXPIRY, this.now());
    const permissions = grants(body.permissions, 'permissions', false);
    return this.change(async (auth) => {
      const existing = await auth.store.findUser(owner);
      if (robot && existing?.kind === 'user') {
        throw new RegistryError('CONFLICT', { message: `"${owner}" is a user, not a robot account: give it a personal token ("user") instead`, detail: fields('robot') });
      }
      if (robot && !existing && !permissions) throw invalid(`a new robot account needs its permissions: what may "${owner}" do?`, 'permissions');
      if (!robot && !existing) throw invalid(`no user "${owner}"`, 'user');
      if (!robot && existing?.kind === 'robot') throw invalid(`"${owner}" is a robot account: give it a robot token ("robot") instead`, 'user');
      const created = await auth.createAccessToken({ user: owner, label, expiresAt, permissions, robot });
      const token = (await auth.listCredentials(owner)).find((c) => c.id === created.id)!;
      return { token: this.tokenView(token, robot ? 'robot' : 'user'), secret: created.token };
    });
  }

  async revokeToken(id: string): Promise<void> {
    await this.change(async (auth) => {
      try {
        await auth.revokeCredential(id);
      } catch (err) {
        if (err instanceof AuthError && err.kind === 'not-found') {
          throw new RegistryError('NOT_FOUND', { message: `no token with id "${id.slice(0, 100)}" (it may have been revoked already)` });
        }
        throw err;
      }
    });
  }

  // ---- internals ------------------------------------------------------------------------------

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** One change at a time; the auth layer's own refusals become API errors. */
  private async change<T>(work: (auth: AuthService) => Promise<T>): Promise<T> {
    const auth = await this.deps.auth();
    return this.changes.acquire('users', async () => {
      try {
        return await work(auth);
      } catch (err) {
        throw asRegistryError(err);
      }
    });
  }

  private async existing(auth: AuthService, name: string) {
    const user = await auth.store.findUser(name);
    if (!user) throw new RegistryError('NOT_FOUND', { message: `no user "${name.slice(0, 100)}"` });
    return user;
  }

  /** Refuses a change that would leave no administrator where there was one. */
  private async keepAnAdmin(auth: AuthService, name: string, what: string): Promise<void> {
    const admins = (await auth.listUsers()).filter((u) => isAdmin(u.permissions));
    if (admins.length === 1 && admins[0]!.name === name) {
      throw new RegistryError('CONFLICT', {
        message: `${what} would leave no one who may manage the registry: give another user *:admin first`,
        detail: fields('permissions'),
      });
    }
  }

  private async userView(auth: AuthService, name: string): Promise<UserView> {
    const user = (await auth.listUsers()).find((u) => u.name === name)!;
    return userView(user, await auth.listCredentials(name));
  }

  private tokenView(c: CredentialSummary, userKind: UserSummary['kind']): TokenView {
    return {
      id: c.id,
      kind: c.kind === 'refresh' ? 'login' : userKind === 'robot' ? 'robot' : 'personal',
      user: c.user,
      label: c.label,
      permissions: c.permissions ? c.permissions.map(permissionView) : null,
      createdAt: iso(c.createdAt),
      expiresAt: c.expiresAt ? iso(c.expiresAt) : null,
      lastUsedAt: c.lastUsedAt ? iso(c.lastUsedAt) : null,
      expired: c.expiresAt !== null && new Date(c.expiresAt).getTime() <= this.now(),
    };
  }
}

function iso(date: Date): string {
  return new Date(date).toISOString();
}

function permissionView(grant: Grant): PermissionView {
  return { repository: grant.repository, actions: [...grant.actions] };
}

function userView(user: UserSummary, credentials: CredentialSummary[]): UserView {
  return {
    name: user.name,
    kind: user.kind,
    permissions: user.permissions.map(permissionView),
    admin: isAdmin(user.permissions),
    createdAt: iso(user.createdAt),
    tokens: credentials.filter((c) => c.user === user.name).length,
  };
}

function fields(...names: string[]): FieldErrorDetail {
  return { fields: names };
}

/** A 400 naming the fields at fault, for the UI to show next to them. */
function invalid(message: string, ...names: string[]): RegistryError {
  return new RegistryError('BAD_REQUEST', { message, detail: fields(...names) });
}

function knownFields(body: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw invalid(`unknown field ${unknown.map((k) => `"${k.slice(0, 50)}"`).join(', ')} (known: ${known.join(', ')})`, ...unknown.slice(0, 10).map((k) => k.slice(0, 50)));
  }
}

function userName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`"${field}" must be a user name`, field);
  const problem = userNameProblem(value);
  if (problem) throw invalid(`"${value.slice(0, 100)}" is not a valid name: ${problem}`, field);
  return value;
}

/** A password given in the request, or null for "generate one". */
function optionalPassword(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid('"password" must be a string, or left out to have one generated', 'password');
  const problem = passwordProblem(value);
  if (problem) throw invalid(problem, 'password');
  return value;
}

/**
 * A list of permissions, each `{repository, actions}` or the CLI's "PATTERN:ACTIONS" string.
 * Absent: null (or, when `required`, refused).
 */
function grants(value: unknown, field: string, required: boolean): Grant[] | null {
  if (value === undefined || value === null) {
    if (required) throw invalid(`"${field}" must list at least one permission, such as {"repository": "team/*", "actions": ["pull", "push"]}`, field);
    return null;
  }
  if (!Array.isArray(value) || value.length === 0 || value.length > 100) {
    throw invalid(`"${field}" must be a list of 1 to 100 permissions, such as {"repository": "team/*", "actions": ["pull", "push"]}`, field);
  }
  return value.map((entry: unknown, i) => {
    const at = `${field}.${i}`;
    if (typeof entry === 'string') {
      try {
        return parseGrant(entry);
      } catch (err) {
        throw invalid((err as Error).message, at);
      }
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid(`permission ${i + 1} must be {"repository", "actions"}`, at);
    const { repository, actions, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw invalid(`permission ${i + 1} has unknown fields ${Object.keys(rest).slice(0, 5).join(', ')} (known: repository, actions)`, at);
    if (repository === '' || repository === undefined) {
      throw invalid(`permission ${i + 1} needs a repository pattern, such as team/* (everything under team/) or * (every repository)`, `${at}.repository`);
    }
    if (typeof repository !== 'string' || !validPattern(repository)) {
      throw invalid(`permission ${i + 1}: "${String(repository).slice(0, 100)}" is not a repository pattern: lowercase names, "/", and * for any characters (team/*, *)`, `${at}.repository`);
    }
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((a) => (ACTIONS as readonly unknown[]).includes(a))) {
      throw invalid(`permission ${i + 1} (${repository}): choose one or more of ${ACTIONS.join(', ')}`, `${at}.actions`);
    }
    return { repository, actions: [...new Set(actions as Action[])] };
  });
}

/** The grammar of permissions.ts, asked through the one parser it has. */
function validPattern(repository: string): boolean {
  try {
    parseGrant(`${repository}:pull`);
    return true;
  } catch {
    return false;
  }
}

/** A token that expires sooner would be dead before anyone could use it. */
export const MIN_TOKEN_LIFETIME_MS = 60_000;
export const EXPIRY_FORMS = 'a duration (12h, 90d, 4w), a date (2027-01-31) or never';

/**
 * When a token stops working: "never", a date ("2027-01-31"), or a duration from now through the one
 * duration parser (config.ts), at least a minute.
 */
export function parseExpiry(value: unknown, now: number, source = '"expires"'): Date | null {
  if (value === 'never' || value === null) return null;
  let at: Date;
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\d(T[\d:.]+Z?)?$/.test(value) && !Number.isNaN(Date.parse(value))) {
    at = new Date(value);
  } else {
    try {
      at = new Date(now + parseDuration(value, source, MIN_TOKEN_LIFETIME_MS, EXPIRY_FORMS));
    } catch (err) {
      throw err instanceof ConfigError ? invalid(err.message, 'expires') : err;
    }
  }
  if (at.getTime() <= now) throw invalid(`${source}: ${at.toISOString()} has passed; the expiry must be in the future`, 'expires');
  return at;
}

function asRegistryError(err: unknown): unknown {
  if (!(err instanceof AuthError)) return err;
  if (err.kind === 'not-found') return new RegistryError('NOT_FOUND', { message: err.message });
  if (err.kind === 'conflict') return new RegistryError('CONFLICT', { message: err.message });
  return new RegistryError('BAD_REQUEST', { message: err.message, detail: fields() });
}
