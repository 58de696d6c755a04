/**
 * The audit server's own log, kept in memory: what the server saw go wrong
 * during a run (a connection error such as a failed key exchange) is
 * reported next to the client's verdict, so a loss the server caused is not
 * silently blamed on the client.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** A logger for the audit's server and the messages it collected. */
export interface ServerLog {
  logger: Logger;
  /** Messages logged at info or above since the last call, e.g. `connection error: Received unexpected packet type 2`. */
  take(): string[];
}

/** Creates a {@link ServerLog}. */
export function createServerLog(): ServerLog {
  let lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        const entry = JSON.parse(chunk.toString('utf8')) as { msg?: string; err?: unknown };
        const err = typeof entry.err === 'string' ? entry.err : (entry.err as { message?: string } | undefined)?.message;
        // A client that hangs up without an SSH disconnect resets the socket:
        // its own doing, not a server failure, so it is not reported.
        if (!/ECONNRESET|EPIPE/.test(err ?? '')) lines.push(err ? `${entry.msg}: ${err}` : String(entry.msg));
      } catch {
        lines.push(chunk.toString('utf8').trim());
      }
      callback();
    },
  });
  return {
    logger: pino({ name: 'loopssh-audit-server', level: 'info' }, sink),
    take() {
      const taken = lines;
      lines = [];
      return taken;
    },
  };
}
