/** `berth token create|list|revoke`: personal and robot access tokens, and the logins (refresh tokens) to revoke. */
import { RegistryError } from '../registry/errors.ts';
import { DEFAULT_TOKEN_EXPIRY, parseExpiry } from '../registry/user-admin.ts';
import { UsageError, parseOptions, subcommandError, type Command } from './common.ts';
import { DATA_OPTIONS, DATA_OPTIONS_USAGE, WHERE_USERS_CHANGE, configFor, table, withUsers } from './auth-store.ts';
import { formatPermissions } from './user.ts';

const USAGE = `Usage:
  berth token create --user NAME [--name LABEL] [--expires 90d|12h|never|YYYY-MM-DD] [--permission PATTERN:ACTIONS]...
  berth token create --robot NAME --permission PATTERN:ACTIONS... [--name LABEL] [--expires ...]
  berth token list [--user NAME] [--json]
  berth token revoke ID

An access token is a password for docker login, podman login or skopeo --creds NAME:TOKEN; it is shown
once and stored only as a hash. A personal token (--user) acts for that user, limited further by its
own --permission if given. A robot token (--robot) belongs to a robot account (created on its first
token, with the given permissions) that has no password, for CI and scripts. Tokens expire after ${DEFAULT_TOKEN_EXPIRY}
unless --expires says otherwise. token list also shows logins (refresh tokens kept by docker login and
the web UI) and when each was last used; token revoke ends either kind, and the logins made with a
revoked token.

${WHERE_USERS_CHANGE}

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
        const owner = (values.robot ?? values.user)!;
        // A flag that can never work is a usage error (exit 2), in the flag's name, before anything is asked.
        try {
          parseExpiry(values.expires ?? DEFAULT_TOKEN_EXPIRY, Date.now(), '--expires');
        } catch (err) {
          throw err instanceof RegistryError ? new UsageError(err.message) : err;
        }
        const body = {
          ...(robot ? { robot: owner } : { user: owner }),
          ...(values.name !== undefined ? { name: values.name } : {}),
          expires: values.expires ?? DEFAULT_TOKEN_EXPIRY,
          ...(values.permission ? { permissions: values.permission } : {}),
        };
        const { token, secret } = await withUsers(config, (users) => users.createToken(body));
        out(`Created token ${token.id} for ${owner}${token.expiresAt ? `, valid until ${token.expiresAt}` : ', never expires'}\n`);
        out(`Token (shown only this once; store it now):\n${secret}\n`);
        out(`Use it as the password: echo "$TOKEN" | docker login <registry> -u ${owner} --password-stdin\n`);
        return 0;
      }
      case 'list': {
        const { tokens } = await withUsers(config, (users) => users.listTokens(values.user !== undefined ? { user: values.user } : {}));
        if (values.json) out(`${JSON.stringify(tokens, null, 2)}\n`);
        else if (tokens.length === 0) out('No tokens. Create one with: berth token create --user NAME\n');
        else {
          out(table(['ID', 'KIND', 'USER', 'NAME', 'PERMISSIONS', 'EXPIRES', 'LAST USED'], tokens.map((t) => [
            t.id, t.kind, t.user, t.label, t.permissions ? formatPermissions(t.permissions) : '(the user\'s)',
            t.expiresAt ? `${t.expiresAt}${t.expired ? ' (expired)' : ''}` : 'never', t.lastUsedAt ?? '-',
          ])));
        }
        return 0;
      }
      case 'revoke': {
        if (positionals.length !== 1) throw new UsageError('token revoke takes one token id (see berth token list)');
        await withUsers(config, (users) => users.revokeToken(positionals[0]!));
        out(`Revoked ${positionals[0]}\n`);
        return 0;
      }
      default:
        throw subcommandError('token', sub, ['create', 'list', 'revoke']);
    }
  },
};
