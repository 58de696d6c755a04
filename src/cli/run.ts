/**
 * `loopssh exec` and `loopssh get`: run a remote command with redirects.
 */
import { connect, RunAbortedError, type Connection, type RunOptions, type RunResult } from '../client/index.js';
import { joinCommand } from '../openssh/command-line.js';
import { flagTable, UsageError, type FlagTable, type FlagValues } from '../util/flags.js';
import { payloadDigest } from '../payload/patterns.js';
import { formatSize } from '../util/size.js';
import { PAYLOAD_FLAGS, parsePayloadCommand } from '../server/builtins.js';
import { keepStdioBlocking } from './stdio.js';
import { DEFAULT_LOOPSSH_PORT, EXIT_REMOTE_SIGNAL, connectOptions, interruptible, connectionFlags, helpFlag, parseOrHelp, printLine, type CliCommand } from './common.js';

/** Where stdout, stderr and stdin go; shared by `exec` and `get`. */
const REDIRECT_FLAGS = flagTable({
  output: {
    kind: 'value',
    alias: 'o',
    arg: 'FILE',
    section: 'redirects',
    help: "stdout into FILE (written as FILE's temporary sibling,\nrenamed only when complete); default: this stdout",
  },
  'stderr-to': { kind: 'value', arg: 'FILE', section: 'redirects', help: 'stderr into FILE (not the same file as -o);\ndefault: this stderr' },
  'keep-partial': {
    kind: 'boolean',
    section: 'redirects',
    help: 'when the run fails or the remote command is killed\nby a signal, keep the incomplete output as\nFILE.partial instead of removing it (FILE is not\nwritten then; a non-zero exit status still writes it)',
  },
  stdin: { kind: 'value', arg: 'FILE', section: 'redirects', help: 'send FILE as stdin; default: none (EOF at once)' },
  fsync: {
    kind: 'boolean',
    section: 'redirects',
    help: 'fsync each FILE before renaming it into place, then\nits folder (survives a power loss; costs time)',
  },
  naive: {
    kind: 'boolean',
    section: 'redirects',
    help: "finish at the channel's 'close' and exit at once,\nwithout waiting for output to flush: the bug of\nAsyncSSH #629, for demonstration only",
  },
});

/** `loopssh exec`: flags, parser and help in one table. */
export const EXEC_COMMAND = {
  name: 'exec',
  usage: 'exec [options] [--] COMMAND [ARG...]',
  about: `Options stop at the first word of COMMAND; '--' also ends them.

Runs COMMAND on an SSH server (loopssh's or any other, e.g. OpenSSH's sshd)
and exits with its exit status, like ssh (255 if the connection or
authentication fails, or the command is killed by a signal). The words are
quoted and joined into one exec request.`,
  flags: flagTable({ ...REDIRECT_FLAGS, ...connectionFlags(22), ...helpFlag('connection') }),
  stopAtPositional: true,
} satisfies CliCommand<FlagTable>;

/** `loopssh get`: flags, parser and help in one table. */
export const GET_COMMAND = {
  name: 'get',
  usage: 'get SIZE [payload options] [options]',
  about: `Runs 'payload SIZE ...' on a loopssh server, then checks the length and
SHA-256 of what arrived against the digest computed here. Says so on stderr;
exits 1 on any mismatch.`,
  flags: flagTable({
    ...PAYLOAD_FLAGS,
    ...REDIRECT_FLAGS,
    quiet: { kind: 'boolean', alias: 'q', section: 'redirects', help: 'no verdict line on success' },
    ...connectionFlags(DEFAULT_LOOPSSH_PORT),
    ...helpFlag('connection'),
  }),
} satisfies CliCommand<FlagTable>;

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

function redirects(values: FlagValues<typeof REDIRECT_FLAGS>): RunOptions {
  const naive = values.naive === true;
  if (!naive) keepStdioBlocking();
  return {
    // Tracked: fds 1 and 2 through FdWriteStream (blocking fd, no O_NONBLOCK
    // on a shared pipe). Naive: process.stdout, as a naive program writes it.
    stdout: values.output ?? (naive ? 'inherit' : 1),
    stderr: values['stderr-to'] ?? (naive ? 'inherit' : 2),
    stdin: values.stdin,
    fsync: values.fsync === true,
    keepPartial: values['keep-partial'] === true,
    naive,
  };
}

/**
 * Runs with SIGINT/SIGTERM turned into a cancelled run, so the process still
 * ends through its normal path: targets cleaned up, stdout's flags restored.
 */
async function runInterruptible(connection: Connection, command: string, run: RunOptions): Promise<RunResult> {
  try {
    return await interruptible((signal) => connection.run(command, { ...run, signal }), (err): err is RunAbortedError => err instanceof RunAbortedError);
  } finally {
    if (!run.naive) await connection.close();
  }
}

/** For a command killed by a signal: which -o/--stderr-to files were not written, and what was kept. */
function notWrittenNote(result: RunResult, run: RunOptions): string {
  const files = [run.stdout, run.stderr].filter((t): t is string => typeof t === 'string');
  if (result.signal === null || files.length === 0 || run.naive) return '';
  const kept = result.keptPartial.length > 0 ? `; incomplete output kept as ${result.keptPartial.join(', ')}` : '';
  return `; ${files.join(', ')} not written (output incomplete)${kept}`;
}

/** Exit status the way ssh reports it. */
function exitStatusOf(result: RunResult, run: RunOptions): number {
  if (result.signal !== null) {
    printLine(`remote command killed by signal ${result.signal}${notWrittenNote(result, run)}`);
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
  const parsed = parseOrHelp(args, EXEC_COMMAND);
  if (!parsed) return 0;
  if (parsed.positionals.length === 0) throw new UsageError("exec needs a COMMAND (e.g. 'loopssh exec --port 2222 -- payload 1MiB')");
  const options = await connectOptions(parsed.values, 22);
  const run = redirects(parsed.values);
  const command = parsed.positionals.length === 1 ? (parsed.positionals[0] as string) : joinCommand(parsed.positionals);
  const connection = await connect(options);
  const progress = progressLine();
  const result = await runInterruptible(connection, command, { ...run, onProgress: progress.onProgress }).finally(progress.done);
  if (run.naive) naiveExit(exitStatusOf(result, run));
  return exitStatusOf(result, run);
}

/** `loopssh get`. */
export async function getCommand(args: string[]): Promise<number> {
  const parsed = parseOrHelp(args, GET_COMMAND);
  if (!parsed) return 0;
  // Rebuild the payload's own arguments and check them here first, with no limit: the server applies its own.
  const payloadArgs: string[] = [...parsed.positionals];
  for (const name of Object.keys(PAYLOAD_FLAGS) as (keyof typeof PAYLOAD_FLAGS)[]) {
    const v = parsed.values[name];
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
    printLine(`get ${payloadArgs[0]}: MISMATCH: ${problems.join('; ')}`);
    if (run.naive) naiveExit(1);
    return 1;
  }
  if (parsed.values.quiet !== true) {
    printLine(`verified ${formatSize(result.stdoutBytes)} (${result.stdoutBytes} bytes, SHA-256 ${result.stdoutSha256?.slice(0, 16)}…)${rate}${notWrittenNote(result, run)}`);
  }
  if (run.naive) naiveExit(0);
  return 0;
}
