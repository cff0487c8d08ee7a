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
