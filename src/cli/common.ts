/**
 * What the CLI's client commands share: connection flags, their defaults,
 * and turning errors into one line and an exit status.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConnectionError, RunError, TargetError, ChannelLostError, type ConnectOptions } from '../client/index.js';
import { knownHostsLine } from '../openssh/known-hosts.js';
import { UsageError, parseFlags, parseInteger, type FlagKind, type FlagSpec, type ParsedFlags } from '../util/flags.js';
import { DEFAULT_KEYS_DIR, ensureKeyDir, folderHostPublicKey } from '../openssh/key-dir.js';
import { KeyFileError } from '../openssh/key-format.js';
import { SizeError } from '../util/size.js';

/** The port `serve` listens on and `get` connects to by default. */
export const DEFAULT_LOOPSSH_PORT = 2222;

/** Flags every client command takes. */
export const CONNECTION_FLAGS: Record<string, FlagKind> = {
  host: 'value',
  port: 'value',
  user: 'value',
  identity: 'value',
  'host-key': 'value',
  'known-hosts': 'value',
  keys: 'value',
  cipher: 'value',
  help: 'boolean',
};

/** Help text for {@link CONNECTION_FLAGS}. */
export const CONNECTION_HELP = `connection:
  --host HOST           server address (default 127.0.0.1)
  --port PORT           server port
  --user NAME           user name (default: yours)
  --identity FILE       private key (default: KEYS/client_ed25519)
  --host-key SHA256:..  pin the server's host key fingerprint
  --known-hosts FILE    check the host key against this known_hosts file
                        (default: ~/.ssh/known_hosts, plus, for a loopback
                        host, the key of KEYS/host_ed25519: loopssh serve's own)
  --keys DIR            key folder (default: the package's keys/)
  --cipher NAME         e.g. aes128-gcm@openssh.com, chacha20-poly1305@openssh.com`;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Builds client connect options from parsed flags, with the CLI's defaults. */
export async function connectOptions(values: Map<string, string | true>, defaultPort: number): Promise<ConnectOptions> {
  const get = (k: string): string | undefined => values.get(k) as string | undefined;
  const host = get('host') ?? '127.0.0.1';
  const port = get('port') === undefined ? defaultPort : parseInteger(get('port') as string, '--port', 1, 65535);
  const keysDir = get('keys') ?? DEFAULT_KEYS_DIR;
  const explicitIdentity = get('identity');
  const identityFile = explicitIdentity ?? (await ensureKeyDir(keysDir)).clientKeyPath;
  const options: ConnectOptions = { host, port, identityFile, user: get('user') };
  const cipher = get('cipher');
  if (cipher) options.algorithms = { cipher: [cipher as never] };
  if (get('host-key')) {
    options.hostKey = get('host-key');
  } else if (get('known-hosts')) {
    const file = get('known-hosts') as string;
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

/** Prints one line for an error and returns the exit status; never a stack trace. */
export function reportError(err: unknown): number {
  const line = (msg: string): void => {
    process.stderr.write(`loopssh: ${msg.split('\n')[0]}\n`);
  };
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

/** Parses a subcommand's flags; with `--help` prints `help` and returns undefined. */
export function parseOrHelp(args: readonly string[], spec: FlagSpec, help: string, context: string): ParsedFlags | undefined {
  const parsed = parseFlags(args, spec, context);
  if (parsed.values.has('help')) {
    process.stdout.write(help);
    return undefined;
  }
  return parsed;
}
