/**
 * Shared fixtures for the CLI tests: an in-process server on a free port with
 * fresh keys, and the CLI (`node bin/loopssh.js ...`) run as a child process
 * whose stdout is collected as Buffers.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../src/server/server.ts';
import type { ServerHandle, ServerOptions } from '../../src/server/types.ts';
import { referenceBytes, type ReferencePattern } from '../helpers/oracle.ts';

/** The CLI launcher. */
export const BIN = fileURLToPath(new URL('../../bin/loopssh.js', import.meta.url));
/** The project root (the children's working directory). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a finished CLI child left behind. */
export interface CliResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderrBytes: Buffer;
  /** stderr as UTF-8 text. */
  stderr: string;
  /** Set when the run hit its deadline and was killed. */
  timedOut: boolean;
  /** Lines written to fd 3 (used by shell wrappers to report an exit status). */
  fd3: string;
  ms: number;
}

export interface RunCliOptions {
  /** Kill the child (SIGKILL, whole process group) after this long; default 30 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Run `argv` as is instead of `node bin/loopssh.js ...args`. */
  raw?: boolean;
  /** Give the child a pipe as fd 3 and collect it into `fd3`. */
  fd3?: boolean;
  cwd?: string;
}

function baseEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  // Never let a developer's settings change what the CLI prints.
  if (!extra || !('LOOPSSH_LOG_LEVEL' in extra)) delete env.LOOPSSH_LOG_LEVEL;
  delete env.NODE_OPTIONS;
  return env;
}

/** Collects a child's output; resolves on 'close' (every stdio stream closed) or at the deadline. */
export function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  const started = performance.now();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const fd3: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  const extra = child.stdio[3] as NodeJS.ReadableStream | null | undefined;
  extra?.on('data', (c: Buffer) => fd3.push(c));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(child, 'SIGKILL');
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stderrBytes = Buffer.concat(err);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderrBytes,
        stderr: stderrBytes.toString('utf8'),
        timedOut,
        fd3: Buffer.concat(fd3).toString('utf8'),
        ms: performance.now() - started,
      });
    });
  });
}

/** Signals the child's whole process group (children are spawned detached), falling back to the child alone. */
export function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Spawns `node bin/loopssh.js ...args` (or `args` as is with `raw`), stdin closed. */
export function spawnCli(args: readonly string[], options: RunCliOptions = {}): ChildProcess {
  const [file, argv] = options.raw ? [args[0] as string, args.slice(1)] : [process.execPath, [BIN, ...args]];
  const stdio: StdioOptions = options.fd3 ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'];
  // detached: its own process group, so a deadline kills shell wrappers and their children too.
  return spawn(file, argv, { stdio, env: baseEnv(options.env), cwd: options.cwd ?? ROOT, detached: true });
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return collect(spawnCli(args, options), options.timeoutMs ?? 30_000);
}

/** `sh -c SCRIPT sh node bin/loopssh.js ...args`: the CLI as `"$@"` inside a shell script. */
export function runCliInShell(script: string, args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return runCli(['sh', '-c', script, 'sh', process.execPath, BIN, ...args], { ...options, raw: true });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The exact bytes of a payload, from the independent reference generator (for prefix checks). */
export function payloadBytes(size: number, pattern: ReferencePattern = 'lines', seed = '0', stream: 'stdout' | 'stderr' = 'stdout'): Buffer {
  return referenceBytes({ size, pattern, seed, stream });
}

/** Non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** True when `text` is exactly one newline-terminated line. */
export function isOneLine(text: string): boolean {
  return text.endsWith('\n') && text.indexOf('\n') === text.length - 1;
}

const tempDirs = new Set<string>();

/** A fresh temporary folder, removed by {@link removeTempDirs}. */
export function tempDir(prefix = 'loopssh-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Removes every folder {@link tempDir} made in this file. */
export function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** A port with nothing listening on it (listened on once, then closed). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An in-process server with keys in a fresh folder, and the CLI flags to reach it. */
export interface Fixture {
  server: ServerHandle;
  /** Parent temp folder (keys are in `keysDir` below it). */
  dir: string;
  keysDir: string;
  /** `--port P --host-key FP --keys DIR`. */
  conn: string[];
  stop(): Promise<void>;
}

export async function startFixture(options: Omit<ServerOptions, 'port' | 'keysDir'> = {}): Promise<Fixture> {
  const dir = tempDir();
  const keysDir = join(dir, 'keys');
  const server = await startServer({ ...options, port: 0, keysDir });
  return {
    server,
    dir,
    keysDir,
    conn: ['--port', String(server.port), '--host-key', server.hostKeyFingerprint, '--keys', keysDir],
    stop: async () => {
      await server.stop({ graceMs: 1000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A line of a stack trace, as Node prints them. */
export const STACK_LINE = /^\s+at /m;
