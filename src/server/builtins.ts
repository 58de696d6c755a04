/**
 * The server's built-in commands: payload, digest, sink, echo, help.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { flagHelp, flagTable, parseInteger, parseSizeFlag, parseTable, UsageError } from '../util/flags.js';
import { clip } from '../util/text.js';
import { createPayloadReader, PATTERNS, type PatternName, type PayloadReader, type PayloadSpec } from '../payload/patterns.js';
import type { BufferBudget } from './buffer-budget.js';
import type { ExitStatus } from './channel-output.js';
import { EXIT_SIGNALS, type CommandContext, type CommandHandler, type CommandResult, type ServerLimits } from './commands.js';

/** Parsed options of `payload` and `digest`. */
export interface PayloadCommand {
  stdout: PayloadSpec;
  /** Undefined when no `--stderr` was asked for. */
  stderr?: PayloadSpec;
  /** Bytes per write. */
  chunk: number;
  /** Bytes per second, or undefined for as fast as the client takes it. */
  rate?: number;
  delayMs: number;
  exit: ExitStatus;
}

/** Default bytes per channel write: a few 32 KiB packets per callback. */
export const DEFAULT_CHUNK = 256 * 1024;
/**
 * Largest `--chunk`: every running payload holds one buffer this big, so the
 * bound times the channels a server allows is its worst case (with the
 * buffer budget on top, see buffer-budget.ts).
 */
export const MAX_CHUNK = 1024 * 1024;

const section = 'payload options (passed to the server)';

/** The flags of `payload` and `digest` (and of `loopssh get`, which passes them on). */
export const PAYLOAD_FLAGS = flagTable({
  pattern: {
    kind: 'value',
    arg: 'zero|lines|random',
    section,
    help: "lines (default): 16-byte records, each its own\nzero-padded offset and '\\n'; random: AES-128-CTR\nkeystream; zero: 0x00 bytes",
  },
  seed: { kind: 'value', arg: 'N', section, help: 'seed for random (default 0)' },
  stderr: { kind: 'value', arg: 'SIZE', section, help: 'also write SIZE bytes to stderr, interleaved' },
  chunk: { kind: 'value', arg: 'SIZE', section, help: 'bytes per write (default 256KiB)' },
  rate: { kind: 'value', arg: 'BYTES_PER_SECOND', section, help: 'pace the output (sizes like 4MB allowed)' },
  'delay-ms': { kind: 'value', arg: 'N', section, help: 'wait before the first byte' },
  exit: { kind: 'value', arg: 'CODE', section, help: 'exit status to end with (default 0)' },
  signal: { kind: 'value', arg: 'NAME', section, help: 'end killed by this signal instead (e.g. TERM)' },
});


/** Parses `payload`/`digest` arguments (without the command name) against the limits. */
export function parsePayloadCommand(args: readonly string[], limits: Pick<ServerLimits, 'maxPayloadBytes'>, name = 'payload'): PayloadCommand {
  const { values, positionals } = parseTable(args, PAYLOAD_FLAGS, name);
  if (positionals.length === 0) throw new UsageError(`${name} needs a SIZE (e.g. '${name} 160KiB')`);
  if (positionals.length > 1) throw new UsageError(`${name} takes one SIZE, got extra argument '${clip(positionals[1] as string)}'`);

  const checkMax = (n: number, what: string): number => {
    if (n > limits.maxPayloadBytes) {
      throw new UsageError(`${what} ${n} bytes is above this server's limit of ${limits.maxPayloadBytes} bytes`);
    }
    return n;
  };
  const stdoutSize = checkMax(parseSizeFlag(positionals[0] as string, 'SIZE'), 'SIZE');
  const patternText = values.pattern ?? 'lines';
  if (!(PATTERNS as readonly string[]).includes(patternText)) {
    throw new UsageError(`unknown pattern '${clip(patternText)}' (expected ${PATTERNS.join(', ')})`);
  }
  const pattern = patternText as PatternName;
  const seed = values.seed ?? '0';
  if (!/^\d{1,20}$/.test(seed)) throw new UsageError(`--seed must be a whole number of at most 20 digits, not '${clip(seed)}'`);

  const stderrText = values.stderr;
  const stderrSize = stderrText === undefined ? undefined : checkMax(parseSizeFlag(stderrText, '--stderr'), '--stderr');

  const chunkText = values.chunk;
  const chunk = chunkText === undefined ? DEFAULT_CHUNK : parseSizeFlag(chunkText, '--chunk');
  if (chunk < 1 || chunk > MAX_CHUNK) throw new UsageError(`--chunk must be between 1 and ${MAX_CHUNK} bytes, not ${chunk}`);

  const rateText = values.rate;
  const rate = rateText === undefined ? undefined : parseSizeFlag(rateText, '--rate');
  if (rate === 0) throw new UsageError('--rate must be at least 1 byte per second');

  const delayText = values['delay-ms'];
  const delayMs = delayText === undefined ? 0 : parseInteger(delayText, '--delay-ms', 0, 3_600_000);

  const exitText = values.exit;
  const signalText = values.signal;
  if (exitText !== undefined && signalText !== undefined) throw new UsageError('--exit and --signal cannot be used together');
  let exit: ExitStatus = { code: 0 };
  if (exitText !== undefined) exit = { code: parseInteger(exitText, '--exit', 0, 255) };
  if (signalText !== undefined) {
    const sig = signalText.toUpperCase().replace(/^SIG/, '');
    if (!(EXIT_SIGNALS as readonly string[]).includes(sig)) {
      throw new UsageError(`unknown signal '${clip(signalText)}' (expected one of ${EXIT_SIGNALS.join(', ')})`);
    }
    exit = { signal: sig };
  }

  const base = { pattern, seed };
  return {
    stdout: { ...base, size: stdoutSize, stream: 'stdout' },
    stderr: stderrSize === undefined ? undefined : { ...base, size: stderrSize, stream: 'stderr' },
    chunk,
    rate,
    delayMs,
    exit,
  };
}

/** `payload SIZE [...]`: streams the patterns, interleaving stdout and stderr by progress. */
export function payloadCommand(budget: BufferBudget): CommandHandler {
  return async (ctx) => {
    const cmd = parsePayloadCommand(ctx.argv.slice(1), ctx.limits);
    ctx.stdin.resume();
    if (cmd.delayMs > 0) await sleep(cmd.delayMs, undefined, { signal: ctx.signal });
    const out = createPayloadReader(cmd.stdout);
    const err = cmd.stderr ? createPayloadReader(cmd.stderr) : undefined;
    // With a rate, write small pieces so the pacing is smooth (≤ 50 ms apart).
    const chunk = cmd.rate ? Math.max(1, Math.min(cmd.chunk, Math.floor(cmd.rate / 20))) : cmd.chunk;
    // One buffer for the whole run: ChannelOutput resolves only once the
    // channel has copied it into a packet, so it can be refilled at once.
    const lease = budget.take(Math.min(chunk, Math.max(out.size, err?.size ?? 0, 1)));
    try {
      await streamPayload(ctx, cmd, out, err, Buffer.allocUnsafe(lease.bytes));
    } finally {
      lease.release();
    }
    return cmd.exit;
  };
}

/** Writes both readers through `buf` until they are empty, paced to `cmd.rate` if set. */
async function streamPayload(ctx: CommandContext, cmd: PayloadCommand, out: PayloadReader, err: PayloadReader | undefined, buf: Buffer): Promise<void> {
  const started = performance.now();
  let sent = 0;
  for (;;) {
    // Whichever stream is behind in proportion goes next, so both progress together.
    const useErr =
      err !== undefined && err.remaining > 0 && (out.remaining === 0 || err.position * out.size < out.position * err.size);
    const reader = useErr ? err : out;
    if (reader.remaining === 0) break;
    const n = reader.read(buf);
    await ctx.output.write(useErr ? 'stderr' : 'stdout', n === buf.length ? buf : buf.subarray(0, n));
    sent += n;
    if (cmd.rate) {
      const due = (sent / cmd.rate) * 1000 - (performance.now() - started);
      if (due > 1) await sleep(due, undefined, { signal: ctx.signal });
    }
  }
}

/** Yield to the event loop this often while hashing, so one digest never stalls the server. */
const DIGEST_SLICE = 16 * 1024 * 1024;

/**
 * `digest SIZE [...]`: prints the SHA-256 of what `payload` would send on
 * stdout. Hashing is CPU on the server's one thread, so SIZE is bounded by
 * `maxDigestBytes` as well as `maxPayloadBytes`.
 */
export function digestCommand(budget: BufferBudget): CommandHandler {
  return async (ctx) => {
    const maxPayloadBytes = Math.min(ctx.limits.maxPayloadBytes, ctx.limits.maxDigestBytes);
    const cmd = parsePayloadCommand(ctx.argv.slice(1), { maxPayloadBytes }, 'digest');
    ctx.stdin.resume();
    const reader = createPayloadReader(cmd.stdout);
    const hash = createHash('sha256');
    const lease = budget.take(Math.min(1024 * 1024, Math.max(1, cmd.stdout.size)));
    try {
      const buf = Buffer.allocUnsafe(lease.bytes);
      let sinceYield = 0;
      for (let n = reader.read(buf); n > 0; n = reader.read(buf)) {
        hash.update(n === buf.length ? buf : buf.subarray(0, n));
        sinceYield += n;
        if (sinceYield >= DIGEST_SLICE) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
          ctx.signal.throwIfAborted();
        }
      }
    } finally {
      lease.release();
    }
    await ctx.output.write('stdout', Buffer.from(`${hash.digest('hex')}\n`));
    return cmd.exit;
  };
}

function noArgs(ctx: CommandContext): void {
  if (ctx.argv.length > 1) throw new UsageError(`${ctx.argv[0]} takes no arguments, got '${clip(ctx.argv[1] as string)}'`);
}

/** `sink`: reads stdin to EOF and prints `<bytes> <sha256 hex>`. */
export const sink: CommandHandler = async (ctx) => {
  noArgs(ctx);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of ctx.stdin) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  await ctx.output.write('stdout', Buffer.from(`${bytes} ${hash.digest('hex')}\n`));
};

/** `echo`: copies stdin to stdout; the async iterator reads only as fast as the channel accepts. */
export const echo: CommandHandler = async (ctx) => {
  noArgs(ctx);
  for await (const chunk of ctx.stdin) await ctx.output.write('stdout', chunk as Buffer);
};

/** The text `help` prints. */
export const HELP_TEXT = `loopssh server commands (words are split without a shell; nothing is expanded):

  payload SIZE [options]   write SIZE bytes of a reproducible pattern to stdout
${flagHelp(PAYLOAD_FLAGS, { indent: 6 })}
  digest SIZE [options]    print the SHA-256 of what payload would write to stdout
  sink                     read stdin to EOF, print '<bytes> <sha256 hex>'
  echo                     copy stdin to stdout
  scp -f PATH | -t PATH    legacy SCP (scp -O) over the SFTP tree: get /README
  help                     this text

SIZE: bytes, or with K/KiB (1024), kB/KB (1000), M/MiB, MB, G/GiB, GB, T/TiB, TB.
`;

/** `help`: lists the commands, then any registered ones. */
export function helpCommand(extra: readonly string[]): CommandHandler {
  return async (ctx): Promise<CommandResult> => {
    ctx.stdin.resume();
    const more = extra.length ? `\nregistered commands: ${extra.join(', ')}\n` : '';
    await ctx.output.write('stdout', Buffer.from(HELP_TEXT + more));
  };
}

/** Built-ins by name, their buffers drawn from `budget`; user commands of the same name take precedence. */
export function builtinCommands(budget: BufferBudget): Record<string, CommandHandler> {
  return { payload: payloadCommand(budget), digest: digestCommand(budget), sink, echo };
}
