/**
 * `loopssh demo` (what `npm start` runs): the tracked and the naive close,
 * side by side, on an embedded server.
 *
 * The naive loss is staged, not left to luck: each naive target is slower
 * than the network at the moment the channel closes, as a stalled stdout pipe
 * is (docs/close-semantics.md, "process.exit() vs process.exitCode"): at
 * most one pipe buffer, 65,536 of the 163,840 bytes, reaches the sleeping
 * reader; fewer when the CLI exits before the pipe is full. The README and
 * the doc quote that bound; test/cli/asyncssh-629.test.ts checks it.
 *
 * The SFTP rows use the server's own fault file: `short=1000` answers each
 * READ with at most 1000 bytes, which SFTP allows; the naive download takes
 * the first short answer for EOF (curl #4344) and resolves, the tracked one
 * re-requests the rest (test/client/sftp-naive.test.ts).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { connect, type Connection } from '../client/index.js';
import { DEFAULT_KEYS_DIR } from '../openssh/key-dir.js';
import { startServer } from '../server/server.js';
import type { ServerHandle } from '../server/types.js';
import { joinCommand } from '../openssh/command-line.js';
import { payloadDigest, type PatternName } from '../payload/patterns.js';
import { formatSize } from '../util/size.js';
import { flagTable, type FlagTable } from '../util/flags.js';
import { nativeCryptoWarning } from '../ssh2/native-crypto.js';
import { helpFlag, parseOrHelp, type CliCommand } from './common.js';

/** `loopssh demo`: flags, parser and help in one table. */
export const DEMO_COMMAND = {
  name: 'demo',
  usage: 'demo [--keys DIR]',
  about: `Starts a loopssh server in this process on a free port (keys are generated
on first run), fetches payloads into a file, a slow sink and a stalled stdout
pipe, each with the tracked close (FlushTracker) and the naive one (done at
the channel's 'close'), and prints what arrived. Exits 0 only if every
tracked transfer is byte-exact.`,
  flags: flagTable({
    keys: { kind: 'value', arg: 'DIR', section: 'options', help: "key folder (default: the package's keys/)" },
    ...helpFlag('options'),
  }),
} satisfies CliCommand<FlagTable>;

/** One line of the demo's table. */
export interface DemoRow {
  mode: 'tracked' | 'naive';
  target: string;
  expected: number;
  received: number;
  shaOk: boolean;
  mbPerSecond: number;
}

const BIN = fileURLToPath(new URL('../../bin/loopssh.js', import.meta.url));

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A row for `data` received into `target`, checked against the `pattern` payload of `size` bytes (seed 0). */
function rowOf(naive: boolean, target: string, data: Buffer, size: number, pattern: PatternName, started: number): DemoRow {
  return {
    mode: naive ? 'naive' : 'tracked',
    target,
    expected: size,
    received: data.length,
    shaOk: sha256(data) === payloadDigest({ size, pattern, seed: '0', stream: 'stdout' }),
    mbPerSecond: size / (performance.now() - started) / 1000,
  };
}

/** SFTP download of a `short=1000` fault file into a file: tracked or naive (a short read taken for EOF). */
export async function sftpShortReads(conn: Connection, naive: boolean, dir: string, size: number): Promise<DemoRow> {
  const path = join(dir, naive ? 'sftp-naive.bin' : 'sftp-tracked.bin');
  const started = performance.now();
  await conn.download(`/payload/random/0/${size},short=1000`, path, { naive });
  // Read the file the moment the download says it is done, as the caller would.
  return rowOf(naive, 'sftp short reads → file', readFileSync(path), size, 'random', started);
}

/** A sink that takes `bytesPerSecond`, like a slow disk or a terminal; counts and hashes what it has taken. */
class SlowSink extends Writable {
  taken = 0;
  readonly #hash = createHash('sha256');
  constructor(readonly bytesPerSecond: number) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    setTimeout(() => {
      this.taken += chunk.length;
      this.#hash.update(chunk);
      cb();
    }, (chunk.length / this.bytesPerSecond) * 1000);
  }
  /** Digest of what was taken so far (a copy: the sink may go on). */
  digest(): string {
    return this.#hash.copy().digest('hex');
  }
}

async function toFile(conn: Connection, naive: boolean, dir: string, size: number, pattern: PatternName): Promise<DemoRow> {
  const path = join(dir, naive ? 'naive.bin' : 'tracked.bin');
  const started = performance.now();
  await conn.run(joinCommand(['payload', String(size), '--pattern', pattern]), { stdout: path, stderr: 'ignore', naive });
  // Read the file the moment the run says it is done, as the caller would.
  const data = readFileSync(path);
  const ms = performance.now() - started;
  return {
    mode: naive ? 'naive' : 'tracked',
    target: 'file',
    expected: size,
    received: data.length,
    shaOk: sha256(data) === payloadDigest({ size, pattern, seed: '0', stream: 'stdout' }),
    mbPerSecond: size / ms / 1000,
  };
}

async function toSlowSink(conn: Connection, naive: boolean, size: number, rate: number): Promise<DemoRow> {
  const sink = new SlowSink(rate);
  const started = performance.now();
  await conn.run(`payload ${size}`, { stdout: sink, stderr: 'ignore', naive });
  const received = sink.taken;
  const ms = performance.now() - started;
  return {
    mode: naive ? 'naive' : 'tracked',
    target: `slow sink (${formatSize(rate)}/s)`,
    expected: size,
    received,
    shaOk: received === size && sink.digest() === payloadDigest({ size, pattern: 'lines', seed: '0', stream: 'stdout' }),
    mbPerSecond: size / ms / 1000,
  };
}

/**
 * The CLI in a child process, its stdout into a pipe whose reader takes one
 * byte and then sleeps 2 s, as `| (sleep 2; wc -c)` does: the seed scenario
 * of AsyncSSH #629.
 */
export function toStalledPipe(server: ServerHandle, naive: boolean, size: number, keysDir?: string): Promise<DemoRow> {
  const args = ['get', String(size), '--quiet', '--port', String(server.port), '--host-key', server.hostKeyFingerprint];
  if (keysDir) args.push('--keys', keysDir);
  if (naive) args.push('--naive');
  const reader = '"$@" | { dd bs=1 count=1 status=none; sleep 2; exec cat; }';
  const started = performance.now();
  const child = spawn('sh', ['-c', reader, 'sh', process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => {
      resolve(rowOf(naive, 'stalled stdout pipe', Buffer.concat(chunks), size, 'lines', started));
    });
  });
}

/** Renders rows as an aligned text table. */
export function formatTable(rows: readonly DemoRow[]): string {
  const head = ['mode', 'target', 'expected bytes', 'received bytes', 'SHA-256 ok', 'MB/s'];
  const body = rows.map((r) => [
    r.mode,
    r.target,
    String(r.expected),
    String(r.received),
    r.shaOk ? 'yes' : 'NO',
    r.mbPerSecond >= 10 ? r.mbPerSecond.toFixed(0) : r.mbPerSecond.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n') + '\n';
}

/** `loopssh demo`. */
export async function demoCommand(args: string[]): Promise<number> {
  const parsed = parseOrHelp(args, DEMO_COMMAND);
  if (!parsed) return 0;
  const keysDir = parsed.values.keys ?? DEFAULT_KEYS_DIR;
  const out = process.stdout;
  out.write('loopssh demo: an SSH server in this process, its client, and what "done" means\n\n');
  const slowCrypto = nativeCryptoWarning();
  if (slowCrypto) out.write(`${slowCrypto}\n\n`);
  const server = await startServer({ port: 0, keysDir });
  const dir = mkdtempSync(join(tmpdir(), 'loopssh-demo-'));
  out.write(`server listening on ${server.host}:${server.port}, host key ${server.hostKeyFingerprint}\n`);
  try {
    const conn = await connect({
      port: server.port,
      user: 'demo',
      identityFile: server.keyFiles?.clientKeyPath,
      hostKey: server.hostKeyFingerprint,
    });
    const rows: DemoRow[] = [];
    out.write('running: file (64 MiB random), slow sink (1 MiB at 4 MB/s), stalled stdout pipe (160 KiB, child process), SFTP with short reads (4 MiB)…\n\n');
    // The two child processes first, together; the in-process runs after, so they do not share the CPU with them.
    const pipes = await Promise.all([toStalledPipe(server, false, 163_840, keysDir), toStalledPipe(server, true, 163_840, keysDir)]);
    for (const naive of [false, true]) rows.push(await toFile(conn, naive, dir, 64 * 1024 * 1024, 'random'));
    for (const naive of [false, true]) rows.push(await toSlowSink(conn, naive, 1024 * 1024, 4_000_000));
    rows.push(...pipes);
    for (const naive of [false, true]) rows.push(await sftpShortReads(conn, naive, dir, 4 * 1024 * 1024));
    await conn.close();
    out.write(formatTable(rows));
    const tracked = rows.filter((r) => r.mode === 'tracked');
    const naive = rows.filter((r) => r.mode === 'naive');
    const trackedOk = tracked.every((r) => r.received === r.expected && r.shaOk);
    const lost = naive.filter((r) => r.received < r.expected);
    out.write(
      `\ntracked: ${trackedOk ? 'every byte arrived, SHA-256 verified' : 'FAILED: a tracked transfer was not byte-exact'}.\n` +
        `naive: short in ${lost.length} of ${naive.length} targets (${lost.map((r) => `${r.target}: ${r.expected - r.received} bytes missing`).join('; ') || 'none this time'}).\n` +
        `The naive run called it done at the channel's 'close', while the target still held bytes;\n` +
        `loopssh's FlushTracker waits for every target's own 'close' (or last write callback).\n` +
        `The naive SFTP download took the server's first short READ answer (1000 bytes, which SFTP allows) for the end of the file;\n` +
        `the tracked one re-requests from where a short answer stopped and checks the size stat reported. See docs/close-semantics.md.\n`,
    );
    if (statSync(join(dir, 'tracked.bin')).size !== 64 * 1024 * 1024) return 1;
    return trackedOk ? 0 : 1;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
