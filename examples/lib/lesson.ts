/**
 * Shared helpers of the close-semantics examples (docs/close-semantics.md):
 * the byte check every example ends with, a stalled pipe reader, a slow sink.
 *
 * Every example prints one line per variant in the same shape, which
 * test/examples/lesson.test.ts reads:
 *
 *   fixed  <what>   delivered 1048576 of 1048576 bytes, SHA-256 ok
 *   naive  <what>   delivered   65536 of 1048576 bytes, lost 983040
 *
 * and ends with a `result:` line. The exit status is 0 exactly when every
 * fixed variant delivered every byte (length and SHA-256). A naive variant
 * that happened to lose nothing is reported as such, never hidden.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type Readable, Writable } from 'node:stream';

/** Lowercase hex SHA-256. */
export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `n` bytes of readable text: 16-byte records, each its own offset (loopssh's `lines` pattern). */
export function linesPayload(n: number): Buffer {
  const buf = Buffer.alloc(n);
  for (let off = 0; off < n; off += 16) {
    const rec = `${String(off).padStart(15, '0')}\n`;
    buf.write(rec, off, Math.min(16, n - off), 'latin1');
  }
  return buf;
}

interface Outcome {
  kind: 'fixed' | 'naive';
  label: string;
  delivered: number;
  expected: number;
  exact: boolean;
}

const outcomes: Outcome[] = [];
const LABEL_WIDTH = 44;

/**
 * Records and prints one variant's outcome. `received` is what arrived (its
 * length and SHA-256 are checked against `expected`), or just a byte count
 * when the bytes themselves are gone (then only the count is compared).
 */
export function report(kind: 'fixed' | 'naive', label: string, received: Uint8Array | number, expected: Uint8Array | { length: number; sha256: string }, note = ''): boolean {
  const expLength = expected.length;
  const expSha = expected instanceof Uint8Array ? sha256(expected) : expected.sha256;
  const delivered = typeof received === 'number' ? received : received.length;
  const shaOk = typeof received !== 'number' && delivered === expLength && sha256(received) === expSha;
  const exact = typeof received === 'number' ? delivered === expLength : shaOk;
  outcomes.push({ kind, label, delivered, expected: expLength, exact });
  const width = String(expLength).length;
  let verdict: string;
  if (delivered < expLength) verdict = `lost ${expLength - delivered}`;
  else if (typeof received === 'number') verdict = delivered === expLength ? 'all bytes (count only)' : `${delivered - expLength} extra`;
  else verdict = shaOk ? 'SHA-256 ok' : 'SHA-256 MISMATCH';
  if (kind === 'naive' && delivered >= expLength && exact) verdict += ', no loss this run';
  const line = `${kind.padEnd(6)} ${label.padEnd(LABEL_WIDTH)} delivered ${String(delivered).padStart(width)} of ${expLength} bytes, ${verdict}`;
  console.log(note ? `${line} (${note})` : line);
  return exact;
}

/** Prints the `result:` line and sets the exit status (0 only if every fixed variant was byte-exact). */
export function conclude(notReproduced?: string): void {
  const fixed = outcomes.filter((o) => o.kind === 'fixed');
  const naive = outcomes.filter((o) => o.kind === 'naive');
  const fixedOk = fixed.length > 0 && fixed.every((o) => o.exact);
  const lost = naive.filter((o) => o.delivered < o.expected);
  console.log(
    `result: fixed ${fixedOk ? 'byte-exact' : 'NOT byte-exact'} (${fixed.filter((o) => o.exact).length} of ${fixed.length}); ` +
      `naive lost bytes in ${lost.length} of ${naive.length}` +
      (lost.length < naive.length ? ` (not reproduced this run${notReproduced ? `: ${notReproduced}` : ''})` : ''),
  );
  process.exitCode = fixedOk ? 0 : 1;
}

/** Milliseconds since `t0`, for event timelines. */
export function since(t0: number): string {
  return `+${String(Math.round(performance.now() - t0)).padStart(4)} ms`;
}

/** What came out of a stalled pipe. */
export interface PipeResult {
  /** Everything the reader passed on. */
  data: Buffer;
  /** The writer's exit status. */
  code: number | null;
  /** The writer's stderr (examples report facts there). */
  stderr: string;
}

/**
 * Runs `argv` with its stdout into a pipe whose reader takes `readFirst`
 * bytes, then sleeps `stallMs`, then reads the rest, as
 * `argv... | { head -c K; sleep S; cat; }` does: a consumer that is slow on
 * purpose, at a known moment. Returns what the reader passed on.
 */
export function intoStalledPipe(argv: readonly string[], readFirst: number, stallMs: number, env: Record<string, string> = {}): Promise<PipeResult> {
  // The writer's exit status comes back on fd 3 (a pipeline reports the reader's).
  const script = `{ "$@"; echo $? >&3; } | { head -c ${readFirst}; sleep ${(stallMs / 1000).toFixed(3)}; exec cat; }`;
  const child = spawn('sh', ['-c', script, 'sh', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const out: Buffer[] = [];
  let err = '';
  let status = '';
  (child.stdout as Readable).on('data', (c: Buffer) => out.push(c));
  (child.stderr as Readable).on('data', (c: Buffer) => (err += c.toString()));
  (child.stdio[3] as Readable).on('data', (c: Buffer) => (status += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => resolve({ data: Buffer.concat(out), code: status.trim() === '' ? null : Number(status.trim()), stderr: err }));
  });
}

/** argv that runs plain JavaScript in a fresh Node: `node -e code`. */
export function nodeEval(code: string): string[] {
  return [process.execPath, '-e', code];
}

/** argv that runs a TypeScript file the way this process runs (tsx's loader flags included). */
export function nodeTs(file: string, ...args: string[]): string[] {
  return [process.execPath, ...process.execArgv, file, ...args];
}

/**
 * A sink that takes `bytesPerSecond`, like a slow disk or a terminal; keeps
 * what it has taken so it can be checked.
 */
export class SlowSink extends Writable {
  readonly #chunks: Buffer[] = [];
  taken = 0;
  constructor(readonly bytesPerSecond: number) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    setTimeout(() => {
      this.#chunks.push(chunk);
      this.taken += chunk.length;
      cb();
    }, (chunk.length / this.bytesPerSecond) * 1000);
  }
  /** What it has taken so far. */
  data(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}
