/**
 * Command dispatch for one exec channel: split the request, look the name up,
 * hand the handler its stdin/stdout/stderr, and map how it ended to an exit
 * status (or to no status, when the channel or connection went away).
 */
import { PassThrough, Writable } from 'node:stream';
import type { Connection, ServerChannel } from 'ssh2';
import { splitCommand, CommandLineError } from '../openssh/command-line.js';
import { UsageError } from '../util/flags.js';
import { clip } from '../util/text.js';
import { connectionSocket, onPeerClosedChannel } from '../ssh2/index.js';
import type { ServerLogger } from './log.js';
import type { BufferBudget } from './buffer-budget.js';
import { builtinCommands, helpCommand } from './builtins.js';
import { ChannelClosedError, ChannelOutput, ChannelStalledError, type ExitStatus } from './channel-output.js';
import type { CommandContext, CommandHandler, CommandResult, ServerLimits } from './commands.js';
import type { Recorder } from './record.js';
import { scpCommand } from './sftp/scp-command.js';
import type { DiskJail } from './sftp/disk.js';
import type { RegisteredFiles } from './sftp/tree.js';
import type { CommandRecord } from './types.js';

/**
 * Commands by name: the built-ins (buffers from `budget`; `scp` over the
 * SFTP tree, with `disk` behind /disk, when a `recorder` takes its transfers), then `extra` over them,
 * and a `help` that lists the extras.
 */
export function commandTable(
  budget: BufferBudget,
  extra: Readonly<Record<string, CommandHandler>> = {},
  recorder?: Recorder,
  files?: RegisteredFiles,
  disk?: DiskJail,
): Record<string, CommandHandler> {
  const commands: Record<string, CommandHandler> = { ...builtinCommands(budget), ...(recorder ? { scp: scpCommand(recorder, files, disk) } : {}), ...extra };
  commands.help ??= helpCommand(Object.keys(extra));
  return commands;
}

/** What a command runs within: the server's limits, commands and records, and the connection's logger. */
export interface ExecScope {
  readonly limits: Readonly<ServerLimits>;
  readonly commands: Readonly<Record<string, CommandHandler>>;
  readonly recorder: Recorder;
  readonly log: ServerLogger;
}

/** Answers a shell request: loopssh has none, so one line on stderr and exit 2. */
export function refuseShell(channel: ServerChannel): void {
  const output = new ChannelOutput(channel);
  channel.resume();
  void output
    .write('stderr', Buffer.from("loopssh: no interactive shell here; run a command, e.g. 'help'\n"))
    .then(() => output.finish({ code: 2 }))
    .catch(() => {});
}

/**
 * Runs `command` on an accepted exec channel and resolves once its exit
 * status was sent or the channel is gone. Rejects only on a loopssh bug.
 */
export async function runCommand(
  scope: ExecScope,
  client: Connection,
  channel: ServerChannel,
  command: string,
  user: string,
  env: Record<string, string>,
): Promise<void> {
  const { limits, log } = scope;
  const output = new ChannelOutput(channel, limits.stallTimeoutMs);
  const abort = new AbortController();
  channel.once('close', () => abort.abort(new ChannelClosedError()));
  const record: CommandRecord = { user, command, argv: [], env };
  scope.recorder.command(record);
  let dropped = false;
  const fail = async (code: number, message: string): Promise<void> => {
    await output.write('stderr', Buffer.from(`loopssh: ${message}\n`)).catch(() => {});
    record.exit = { code };
    await output.finish({ code });
  };
  let argv: string[];
  try {
    argv = splitCommand(command);
  } catch (err) {
    channel.resume();
    if (err instanceof CommandLineError) return fail(2, err.message);
    throw err;
  }
  record.argv = argv;
  const name = argv[0];
  if (name === undefined) {
    channel.resume();
    return fail(2, "empty command (try 'help')");
  }
  const handler = Object.hasOwn(scope.commands, name) ? scope.commands[name] : undefined;
  if (!handler) {
    channel.resume();
    return fail(2, `unknown command '${clip(name)}' (try 'help')`);
  }
  // A handler gets its own stdin: `for await` destroys the stream it iterates,
  // which on the channel itself would close it before the exit status.
  const stdin = channel.pipe(new PassThrough({ highWaterMark: 256 * 1024 }));
  // ssh2 emits the channel's 'close' only once its readable side has ended,
  // which a handler that never reads stdin would hold back forever. So the
  // peer's CHANNEL_CLOSE (or a dead connection) aborts the handler here and
  // discards the unread stdin.
  onPeerClosedChannel(channel, () => {
    if (abort.signal.aborted) return;
    abort.abort(new ChannelClosedError());
    channel.unpipe(stdin);
    stdin.destroy();
    channel.resume();
  });
  const stdout = outputWritable(output, 'stdout');
  const stderr = outputWritable(output, 'stderr');
  // A write that fails (the client went away) errors its Writable. With no
  // listener that 'error' would be uncaught and end the whole process, so the
  // failure ends this command's context instead: its signal aborts, later
  // writes get the error in their callbacks, endWritable() reports it.
  const onOutputError = (err: Error): void => {
    if (!abort.signal.aborted) abort.abort(err);
  };
  stdout.on('error', onOutputError);
  stderr.on('error', onOutputError);
  const ctx: CommandContext = {
    argv,
    command,
    env,
    user,
    stdin,
    stdout,
    stderr,
    output,
    signal: abort.signal,
    limits,
    drop: () => {
      dropped = true;
      output.destroy();
    },
    dropConnection: () => {
      dropped = true;
      connectionSocket(client)?.destroy();
    },
  };
  let status: ExitStatus;
  try {
    const result: CommandResult = await handler(ctx);
    await Promise.all([endWritable(stdout), endWritable(stderr)]);
    status = result === undefined ? { code: 0 } : typeof result === 'number' ? { code: result } : result;
  } catch (err) {
    if (dropped || err instanceof ChannelClosedError || err instanceof ChannelStalledError || abort.signal.aborted) {
      record.exit = dropped ? 'dropped' : output.stalled ? 'stalled' : 'closed';
      if (output.stalled) log.warn({ command: clip(command, 200) }, `channel closed: ${output.stalled.message}`);
      return;
    }
    if (err instanceof UsageError) return fail(2, err.message);
    log.error({ err, command: clip(command, 200) }, 'command failed');
    return fail(1, `${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (dropped) {
    record.exit = 'dropped';
    return;
  }
  // Whatever the handler left unread is discarded, so ssh2 can emit 'close'.
  channel.unpipe(stdin);
  channel.resume();
  record.exit = output.closed ? 'closed' : status;
  await output.finish(status);
}

/** A Writable over one stream of a ChannelOutput, for handlers that pipe. */
function outputWritable(output: ChannelOutput, stream: 'stdout' | 'stderr'): Writable {
  return new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      output.write(stream, chunk).then(() => callback(), callback);
    },
  });
}

/** Ends a handler's Writable and waits until its last write reached the channel. */
function endWritable(w: Writable): Promise<void> {
  if (w.writableFinished) return Promise.resolve();
  if (w.destroyed) return Promise.reject(w.errored ?? new ChannelClosedError());
  return new Promise((resolve, reject) => {
    w.once('finish', resolve);
    w.once('error', reject);
    w.end();
  });
}
