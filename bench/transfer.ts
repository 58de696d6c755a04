/**
 * Transfer benchmark: loopssh vs OpenSSH over loopback, side by side.
 *
 *   npm run bench -- [--size 1GiB] [--runs 5] [--cipher aes128-gcm@openssh.com]
 *                    [--only PATH,...] [--targets null,file,pipe] [--out DIR]
 *                    [--runner compiled|tsx] [--profile] [--allow-js-crypto]
 *
 * Paths (--only takes these ids, and the extras below):
 *   loop2      loopssh client → `loopssh serve`, two processes
 *   loop1      loopssh server and client in one process (as `loopssh demo`)
 *   ssh-loop   OpenSSH ssh → `loopssh serve`
 *   loop-sshd  loopssh client → OpenSSH sshd (own sshd on a free port)
 *   ssh-sshd   OpenSSH ssh → OpenSSH sshd: the baseline every ratio uses
 * Targets: /dev/null, a file in a temporary folder, a pipe (`client | reader`).
 * Extras: setup (0-byte transfers: the fixed cost per path), rss (fresh
 * processes at 16 MiB and at SIZE: peak RSS vs size), flush (FlushTracker vs
 * `naive: true`), scale (1, 8, 64 concurrent 16 MiB channels in one process).
 *
 * Every run does every selected item once, in an order rotated per run, so
 * machine noise hits all paths alike. MB/s are decimal and measured over the
 * whole client process (start-up, handshake, transfer, exit), as the
 * baseline in shared/facts/performance-baseline.md was. Every transfer is
 * verified: files by size and SHA-256, pipes by length and every byte,
 * /dev/null by exit status (and the loopssh client's byte count).
 *
 * Writes OUT/bench.md (also printed on stdout), OUT/bench.png and
 * OUT/bench.json; progress goes to stderr. Exit status 1 if any transfer
 * failed verification, 2 on bad usage or missing prerequisites.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fingerprint } from '../src/openssh/key-format.ts';
import { knownHostsLine } from '../src/openssh/known-hosts.ts';
import { opensshArgs } from '../src/openssh/ssh-args.ts';
import { formatSize, parseSize } from '../src/util/size.ts';
import { freePort, keyFolder, peer, peerVersion, startSshd, type KeyFolder, type Sshd } from '../test/helpers/peers.ts';
import { compileTree } from './build.ts';
import { barChart, type BarGroup, type Rgb } from './png.ts';
import { GNU_TIME, TIME_FORMAT, TreeSampler, parseTimeFile, readHwmKiB, readStat, resetHwm, waitNoDescendants } from './procstat.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------
// Flags

const HELP = `usage: npm run bench -- [options]

  --size SIZE          bytes per transfer (default 1GiB; e.g. 64MiB for a quick run)
  --runs N             interleaved runs (default 5)
  --cipher NAME        cipher for every client, ssh -c and loopssh's (default aes128-gcm@openssh.com)
  --only LIST          comma-separated: loop2, loop1, ssh-loop, loop-sshd, ssh-sshd
                       (paths) and setup, rss, flush, scale (extras); default all
  --targets LIST       null, file, pipe (default all three)
  --out DIR            where bench.md, bench.png and bench.json go (default bench/results)
  --runner R           how loopssh processes run: compiled (default: the checkout
                       transpiled to plain JS, as an installed package runs) or tsx
  --profile            also profile (node --cpu-prof) one loop1 transfer and one
                       loop2 client, and list the top self-time functions
  --allow-js-crypto    run even though ssh2's native crypto binding is missing
                       (loopssh figures are then marked as not representative)
`;

const PATH_IDS = ['loop2', 'loop1', 'ssh-loop', 'loop-sshd', 'ssh-sshd'] as const;
type PathId = (typeof PATH_IDS)[number];
const EXTRAS = ['setup', 'rss', 'flush', 'scale'] as const;
type Extra = (typeof EXTRAS)[number];
const TARGETS = ['null', 'file', 'pipe'] as const;
type Target = (typeof TARGETS)[number];

const PATH_INFO: Record<PathId, { label: string; short: string; client: 'loopssh' | 'ssh' | 'inproc'; server: 'serve' | 'sshd' | 'inproc' }> = {
  loop2: { label: 'loopssh → loopssh, 2 processes', short: 'loopssh -> loopssh (2 proc)', client: 'loopssh', server: 'serve' },
  loop1: { label: 'loopssh → loopssh, 1 process', short: 'loopssh -> loopssh (1 proc)', client: 'inproc', server: 'inproc' },
  'ssh-loop': { label: 'OpenSSH ssh → loopssh serve', short: 'ssh -> loopssh serve', client: 'ssh', server: 'serve' },
  'loop-sshd': { label: 'loopssh → OpenSSH sshd', short: 'loopssh -> sshd', client: 'loopssh', server: 'sshd' },
  'ssh-sshd': { label: 'OpenSSH ssh → OpenSSH sshd (baseline)', short: 'ssh -> sshd (baseline)', client: 'ssh', server: 'sshd' },
};
const TARGET_LABEL: Record<Target, string> = { null: '/dev/null', file: 'file', pipe: 'pipe' };
const TARGET_COLOR: Record<Target, Rgb> = { null: [66, 133, 244], file: [244, 160, 0], pipe: [15, 157, 88] };

function fail(message: string, status = 2): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(status);
}

const { values: flags } = (() => {
  try {
    return parseArgs({
      options: {
        size: { type: 'string', default: '1GiB' },
        runs: { type: 'string', default: '5' },
        cipher: { type: 'string', default: 'aes128-gcm@openssh.com' },
        only: { type: 'string' },
        targets: { type: 'string' },
        out: { type: 'string', default: join(ROOT, 'bench', 'results') },
        runner: { type: 'string', default: 'compiled' },
        profile: { type: 'boolean', default: false },
        'allow-js-crypto': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
  } catch (err) {
    return fail(`${(err as Error).message} (try --help)`);
  }
})();
if (flags.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const SIZE = (() => {
  try {
    return parseSize(flags.size);
  } catch (err) {
    return fail(`--size: ${(err as Error).message}`);
  }
})();
if (SIZE < 1) fail('--size must be at least 1 byte');
const RUNS = Number(flags.runs);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 1000) fail(`--runs must be a whole number from 1, not '${flags.runs}'`);
const CIPHER = flags.cipher;
if (!/^[\w.@-]+$/.test(CIPHER)) fail(`--cipher: '${CIPHER}' is not a cipher name`);
const OUT = resolve(flags.out);
const RUNNER = flags.runner;
if (RUNNER !== 'compiled' && RUNNER !== 'tsx') fail(`--runner must be compiled or tsx, not '${RUNNER}'`);
const only = flags.only?.split(',').map((s) => s.trim()).filter(Boolean);
for (const name of only ?? []) {
  if (!(PATH_IDS as readonly string[]).includes(name) && !(EXTRAS as readonly string[]).includes(name)) {
    fail(`--only: unknown '${name}' (paths: ${PATH_IDS.join(', ')}; extras: ${EXTRAS.join(', ')})`);
  }
}
const selectedTargets = (flags.targets?.split(',').map((s) => s.trim()) ?? [...TARGETS]) as Target[];
for (const t of selectedTargets) if (!(TARGETS as readonly string[]).includes(t)) fail(`--targets: unknown '${t}' (null, file, pipe)`);
const TARGETS_USED = TARGETS.filter((t) => selectedTargets.includes(t));
const wanted = (name: PathId | Extra): boolean => only === undefined || only.includes(name);
/**
 * Bytes per channel in the scaling figure: 16 MiB, 64 of them at once. A
 * --size below 1 GiB shrinks the channels in proportion (at least 64 KiB),
 * so quick runs stay quick; the report says which size was used.
 */
const SCALE_CHANNEL = Math.max(64 * 1024, Math.min(16 * MiB, Math.floor(SIZE / 64 / 65536) * 65536));

// ---------------------------------------------------------------------------
// Prerequisites

const BINDING = Boolean((createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable);
if (!BINDING && !flags['allow-js-crypto']) {
  fail(
    "ssh2's native crypto binding is not available (require('ssh2/lib/protocol/crypto.js').bindingAvailable is false), " +
      'so loopssh would run on pure-JS crypto (~41 MB/s) and its figures would mean nothing. ' +
      'Build it (npm rebuild ssh2, with a C++ toolchain and python3), or pass --allow-js-crypto to measure anyway.',
  );
}
const SSH = peer('ssh');
const SSHD = peer('sshd');
let paths = PATH_IDS.filter((p) => wanted(p));
const missing = paths.filter((p) => (PATH_INFO[p].client === 'ssh' && !SSH) || (PATH_INFO[p].server === 'sshd' && !SSHD));
if (missing.length > 0) {
  process.stderr.write(`bench: skipping ${missing.join(', ')}: OpenSSH ${!SSH ? 'ssh' : 'sshd'} is not installed (apt-get install openssh-client openssh-server)\n`);
  paths = paths.filter((p) => !missing.includes(p));
}
if (!GNU_TIME) {
  process.stderr.write('bench: /usr/bin/time not found (apt-get install time): client peak RSS is sampled from /proc and client CPU is not reported\n');
}

// ---------------------------------------------------------------------------
// Shared state: temp folder, compiled children, servers

const TMP = mkdtempSync(join(tmpdir(), 'loopssh-bench-'));
const cleanups: (() => Promise<void> | void)[] = [() => rmSync(TMP, { recursive: true, force: true })];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}: stopping servers, removing ${TMP}\n`);
    void cleanup().then(() => process.exit(130));
  });
}

let runnerUsed: 'compiled' | 'tsx' = RUNNER;
const BUILD = join(TMP, 'build');
if (RUNNER === 'compiled') {
  const t = performance.now();
  const built = compileTree(ROOT, BUILD, ['bench/client.ts', 'bench/inproc.ts']);
  if (!built.ok) {
    process.stderr.write(`bench: cannot compile (${built.reason}); running loopssh processes through tsx\n`);
    runnerUsed = 'tsx';
  } else {
    process.stderr.write(`bench: compiled src/ and the bench children to ${BUILD} in ${Math.round(performance.now() - t)} ms\n`);
  }
}

/** argv prefix that runs a TypeScript entry of the checkout (`bench/client`, `src/cli/main`). */
function nodeScript(entry: string, nodeFlags: string[] = []): string[] {
  if (runnerUsed === 'compiled') return [process.execPath, ...nodeFlags, join(BUILD, `${entry}.js`)];
  return [process.execPath, ...nodeFlags, '--import', 'tsx', join(ROOT, `${entry}.ts`)];
}

const PIPE_READER = join(ROOT, 'bench', 'pipe-reader.mjs');
const needServe = paths.some((p) => PATH_INFO[p].server === 'serve');
/** Paths of the peak-RSS-vs-size check (they run whether or not --only selects them as paths). */
const RSS_PATHS: PathId[] = wanted('rss') ? ['loop2', 'loop1'] : [];
const needSshd = paths.some((p) => PATH_INFO[p].server === 'sshd');

/** The bench's one client identity: authorized by `loopssh serve` and by sshd. */
const keys: KeyFolder = keyFolder();
cleanups.push(() => keys.remove());

interface Serve {
  port: number;
  pid: number;
  fingerprint: string;
  knownHostsFile: string;
  child: ChildProcess;
  log: () => string;
}

/** Starts `loopssh serve` on a free port with a temporary --keys folder that authorizes the bench's key. */
async function startServe(name = 'serve', nodeFlags: string[] = []): Promise<Serve> {
  const keysDir = join(TMP, `${name}-keys`);
  mkdirSync(keysDir, { mode: 0o700 });
  writeFileSync(join(keysDir, 'authorized_keys'), `${keys.client.publicKey}\n`, { mode: 0o600 });
  const port = await freePort();
  const [cmd, ...args] = nodeScript('src/cli/main', nodeFlags);
  const child = spawn(cmd as string, [...args, 'serve', '--port', String(port), '--keys', keysDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LOOPSSH_CLI_ENTRY: '1', LOOPSSH_LOG_LEVEL: 'warn' },
    cwd: ROOT,
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8192)));
  cleanups.push(
    () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  );
  const fp = await new Promise<string>((ok, no) => {
    const timer = setTimeout(() => no(new Error(`loopssh serve did not start in 30 s: ${log.trim()}`)), 30_000);
    const check = (): void => {
      const m = /listening \S+ hostkey (SHA256:\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        child.stderr?.off('data', check);
        ok(m[1] as string);
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      no(new Error(`loopssh serve exited (${code}): ${log.trim()}`));
    });
  });
  const knownHostsFile = join(TMP, `known_hosts_${name}`);
  writeFileSync(knownHostsFile, `${knownHostsLine('127.0.0.1', port, readFileSync(join(keysDir, 'host_ed25519.pub'), 'utf8').trim())}\n`);
  return { port, pid: child.pid as number, fingerprint: fp, knownHostsFile, child, log: () => log };
}

let serve: Serve | undefined;
let sshd: Sshd | undefined;
let sshdKnownHosts = '';
let sshdFingerprint = '';

// ---------------------------------------------------------------------------
// One transfer

interface Sample {
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

interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  time?: ReturnType<typeof parseTimeFile>;
  sampledRssKiB?: number;
}

/** Spawns argv (under GNU time when present), optionally as `argv | pipe-reader`; resolves when everything exited. */
function runChild(argv: string[], options: { stdoutFd?: number; pipe?: boolean }): Promise<ChildOutcome> {
  const timeFile = join(TMP, `time-${process.hrtime.bigint()}`);
  const wrapped = GNU_TIME ? [GNU_TIME, '-f', TIME_FORMAT, '-o', timeFile, ...argv] : argv;
  const started = performance.now();
  const child = options.pipe
    ? spawn('/bin/sh', ['-c', '"$@" | exec "$BENCH_NODE" "$BENCH_READER"', 'sh', ...wrapped], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, BENCH_NODE: process.execPath, BENCH_READER: PIPE_READER },
        cwd: ROOT,
      })
    : spawn(wrapped[0] as string, wrapped.slice(1), { stdio: ['ignore', options.stdoutFd ?? 'pipe', 'pipe'], cwd: ROOT });
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
function benchResult(stderr: string): Record<string, unknown> | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith('BENCH-RESULT '));
  if (!line) return undefined;
  try {
    return JSON.parse(line.slice('BENCH-RESULT '.length)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const zeroDigests = new Map<number, string>();
function zeroSha256(n: number): string {
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

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function remoteCommand(path: PathId, size: number): string {
  return PATH_INFO[path].server === 'sshd' ? `head -c ${size} /dev/zero` : `payload ${size} --pattern zero`;
}

function clientArgv(path: PathId, size: number, target: string, nodeFlags: string[] = [], serveOverride?: Serve): string[] {
  const info = PATH_INFO[path];
  if (info.client === 'inproc') {
    return [...nodeScript('bench/inproc', nodeFlags), 'transfer', '--size', String(size), '--cipher', CIPHER, '--target', target];
  }
  const srv = serveOverride ?? (serve as Serve);
  const server = info.server === 'serve'
    ? { port: srv.port, user: 'bench', fp: srv.fingerprint, knownHostsFile: srv.knownHostsFile }
    : { port: (sshd as Sshd).port, user: (sshd as Sshd).user, fp: sshdFingerprint, knownHostsFile: sshdKnownHosts };
  if (info.client === 'ssh') {
    const args = opensshArgs({ host: '127.0.0.1', port: server.port, user: server.user, identityFile: keys.clientKeyPath, knownHostsFile: server.knownHostsFile }, ['-c', CIPHER]);
    return [SSH as string, ...args, remoteCommand(path, size)];
  }
  return [
    ...nodeScript('bench/client', nodeFlags),
    '--port', String(server.port),
    '--user', server.user,
    '--identity', keys.clientKeyPath,
    '--host-key', server.fp,
    '--cipher', CIPHER,
    '--size', String(size),
    '--target', target,
    '--',
    remoteCommand(path, size),
  ];
}

let freshServes = 0;

/**
 * One transfer of `size` zero bytes on `path` into `target`, measured and
 * verified. With `freshServer`, a `loopssh serve` path gets a server process
 * of its own, started for this transfer (its peak RSS then covers start-up
 * and this one transfer, nothing before).
 */
async function transfer(path: PathId, target: Target, size: number, freshServer = false): Promise<Sample> {
  const info = PATH_INFO[path];
  const fresh = freshServer && info.server === 'serve' ? await startServe(`serve-fresh-${++freshServes}`) : undefined;
  try {
    return await measureTransfer(path, target, size, fresh);
  } finally {
    if (fresh && fresh.child.exitCode === null) {
      await new Promise<void>((done) => {
        fresh.child.once('exit', () => done());
        fresh.child.kill('SIGTERM');
      });
    }
  }
}

async function measureTransfer(path: PathId, target: Target, size: number, fresh: Serve | undefined): Promise<Sample> {
  const info = PATH_INFO[path];
  const srv = fresh ?? serve;
  const file = join(TMP, `out-${path}.bin`);
  rmSync(file, { force: true });
  let stdoutFd: number | undefined;
  if (info.client === 'ssh' && target !== 'pipe') stdoutFd = openSync(target === 'file' ? file : '/dev/null', 'w');
  const argv = clientArgv(path, size, target === 'file' ? file : target, [], fresh);

  // Server-side figures: loopssh serve is one long-lived process (its peak
  // RSS is reset before each transfer); sshd forks per connection, so its
  // CPU is what the master reaped, and its RSS is sampled from the tree.
  let serverCpu0 = 0;
  let sampler: TreeSampler | undefined;
  let hwmReset = false;
  if (info.server === 'serve') {
    hwmReset = fresh ? true : resetHwm((srv as Serve).pid);
    serverCpu0 = readStat((srv as Serve).pid)?.cpuS ?? 0;
  } else if (info.server === 'sshd') {
    const pid = (sshd as Sshd).process.pid as number;
    serverCpu0 = readStat(pid)?.childrenCpuS ?? 0;
    sampler = new TreeSampler(pid).start();
  }

  let outcome: ChildOutcome;
  try {
    outcome = await runChild(argv, { stdoutFd, pipe: target === 'pipe' });
  } finally {
    if (stdoutFd !== undefined) closeSync(stdoutFd);
  }

  const sample: Sample = { ok: true, verify: '', wallMs: outcome.wallMs };
  const problems: string[] = [];
  if (info.server === 'serve') {
    const pid = (srv as Serve).pid;
    sample.serverCpuS = (readStat(pid)?.cpuS ?? 0) - serverCpu0;
    const hwm = readHwmKiB(pid);
    if (hwm !== undefined) sample.serverRssKiB = hwm;
    if (!hwmReset) sample.serverRssKiB = undefined;
    if ((srv as Serve).child.exitCode !== null) problems.push(`loopssh serve died: ${(srv as Serve).log().trim().slice(-300)}`);
  } else if (info.server === 'sshd') {
    const pid = (sshd as Sshd).process.pid as number;
    await waitNoDescendants(pid);
    sample.serverRssKiB = (sampler as TreeSampler).stop() || undefined;
    sample.serverCpuS = (readStat(pid)?.childrenCpuS ?? 0) - serverCpu0;
  }
  if (outcome.time) {
    sample.clientCpuS = outcome.time.cpuS;
    sample.clientRssKiB = outcome.time.maxRssKiB;
    if (outcome.time.exitStatus !== 0) problems.push(`client exit status ${outcome.time.exitStatus}`);
  } else if (outcome.sampledRssKiB) {
    sample.clientRssKiB = outcome.sampledRssKiB;
  }
  if (outcome.code !== 0) problems.push(`exit ${outcome.code ?? outcome.signal}`);

  const verify: string[] = [];
  if (info.client !== 'ssh') {
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
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) problems.push('no output file');
    else if (st.size !== size) problems.push(`file holds ${st.size} of ${size} bytes`);
    else if ((await fileSha256(file)) !== zeroSha256(size)) problems.push('file SHA-256 mismatch');
    verify.push('size + SHA-256 of the file');
    rmSync(file, { force: true });
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

// ---------------------------------------------------------------------------
// Extras: FlushTracker overhead, channel scaling

interface ExtraSample {
  ok: boolean;
  why?: string;
  results: Record<string, { ms: number; ok: boolean }>;
  rssKiB?: number;
  cpuS?: number;
}

async function inprocExtra(mode: 'flush' | 'scale', run: number): Promise<ExtraSample> {
  const dir = join(TMP, `flush-${run}`);
  mkdirSync(dir, { recursive: true });
  const argv = [...nodeScript('bench/inproc'), mode, '--size', String(SIZE), '--cipher', CIPHER, '--dir', dir, '--order', String(run), '--channel', String(SCALE_CHANNEL)];
  const outcome = await runChild(argv, {});
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

// ---------------------------------------------------------------------------
// Statistics and formatting

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
const fmtRate = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtMiB = (kib: number | undefined): string => (kib === undefined ? '—' : `${(kib / 1024).toFixed(0)} MiB`);
const fmtS = (s: number | undefined): string => (s === undefined ? '—' : s.toFixed(2));
const defined = <T>(xs: (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);
function medOf(xs: (number | undefined)[]): number | undefined {
  const d = defined(xs);
  return d.length ? median(d) : undefined;
}
function maxOf(xs: (number | undefined)[]): number | undefined {
  const d = defined(xs);
  return d.length ? Math.max(...d) : undefined;
}

// ---------------------------------------------------------------------------
// Main

type Item =
  | { kind: 'transfer'; path: PathId; target: Target; size: number; tag: 'main' | 'setup' | 'rss' | 'rss-big'; fresh?: boolean }
  | { kind: 'flush' }
  | { kind: 'scale' };

const results = new Map<string, Sample[]>();
const key = (tag: string, path: PathId, target: Target): string => `${tag}|${path}|${target}`;
const flushSamples: ExtraSample[] = [];
const scaleSamples: ExtraSample[] = [];
let failures = 0;
const startedAt = new Date();
const loadAtStart = loadavg()[0] ?? 0;
const benchStarted = performance.now();

function itemsForRun(run: number): Item[] {
  const rot = <T>(xs: readonly T[], k: number): T[] => (xs.length ? [...xs.slice(k % xs.length), ...xs.slice(0, k % xs.length)] : []);
  const order = rot(paths, run);
  const items: Item[] = [];
  if (wanted('setup')) for (const path of order) items.push({ kind: 'transfer', path, target: 'null', size: 0, tag: 'setup' });
  for (const target of rot(TARGETS_USED, run)) for (const path of order) items.push({ kind: 'transfer', path, target, size: SIZE, tag: 'main' });
  const extras: Item[] = [];
  if (wanted('rss')) {
    // Fresh processes at both sizes: loop2 gets a `loopssh serve` of its own for each
    // transfer, as the shared one carries what earlier transfers left behind.
    for (const path of rot(RSS_PATHS, run)) {
      extras.push({ kind: 'transfer', path, target: 'null', size: 16 * MiB, tag: 'rss', fresh: true });
      extras.push({ kind: 'transfer', path, target: 'null', size: SIZE, tag: 'rss-big', fresh: true });
    }
  }
  if (wanted('flush')) extras.push({ kind: 'flush' });
  if (wanted('scale')) extras.push({ kind: 'scale' });
  // Extras go between the targets' blocks, rotated, so they too share the noise.
  const out: Item[] = [];
  const blocks = Math.max(1, TARGETS_USED.length);
  const per = Math.ceil(items.length / blocks);
  const ex = rot(extras, run);
  for (let b = 0; b < blocks; b++) {
    out.push(...items.slice(b * per, (b + 1) * per));
    out.push(...ex.filter((_, i) => i % blocks === b));
  }
  out.push(...items.slice(blocks * per));
  return out;
}

async function main(): Promise<void> {
  if (needServe) {
    serve = await startServe();
    process.stderr.write(`bench: loopssh serve on 127.0.0.1:${serve.port} (pid ${serve.pid})\n`);
  }
  if (needSshd) {
    sshd = await startSshd(SSHD as string, keys);
    cleanups.push(() => (sshd as Sshd).stop());
    sshdKnownHosts = join(TMP, 'known_hosts_sshd');
    writeFileSync(sshdKnownHosts, `${knownHostsLine('127.0.0.1', sshd.port, sshd.hostPublicKey)}\n`);
    sshdFingerprint = fingerprint(sshd.hostPublicKey);
    process.stderr.write(`bench: own sshd on 127.0.0.1:${sshd.port} (pid ${sshd.process.pid}, user ${sshd.user})\n`);
  }
  zeroSha256(SIZE);
  if (loadAtStart > 1) {
    process.stderr.write(`bench: WARNING: load average ${loadAtStart.toFixed(2)} before starting: other work on this machine will skew the figures (all paths alike, thanks to the interleaving, but not the ratios' spread)\n`);
  }
  process.stderr.write(
    `bench: ${formatSize(SIZE)} per transfer, ${RUNS} run(s), cipher ${CIPHER}, paths ${paths.join(', ') || '(none)'}, targets ${TARGETS_USED.join(', ')}\n`,
  );

  for (let run = 0; run < RUNS; run++) {
    const items = itemsForRun(run);
    for (const [i, item] of items.entries()) {
      const tag = `[run ${run + 1}/${RUNS}, ${i + 1}/${items.length}]`;
      if (item.kind === 'transfer') {
        const sample = await transfer(item.path, item.target, item.size, item.fresh);
        const k = key(item.tag, item.path, item.target);
        results.set(k, [...(results.get(k) ?? []), sample]);
        if (!sample.ok) failures++;
        const what = item.tag === 'main' ? '' : item.tag === 'setup' ? ' (setup, 0 B)' : ` (rss, ${formatSize(item.size)}${item.fresh && item.path === 'loop2' ? ', fresh serve' : ''})`;
        const rate = item.size > 0 ? `${fmtRate(mbps(item.size, sample.wallMs)).padStart(6)} MB/s` : `${(sample.wallMs / 1000).toFixed(3)} s`;
        process.stderr.write(
          `${tag} ${item.path.padEnd(9)} ${TARGET_LABEL[item.target].padEnd(9)}${what} ${rate}  client ${fmtMiB(sample.clientRssKiB)} ${fmtS(sample.clientCpuS)} s` +
            `${sample.serverCpuS !== undefined ? `, server ${fmtMiB(sample.serverRssKiB)} ${fmtS(sample.serverCpuS)} s` : ''}  ${sample.ok ? 'ok' : `FAILED: ${sample.why}`}\n`,
        );
      } else {
        const s = await inprocExtra(item.kind, run);
        (item.kind === 'flush' ? flushSamples : scaleSamples).push(s);
        if (!s.ok) failures++;
        const bytes = item.kind === 'flush' ? SIZE : 64 * SCALE_CHANNEL;
        const parts = Object.entries(s.results).map(([name, r]) => `${name} ${fmtRate(mbps(bytes, r.ms))}`);
        process.stderr.write(`${tag} ${item.kind.padEnd(9)} ${parts.join(', ')} MB/s  ${s.ok ? 'ok' : `FAILED: ${s.why}`}\n`);
      }
    }
  }

  let profile: string | undefined;
  if (flags.profile) profile = await runProfiles();

  const report = buildReport(profile);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'bench.md'), report.markdown);
  writeFileSync(join(OUT, 'bench.png'), report.png);
  writeFileSync(join(OUT, 'bench.json'), `${JSON.stringify(report.json, null, 2)}\n`);
  process.stdout.write(report.markdown);
  process.stderr.write(
    `bench: done in ${((performance.now() - benchStarted) / 1000).toFixed(0)} s; wrote ${join(OUT, 'bench.md')}, bench.png, bench.json` +
      `${failures ? `; ${failures} item(s) FAILED verification` : ''}\n`,
  );
  process.exitCode = failures ? 1 : 0;
}

// ---------------------------------------------------------------------------
// CPU profiles (--profile)

/** Top self-time functions of a .cpuprofile. */
export function profileTop(file: string, top = 15): { total: number; rows: { name: string; where: string; ms: number; pct: number }[] } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    total += dt;
    const cf = byId.get(id)?.callFrame;
    if (!cf) return;
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(ROOT, '').replace(/^.*node_modules\//, '')}:${cf.lineNumber + 1}` : '';
    const k = `${cf.functionName}|${where}`;
    const e = self.get(k) ?? { name: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += dt;
    self.set(k, e);
  });
  const rows = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, pct: (100 * e.us) / total }));
  return { total: total / 1000, rows };
}

async function runProfiles(): Promise<string> {
  const dir = join(OUT, 'profiles');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const sections: string[] = [];
  const summarize = (label: string, sub: string, wallMs: number | undefined, note = ''): void => {
    const file = readdirSync(sub).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      sections.push(`### ${label}\n\nno profile written${note ? `: ${note}` : ''}\n`);
      return;
    }
    const { total, rows } = profileTop(join(sub, file), 15);
    sections.push(
      [
        `### ${label}`,
        '',
        `${formatSize(SIZE)}${wallMs !== undefined ? ` in ${(wallMs / 1000).toFixed(2)} s (${fmtRate(mbps(SIZE, wallMs))} MB/s under the profiler)` : ''}; ` +
          `${(total / 1000).toFixed(2)} s sampled; profile: \`${join(sub, file)}\``,
        '',
        '| self ms | self % | function | where |',
        '|---:|---:|---|---|',
        ...rows.map((r) => `| ${r.ms.toFixed(0)} | ${r.pct.toFixed(1)} | \`${r.name}\` | ${r.where} |`),
        '',
      ].join('\n'),
    );
  };
  const profileFlags = (sub: string): string[] => ['--cpu-prof', '--cpu-prof-dir', sub];
  const jobs: { label: string; path: PathId }[] = [];
  if (paths.includes('loop1')) jobs.push({ label: 'loop1: server + client in one process, to /dev/null', path: 'loop1' });
  if (paths.includes('loop2')) jobs.push({ label: 'loop2: the client process, to /dev/null', path: 'loop2' });
  if (paths.includes('loop-sshd')) jobs.push({ label: 'loop-sshd: the loopssh client against OpenSSH sshd, to /dev/null', path: 'loop-sshd' });
  for (const job of jobs) {
    const sub = join(dir, job.path);
    mkdirSync(sub);
    process.stderr.write(`bench: profiling ${job.label}\n`);
    const outcome = await runChild(clientArgv(job.path, SIZE, 'null', profileFlags(sub)), {});
    summarize(job.label, sub, outcome.wallMs, `exit ${outcome.code}: ${outcome.stderr.trim().slice(-300)}`);
  }
  if (paths.includes('loop2')) {
    // The server side of loop2: its own `loopssh serve`, profiled from start to SIGTERM.
    const sub = join(dir, 'loop2-serve');
    mkdirSync(sub);
    process.stderr.write('bench: profiling loop2: the loopssh serve process\n');
    const profiled = await startServe('serve-profiled', profileFlags(sub));
    const outcome = await runChild(clientArgv('loop2', SIZE, 'null', [], profiled), {});
    await new Promise<void>((done) => {
      profiled.child.once('exit', () => done());
      profiled.child.kill('SIGTERM');
    });
    summarize('loop2: the `loopssh serve` process (start-up, one transfer, stop)', sub, outcome.wallMs, profiled.log().trim().slice(-300));
  }
  return sections.join('\n');
}

// ---------------------------------------------------------------------------
// Report

function buildReport(profile: string | undefined): { markdown: string; png: Buffer; json: unknown } {
  const md: string[] = [];
  const base = (target: Target): number | undefined => {
    const s = (results.get(key('main', 'ssh-sshd', target)) ?? []).filter((x) => x.ok);
    return s.length ? median(s.map((x) => mbps(SIZE, x.wallMs))) : undefined;
  };
  const perRunBase = (target: Target): Sample[] => results.get(key('main', 'ssh-sshd', target)) ?? [];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const jsNote = BINDING ? 'yes' : '**NO: pure-JS crypto, loopssh figures are NOT representative (--allow-js-crypto)**';
  md.push('# loopssh transfer bench');
  md.push('');
  md.push(
    `${formatSize(SIZE)} (${SIZE} bytes) of zeros per transfer, ${RUNS} run(s) interleaved round-robin, cipher \`${CIPHER}\` for every client. ` +
      `${startedAt.toISOString()}, ${cpus().length} × ${cpu}, Node ${process.version}, ${SSH || SSHD ? peerVersion(SSH ? 'ssh' : 'sshd') : 'OpenSSH not installed'}. ` +
      `ssh2 native crypto binding: ${jsNote}. loopssh processes: ${runnerUsed === 'compiled' ? 'the checkout transpiled to plain JS (as installed; no tsx)' : 'run through tsx'}. ` +
      `Load average (1 min) at start ${loadAtStart.toFixed(2)}, at the end ${(loadavg()[0] ?? 0).toFixed(2)}${loadAtStart > 1 ? ' (**the machine was busy: figures are noisy**)' : ''}.`,
  );
  md.push('');
  const mainStart = md.length;
  md.push(
    'MB/s are decimal (10⁶ B/s) over the whole client process (start-up, handshake, transfer, exit): median (min–max). ' +
      '“× base” is the median divided by the OpenSSH ssh → OpenSSH sshd median for the same target in this invocation (in brackets: the range of the per-run ratios). ' +
      'CPU is user + system seconds (medians); peak RSS is the largest over the runs. Client figures come from `/usr/bin/time`; ' +
      '`loopssh serve` is one long-lived process shared by all runs (its peak RSS is reset to its current RSS before each transfer with /proc/PID/clear_refs, so it includes what earlier transfers left on the heap); ' +
      "sshd's figures are its per-connection processes (CPU as reaped by the sshd master, RSS sampled every 100 ms, largest process).",
  );
  md.push('');
  md.push('| path | target | MB/s median (min–max) | × base | client CPU s | server CPU s | client peak RSS | server peak RSS | verified |');
  md.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  const chartGroups: BarGroup[] = [];
  const json: Record<string, unknown> = { size: SIZE, runs: RUNS, cipher: CIPHER, binding: BINDING, runner: runnerUsed, date: startedAt.toISOString(), rows: [] as unknown[] };
  const rows = json.rows as unknown[];
  for (const path of paths) {
    const group: BarGroup = { label: PATH_INFO[path].short, bars: [] };
    for (const target of TARGETS_USED) {
      const all = results.get(key('main', path, target)) ?? [];
      const good = all.filter((x) => x.ok);
      const rates = good.map((x) => mbps(SIZE, x.wallMs));
      const b = base(target);
      const med = rates.length ? median(rates) : undefined;
      const ratio = med !== undefined && b !== undefined && path !== 'ssh-sshd' ? med / b : undefined;
      const runRatios = all
        .map((x, i) => {
          const bs = perRunBase(target)[i];
          return x.ok && bs?.ok ? mbps(SIZE, x.wallMs) / mbps(SIZE, bs.wallMs) : undefined;
        })
        .filter((x): x is number => x !== undefined);
      const inproc = PATH_INFO[path].server === 'inproc';
      const verified = all.length === 0 ? '—' : good.length === all.length ? `${good.length}/${all.length} ✓` : `**${good.length}/${all.length}: FAILED**`;
      md.push(
        `| ${PATH_INFO[path].label} | ${TARGET_LABEL[target]} | ${med === undefined ? '—' : `**${fmtRate(med)}** (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))})`} | ` +
          `${ratio === undefined ? (path === 'ssh-sshd' ? '1' : '—') : `**${ratio.toFixed(2)}×**${runRatios.length > 1 ? ` (${Math.min(...runRatios).toFixed(2)}–${Math.max(...runRatios).toFixed(2)})` : ''}`} | ` +
          `${fmtS(medOf(good.map((x) => x.clientCpuS)))}${inproc ? ' (both)' : ''} | ${inproc ? '(same process)' : fmtS(medOf(good.map((x) => x.serverCpuS)))} | ` +
          `${fmtMiB(maxOf(good.map((x) => x.clientRssKiB)))}${inproc ? ' (both)' : ''} | ${inproc ? '(same process)' : fmtMiB(maxOf(good.map((x) => x.serverRssKiB)))} | ${verified} |`,
      );
      if (med !== undefined) {
        group.bars.push({
          series: TARGET_LABEL[target],
          value: med,
          min: Math.min(...rates),
          max: Math.max(...rates),
          label: `${fmtRate(med)}${ratio !== undefined ? ` (${ratio.toFixed(2)}x)` : ''}`,
        });
      }
      rows.push({ path, target, mbps: rates, ratio, runRatios, samples: all });
    }
    chartGroups.push(group);
  }
  md.push('');
  md.push(
    'Verification, every transfer: **file**: size and SHA-256 of the file against the digest of as many /dev/zero bytes (computed once); ' +
      '**pipe**: a real pipe (`client | reader` under /bin/sh), whose reader (bench/pipe-reader.mjs) counts the bytes and compares every one with 0x00 ' +
      '(exact, and far cheaper than hashing on the clock); **/dev/null**: exit status 0, and for loopssh clients their own byte count ' +
      "(OpenSSH's ssh leaves nothing to read back at /dev/null; those paths are content-checked on the file and pipe targets of the same run). " +
      'loopssh clients also check exit status and byte count on every target. The remote command is `payload SIZE --pattern zero` on loopssh and `head -c SIZE /dev/zero` on sshd.',
  );
  md.push('');
  if (paths.length === 0) md.splice(mainStart); // --only selected extras alone

  // CPU cost: less sensitive to other load on the machine than wall-clock MB/s.
  const cpuPerGb = (path: PathId, target: Target): number | undefined => {
    const good = (results.get(key('main', path, target)) ?? []).filter((x) => x.ok);
    const totals = good.map((x) => (x.clientCpuS === undefined ? undefined : x.clientCpuS + (x.serverCpuS ?? 0)));
    const m = medOf(totals);
    return m === undefined ? undefined : m / (SIZE / 1e9);
  };
  const cpuRows: string[] = [];
  for (const path of paths) {
    const cells = TARGETS_USED.map((target) => {
      const v = cpuPerGb(path, target);
      const b = cpuPerGb('ssh-sshd', target);
      return v === undefined ? '—' : `${v.toFixed(2)}${b !== undefined && path !== 'ssh-sshd' ? ` (${(v / b).toFixed(2)}×)` : ''}`;
    });
    cpuRows.push(`| ${PATH_INFO[path].label} | ${cells.join(' | ')} |`);
  }
  if (GNU_TIME && cpuRows.length) {
    md.push('## CPU cost');
    md.push('');
    md.push(
      'CPU seconds (user + system, client + server, median) per GB moved, whole processes, and in brackets × the OpenSSH → OpenSSH figure. ' +
        'On a busy machine this moves much less than wall-clock MB/s. The pipe reader is not counted.',
    );
    md.push('');
    md.push(`| path | ${TARGETS_USED.map((t) => `${TARGET_LABEL[t]} CPU s/GB`).join(' | ')} |`);
    md.push(`|---|${TARGETS_USED.map(() => '---:').join('|')}|`);
    md.push(...cpuRows);
    md.push('');
  }

  // Inside the loopssh processes.
  const innerRows: string[] = [];
  const setupRows: string[] = [];
  for (const path of paths) {
    const setup = (results.get(key('setup', path, 'null')) ?? []).filter((x) => x.ok);
    if (setup.length) setupRows.push(`| ${PATH_INFO[path].label} | ${(median(setup.map((x) => x.wallMs)) / 1000).toFixed(3)} | ${fmtMiB(maxOf(setup.map((x) => x.clientRssKiB)))} |`);
    if (PATH_INFO[path].client === 'ssh') continue;
    const good = (results.get(key('main', path, 'null')) ?? []).filter((x) => x.ok && x.inner?.runMs !== undefined);
    if (!good.length) continue;
    const load = medOf(good.map((x) => x.inner?.loadMs));
    const startMs = medOf(good.map((x) => x.inner?.startMs));
    const connect = medOf(good.map((x) => x.inner?.connectMs));
    const runMs = median(good.map((x) => x.inner?.runMs as number));
    const wall = median(good.map((x) => x.wallMs));
    innerRows.push(
      `| ${PATH_INFO[path].label} | ${wall.toFixed(0)} | ${load?.toFixed(0) ?? '—'}${startMs !== undefined ? ` + ${startMs.toFixed(0)} server start` : ''} | ${connect?.toFixed(0) ?? '—'} | ${runMs.toFixed(0)} | **${fmtRate(mbps(SIZE, runMs))}** |`,
    );
  }
  if (setupRows.length) {
    md.push('## Fixed cost per transfer');
    md.push('');
    md.push('A 0-byte transfer on each path (to /dev/null): process start, handshake, authentication, exit.');
    md.push('');
    md.push('| path | wall s (median) | client peak RSS |');
    md.push('|---|---:|---:|');
    md.push(...setupRows);
    md.push('');
  }
  if (innerRows.length) {
    md.push(`## Inside the loopssh client processes (${formatSize(SIZE)} to /dev/null, medians)`);
    md.push('');
    md.push('| path | whole process ms | module load ms | connect ms | run() ms | run() alone MB/s |');
    md.push('|---|---:|---:|---:|---:|---:|');
    md.push(...innerRows);
    md.push('');
  }

  // Peak RSS vs size.
  const goals: string[] = [];
  if (wanted('rss')) {
    const rssRows: string[] = [];
    const flat: boolean[] = [];
    const under: boolean[] = [];
    const largest: { kib: number; what: string }[] = [];
    for (const path of RSS_PATHS) {
      const small = (results.get(key('rss', path, 'null')) ?? []).filter((x) => x.ok);
      const big = (results.get(key('rss-big', path, 'null')) ?? []).filter((x) => x.ok);
      const procs: [string, (s: Sample) => number | undefined][] =
        path === 'loop1' ? [['one process', (s) => s.clientRssKiB]] : [['client', (s) => s.clientRssKiB], ['loopssh serve (fresh)', (s) => s.serverRssKiB]];
      for (const [name, get] of procs) {
        const a = maxOf(small.map(get));
        const b = maxOf(big.map(get));
        const growth = a !== undefined && b !== undefined ? b / a : undefined;
        if (growth !== undefined) flat.push(b! - a! <= Math.max(8 * 1024, 0.1 * a!));
        if (b !== undefined) under.push(b < 110 * 1024);
        for (const v of [a, b]) if (v !== undefined) largest.push({ kib: v, what: `${PATH_INFO[path].label}, ${name}` });
        rssRows.push(`| ${PATH_INFO[path].label} | ${name} | ${fmtMiB(a)} | ${fmtMiB(b)} | ${growth === undefined ? '—' : `${growth.toFixed(2)}×`} |`);
      }
    }
    if (rssRows.length) {
      md.push(`## Peak RSS vs size (loopssh → loopssh, to /dev/null; largest over the runs)`);
      md.push('');
      md.push('Fresh processes only, separate from the main table: the one-process child and the client are new for every transfer, and the 2-process path gets a `loopssh serve` of its own, started for the one transfer.');
      md.push('');
      md.push(`| path | process | 16 MiB | ${formatSize(SIZE)} | ratio |`);
      md.push('|---|---|---:|---:|---:|');
      md.push(...rssRows);
      md.push('');
      goals.push(`peak RSS flat in size (within +10% or +8 MiB from 16 MiB to ${formatSize(SIZE)}): ${flat.length && flat.every(Boolean) ? 'PASS' : 'FAIL'}`);
      const top = largest.sort((x, y) => y.kib - x.kib)[0];
      const shared = maxOf(['loop2', 'ssh-loop'].flatMap((p) => TARGETS_USED.flatMap((t) => (results.get(key('main', p as PathId, t)) ?? []).map((x) => x.serverRssKiB))));
      goals.push(
        `peak RSS < 110 MiB for every loopssh process of this table: ${under.length && under.every(Boolean) ? 'PASS' : 'FAIL'}` +
          `${top ? ` (largest ${fmtMiB(top.kib)}: ${top.what})` : ''}${shared !== undefined ? `; the long-running \`loopssh serve\` shared by all runs peaked at ${fmtMiB(shared)}` : ''}`,
      );
    }
  }

  // FlushTracker.
  if (flushSamples.length) {
    md.push(`## FlushTracker overhead (one process, ${formatSize(SIZE)}, one connection)`);
    md.push('');
    md.push(
      'The same transfer with the tracked close and with `naive: true`, timed from `run()` until the bytes are in the target ' +
        '(a naive run resolves at the channel\'s close, so for the file its clock also waits until the file holds every byte; at /dev/null it stops at the close). ' +
        'Overhead = 1 − tracked MB/s ÷ naive MB/s, medians over the runs; negative means tracked was faster (noise).',
    );
    md.push('');
    md.push('| target | tracked MB/s | naive MB/s | tracked ÷ naive | overhead | verified |');
    md.push('|---|---:|---:|---:|---:|---|');
    const overheads: number[] = [];
    for (const target of ['file', 'null'] as const) {
      const tr = defined(flushSamples.map((s) => s.results[`${target}-tracked`])).filter((r) => r.ok).map((r) => mbps(SIZE, r.ms));
      const nv = defined(flushSamples.map((s) => s.results[`${target}-naive`])).filter((r) => r.ok).map((r) => mbps(SIZE, r.ms));
      const paired = flushSamples
        .map((s) => {
          const a = s.results[`${target}-tracked`];
          const b = s.results[`${target}-naive`];
          return a?.ok && b?.ok ? b.ms / a.ms : undefined;
        })
        .filter((x): x is number => x !== undefined);
      const ratio = paired.length ? median(paired) : undefined;
      if (ratio !== undefined) overheads.push(1 - ratio);
      const okCount = flushSamples.filter((s) => s.results[`${target}-tracked`]?.ok && s.results[`${target}-naive`]?.ok).length;
      md.push(
        `| ${TARGET_LABEL[target]} | ${tr.length ? fmtRate(median(tr)) : '—'} | ${nv.length ? fmtRate(median(nv)) : '—'} | ${ratio?.toFixed(3) ?? '—'} | ${ratio === undefined ? '—' : `${((1 - ratio) * 100).toFixed(1)}%`} | ${okCount}/${flushSamples.length} ✓ |`,
      );
    }
    md.push('');
    if (overheads.length) goals.push(`FlushTracker overhead ≤ 2%: ${overheads.every((o) => o <= 0.02) ? 'PASS' : 'FAIL'} (${overheads.map((o) => `${(o * 100).toFixed(1)}%`).join(', ')})`);
  }

  // Scaling.
  if (scaleSamples.length) {
    const names = Object.keys(scaleSamples[0]?.results ?? {}).sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b));
    const total = 64 * SCALE_CHANNEL;
    const single = medOf(scaleSamples.map((s) => (s.results['1 channel, 1 connection']?.ok ? mbps(total, s.results['1 channel, 1 connection'].ms) : undefined)));
    md.push(`## Concurrent channels (one process: server + client)`);
    md.push('');
    md.push(
      `${formatSize(SCALE_CHANNEL)} channels${SCALE_CHANNEL < 16 * MiB ? ` (16 MiB scaled down with --size)` : ''}, ${formatSize(total)} in total at every level ` +
        "(1 channel: 64 transfers back to back; 8: eight at a time; 64: all at once). Each channel's output is counted and checked byte by byte.",
    );
    md.push('');
    md.push('| level | aggregate MB/s median (min–max) | × single stream | verified |');
    md.push('|---|---:|---:|---|');
    let worst: number | undefined;
    for (const name of names) {
      const rates = scaleSamples.map((s) => s.results[name]).filter((r) => r?.ok).map((r) => mbps(total, (r as { ms: number }).ms));
      const med = rates.length ? median(rates) : undefined;
      const ratio = med !== undefined && single ? med / single : undefined;
      if (name.startsWith('64') && ratio !== undefined) worst = Math.min(worst ?? Infinity, ratio);
      md.push(
        `| ${name} | ${med === undefined ? '—' : `${fmtRate(med)} (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))})`} | ${ratio?.toFixed(2) ?? '—'} | ${rates.length}/${scaleSamples.length} ✓ |`,
      );
    }
    md.push('');
    if (worst !== undefined) goals.push(`64 channels aggregate ≥ 0.9× single stream: ${worst >= 0.9 ? 'PASS' : 'FAIL'} (${worst.toFixed(2)}×, the lower of the two 64-channel layouts)`);
  }

  // Throughput goals.
  const throughputGoal = (path: PathId, target: Target): void => {
    const row = (rows as { path: PathId; target: Target; ratio?: number }[]).find((r) => r.path === path && r.target === target);
    if (row?.ratio !== undefined) goals.unshift(`${PATH_INFO[path].label} to ${TARGET_LABEL[target]} ≥ 1.5× OpenSSH → OpenSSH: ${row.ratio >= 1.5 ? 'PASS' : 'FAIL'} (${row.ratio.toFixed(2)}×)`);
  };
  for (const path of ['loop1', 'loop2'] as const) for (const target of ['file', 'null'] as const) throughputGoal(path, target);
  if (goals.length) {
    md.push('## Issue goals');
    md.push('');
    for (const g of goals) md.push(`- ${g}`);
    md.push('');
  }
  if (!BINDING) {
    md.push('**ssh2 ran without its native crypto binding: every loopssh figure above is pure-JS crypto and NOT representative.**');
    md.push('');
  }
  if (profile) {
    md.push('## CPU profiles (node --cpu-prof, top self time)');
    md.push('');
    md.push(profile);
  }
  const failed = [...results.values()].flat().filter((s) => !s.ok).length + [...flushSamples, ...scaleSamples].filter((s) => !s.ok).length;
  if (failed) {
    md.push(`**${failed} item(s) failed verification and are left out of the figures:**`);
    md.push('');
    for (const [k, list] of results) for (const s of list) if (!s.ok) md.push(`- ${k}: ${s.why}`);
    for (const s of [...flushSamples, ...scaleSamples]) if (!s.ok) md.push(`- extra: ${s.why}`);
    md.push('');
  }
  json.flush = flushSamples;
  json.scale = scaleSamples;
  json.setup = Object.fromEntries(paths.map((p) => [p, results.get(key('setup', p, 'null')) ?? []]));
  json.rss = Object.fromEntries(RSS_PATHS.map((p) => [p, { small: results.get(key('rss', p, 'null')) ?? [], big: results.get(key('rss-big', p, 'null')) ?? [] }]));

  const png = barChart({
    title: `loopssh transfer bench: ${formatSize(SIZE)} x ${RUNS} run(s), ${CIPHER}`,
    subtitle: `MB/s over the whole client process, medians; whiskers min-max; (n.nnx) = vs ssh -> sshd. ${BINDING ? '' : 'PURE-JS CRYPTO: NOT REPRESENTATIVE. '}${startedAt.toISOString().slice(0, 16)}`,
    unit: 'MB/s (decimal)',
    series: TARGETS_USED.map((t) => ({ name: TARGET_LABEL[t], color: TARGET_COLOR[t] })),
    groups: chartGroups.filter((g) => g.bars.length > 0),
    notes: [`${cpus().length} x ${cpu.replace(/[^\x20-\x7e]/g, '')}, Node ${process.version}, ${SSH ? peerVersion('ssh').replace(/[^\x20-\x7e]/g, '') : ''}`, 'every transfer verified (file: SHA-256, pipe: every byte, /dev/null: exit status)',
      `load average at start ${loadAtStart.toFixed(2)}${loadAtStart > 1 ? ' (busy machine: noisy figures)' : ''}`,
    ],
  });
  return { markdown: `${md.join('\n')}\n`, png, json };
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 2;
} finally {
  await cleanup();
}
