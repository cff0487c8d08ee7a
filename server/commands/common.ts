/** What every `berth` command shares: typed errors with exit codes, and option parsing. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readProblem } from '../storage/files.ts';
import type { SetAsideStore } from '../metadata/maintenance-db.ts';
import { StartupError } from '../index.ts';
import { DataDirError, prepareDataDir } from '../storage/data-dir.ts';

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Command {
  /** One line for `berth help`. */
  summary: string;
  /** Full usage text for `berth help <command>`. */
  usage: string;
  run(args: string[]): Promise<number>;
}

/**
 * node:util parseArgs with its errors turned into one-line usage errors. A value that starts with a
 * dash and a digit (`--older-than -5m`, `--port -1`) is taken as the option's value, which parseArgs
 * would call "ambiguous": the option's own check then says what is wrong with it (negative).
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  checkValuesGiven(args, options);
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, strict: true, allowPositionals });
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    // parseArgs' "Unknown option '--frm'. To specify a positional argument starting with a '-', ...": the option is what matters.
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new UsageError(unknown ? `unknown option ${unknown[1]}` : message);
  }
}

/**
 * An option that takes a value given without one: at the end (`--port`), or followed by another option
 * (`--data --port 5000`, which parseArgs calls "ambiguous" or, worse, would take "--port" as the value).
 * The message names the option. A negative number is a value (joinNegativeValues), and so is "-" (stdin).
 */
function checkValuesGiven(args: string[], options: NonNullable<ParseArgsConfig['options']>): void {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return;
    if (!arg.startsWith('--') || arg.includes('=')) continue;
    const option = options[arg.slice(2)];
    if (option?.type !== 'string') continue;
    const next = args[i + 1];
    if (next === undefined) throw new UsageError(`${arg} needs a value`);
    if (next.startsWith('-') && next !== '-' && !/^-\d/.test(next)) {
      throw new UsageError(`${arg} needs a value, but is followed by the option ${next} (for a value that starts with "-", write ${arg}=VALUE)`);
    }
    i++;
  }
}

/** The usage error for a missing or unknown subcommand, naming the valid ones (an option first is a missing one). */
export function subcommandError(command: string, sub: string | undefined, valid: readonly string[]): UsageError {
  const list = valid.length > 1 ? `${valid.slice(0, -1).join(', ')} or ${valid.at(-1)}` : valid[0];
  return new UsageError(
    sub === undefined || sub.startsWith('-')
      ? `${command} needs a subcommand: ${list}; see berth help ${command}`
      : `unknown ${command} subcommand "${sub}": use ${list} (see berth help ${command})`,
  );
}

/**
 * Text that came from users or clients (token labels, client ids, names), safe to print on a
 * terminal: control characters (ESC starts sequences that clear the screen or set the title), C1
 * controls and the bidirectional overrides that reorder what a line seems to say are shown as
 * escapes (\x1b, \u202e); a backslash is doubled so an escape shown is never one typed.
 */
export function printable(text: string): string {
  return text.replace(/[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

function joinNegativeValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const option = arg.startsWith('--') && !arg.includes('=') ? options[arg.slice(2)] : undefined;
    if (option?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** The console line for a store file set aside at start because its contents could not be read. */
export function setAsideLine(store: SetAsideStore): string {
  return (
    `berth: ${store.file} could not be read (${store.badLines} of its ${store.lines} lines are damaged): it was set aside as ${store.keptAs}, ` +
    `and the ${store.salvaged} entries that could be read were kept. To restore it: stop Berth, repair the file (or take it from a backup), ` +
    `move it back to ${store.file}, and start Berth again.\n`
  );
}

/** Creates the data directory if needed (and `folders` in it); one line naming the cause when it cannot be used. */
export async function useDataDir(root: string, folders: readonly string[] = []): Promise<void> {
  try {
    await prepareDataDir(root, folders);
  } catch (err) {
    throw err instanceof DataDirError ? new StartupError(err.message) : err;
  }
}

/** What every Berth data directory has from the first start (or first `berth user add`) on. */
const DATA_DIR_MARKS = ['blobs', 'index', 'auth', 'webhooks', 'maintenance'];

/**
 * For commands that read or change what a data directory holds (lists, removals, webhooks): the
 * directory must exist and be Berth's. A mistyped --data is named, never created empty.
 */
export async function requireDataDir(root: string): Promise<void> {
  await requireDirectory(root);
  const entries = await fs.readdir(root).catch((err: unknown) => {
    throw new StartupError(`cannot use data directory ${root}: ${readProblem(err)}`);
  });
  if (!DATA_DIR_MARKS.some((mark) => entries.includes(mark))) {
    throw new StartupError(`${root} is not a Berth data directory (it has none of ${DATA_DIR_MARKS.map((m) => `${m}/`).join(', ')}): ${DATA_DIR_HINT}`);
  }
}

const DATA_DIR_HINT = 'pass the one your server uses with --data';

/** The data directory named by --data exists and is a folder we can read, or the reason it is not. */
async function requireDirectory(root: string): Promise<void> {
  const st = await fs.stat(root).catch((err: unknown) => err as NodeJS.ErrnoException);
  if (st instanceof Error) {
    if (st.code === 'ENOENT') throw new StartupError(`no Berth data directory at ${root} (it does not exist): ${DATA_DIR_HINT}`);
    throw new StartupError(`cannot use data directory ${root}: ${readProblem(st)}`);
  }
  if (!st.isDirectory()) throw new StartupError(`cannot use data directory ${root}: it is a file, not a directory`);
}

/**
 * For commands that work on the registry's files on disk (maintenance, inspection): the data directory
 * must hold blobs/. A wrong --data is named (missing, or no registry), never worked on. A bucket's
 * blobs are elsewhere: callers ask only for the filesystem driver.
 */
export async function requireBlobsDir(root: string): Promise<void> {
  await requireDirectory(root);
  if (!(await fs.stat(path.join(root, 'blobs')).then((st) => st.isDirectory(), () => false))) {
    throw new StartupError(`no Berth data directory at ${root} (it has no blobs/ folder): ${DATA_DIR_HINT}`);
  }
}
