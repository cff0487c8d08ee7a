/**
 * The `berth` command line: a table of commands (commands/), each failure the user can fix is one
 * line on stderr and a non-zero exit (2: usage or configuration, 1: anything else).
 */
import { ConfigError } from './config.ts';
import { StartupError } from './index.ts';
import { UsageError, type Command } from './commands/common.ts';
import { serveCommand } from './commands/serve.ts';
import { tlsCommand } from './commands/tls.ts';
import { tokenCommand } from './commands/token.ts';
import { userCommand } from './commands/user.ts';
import { gcCommand } from './commands/gc.ts';
import { scrubCommand } from './commands/scrub.ts';
import { reindexCommand } from './commands/reindex.ts';
import { purgeUploadsCommand } from './commands/purge-uploads.ts';
import { storageCommand } from './commands/storage.ts';
import { filesCommand } from './commands/files.ts';
import { diffCommand } from './commands/diff.ts';
import { webhookCommand } from './commands/webhook.ts';
import { AuthError } from './auth/errors.ts';
import { ServerRefusal } from './commands/management-client.ts';
import { RegistryError } from './registry/errors.ts';
import { LockFileError } from './storage/lock.ts';
import { DataDirError } from './storage/data-dir.ts';
import { VERSION } from './version.ts';

const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  user: userCommand,
  token: tokenCommand,
  tls: tlsCommand,
  gc: gcCommand,
  scrub: scrubCommand,
  reindex: reindexCommand,
  'purge-uploads': purgeUploadsCommand,
  storage: storageCommand,
  files: filesCommand,
  diff: diffCommand,
  webhook: webhookCommand,
};

/** The command of this name; never an inherited property of the table ("toString", "constructor"). */
function commandNamed(name: string): Command | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: berth <command> [options]\n\nCommands:\n${lines.join('\n')}\n  ${'help'.padEnd(width)}  Show this help, or a command's: berth help <command>\n  ${'--version'.padEnd(width)}  Print Berth's version\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === '--version' || name === '-v' || name === 'version') {
      process.stdout.write(`berth ${VERSION}\n`);
      return 0;
    }
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      const [asked] = rest;
      if (asked === undefined || asked === 'help') {
        process.stdout.write(usage());
        return name === undefined ? 2 : 0;
      }
      const topic = commandNamed(asked);
      if (!topic) throw new UsageError(`unknown command "${asked}"; run "berth help" for the list`);
      process.stdout.write(topic.usage);
      return 0;
    }
    const command = commandNamed(name);
    if (!command) throw new UsageError(`unknown command "${name}"; run "berth help" for the list`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(command.usage);
      return 0;
    }
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`berth: ${err.message}\n`);
      return 2;
    }
    // Refused on its merits, by the service here or by the server that owns the data directory.
    if (err instanceof StartupError || err instanceof AuthError || err instanceof RegistryError || err instanceof ServerRefusal || err instanceof LockFileError || err instanceof DataDirError) {
      process.stderr.write(`berth: ${err.message}\n`);
      return 1;
    }
    // Not a failure we foresaw: the stack helps whoever reports it.
    process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
