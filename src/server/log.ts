/**
 * Structured logs. They go to fd 2 only, synchronously: stdout carries
 * payload bytes alone, and a synchronous destination loses no line when the
 * process exits (pino's default SonicBoom on fd 1 is asynchronous).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** A pino logger writing JSON lines to stderr. Level from `LOOPSSH_LOG_LEVEL`, else `level`. */
export function createLogger(level: LevelWithSilent = 'warn', name = 'loopssh'): Logger {
  const fromEnv = process.env.LOOPSSH_LOG_LEVEL as LevelWithSilent | undefined;
  return pino({ name, level: fromEnv ?? level }, pino.destination({ dest: 2, sync: true }));
}
