/**
 * The desktop app's log: the registry's JSON lines plus the shell's own, to <logs>/berth.log when
 * packaged (nobody sees stdout there) and to stdout in development. The management token must never
 * appear: it is not logged anywhere, and the redaction is a second line of defence.
 */
import path from 'node:path';
import { pino, type Logger } from 'pino';

export const REDACTED_PATHS = ['managementToken', '*.managementToken', 'token', '*.token', 'authorization', '*.authorization', '*.headers.authorization'];

export function createDesktopLogger(options: { logsDir: string | null; level?: string }): Logger {
  const destination = options.logsDir
    ? pino.destination({ dest: path.join(options.logsDir, 'berth.log'), mkdir: true, sync: false })
    : pino.destination(1);
  return pino(
    {
      level: options.level ?? 'info',
      base: { app: 'berth-desktop' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}
