/**
 * `loopssh exec` and `loopssh get`: run a remote command with redirects.
 */
import { connect, RunAbortedError, type Connection, type RunOptions, type RunResult } from '../client/index.js';
import { joinCommand } from '../openssh/command-line.js';
import { UsageError } from '../util/flags.js';
import { payloadDigest } from '../payload/patterns.js';
import { formatSize } from '../util/size.js';
import { parsePayloadCommand } from '../server/builtins.js';
import { keepStdioBlocking } from './stdio.js';
import { CONNECTION_FLAGS, CONNECTION_HELP, DEFAULT_LOOPSSH_PORT, EXIT_REMOTE_SIGNAL, InterruptedError, connectOptions, parseOrHelp } from './common.js';

const REDIRECT_FLAGS = { output: 'value', 'stderr-to': 'value', stdin: 'value', naive: 'boolean' } as const;

const REDIRECT_HELP = `redirects:
  -o, --output FILE     stdout into FILE (written as FILE's temporary sibling,
                        renamed only when complete); default: this stdout
  --stderr-to FILE      stderr into FILE; default: this stderr
  --stdin FILE          send FILE as stdin; default: none (EOF at once)
  --naive               finish at the channel's 'close' and exit at once,
                        without waiting for output to flush: the bug of
                        AsyncSSH #629, for demonstration only`;

/** Help for `loopssh exec`. */
export const EXEC_HELP = `usage: loopssh exec [options] [--] COMMAND [ARG...]

Options stop at the first word of COMMAND; '--' also ends them.

Runs COMMAND on an SSH server (loopssh's or any other, e.g. OpenSSH's sshd)
and exits with its exit status, like ssh (255 if the connection or
authentication fails, or the command is killed by a signal). The words are
quoted and joined into one exec request.

${REDIRECT_HELP}

${CONNECTION_HELP.replace('--port PORT           server port', '--port PORT           server port (default 22)')}
`;

/** Help for `loopssh get`. */
export const GET_HELP = `usage: loopssh get SIZE [payload options] [options]

Runs 'payload SIZE ...' on a loopssh server, then checks the length and
SHA-256 of what arrived against the digest computed here. Says so on stderr;
exits 1 on any mismatch.

payload options (passed to the server):
  --pattern zero|lines|random  --seed N  --stderr SIZE  --chunk SIZE
  --rate BYTES_PER_SECOND  --delay-ms N  --exit CODE | --signal NAME

${REDIRECT_HELP}
  -q, --quiet           no verdict line on success

${CONNECTION_HELP.replace('--port PORT           server port', `--port PORT           server port (default ${DEFAULT_LOOPSSH_PORT})`)}
`;

/**
 * A progress line on a terminal's stderr while output goes elsewhere (a file
 * or a pipe), redrawn in place and erased at the end; nothing otherwise.
 */
function progressLine(expected?: number): Pick<RunOptions, 'onProgress'> & { done(): void } {
  if (!process.stderr.isTTY || process.stdout.isTTY) return { done: () => {} };
  let shown = false;
  return {
    onProgress: (f) => {
      const mbps = f.durationMs > 0 ? (f.stdoutBytes / f.durationMs / 1000).toFixed(0) : '0';
      const of = expected ? ` of ${formatSize(expected)} (${Math.floor((100 * f.stdoutBytes) / Math.max(1, expected))}%)` : '';
      process.stderr.write(`\r\x1b[Kloopssh: ${formatSize(f.stdoutBytes)}${of}, ${mbps} MB/s`);
      shown = true;
    },
    done: () => {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

function redirects(values: Map<string, string | true>): RunOptions {
  const get = (k: string): string | undefined => values.get(k) as string | undefined;
  const naive = values.has('naive');
  if (!naive) keepStdioBlocking();
  return {
    // Tracked: fds 1 and 2 through FdWriteStream (blocking fd, no O_NONBLOCK
    // on a shared pipe). Naive: process.stdout, as a naive program writes it.
    stdout: get('output') ?? (naive ? 'inherit' : 1),
    stderr: get('stderr-to') ?? (naive ? 'inherit' : 2),
    stdin: get('stdin'),
    naive,
  };
}

/**
 * Runs with SIGINT/SIGTERM turned into a cancelled run, so the process still
 * ends through its normal path: targets cleaned up, stdout's flags restored.
 */
async function runInterruptible(connection: Connection, command: string, run: RunOptions): Promise<RunResult> {
  const controller = new AbortController();
  let signal: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals): void => {
    signal = s;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await connection.run(command, { ...run, signal: controller.signal });
  } catch (err) {
    if (signal && err instanceof RunAbortedError) throw new InterruptedError(signal, err);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!run.naive) await connection.close();
  }
}

/** Exit status the way ssh reports it. */
function exitStatusOf(result: RunResult): number {
  if (result.signal !== null) {
    process.stderr.write(`loopssh: remote command killed by signal ${result.signal}\n`);
    return EXIT_REMOTE_SIGNAL;
  }
  return result.exitCode ?? EXIT_REMOTE_SIGNAL;
}

/**
 * The naive ending: exit right away, as a program that trusts the channel's
 * 'close' does. Output still queued in this process is lost.
 */
function naiveExit(code: number): never {
  process.exit(code);
}

/** `loopssh exec`. */
export async function execCommand(args: string[]): Promise<number> {
  const parsed = parseOrHelp(args, { flags: { ...CONNECTION_FLAGS, ...REDIRECT_FLAGS }, alias: { o: 'output', i: 'identity', p: 'port', h: 'help' }, stopAtPositional: true }, EXEC_HELP, 'exec');
  if (!parsed) return 0;
  if (parsed.positionals.length === 0) throw new UsageError("exec needs a COMMAND (e.g. 'loopssh exec --port 2222 -- payload 1MiB')");
  const options = await connectOptions(parsed.values, 22);
  const run = redirects(parsed.values);
  const command = parsed.positionals.length === 1 ? (parsed.positionals[0] as string) : joinCommand(parsed.positionals);
  const connection = await connect(options);
  const progress = progressLine();
  const result = await runInterruptible(connection, command, { ...run, onProgress: progress.onProgress }).finally(progress.done);
  if (run.naive) naiveExit(exitStatusOf(result));
  return exitStatusOf(result);
}

/** `loopssh get`. */
export async function getCommand(args: string[]): Promise<number> {
  const payloadFlags = { pattern: 'value', seed: 'value', stderr: 'value', chunk: 'value', rate: 'value', 'delay-ms': 'value', exit: 'value', signal: 'value' } as const;
  const parsed = parseOrHelp(
    args,
    { flags: { ...CONNECTION_FLAGS, ...REDIRECT_FLAGS, ...payloadFlags, quiet: 'boolean' }, alias: { o: 'output', i: 'identity', p: 'port', q: 'quiet', h: 'help' } },
    GET_HELP,
    'get',
  );
  if (!parsed) return 0;
  // Rebuild the payload's own arguments and check them here first, with no limit: the server applies its own.
  const payloadArgs: string[] = [...parsed.positionals];
  for (const name of Object.keys(payloadFlags)) {
    const v = parsed.values.get(name);
    if (typeof v === 'string') payloadArgs.push(`--${name}`, v);
  }
  const spec = parsePayloadCommand(payloadArgs, { maxPayloadBytes: Number.MAX_SAFE_INTEGER }, 'get');
  const options = await connectOptions(parsed.values, DEFAULT_LOOPSSH_PORT);
  const run = { ...redirects(parsed.values), hash: true };
  const connection = await connect(options);
  const progress = progressLine(spec.stdout.size);
  const result = await runInterruptible(connection, joinCommand(['payload', ...payloadArgs]), { ...run, onProgress: progress.onProgress }).finally(progress.done);
  const problems: string[] = [];
  const check = (stream: 'stdout' | 'stderr', size: number, bytes: number, sha: string | undefined): void => {
    if (bytes !== size) problems.push(`${stream} ${bytes} of ${size} bytes`);
    else if (sha !== payloadDigest({ ...spec.stdout, size, stream })) problems.push(`${stream} SHA-256 mismatch`);
  };
  check('stdout', spec.stdout.size, result.stdoutBytes, result.stdoutSha256);
  check('stderr', spec.stderr?.size ?? 0, result.stderrBytes, result.stderrSha256);
  const expectedExit = 'code' in spec.exit ? `exit ${spec.exit.code}` : `signal ${spec.exit.signal}`;
  const gotExit = result.signal !== null ? `signal ${result.signal}` : `exit ${result.exitCode}`;
  if (gotExit !== expectedExit) problems.push(`${gotExit}, expected ${expectedExit}`);
  const mbps = result.durationMs > 0 ? result.stdoutBytes / result.durationMs / 1000 : 0;
  const rate = mbps > 0 ? ` at ${mbps >= 10 ? mbps.toFixed(0) : mbps.toPrecision(2)} MB/s` : '';
  if (problems.length > 0) {
    process.stderr.write(`loopssh: get ${payloadArgs[0]}: MISMATCH: ${problems.join('; ')}\n`);
    if (run.naive) naiveExit(1);
    return 1;
  }
  if (!parsed.values.has('quiet')) {
    process.stderr.write(`loopssh: verified ${formatSize(result.stdoutBytes)} (${result.stdoutBytes} bytes, SHA-256 ${result.stdoutSha256?.slice(0, 16)}…)${rate}\n`);
  }
  if (run.naive) naiveExit(0);
  return 0;
}
