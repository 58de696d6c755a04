/**
 * Runs a child process and measures what it printed without buffering it:
 * stdout is counted and hashed as it streams (1 GiB stays out of memory).
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';

/** What a child process did. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdoutBytes: number;
  stdoutSha256: string;
  /** The first 64 KiB of stdout, for small outputs and messages. */
  stdoutHead: string;
  stderr: string;
  ms: number;
}

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  /** A file to use as stdin (opened here). */
  stdinFile?: string;
  /** A file to write stdout into directly (the child writes to the fd). */
  stdoutFile?: string;
  /** Bytes for stdin. */
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Spawns `cmd args`, streams stdout through SHA-256, collects stderr. */
export function runProcess(cmd: string, args: readonly string[], options: RunProcessOptions = {}): Promise<ProcessResult> {
  const started = performance.now();
  const inFd = options.stdinFile ? openSync(options.stdinFile, 'r') : undefined;
  const outFd = options.stdoutFile ? openSync(options.stdoutFile, 'w') : undefined;
  const stdio: SpawnOptions['stdio'] = [inFd ?? (options.input !== undefined ? 'pipe' : 'ignore'), outFd ?? 'pipe', 'pipe'];
  const child = spawn(cmd, args, { stdio, env: options.env ?? process.env, cwd: options.cwd });
  if (inFd !== undefined) closeSync(inFd);
  if (outFd !== undefined) closeSync(outFd);
  if (options.input !== undefined) child.stdin?.end(options.input);
  const hash = createHash('sha256');
  let bytes = 0;
  let head = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
    if (head.length < 65536) head += chunk.toString('latin1');
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 32 << 20) stderr += chunk.toString('latin1');
  });
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdoutBytes: bytes, stdoutSha256: hash.digest('hex'), stdoutHead: head, stderr, ms: performance.now() - started });
    });
  });
}

/** SHA-256 of what a shell pipeline prints (an independent witness such as openssl). */
export async function pipelineDigest(script: string): Promise<{ bytes: number; sha256: string }> {
  const r = await runProcess('sh', ['-c', script]);
  if (r.code !== 0) throw new Error(`'${script}' failed: ${r.stderr}`);
  return { bytes: r.stdoutBytes, sha256: r.stdoutSha256 };
}
