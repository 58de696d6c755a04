/**
 * One measured, verified transfer (and the in-process extras): spawn the
 * client under GNU time, read the server's CPU and peak RSS from /proc, and
 * check what arrived: files by size and SHA-256, pipes by length and every
 * byte, /dev/null by exit status and the loopssh client's own byte count.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { opensshArgs } from '../../src/openssh/ssh-args.ts';
import { GNU_TIME, TIME_FORMAT, TreeSampler, parseTimeFile, readHwmKiB, readStat, resetHwm, waitNoDescendants } from '../procstat.ts';
import { MiB, PATH_INFO, ROOT, type BenchOptions, type PathId, type Target } from './options.ts';
import { stopChild, type BenchEnv, type Serve } from './setup.ts';

const PIPE_READER = join(ROOT, 'bench', 'pipe-reader.mjs');

/** What the measurements need: the shared state, the options, OpenSSH's ssh. */
export interface MeasureContext {
  env: BenchEnv;
  options: BenchOptions;
  ssh: string | undefined;
  /** OpenSSH's sftp, for the SFTP rows. */
  sftp?: string | undefined;
}

/** One measured transfer. */
export interface Sample {
  ok: boolean;
  why?: string;
  verify: string;
  wallMs: number;
  clientCpuS?: number;
  clientRssKiB?: number;
  serverCpuS?: number;
  serverRssKiB?: number;
  /** From the loopssh child's own clock. */
  inner?: { loadMs?: number; connectMs?: number; runMs?: number; startMs?: number };
}

export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  time?: ReturnType<typeof parseTimeFile>;
  sampledRssKiB?: number;
}

/** Spawns argv (under GNU time when present), optionally as `argv | pipe-reader`; resolves when everything exited. */
export function runChild(env: BenchEnv, argv: string[], options: { stdoutFd?: number; pipe?: boolean; cwd?: string }): Promise<ChildOutcome> {
  const timeFile = join(env.tmp, `time-${process.hrtime.bigint()}`);
  const wrapped = GNU_TIME ? [GNU_TIME, '-f', TIME_FORMAT, '-o', timeFile, ...argv] : argv;
  const started = performance.now();
  const child = options.pipe
    ? spawn('/bin/sh', ['-c', '"$@" | exec "$BENCH_NODE" "$BENCH_READER"', 'sh', ...wrapped], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BENCH_NODE: process.execPath, BENCH_READER: PIPE_READER },
        cwd: options.cwd ?? ROOT,
      })
    : spawn(wrapped[0] as string, wrapped.slice(1), { stdio: ['ignore', options.stdoutFd ?? 'pipe', 'pipe'], cwd: options.cwd ?? ROOT });
  const sampler = GNU_TIME ? undefined : new TreeSampler(child.pid as number, true).start();
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-8192)));
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-16384)));
  return new Promise((done, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const wallMs = performance.now() - started;
      const sampledRssKiB = sampler?.stop();
      let time: ChildOutcome['time'];
      if (GNU_TIME) {
        try {
          time = parseTimeFile(readFileSync(timeFile, 'utf8'));
          rmSync(timeFile, { force: true });
        } catch {
          time = undefined;
        }
      }
      done({ code, signal, stdout, stderr, wallMs, time, sampledRssKiB });
    });
  });
}

/** The JSON a loopssh bench child prints on stderr. */
export function benchResult(stderr: string): Record<string, unknown> | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith('BENCH-RESULT '));
  if (!line) return undefined;
  try {
    return JSON.parse(line.slice('BENCH-RESULT '.length)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const zeroDigests = new Map<number, string>();
/** SHA-256 of n zero bytes (cached). */
export function zeroSha256(n: number): string {
  let d = zeroDigests.get(n);
  if (d === undefined) {
    const hash = createHash('sha256');
    const zeros = Buffer.alloc(Math.min(Math.max(n, 1), 4 * MiB));
    for (let left = n; left > 0; left -= zeros.length) hash.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    d = hash.digest('hex');
    zeroDigests.set(n, d);
  }
  return d;
}

export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function remoteCommand(path: PathId, size: number): string {
  return PATH_INFO[path].server === 'sshd' ? `head -c ${size} /dev/zero` : `payload ${size} --pattern zero`;
}

/** Whether the client of `path` is the bench's own loopssh child (it prints BENCH-RESULT). */
export const isBenchChild = (path: PathId): boolean => PATH_INFO[path].client === 'loopssh' || PATH_INFO[path].client === 'inproc';

/** Whether the client of `path` writes to /dev/null as its stdout (ssh, the CLI) rather than to the path. */
export const writesNullToStdout = (path: PathId): boolean => !isBenchChild(path);

/** Where a path's client runs: the installed project for cli-pack, else the checkout. */
export const clientCwd = (ctx: MeasureContext, path: PathId): string => (PATH_INFO[path].client === 'cli-installed' ? (ctx.env.installed as string) : ROOT);

/**
 * `loopssh exec` arguments (after the launcher) as a user types them: into
 * `-o FILE` for a file, into its stdout otherwise (/dev/null or a pipe).
 */
export function cliExecArgs(ctx: MeasureContext, srv: Serve, size: number, target: string): string[] {
  // prettier-ignore
  return [
    'exec',
    '--port', String(srv.port),
    '--user', 'bench',
    '--identity', ctx.env.keys.clientKeyPath,
    '--host-key', srv.fingerprint,
    '--cipher', ctx.options.cipher,
    ...(target === 'null' || target === 'pipe' ? [] : ['-o', target]),
    '--',
    'payload', String(size), '--pattern', 'zero',
  ];
}

/** The client's argv for `path`, writing `size` bytes to `target` (a path, 'null' or 'pipe'). */
export function clientArgv(ctx: MeasureContext, path: PathId, size: number, target: string, nodeFlags: string[] = [], serveOverride?: Serve): string[] {
  const { env, options } = ctx;
  const info = PATH_INFO[path];
  if (info.client === 'inproc') {
    return [...env.nodeScript('bench/inproc', nodeFlags), 'transfer', '--size', String(size), '--cipher', options.cipher, '--target', target, ...(path === 'loop1w' ? ['--worker'] : [])];
  }
  const srv = serveOverride ?? (env.serve as Serve);
  if (info.client === 'cli-checkout' || info.client === 'cli-installed') {
    // npx as users run it (cwd: the checkout or the installed project); with
    // node flags (the profiler), the checkout's launcher directly instead.
    const launcher = nodeFlags.length ? [process.execPath, ...nodeFlags, join(ROOT, 'bin', 'loopssh.js')] : ['npx', '--no-install', 'loopssh'];
    return [...launcher, ...cliExecArgs(ctx, srv, size, target)];
  }
  const sshd = env.sshd;
  const server =
    info.server === 'serve'
      ? { port: srv.port, user: 'bench', fp: srv.fingerprint, knownHostsFile: srv.knownHostsFile }
      : { port: sshd?.sshd.port as number, user: sshd?.sshd.user as string, fp: sshd?.fingerprint as string, knownHostsFile: sshd?.knownHostsFile as string };
  if (info.client === 'ssh') {
    const args = opensshArgs(
      { host: '127.0.0.1', port: server.port, user: server.user, identityFile: env.keys.clientKeyPath, knownHostsFile: server.knownHostsFile },
      ['-c', options.cipher],
    );
    return [ctx.ssh as string, ...args, remoteCommand(path, size)];
  }
  // prettier-ignore
  return [
    ...env.nodeScript('bench/client', nodeFlags),
    '--port', String(server.port),
    '--user', server.user,
    '--identity', env.keys.clientKeyPath,
    '--host-key', server.fp,
    '--cipher', options.cipher,
    '--size', String(size),
    '--target', target,
    '--',
    remoteCommand(path, size),
  ];
}

/** The client's CPU, peak RSS and exit status from GNU time (or the sampler) into `sample`; failures into `problems`. */
export function clientFigures(outcome: ChildOutcome, sample: Sample, problems: string[]): void {
  if (outcome.time) {
    sample.clientCpuS = outcome.time.cpuS;
    sample.clientRssKiB = outcome.time.maxRssKiB;
    if (outcome.time.exitStatus !== 0) problems.push(`client exit status ${outcome.time.exitStatus}`);
  } else if (outcome.sampledRssKiB) {
    sample.clientRssKiB = outcome.sampledRssKiB;
  }
  if (outcome.code !== 0) problems.push(`exit ${outcome.code ?? outcome.signal}`);
}

/** Checks that `file` holds exactly `size` zero bytes (size, then SHA-256), then removes it. */
export async function checkZeroFile(file: string, size: number, problems: string[]): Promise<void> {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) problems.push(`no file at ${file}`);
  else if (st.size !== size) problems.push(`file holds ${st.size} of ${size} bytes`);
  else if ((await fileSha256(file)) !== zeroSha256(size)) problems.push('file SHA-256 mismatch');
  rmSync(file, { force: true });
}

/**
 * Server-side figures of one transfer. `loopssh serve` is one long-lived
 * process (its peak RSS is reset before each transfer, unless `fresh`: then
 * it covers start-up and this transfer); sshd forks per connection, so its
 * CPU is what the master reaped, and its RSS is sampled from the tree.
 * `done()` adds what went wrong on the server to `problems`.
 */
export function watchServer(
  ctx: MeasureContext,
  kind: 'serve' | 'sshd' | 'inproc',
  srv: Serve | undefined,
  fresh = false,
): { done(problems: string[]): Promise<Pick<Sample, 'serverCpuS' | 'serverRssKiB'>> } {
  const { env } = ctx;
  let serverCpu0 = 0;
  let sampler: TreeSampler | undefined;
  let hwmReset = false;
  if (kind === 'serve') {
    hwmReset = fresh ? true : resetHwm((srv as Serve).pid);
    serverCpu0 = readStat((srv as Serve).pid)?.cpuS ?? 0;
  } else if (kind === 'sshd') {
    const pid = env.sshd?.sshd.process.pid as number;
    serverCpu0 = readStat(pid)?.childrenCpuS ?? 0;
    sampler = new TreeSampler(pid).start();
  }
  return {
    async done(problems) {
      if (kind === 'serve') {
        const pid = (srv as Serve).pid;
        const hwm = readHwmKiB(pid);
        if ((srv as Serve).child.exitCode !== null) problems.push(`loopssh serve died: ${(srv as Serve).log().trim().slice(-300)}`);
        return { serverCpuS: (readStat(pid)?.cpuS ?? 0) - serverCpu0, serverRssKiB: hwmReset ? hwm : undefined };
      }
      if (kind === 'sshd') {
        const pid = env.sshd?.sshd.process.pid as number;
        await waitNoDescendants(pid);
        return { serverRssKiB: (sampler as TreeSampler).stop() || undefined, serverCpuS: (readStat(pid)?.childrenCpuS ?? 0) - serverCpu0 };
      }
      return {};
    },
  };
}

/**
 * One transfer of `size` zero bytes on `path` into `target`, measured and
 * verified. With `freshServer`, a `loopssh serve` path gets a server process
 * of its own, started for this transfer (its peak RSS then covers start-up
 * and this one transfer, nothing before).
 */
export async function transfer(ctx: MeasureContext, path: PathId, target: Target, size: number, freshServer = false): Promise<Sample> {
  const fresh = freshServer && PATH_INFO[path].server === 'serve' ? await ctx.env.startFreshServe() : undefined;
  try {
    return await measureTransfer(ctx, path, target, size, fresh);
  } finally {
    if (fresh) await stopChild(fresh.child);
  }
}

async function measureTransfer(ctx: MeasureContext, path: PathId, target: Target, size: number, fresh: Serve | undefined): Promise<Sample> {
  const { env } = ctx;
  const info = PATH_INFO[path];
  const srv = fresh ?? env.serve;
  const file = join(env.tmp, `out-${path}.bin`);
  rmSync(file, { force: true });
  let stdoutFd: number | undefined;
  if (info.client === 'ssh' && target !== 'pipe') stdoutFd = openSync(target === 'file' ? file : '/dev/null', 'w');
  else if (writesNullToStdout(path) && target === 'null') stdoutFd = openSync('/dev/null', 'w');
  const argv = clientArgv(ctx, path, size, target === 'file' ? file : target, [], fresh);

  const server = watchServer(ctx, info.server, srv, fresh !== undefined);
  let outcome: ChildOutcome;
  try {
    outcome = await runChild(env, argv, { stdoutFd, pipe: target === 'pipe', cwd: clientCwd(ctx, path) });
  } finally {
    if (stdoutFd !== undefined) closeSync(stdoutFd);
  }

  const sample: Sample = { ok: true, verify: '', wallMs: outcome.wallMs };
  const problems: string[] = [];
  Object.assign(sample, await server.done(problems));
  clientFigures(outcome, sample, problems);

  const verify: string[] = [];
  if (isBenchChild(path)) {
    const r = benchResult(outcome.stderr);
    if (!r) problems.push('no BENCH-RESULT from the loopssh child');
    else {
      if (r.bytes !== size) problems.push(`client counted ${String(r.bytes)} of ${size} bytes`);
      if (r.binding === false) problems.push('child ran without the native crypto binding');
      sample.inner = { loadMs: r.loadMs as number, connectMs: r.connectMs as number, runMs: r.runMs as number, startMs: r.startMs as number | undefined };
      verify.push('length (client count)');
    }
  }
  if (target === 'file') {
    await checkZeroFile(file, size, problems);
    verify.push('size + SHA-256 of the file');
  } else if (target === 'pipe') {
    let r: { bytes?: number; zero?: boolean } = {};
    try {
      r = JSON.parse(outcome.stdout.trim().split('\n').pop() ?? '{}') as typeof r;
    } catch {
      // reported below
    }
    if (r.bytes !== size) problems.push(`pipe reader got ${String(r.bytes)} of ${size} bytes`);
    else if (!r.zero) problems.push('pipe reader saw a non-zero byte');
    verify.push('length + every byte read from the pipe');
  } else {
    verify.push('exit status 0');
  }
  sample.verify = verify.join(', ');
  if (problems.length > 0) {
    sample.ok = false;
    sample.why = `${problems.join('; ')}${outcome.stderr.trim() ? ` | stderr: ${outcome.stderr.trim().slice(-400)}` : ''}`;
  }
  return sample;
}

/** One in-process extra (flush or scale) run. */
export interface ExtraSample {
  ok: boolean;
  why?: string;
  results: Record<string, { ms: number; ok: boolean }>;
  rssKiB?: number;
  cpuS?: number;
}

export async function inprocExtra(ctx: MeasureContext, mode: 'flush' | 'scale', run: number): Promise<ExtraSample> {
  const { env, options } = ctx;
  const dir = join(env.tmp, `flush-${run}`);
  mkdirSync(dir, { recursive: true });
  const argv = [...env.nodeScript('bench/inproc'), mode, '--size', String(options.size), '--cipher', options.cipher, '--dir', dir, '--order', String(run), '--channel', String(options.scaleChannel)];
  const outcome = await runChild(env, argv, {});
  rmSync(dir, { recursive: true, force: true });
  const r = benchResult(outcome.stderr);
  const results = (r?.results ?? {}) as ExtraSample['results'];
  const ok = outcome.code === 0 && r?.ok === true;
  return {
    ok,
    why: ok ? undefined : `exit ${outcome.code}; ${outcome.stderr.trim().slice(-400)}`,
    results,
    rssKiB: outcome.time?.maxRssKiB,
    cpuS: outcome.time?.cpuS,
  };
}

