/**
 * Child processes for tests: the CLI launcher's path, a whole-group kill,
 * and one collector of everything a child printed. The CLI helpers
 * (test/cli/helpers.ts) and the stress helpers (./stress.ts) build on these.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The CLI launcher. */
export const BIN = fileURLToPath(new URL('../../bin/loopssh.js', import.meta.url));
/** The project root (the children's working directory). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a finished child left behind. */
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

/**
 * Signals a child's whole process group (children are spawned detached, so
 * shell wrappers and their children go too), falling back to the child alone.
 */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return;
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

/**
 * Collects a child's stdout, stderr (and fd 3, if piped) as Buffers; resolves
 * on 'close' (every stdio stream closed). At the deadline (a hang detector,
 * never a speed claim) the whole group is killed and `timedOut` is set.
 */
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
    if (child.exitCode === null && child.signalCode === null) killGroup(child, 'SIGKILL');
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
