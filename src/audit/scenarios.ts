/**
 * The audit's exec scenarios: each a named server behaviour (legal under
 * RFC 4254), the remote command that produces it, what a correct client
 * must deliver, and the stdout reader it is judged with. Every scenario is
 * linked from docs/close-semantics.md ("The audit's scenarios") to the trap
 * it exercises.
 */
import type { PayloadSpec } from '../payload/patterns.js';
import type { SessionWindow } from '../ssh2/index.js';
import type { ReaderName } from './readers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The exit status a correct client reports: this code, or any failure (≠ 0). */
export type ExpectedExit = { code: number } | 'nonzero';

/** One audit scenario. */
export interface Scenario {
  /** Short stable name (CLI `--only`, JSON, README). */
  name: string;
  /** One line: what the server does. */
  does: string;
  /** The exec request the client is told to run (`{command}`). */
  command: string;
  /** What the server sends on stdout. */
  stdout: PayloadSpec;
  /** What it sends on stderr, judged too when set; otherwise the client's stderr is only reported. */
  stderr?: PayloadSpec;
  exit: ExpectedExit;
  /** How the client's stdout pipe is read unless the run overrides it. */
  reader: ReaderName;
  /** A run longer than this is judged hung (the client is killed). */
  timeoutMs: number;
  /** Not in the default set (run with `--only NAME` or `--huge`). */
  optional?: boolean;
  /**
   * SFTP scenarios only: the remote path the client downloads (`{path}`) into
   * `{out}`. Not in the default set (exec templates cannot run them): `--sftp`.
   */
  sftpPath?: string;
  /**
   * A non-zero exit whose file is absent or an exact prefix of the bytes is
   * also correct: the client reported the failure instead of keeping a
   * silently different file.
   */
  failureOk?: boolean;
  /**
   * Bytes the audit feeds the client's stdin (fd 0 is a FIFO the audit
   * writes, then closes; every other scenario gives /dev/null). The server
   * command `audit-stdin` judges what arrived, and the run's verdict covers it.
   */
  stdin?: PayloadSpec;
  /** The receive window the server advertises on this scenario's session channel (default: ssh2's 2 MiB / 32 KiB). */
  window?: SessionWindow;
}

function lines(size: number, stream: 'stdout' | 'stderr' = 'stdout'): PayloadSpec {
  return { size, pattern: 'lines', seed: '0', stream };
}

/** Every exec scenario, in the order the audit runs them. */
export const SCENARIOS: readonly Scenario[] = Object.freeze([
  {
    name: '629-slow-pipe',
    does: '160 KiB, exit 0; the stdout pipe is read slowly (AsyncSSH #629)',
    command: 'payload 160KiB',
    stdout: lines(160 * KiB),
    exit: { code: 0 },
    reader: 'slow',
    timeoutMs: 30_000,
  },
  {
    name: '629-stall',
    does: '160 KiB, exit 0; the pipe reader takes 1 byte, then sleeps 2 s (AsyncSSH #629)',
    command: 'payload 160KiB',
    stdout: lines(160 * KiB),
    exit: { code: 0 },
    reader: 'one-byte-then-sleep',
    timeoutMs: 30_000,
  },
  {
    name: 'large-stdout',
    does: '64 MiB of stdout, exit 0',
    command: 'payload 64MiB',
    stdout: lines(64 * MiB),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 60_000,
  },
  {
    name: 'huge-stdout',
    does: '1 GiB of stdout, exit 0 (optional: --huge)',
    command: 'payload 1GiB',
    stdout: lines(1024 * MiB),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 300_000,
    optional: true,
  },
  {
    name: 'interleaved',
    does: '8 MiB stdout and 8 MiB stderr interleaved, exit 0',
    command: 'payload 8MiB --stderr 8MiB',
    stdout: lines(8 * MiB),
    stderr: lines(8 * MiB, 'stderr'),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 30_000,
  },
  {
    name: 'stderr-after-stdout',
    does: '4 MiB stdout, then (all stdout sent) 4 MiB stderr, exit 0; stdout is read after a 2 s stall',
    command: 'audit-stderr-after-stdout 4MiB',
    stdout: lines(4 * MiB),
    stderr: lines(4 * MiB, 'stderr'),
    exit: { code: 0 },
    reader: 'stalled-then-fast',
    timeoutMs: 30_000,
  },
  {
    name: 'exit-before-data',
    does: 'exit-status 7 sent first, then 4 MiB of stdout, EOF, close',
    command: 'audit-exit-first 4MiB 7',
    stdout: lines(4 * MiB),
    exit: { code: 7 },
    reader: 'fast',
    timeoutMs: 30_000,
  },
  {
    name: 'exit-no-eof',
    does: '4 MiB of stdout, exit-status 7, CHANNEL_CLOSE with no EOF',
    command: 'audit-exit-no-eof 4MiB 7',
    stdout: lines(4 * MiB),
    exit: { code: 7 },
    reader: 'fast',
    timeoutMs: 30_000,
  },
  {
    name: 'eof-delay-exit',
    does: '1 MiB of stdout, EOF, then 1 s later exit-status 7 and CHANNEL_CLOSE',
    command: 'audit-eof-delay-exit 1MiB 7 1000',
    stdout: lines(1 * MiB),
    exit: { code: 7 },
    reader: 'fast',
    timeoutMs: 30_000,
  },
  {
    name: 'tiny-packets',
    does: '64 KiB as 65,536 one-byte data packets, exit 0',
    command: 'payload 64KiB --chunk 1',
    stdout: lines(64 * KiB),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 60_000,
  },
  {
    name: 'tiny-window',
    does: 'the client sends 1 MiB on stdin into a session whose receive window is 1 KiB (max packet 512 B), topped up 256 bytes per WINDOW_ADJUST; the server judges what it got, exit 0 (optional: --only tiny-window)',
    command: 'audit-stdin',
    stdin: { size: 1 * MiB, pattern: 'random', seed: '12', stream: 'stdout' },
    stdout: lines(0),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 120_000,
    window: { window: 1024, packetSize: 512, step: 256 },
    // Not default: the client template must forward its stdin (README "What we found").
    optional: true,
  },
  {
    name: 'max-packets',
    does: '16 MiB in 32 KiB writes (the largest data packet ssh2 sends), exit 0',
    command: 'payload 16MiB --chunk 32KiB',
    stdout: lines(16 * MiB),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 30_000,
  },
  {
    name: 'no-exit-status',
    does: '1 MiB of stdout, then CHANNEL_CLOSE without exit-status or exit-signal',
    command: 'audit-no-exit-status 1MiB',
    stdout: lines(1 * MiB),
    exit: 'nonzero',
    reader: 'fast',
    timeoutMs: 30_000,
  },
  {
    name: 'exit-signal',
    does: '1 MiB of stdout, then exit-signal TERM instead of an exit-status',
    command: 'payload 1MiB --signal TERM',
    stdout: lines(1 * MiB),
    exit: 'nonzero',
    reader: 'fast',
    timeoutMs: 30_000,
  },
  {
    name: 'rekey',
    does: '32 MiB with a server-initiated rekey halfway, exit 0',
    command: 'audit-rekey 32MiB',
    stdout: lines(32 * MiB),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 60_000,
  },
  {
    name: 'rekey-guess',
    does: '8 MiB with a server-initiated rekey halfway, its KEXINIT followed by a wrongly guessed kex packet, exit 0',
    command: 'audit-rekey-guess 8MiB',
    stdout: lines(8 * MiB),
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 60_000,
  },
  // SFTP downloads (docs/close-semantics.md "The audit's scenarios"): 200000
  // random bytes (seed 7); the fault suffix is the server's (src/server/sftp/faults.ts).
  sftp('sftp-short-reads', 'SFTP: every READ answers at most 1000 bytes (a short read is not EOF); a correct client gets the whole file, exit 0', 'short=1000', false),
  sftp('sftp-early-eof', 'SFTP: stat says 200000 bytes, READ answers EOF at 100000; a correct client reports failure (exit ≠ 0), a short file with exit 0 is truncated', 'eof=100000', true),
  sftp('sftp-stat-lies', 'SFTP: stat says 1000 bytes, the file has 200000 up to EOF; a correct client gets all 200000 (exit 0) or reports the mismatch (exit ≠ 0)', 'stat=1000', true),
] satisfies Scenario[]);

function sftp(name: string, does: string, fault: string, failureOk: boolean): Scenario {
  const path = `/payload/random/7/200000,${fault}`;
  return {
    name,
    does,
    command: `sftp get ${path}`,
    sftpPath: path,
    // The bytes a correct download holds (for early EOF: the full stat size, which no client can get, so only a reported failure passes).
    stdout: { size: 200_000, pattern: 'random', seed: '7', stream: 'stdout' },
    exit: { code: 0 },
    reader: 'fast',
    timeoutMs: 30_000,
    optional: true,
    failureOk,
  };
}

/** Scenario names, in order. */
export const SCENARIO_NAMES: readonly string[] = SCENARIOS.map((s) => s.name);
