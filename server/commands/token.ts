/** `berth token create|list|revoke`: personal and robot access tokens, and the logins (refresh tokens) to revoke. */
import { formatGrant, parseGrant } from '../auth/permissions.ts';
import { ConfigError, parseDuration } from '../config.ts';
import { UsageError, parseOptions, type Command } from './common.ts';
import { DATA_OPTIONS, DATA_OPTIONS_USAGE, configFor, table, withAuthStore } from './auth-store.ts';

const USAGE = `Usage:
  berth token create --user NAME [--name LABEL] [--expires 90d|12h|never|YYYY-MM-DD] [--permission PATTERN:ACTIONS]...
  berth token create --robot NAME --permission PATTERN:ACTIONS... [--name LABEL] [--expires ...]
  berth token list [--user NAME] [--json]
  berth token revoke ID

An access token is a password for docker login, podman login or skopeo --creds NAME:TOKEN; it is shown
once and stored only as a hash. A personal token (--user) acts for that user, limited further by its
own --permission if given. A robot token (--robot) belongs to a robot account (created on its first
token, with the given permissions) that has no password, for CI and scripts. Tokens expire after 90 days
unless --expires says otherwise. token list also shows logins (refresh tokens kept by docker login);
token revoke ends either kind, and the logins made with a revoked token.

These commands change <data>/auth/ directly, so they refuse to run while a Berth server owns the data
directory: stop it first.

Options:
${DATA_OPTIONS_USAGE}
`;

const OPTIONS = {
  ...DATA_OPTIONS,
  user: { type: 'string' },
  robot: { type: 'string' },
  name: { type: 'string' },
  expires: { type: 'string' },
  permission: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

const DEFAULT_EXPIRY = '90d';

/** "never", a date (2027-01-31), or a duration from now through the one duration parser (config.ts). */
export function parseExpiry(text: string, now = Date.now()): Date | null {
  if (text === 'never') return null;
  if (/^\d{4}-\d\d-\d\d(T[\d:.]+Z?)?$/.test(text) && !Number.isNaN(Date.parse(text))) return new Date(text);
  try {
    return new Date(now + parseDuration(text, '--expires', MIN_LIFETIME_MS, 'a duration (12h, 90d, 4w), a date (2027-01-31) or never'));
  } catch (err) {
    throw err instanceof ConfigError ? new UsageError(err.message) : err;
  }
}

/** A token that expires sooner would be dead before anyone could use it. */
const MIN_LIFETIME_MS = 60_000;

export const tokenCommand: Command = {
  summary: 'Manage access tokens (personal and robot) and logins: create, list, revoke',
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseOptions(rest, OPTIONS, true);
    const config = await configFor(values);
    const out = (text: string) => process.stdout.write(text);
    switch (sub) {
      case 'create': {
        if (positionals.length > 0) throw new UsageError(`token create takes no arguments, got "${positionals[0]}"; see berth help token`);
        if ((values.user === undefined) === (values.robot === undefined)) throw new UsageError('token create needs exactly one of --user NAME or --robot NAME');
        const robot = values.robot !== undefined;
        const user = (values.robot ?? values.user)!;
        const permissions = values.permission?.map(parseGrant) ?? null;
        const expiresAt = parseExpiry(values.expires ?? DEFAULT_EXPIRY);
        const label = values.name ?? (robot ? 'robot' : 'personal');
        const created = await withAuthStore(config, (auth) => auth.createAccessToken({ user, label, expiresAt, permissions, robot }));
        out(`Created token ${created.id} for ${user}${expiresAt ? `, valid until ${expiresAt.toISOString()}` : ', never expires'}\n`);
        out(`Token (shown only this once; store it now):\n${created.token}\n`);
        out(`Use it as the password: echo "$TOKEN" | docker login <registry> -u ${user} --password-stdin\n`);
        return 0;
      }
      case 'list': {
        const tokens = await withAuthStore(config, (auth) => auth.listCredentials(values.user));
        if (values.json) out(`${JSON.stringify(tokens, null, 2)}\n`);
        else if (tokens.length === 0) out('No tokens. Create one with: berth token create --user NAME\n');
        else {
          out(table(['ID', 'KIND', 'USER', 'NAME', 'PERMISSIONS', 'EXPIRES', 'LAST USED'], tokens.map((t) => [
            t.id, t.kind === 'access' ? 'token' : 'login', t.user, t.label, t.permissions ? t.permissions.map(formatGrant).join(' ') : '(the user\'s)',
            t.expiresAt ? t.expiresAt.toISOString() : 'never', t.lastUsedAt ? t.lastUsedAt.toISOString() : '-',
          ])));
        }
        return 0;
      }
      case 'revoke': {
        if (positionals.length !== 1) throw new UsageError('token revoke takes one token id (see berth token list)');
        await withAuthStore(config, (auth) => auth.revokeCredential(positionals[0]!));
        out(`Revoked ${positionals[0]}\n`);
        return 0;
      }
      default:
        throw new UsageError(sub === undefined ? 'token needs a subcommand: create, list or revoke' : `unknown token subcommand "${sub}"; see berth help token`);
    }
  },
};
