/**
 * Structured logs. They go to fd 2 only, synchronously: stdout carries
 * payload bytes alone, and a synchronous destination loses no line when the
 * process exits (pino's default SonicBoom on fd 1 is asynchronous).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { UsageError } from '../util/flags.js';
import { clip } from '../util/text.js';

/**
 * What the server logs through: a pino Logger fits, and so does any logger
 * with these methods (fields first, then the message, as pino takes them).
 */
export interface ServerLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
  /** A logger that adds `fields` to every line (one per connection, per user). */
  child(fields: Record<string, unknown>): ServerLogger;
}

const LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * A pino logger writing JSON lines to stderr. Level from `LOOPSSH_LOG_LEVEL`, else `level`.
 * A `LOOPSSH_LOG_LEVEL` pino does not know is a one-line {@link UsageError}
 * (pino itself would throw a multi-line error with a stack).
 */
export function createLogger(level: LevelWithSilent = 'warn', name = 'loopssh'): Logger {
  const fromEnv = process.env.LOOPSSH_LOG_LEVEL;
  if (fromEnv !== undefined && fromEnv !== '' && !(LEVELS as readonly string[]).includes(fromEnv)) {
    throw new UsageError(`LOOPSSH_LOG_LEVEL must be one of ${LEVELS.join(', ')}; got '${clip(fromEnv)}'`);
  }
  return pino({ name, level: fromEnv || level }, pino.destination({ dest: 2, sync: true }));
}
