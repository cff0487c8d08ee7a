/** `berth user add|list|remove|passwd|import-htpasswd`: the registry's users (auth/). */
import fs from 'node:fs/promises';
import { formatGrant, parseGrant, type Grant } from '../auth/permissions.ts';
import { readProblem } from '../storage/files.ts';
import { generatePassword } from '../auth/secrets.ts';
import { UsageError, parseOptions, type Command } from './common.ts';
import { DATA_OPTIONS, DATA_OPTIONS_USAGE, configFor, readPasswordFromStdin, table, withAuthStore } from './auth-store.ts';

const USAGE = `Usage:
  berth user add NAME [--permission PATTERN:ACTIONS]... [--admin] [--password-stdin]
  berth user list [--json]
  berth user remove NAME
  berth user passwd NAME [--password-stdin]
  berth user import-htpasswd FILE [--permission PATTERN:ACTIONS]... [--replace]

Users log in with docker login, podman login, skopeo --creds... when Berth runs with --auth token.
Permissions are repository patterns with actions: pull, push, delete, admin ("*" matches any characters,
"/" included). Without --permission a new user gets "*:pull,push"; --admin gives "*:admin" (everything,
the catalog and the management API). Without --password-stdin a password is generated and printed once.
import-htpasswd takes bcrypt entries (htpasswd -B) of a registry:2 htpasswd file; users that exist are
skipped unless --replace.

These commands change <data>/auth/ directly, so they refuse to run while a Berth server owns the data
directory: stop it first.

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

function grantsFrom(values: { permission?: string[]; admin?: boolean }, fallback: Grant[]): Grant[] {
  const grants = (values.permission ?? []).map(parseGrant);
  if (values.admin) grants.push({ repository: '*', actions: ['admin'] });
  return grants.length > 0 ? grants : fallback;
}

function oneName(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`${what}; see berth help user`);
  return positionals[0]!;
}

export const userCommand: Command = {
  summary: 'Manage registry users: add, list, remove, passwd, import-htpasswd',
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseOptions(rest, OPTIONS, true);
    const config = await configFor(values);
    const out = (text: string) => process.stdout.write(text);
    switch (sub) {
      case 'add': {
        const name = oneName(positionals, 'user add takes one user name');
        const password = values['password-stdin'] ? await readPasswordFromStdin() : generatePassword();
        const permissions = grantsFrom(values, [{ repository: '*', actions: ['pull', 'push'] }]);
        await withAuthStore(config, (auth) => auth.addUser({ name, password, permissions }));
        out(`Added user ${name} (${permissions.map(formatGrant).join(' ')})\n`);
        if (!values['password-stdin']) out(`Password (shown only this once): ${password}\n`);
        return 0;
      }
      case 'list': {
        const users = await withAuthStore(config, (auth) => auth.listUsers());
        if (values.json) out(`${JSON.stringify(users, null, 2)}\n`);
        else if (users.length === 0) out('No users. Add one with: berth user add NAME\n');
        else out(table(['NAME', 'KIND', 'PERMISSIONS', 'CREATED'], users.map((u) => [u.name, u.kind, u.permissions.map(formatGrant).join(' '), u.createdAt.toISOString()])));
        return 0;
      }
      case 'remove': {
        const name = oneName(positionals, 'user remove takes one user name');
        await withAuthStore(config, (auth) => auth.removeUser(name));
        out(`Removed user ${name} and all of their tokens\n`);
        return 0;
      }
      case 'passwd': {
        const name = oneName(positionals, 'user passwd takes one user name');
        const password = values['password-stdin'] ? await readPasswordFromStdin() : generatePassword();
        await withAuthStore(config, (auth) => auth.setPassword(name, password));
        out(`Changed the password of ${name}; their logins with the old one have ended\n`);
        if (!values['password-stdin']) out(`New password (shown only this once): ${password}\n`);
        return 0;
      }
      case 'import-htpasswd': {
        const file = oneName(positionals, 'user import-htpasswd takes one file');
        let text: string;
        try {
          text = await fs.readFile(file, 'utf8');
        } catch (err) {
          throw new UsageError(`cannot read ${file}: ${readProblem(err)}`);
        }
        const permissions = grantsFrom(values, [{ repository: '*', actions: ['pull', 'push'] }]);
        const result = await withAuthStore(config, (auth) => auth.importHtpasswd(text, { permissions, replace: values.replace === true }));
        if (result.added.length > 0) out(`Added ${result.added.length} user(s) with ${permissions.map(formatGrant).join(' ')}: ${result.added.join(', ')}\n`);
        if (result.replaced.length > 0) out(`Replaced the passwords of: ${result.replaced.join(', ')}\n`);
        if (result.skipped.length > 0) out(`Skipped existing user(s) (use --replace to take their htpasswd passwords): ${result.skipped.join(', ')}\n`);
        if (result.added.length + result.replaced.length + result.skipped.length === 0) out('The file has no users\n');
        return 0;
      }
      default:
        throw new UsageError(sub === undefined ? 'user needs a subcommand: add, list, remove, passwd or import-htpasswd' : `unknown user subcommand "${sub}"; see berth help user`);
    }
  },
};
