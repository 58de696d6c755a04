/**
 * What the CLI's client commands share: connection flags, their defaults,
 * and turning errors into one line and an exit status.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConnectionError, RunError, TargetError, ChannelLostError, type ConnectOptions } from '../client/index.js';
import { knownHostsLine } from '../openssh/known-hosts.js';
import { UsageError, flagHelp, flagTable, parseInteger, parseTable, type FlagTable, type FlagValues, type ParsedTable } from '../util/flags.js';
import { DEFAULT_KEYS_DIR, ensureKeyDir, folderHostPublicKey } from '../openssh/key-dir.js';
import { KeyFileError } from '../openssh/key-format.js';
import { isLoopback } from '../util/loopback.js';
import { SizeError } from '../util/size.js';
import { escapeText } from '../util/text.js';

/** The port `serve` listens on and `get` connects to by default. */
export const DEFAULT_LOOPSSH_PORT = 2222;

/**
 * Flags every client command takes; `defaultPort` is what `--port` says
 * when absent (22 for `exec`, loopssh's own port for `get`).
 */
export function connectionFlags(defaultPort: number) {
  const section = 'connection';
  return flagTable({
    host: { kind: 'value', arg: 'HOST', section, help: 'server address (default 127.0.0.1)' },
    port: { kind: 'value', alias: 'p', arg: 'PORT', section, help: `server port (default ${defaultPort})` },
    user: { kind: 'value', arg: 'NAME', section, help: 'user name (default: yours)' },
    identity: { kind: 'value', alias: 'i', arg: 'FILE', section, help: 'private key (default: KEYS/client_ed25519)' },
    'host-key': { kind: 'value', arg: 'SHA256:..', section, help: "pin the server's host key fingerprint" },
    'known-hosts': {
      kind: 'value',
      arg: 'FILE',
      section,
      help: "check the host key against this known_hosts file\n(default: ~/.ssh/known_hosts, plus, for a loopback\nhost, the key of KEYS/host_ed25519: loopssh serve's own)",
    },
    keys: { kind: 'value', arg: 'DIR', section, help: "key folder (default: the package's keys/)" },
    cipher: { kind: 'value', arg: 'NAME', section, help: 'e.g. aes128-gcm@openssh.com, chacha20-poly1305@openssh.com' },
  });
}

/** The values {@link connectionFlags} parses into. */
export type ConnectionValues = FlagValues<ReturnType<typeof connectionFlags>>;

/** `-h`/`--help`, listed under `section`. */
export function helpFlag(section: string) {
  return flagTable({ help: { kind: 'boolean', alias: 'h', section, help: 'print this help and exit' } });
}

/** A CLI subcommand: its usage line, description and the one table its flags, parser and help come from. */
export interface CliCommand<T extends FlagTable> {
  /** The subcommand's name, e.g. `serve`. */
  readonly name: string;
  /** What follows `usage: loopssh `, e.g. `serve [options]`. */
  readonly usage: string;
  /** Paragraphs between the usage line and the flags. */
  readonly about: string;
  readonly flags: T;
  /** Flags end at the first positional (the rest is a remote command). */
  readonly stopAtPositional?: boolean;
}

/** The help text of `command`, generated from its flag table. */
export function commandHelp(command: CliCommand<FlagTable>): string {
  return `usage: loopssh ${command.usage}\n\n${command.about}\n\n${flagHelp(command.flags, { sections: true })}\n`;
}

/** Builds client connect options from parsed flags, with the CLI's defaults. */
export async function connectOptions(values: ConnectionValues, defaultPort: number): Promise<ConnectOptions> {
  const host = values.host ?? '127.0.0.1';
  const port = values.port === undefined ? defaultPort : parseInteger(values.port, '--port', 1, 65535);
  const keysDir = values.keys ?? DEFAULT_KEYS_DIR;
  const identityFile = values.identity ?? (await ensureKeyDir(keysDir)).clientKeyPath;
  const options: ConnectOptions = { host, port, identityFile, user: values.user };
  const cipher = values.cipher;
  if (cipher) options.algorithms = { cipher: [cipher as never] };
  if (values['host-key']) {
    options.hostKey = values['host-key'];
  } else if (values['known-hosts']) {
    const file = values['known-hosts'];
    if (!existsSync(file)) throw new UsageError(`--known-hosts ${file}: no such file`);
    options.knownHosts = readFileSync(file, 'utf8');
  } else {
    // Like ssh: the user's known_hosts; and loopssh's own server key on loopback.
    const userFile = join(homedir(), '.ssh', 'known_hosts');
    let text = existsSync(userFile) ? readFileSync(userFile, 'utf8') : '';
    // Derived from the private key: a host_ed25519.pub that says otherwise is not trusted.
    const own = isLoopback(host) ? folderHostPublicKey(keysDir) : undefined;
    if (own !== undefined) text += `\n${knownHostsLine(host, port, own)}\n`;
    options.knownHosts = text;
  }
  return options;
}

/** Exit status for a signal-killed remote command: like ssh, 255. */
export const EXIT_REMOTE_SIGNAL = 255;
/** Connection, auth, host key failures: like ssh, 255. */
export const EXIT_CONNECTION = 255;
/** Bad usage: 2. */
export const EXIT_USAGE = 2;

/** The user interrupted a run (SIGINT/SIGTERM); exits 128 + the signal's number, like a shell. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(
    readonly signal: NodeJS.Signals,
    readonly run: RunError,
  ) {
    super(`interrupted by ${signal} after ${run.stdoutBytes} stdout and ${run.stderrBytes} stderr bytes`);
  }
}

/**
 * Turns SIGINT/SIGTERM into an aborted `signal` while `work` runs, so the
 * process still ends through its normal path (targets cleaned up, stdout's
 * flags restored); a RunError `isCancel` accepts becomes an InterruptedError.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>, isCancel: (err: unknown) => err is RunError): Promise<T> {
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals): void => {
    caught = s;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } catch (err) {
    if (caught && isCancel(err)) throw new InterruptedError(caught, err);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Prints one `loopssh: ...` line on stderr. Messages carry peer-supplied text
 * (a server's DISCONNECT message, a signal name, ssh2's errors): every control
 * character is escaped so a peer cannot write to the user's terminal.
 */
export function printLine(msg: string): void {
  process.stderr.write(`loopssh: ${escapeText(msg)}\n`);
}

/** Prints one line for an error and returns the exit status; never a stack trace. */
export function reportError(err: unknown): number {
  const line = printLine;
  if (err instanceof InterruptedError) {
    line(err.message);
    return 128 + (err.signal === 'SIGINT' ? 2 : 15);
  }
  if (err instanceof UsageError || err instanceof SizeError) {
    line(err.message);
    return EXIT_USAGE;
  }
  if (err instanceof KeyFileError) {
    line(err.message);
    return EXIT_CONNECTION;
  }
  if (err instanceof ConnectionError || err instanceof ChannelLostError) {
    line(err.message);
    return EXIT_CONNECTION;
  }
  if (err instanceof TargetError) {
    // A closed stdout pipe ends us quietly, as coreutils do (128 + SIGPIPE).
    if (err.code === 'EPIPE') return 141;
    line(err.message);
    return 1;
  }
  if (err instanceof RunError) {
    line(err.message);
    return 1;
  }
  if (err instanceof Error && (err as NodeJS.ErrnoException).code) {
    line(err.message);
    return 1;
  }
  line(`internal error: ${err instanceof Error ? err.message : String(err)} (set LOOPSSH_LOG_LEVEL=debug for details)`);
  return 70;
}

/** Parses a subcommand's arguments; with `--help` prints its help and returns undefined. */
export function parseOrHelp<T extends FlagTable>(args: readonly string[], command: CliCommand<T>): ParsedTable<T> | undefined {
  const parsed = parseTable(args, command.flags, command.name, command.stopAtPositional);
  if ('help' in parsed.values) {
    process.stdout.write(commandHelp(command));
    return undefined;
  }
  return parsed;
}
