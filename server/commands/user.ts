/** `berth user add|list|remove|passwd|set-permissions|import-htpasswd`: the registry's users (registry/user-admin.ts). */
import fs from 'node:fs/promises';
import { formatGrant, type Grant } from '../auth/permissions.ts';
import type { PermissionView } from '../registry/api-types.ts';
import { readProblem } from '../storage/files.ts';
import { UsageError, parseOptions, printable, subcommandError, type Command } from './common.ts';
import { DATA_OPTIONS, DATA_OPTIONS_USAGE, WHERE_USERS_CHANGE, configFor, readPasswordFromStdin, table, withUsers } from './auth-store.ts';

const USAGE = `Usage:
  berth user add NAME [--permission PATTERN:ACTIONS]... [--admin] [--password-stdin]
  berth user list [--json]
  berth user remove NAME
  berth user passwd NAME [--password-stdin]
  berth user set-permissions NAME --permission PATTERN:ACTIONS... [--admin]
  berth user import-htpasswd FILE [--permission PATTERN:ACTIONS]... [--replace]

Users log in with docker login, podman login, skopeo --creds... when Berth runs with --auth token.
Permissions are repository patterns with actions: pull, push, delete, admin ("*" matches any characters,
"/" included). Without --permission a new user gets "*:pull,push"; --admin gives "*:admin" (everything,
the catalog and the management API). Without --password-stdin a password is generated and printed once.
set-permissions replaces a user's permissions. The last user with *:admin cannot be removed or lose it.

import-htpasswd imports the bcrypt lines (htpasswd -B) of a registry:2 htpasswd file; users that exist
are skipped unless --replace. Lines with other hashes (Apache MD5 $apr1$, SHA-1, crypt) cannot be
converted without the password: they are listed with how to re-create them ("htpasswd -B FILE USER"),
and the command then exits with 1 (the rest is imported).

${WHERE_USERS_CHANGE}

Options:
${DATA_OPTIONS_USAGE}
`;

const OPTIONS = {
  ...DATA_OPTIONS,
  permission: { type: 'string', multiple: true },
  admin: { type: 'boolean' },
  'password-stdin': { type: 'boolean' },
  replace: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const DEFAULT_PERMISSIONS = ['*:pull,push'];

/** The --permission strings (and --admin), as the API takes them; the service checks them. */
function permissionsFrom(values: { permission?: string[]; admin?: boolean }): string[] {
  return [...(values.permission ?? []), ...(values.admin ? ['*:admin'] : [])];
}

export function formatPermissions(permissions: PermissionView[]): string {
  return permissions.map((p) => formatGrant(p as Grant)).join(' ');
}

function oneName(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`${what}; see berth help user`);
  return positionals[0]!;
}

export const userCommand: Command = {
  summary: 'Manage registry users: add, list, remove, passwd, set-permissions, import-htpasswd',
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseOptions(rest, OPTIONS, true);
    const config = await configFor(values);
    const out = (text: string) => process.stdout.write(text);
    switch (sub) {
      case 'add': {
        const name = oneName(positionals, 'user add takes one user name');
        const given = values['password-stdin'] ? await readPasswordFromStdin() : null;
        const requested = permissionsFrom(values);
        const permissions = requested.length > 0 ? requested : DEFAULT_PERMISSIONS;
        const created = await withUsers(config, (users) => users.createUser({ name, permissions, ...(given !== null ? { password: given } : {}) }), true);
        out(`Added user ${name} (${formatPermissions(created.user.permissions)})\n`);
        if (created.password) out(`Password (shown only this once): ${created.password}\n`);
        return 0;
      }
      case 'list': {
        const { users } = await withUsers(config, (directory) => directory.listUsers());
        if (values.json) out(`${JSON.stringify(users, null, 2)}\n`);
        else if (users.length === 0) out('No users. Add one with: berth user add NAME\n');
        else out(table(['NAME', 'KIND', 'PERMISSIONS', 'CREATED'], users.map((u) => [u.name, u.kind, formatPermissions(u.permissions), u.createdAt])));
        return 0;
      }
      case 'remove': {
        const name = oneName(positionals, 'user remove takes one user name');
        await withUsers(config, (users) => users.removeUser(name));
        out(`Removed user ${name} and all of their tokens\n`);
        return 0;
      }
      case 'passwd': {
        const name = oneName(positionals, 'user passwd takes one user name');
        const given = values['password-stdin'] ? await readPasswordFromStdin() : null;
        const changed = await withUsers(config, (users) => users.setPassword(name, given !== null ? { password: given } : {}));
        out(`Changed the password of ${name}; their logins with the old one have ended\n`);
        if (changed.password) out(`New password (shown only this once): ${changed.password}\n`);
        return 0;
      }
      case 'set-permissions': {
        const name = oneName(positionals, 'user set-permissions takes one user name');
        const permissions = permissionsFrom(values);
        if (permissions.length === 0) throw new UsageError('user set-permissions needs the new permissions: --permission PATTERN:ACTIONS (repeatable) or --admin');
        const user = await withUsers(config, (users) => users.updateUser(name, { permissions }));
        out(`${name} may now: ${formatPermissions(user.permissions)}\n`);
        return 0;
      }
      case 'import-htpasswd':
        return importHtpasswd(config, oneName(positionals, 'user import-htpasswd takes one file'), values);
      default:
        throw subcommandError('user', sub, ['add', 'list', 'remove', 'passwd', 'set-permissions', 'import-htpasswd']);
    }
  },
};

/**
 * Imports what it can; the lines it could not are listed on stderr with their reasons, and the exit
 * code is then 1 (0: every line was imported or was a user that exists already).
 */
async function importHtpasswd(config: Awaited<ReturnType<typeof configFor>>, file: string, values: { permission?: string[]; admin?: boolean; replace?: boolean }): Promise<number> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${readProblem(err)}`);
  }
  const requested = permissionsFrom(values);
  const permissions = requested.length > 0 ? requested : DEFAULT_PERMISSIONS;
  const result = await withUsers(config, (users) => users.importHtpasswd({ text, permissions, replace: values.replace === true }), true);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (result.added.length > 0) out(`Added ${result.added.length} user(s) with ${permissions.join(' ')}: ${result.added.join(', ')}`);
  if (result.replaced.length > 0) out(`Replaced the passwords of: ${result.replaced.join(', ')}`);
  if (result.existing.length > 0) out(`Skipped existing user(s) (use --replace to take their htpasswd passwords): ${result.existing.join(', ')}`);
  const seen = result.added.length + result.replaced.length + result.existing.length;
  if (result.skipped.length === 0) {
    if (seen === 0) out('The file has no users');
    return 0;
  }
  // The file's own text (names of lines that were skipped) is shown safe for a terminal.
  const lines = result.skipped.map((s) => printable(`  line ${s.line}${s.name ? ` (${s.name})` : ''}: ${s.reason.replace('htpasswd -B FILE ', `htpasswd -B ${file} `)}`));
  process.stderr.write(
    `berth: ${seen === 0 ? 'nothing imported' : `imported ${result.added.length + result.replaced.length} user(s)`}; ${result.skipped.length} line(s) of ${file} skipped:\n${lines.join('\n')}\n`,
  );
  return 1;
}
