/** What every `berth` command shares: typed errors with exit codes, and option parsing. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
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
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
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
