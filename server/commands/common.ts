/** What every `berth` command shares: typed errors with exit codes, and option parsing. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

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

/** node:util parseArgs with its errors turned into one-line usage errors. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
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
