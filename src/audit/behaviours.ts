/**
 * Server behaviours the audit needs beyond the built-in `payload`: each is a
 * legal RFC 4254 way for a server to end a command, chosen because clients
 * get it wrong. Commands named `audit-*` are plain command handlers; those
 * that need the raw ssh2 channel (exit-status out of its usual order, a
 * close without EOF, a rekey) take the channel over through the server's
 * `takeOverExec` hook. Messages ssh2's public API cannot send (exit-status
 * after EOF, a KEXINIT with a guessed packet) come from src/ssh2.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ServerChannel } from 'ssh2';
import { splitCommand } from '../openssh/command-line.js';
import { createPayloadReader, type PayloadSpec } from '../payload/patterns.js';
import { rekeyWithWrongGuess, sendExitStatus } from '../ssh2/index.js';
import { parseSize } from '../util/size.js';
import { ChannelOutput, type OutputStream } from '../server/channel-output.js';
import type { CommandHandler } from '../server/commands.js';
import type { StreamJudge } from './judge.js';
import type { RawExecRequest } from '../server/types.js';

const WRITE_CHUNK = 256 * 1024;

/** Streams a `lines` payload of `size` bytes into one stream; `onProgress` sees the bytes accepted so far. */
async function writePayload(output: ChannelOutput, stream: OutputStream, size: number, onProgress?: (sent: number) => void): Promise<void> {
  const spec: PayloadSpec = { size, pattern: 'lines', seed: '0', stream };
  const reader = createPayloadReader(spec);
  // One buffer: ChannelOutput resolves once the channel copied it.
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(WRITE_CHUNK, size)));
  let sent = 0;
  for (let n = reader.read(buf); n > 0; n = reader.read(buf)) {
    await output.write(stream, n === buf.length ? buf : buf.subarray(0, n));
    sent += n;
    onProgress?.(sent);
  }
}

function sizeArg(argv: readonly string[], i: number): number {
  const text = argv[i];
  if (text === undefined) throw new Error(`${argv[0]}: missing SIZE`);
  return parseSize(text);
}

/** `audit-stderr-after-stdout SIZE`: all of stdout is accepted by the channel before the first stderr byte. */
const stderrAfterStdout: CommandHandler = async (ctx) => {
  ctx.stdin.resume();
  const size = sizeArg(ctx.argv, 1);
  await writePayload(ctx.output, 'stdout', size);
  await writePayload(ctx.output, 'stderr', size);
  return 0;
};

/** `audit-no-exit-status SIZE`: SIZE bytes of stdout, then CHANNEL_CLOSE with no exit-status or exit-signal. */
const noExitStatus: CommandHandler = async (ctx) => {
  ctx.stdin.resume();
  await writePayload(ctx.output, 'stdout', sizeArg(ctx.argv, 1));
  // Every write callback ran: the bytes are in the protocol ahead of the close.
  ctx.drop();
};

/**
 * `audit-stdin`: reads stdin to EOF into the judge `current()` returns (the
 * audit's judge of the running scenario's `stdin`), prints nothing, exits 0.
 * The audit compares what the server received, so a client's own report of
 * what it sent is never trusted.
 */
export function auditStdinCommand(current: () => StreamJudge | undefined): CommandHandler {
  return async (ctx) => {
    const judge = current();
    for await (const chunk of ctx.stdin) judge?.update(chunk as Buffer);
    return 0;
  };
}

/** Audit commands that run as ordinary handlers (they need no raw channel). */
export const AUDIT_COMMANDS: Readonly<Record<string, CommandHandler>> = {
  'audit-stderr-after-stdout': stderrAfterStdout,
  'audit-no-exit-status': noExitStatus,
};

type RawBehaviour = (channel: ServerChannel, argv: readonly string[], request: RawExecRequest) => Promise<void>;

/** `audit-exit-first SIZE CODE`: exit-status goes out before any data, then SIZE bytes, then EOF and close. */
const exitFirst: RawBehaviour = async (channel, argv) => {
  const code = Number(argv[2] ?? 0);
  channel.exit(code);
  const output = new ChannelOutput(channel);
  await writePayload(output, 'stdout', sizeArg(argv, 1));
  channel.end(); // 'finish' → EOF, then CHANNEL_CLOSE
};

/** `audit-exit-no-eof SIZE CODE`: SIZE bytes, exit-status, then CHANNEL_CLOSE with no CHANNEL_EOF. */
const exitNoEof: RawBehaviour = async (channel, argv) => {
  const output = new ChannelOutput(channel);
  await writePayload(output, 'stdout', sizeArg(argv, 1));
  channel.exit(Number(argv[2] ?? 0));
  channel.close();
};

/**
 * SIZE bytes with a server-initiated key re-exchange started halfway;
 * `startRekey` returns false while a key exchange (e.g. the client's own)
 * still runs, and is tried again at the next write.
 */
function rekeyHalfway(startRekey: (request: RawExecRequest) => boolean): RawBehaviour {
  return async (channel, argv, request) => {
    const size = sizeArg(argv, 1);
    const output = new ChannelOutput(channel);
    let rekeyed = false;
    await writePayload(output, 'stdout', size, (sent) => {
      if (!rekeyed && sent >= size / 2) rekeyed = startRekey(request);
    });
    await output.finish({ code: 0 });
  };
}

/** `audit-rekey SIZE`: SIZE bytes with a server-initiated key re-exchange started halfway. */
const rekeyMidway = rekeyHalfway((request) => {
  request.connection.rekey();
  return true;
});

/**
 * `audit-eof-delay-exit SIZE CODE MS`: SIZE bytes, EOF, MS ms later
 * exit-status CODE, then CHANNEL_CLOSE (a command that closes its stdout,
 * then works on before it exits). RFC 4254 §6.10 allows exit-status at any
 * time before the close.
 */
const eofDelayExit: RawBehaviour = async (channel, argv) => {
  const output = new ChannelOutput(channel);
  await writePayload(output, 'stdout', sizeArg(argv, 1));
  channel.eof();
  await delay(Number(argv[3] ?? 1000));
  sendExitStatus(channel, Number(argv[2] ?? 0));
  channel.close();
};

/**
 * `audit-rekey-guess SIZE`: SIZE bytes with a server-initiated key
 * re-exchange halfway whose KEXINIT sets first_kex_packet_follows and is
 * followed by a guessed packet that is wrong for every client (RFC 4253 §7:
 * the client must drop it).
 */
const rekeyWithGuessMidway = rekeyHalfway((request) => rekeyWithWrongGuess(request.connection));

const RAW_BEHAVIOURS: Readonly<Record<string, RawBehaviour>> = {
  'audit-exit-first': exitFirst,
  'audit-exit-no-eof': exitNoEof,
  'audit-eof-delay-exit': eofDelayExit,
  'audit-rekey': rekeyMidway,
  'audit-rekey-guess': rekeyWithGuessMidway,
};

/**
 * The `takeOverExec` hook for the audit's server: owns exec requests naming
 * a raw behaviour, leaves every other command to the normal runner.
 */
export function takeOverAuditExec(request: RawExecRequest): boolean {
  let argv: string[];
  try {
    argv = splitCommand(request.command);
  } catch {
    return false;
  }
  const name = argv[0];
  const behaviour = name !== undefined && Object.hasOwn(RAW_BEHAVIOURS, name) ? RAW_BEHAVIOURS[name] : undefined;
  if (!behaviour) return false;
  const { channel } = request;
  // Nothing reads stdin here; ssh2 emits 'close' only once it is drained.
  channel.resume();
  behaviour(channel, argv, request).catch(() => {
    // The client went away mid-behaviour: nothing is left to tell it, and
    // ssh2 may throw from close() on a broken connection.
    try {
      channel.close();
    } catch {
      // the connection is gone already
    }
  });
  return true;
}
