/**
 * The CLI (`node bin/loopssh.js ...`) run as a child process whose output is
 * collected as Buffers, and checks on what it printed. The server fixture is
 * startCliFixture in test/helpers/fixture.ts; temporary folders, sha256 and
 * child-process helpers have their one home in test/helpers too.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { referenceBytes, type ReferencePattern } from '../helpers/oracle.ts';
import { BIN, collect, ROOT, type CliResult } from '../helpers/processes.ts';

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

/** The exact bytes of a payload, from the independent reference generator (for prefix checks). */
export function payloadBytes(size: number, pattern: ReferencePattern = 'lines', seed = '0', stream: 'stdout' | 'stderr' = 'stdout'): Buffer {
  return referenceBytes({ size, pattern, seed, stream });
}

/** True when `text` is exactly one newline-terminated line. */
export function isOneLine(text: string): boolean {
  return text.endsWith('\n') && text.indexOf('\n') === text.length - 1;
}

/** A line of a stack trace, as Node prints them. */
export const STACK_LINE = /^\s+at /m;
