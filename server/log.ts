/** Structured logging: JSON lines (pino) on stdout, at the configured level. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { app: 'berth' }, timestamp: pino.stdTimeFunctions.isoTime });
}
