/**
 * One run of the client under audit: the template filled in, the process
 * started with its stdout on a FIFO (or told to write `{out}`), stdout read
 * with the chosen reader, stderr read fast, both judged as they arrive,
 * everything bounded by the scenario's time limit.
 */
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, rmSync, write } from 'node:fs';
import { createPayloadReader, type PayloadSpec } from '../payload/patterns.js';
import { UsageError } from '../util/flags.js';
import { StreamJudge, runVerdict, type ClientEnd, type StreamFacts, type Verdict } from './judge.js';
import { openFifo, readWith, type ReaderName, type ReaderPace } from './readers.js';
import type { Scenario } from './scenarios.js';

/** Placeholders a client template may use. */
export const PLACEHOLDERS = ['host', 'port', 'user', 'identity', 'known_hosts', 'command', 'out', 'path'] as const;
/** Values for {@link PLACEHOLDERS}. */
export type Placeholders = Record<(typeof PLACEHOLDERS)[number], string>;

/** Fills `{name}` placeholders in every word; an unknown `{name}` is an error. */
export function fillTemplate(template: readonly string[], values: Placeholders): string[] {
  return template.map((word) =>
    word.replace(/\{([a-z_]+)\}/g, (whole, name: string) => {
      if (!Object.hasOwn(values, name)) {
        throw new UsageError(`unknown placeholder ${whole} in the client template (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`);
      }
      return values[name as keyof Placeholders];
    }),
  );
}

/** The outcome of one run. */
export interface RunOutcome {
  verdict: Verdict;
  /** `file` when the client wrote `{out}` itself. */
  reader: ReaderName | 'file';
  stdout: StreamFacts;
  /** Judged only when the scenario sends stderr. */
  stderr?: StreamFacts;
  /** What the server received of the client's stdin, when the scenario feeds one. */
  stdin?: StreamFacts;
  /** Bytes the client wrote to its stderr (whatever the scenario). */
  stderrBytes: number;
  /** The first 200 characters of the client's stderr when the scenario sends none, for diagnosis. */
  stderrHead?: string;
  end: ClientEnd;
  ms: number;
  /** What the audit's server logged during the run (connection errors): a loss it caused is not the client's. */
  serverLog?: string[];
}

/** Inputs of {@link runClient}. */
export interface ClientRunSpec {
  argv: readonly string[];
  scenario: Scenario;
  reader: ReaderName;
  pace: ReaderPace;
  /** FIFO path for stdout; unused when `outFile` is set. */
  fifo: string;
  /** When set the client writes here itself (`{out}`), and the file is judged after it exits. */
  outFile?: string;
  /**
   * Scenarios with `stdin`: a FIFO made for this run (the client's fd 0) and
   * the judge the server's `audit-stdin` feeds with what it received.
   */
  stdin?: { fifo: string; received: StreamJudge };
  timeoutMs: number;
}

/** Runs the client once and judges what it delivered. */
export async function runClient(spec: ClientRunSpec): Promise<RunOutcome> {
  const started = performance.now();
  const { scenario } = spec;
  const stdoutJudge = new StreamJudge(scenario.stdout);
  const stderrJudge = scenario.stderr ? new StreamJudge(scenario.stderr) : undefined;
  const ends = spec.outFile ? undefined : openFifo(spec.fifo);
  const input = scenario.stdin && spec.stdin ? openFifo(spec.stdin.fifo) : undefined;
  const [cmd, ...args] = spec.argv;
  if (cmd === undefined) throw new Error('empty client template');
  const child = spawn(cmd, args, { stdio: [input ? input.readFd : 'ignore', ends ? ends.writeFd : 'ignore', 'pipe'] });
  // Only the client holds the write end now: EOF arrives when it (and anything it started) let go.
  if (ends) closeSync(ends.writeFd);
  // Likewise its stdin: once the client is gone, a write into it fails (EPIPE) instead of blocking.
  if (input) closeSync(input.readFd);
  if (input && scenario.stdin) void feedStdin(input.writeFd, scenario.stdin);

  let stderrBytes = 0;
  let stderrHead = '';
  const errPipe = child.stderr;
  if (!errPipe) throw new Error('spawn gave no stderr pipe');
  errPipe.on('data', (chunk: Buffer) => {
    stderrBytes += chunk.length;
    if (stderrJudge) stderrJudge.update(chunk);
    else if (stderrHead.length < 200) stderrHead += chunk.toString('utf8', 0, 200);
  });
  const stderrDone = new Promise<void>((resolve) => errPipe.once('close', resolve));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, spec.timeoutMs);
  const exited = new Promise<ClientEnd>((resolve, reject) => {
    // A client that cannot start is a bad template, not a verdict.
    child.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`cannot run the client '${cmd}': ${err.code ?? err.message}`)));
    child.once('exit', (code, signal) => resolve({ code: code ?? undefined, signal: signal ?? undefined, timedOut }));
  });
  // The read end is closed when its reader reaches EOF, never under a read
  // still blocked in the thread pool (closing would not wake it).
  const reading = ends
    ? readWith(spec.reader, ends.readFd, (c) => stdoutJudge.update(c), spec.pace).finally(() => closeSync(ends.readFd))
    : Promise.resolve(0);
  try {
    const end = await exited;
    end.timedOut = timedOut;
    // After the client's exit the pipe still drains (its bytes in the kernel
    // buffer are delivered); if something still holds the write end, the
    // time limit ends the wait.
    const left = Math.max(0, spec.timeoutMs - (performance.now() - started));
    let drainTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all([reading, stderrDone]).then(() => true),
      new Promise<boolean>((resolve) => (drainTimer = setTimeout(() => resolve(false), left))),
    ]);
    clearTimeout(drainTimer);
    if (!drained) end.timedOut = true;
    if (spec.outFile) await judgeFile(spec.outFile, stdoutJudge);
    const stdout = stdoutJudge.facts();
    const stderr = stderrJudge?.facts();
    const stdin = scenario.stdin ? spec.stdin?.received.facts() : undefined;
    return {
      verdict: runVerdict(stdout, stderr, scenario.exit, end, scenario.failureOk, stdin),
      reader: spec.outFile ? 'file' : spec.reader,
      stdout,
      stderr,
      stdin,
      stderrBytes,
      stderrHead: stderrJudge || stderrHead === '' ? undefined : stderrHead.slice(0, 200),
      end,
      ms: Math.round(performance.now() - started),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Streams the file the client wrote through the judge, then removes it. A missing file is zero bytes. */
async function judgeFile(path: string, judge: StreamJudge): Promise<void> {
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) judge.update(chunk as Buffer);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    rmSync(path, { force: true });
  }
}

function writeSome(fd: number, buf: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buf, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Writes `spec`'s bytes into the client's stdin FIFO (blocking writes in the
 * thread pool, paced by the client's reads), then closes it: EOF. A client
 * that exits without reading it all ends the feed with EPIPE.
 */
async function feedStdin(fd: number, spec: PayloadSpec): Promise<void> {
  const reader = createPayloadReader(spec);
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(64 * 1024, spec.size)));
  try {
    for (let n = reader.read(buf); n > 0; n = reader.read(buf)) {
      for (let off = 0; off < n; ) off += await writeSome(fd, buf, off, n - off);
    }
  } catch {
    // EPIPE: the client closed its stdin early; the server's judge shows how much arrived.
  } finally {
    closeSync(fd);
  }
}
