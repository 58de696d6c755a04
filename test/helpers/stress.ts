/**
 * Helpers shared by the stress tests (test/stress/*): the CLI run inside
 * shell pipelines with misbehaving readers, process groups killed on a
 * deadline, a loopback TCP proxy that can be cut or frozen, bounded waits.
 *
 * Fixtures and digests come from ./fixture.ts; this file only adds what the
 * stress tests need on top.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import ssh2 from 'ssh2';
import type { ServerHandle } from '../../src/server/index.ts';
import { afterEach, beforeEach } from 'vitest';
import { startCliFixture, startFixture, type CliFixture, type Fixture } from './fixture.ts';
import { BIN, collect, killGroup, ROOT } from './processes.ts';

const { Client: RawClient } = ssh2;

/** Debian's python3 (fcntl, hashlib), not a pyenv shim. */
export const PYTHON = '/usr/bin/python3';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/**
 * A pipe reader in Python that misbehaves on purpose, then prints one JSON
 * line `{"bytes":N,"sha256":"...","reads":R}` on its stdout.
 *
 *   slow MS [CHUNK]     read CHUNK bytes (default 64 KiB), sleep MS, repeat
 *   stall MS            read nothing for MS, then everything
 *   rate BYTES_PER_S    read at most this fast
 *   fifo MS PATH        open the FIFO PATH only after MS, then read everything
 *   split MS [STALL]    like slow (after STALL ms of reading nothing), and count 0x00 and 0xFF bytes separately;
 *                       bytes/sha256 cover the 0x00 bytes only, ff counts the
 *                       rest (a sibling writer's bytes), other counts anything else
 */
export const READER_PY = String.raw`
import hashlib, json, os, sys, time
mode = sys.argv[1]
arg = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
chunk = 65536
fd = 0
start = time.monotonic()
if mode == 'slow' and len(sys.argv) > 3:
    chunk = int(sys.argv[3])
if mode == 'stall':
    time.sleep(arg / 1000)
if mode == 'fifo':
    time.sleep(arg / 1000)
    fd = os.open(sys.argv[3], os.O_RDONLY)
if mode == 'split' and len(sys.argv) > 3:
    time.sleep(float(sys.argv[3]) / 1000)
h = hashlib.sha256()
n = reads = ff = other = 0
while True:
    b = os.read(fd, chunk)
    if not b:
        break
    reads += 1
    if mode == 'split':
        nff = b.count(b'\xff')
        nz = b.count(b'\x00')
        ff += nff
        other += len(b) - nff - nz
        if nff:
            b = b.replace(b'\xff', b'')
    n += len(b)
    h.update(b)
    if mode in ('slow', 'split') and arg > 0:
        time.sleep(arg / 1000)
    elif mode == 'rate':
        due = n / arg - (time.monotonic() - start)
        if due > 0:
            time.sleep(due)
print(json.dumps({'bytes': n, 'sha256': h.hexdigest(), 'reads': reads, 'ff': ff, 'other': other}), flush=True)
`;

/**
 * Sibling probes for a pipe shared with the CLI (fd 1), reporting
 * `name=value` lines on fd 3:
 *
 *   set               make fd 1 O_NONBLOCK (before_nonblock=1)
 *   after             after_nonblock=0|1
 *   during PID        sample F_GETFL of fd 1 every ms while PID runs:
 *                     during_samples=N, during_nonblock=K
 *   wait PID BYTES    return once PID has written BYTES (/proc/PID/io wchar) or ended
 *   writer PID        once PID wrote 1 MiB, write 1,000,000 0xFF bytes to fd 1
 *                     in 4 KiB blocks, retrying EAGAIN: writer_bytes,
 *                     writer_eagain (failed writes), writer_overlapped (PID still
 *                     ran when the writer finished)
 *   burst PID         once fd 1 is seen O_NONBLOCK or PID wrote 1 MiB (whichever
 *                     comes first), write 1,000,000 0xFF bytes back to back in
 *                     4 KiB blocks (retrying EAGAIN after 10 ms): writer_bytes,
 *                     writer_eagain
 */
export const FLAGS_PY = String.raw`
import fcntl, os, sys, time
cmd = sys.argv[1]
def report(s):
    os.write(3, (s + '\n').encode())
def nonblock():
    return int(bool(fcntl.fcntl(1, fcntl.F_GETFL) & os.O_NONBLOCK))
def alive(pid):
    try:
        with open('/proc/%s/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False
def wchar(pid):
    try:
        with open('/proc/%s/io' % pid) as f:
            for line in f:
                if line.startswith('wchar:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
def wait_written(pid, n):
    while alive(pid) and wchar(pid) < n:
        time.sleep(0.005)

def write_mb(pause):
    """Writes 1,000,000 bytes to fd 1, counting EAGAIN (a pipe someone made O_NONBLOCK)."""
    total, sent, eagain = 1000000, 0, 0
    block = b'\xff' * 4096
    while sent < total:
        try:
            sent += os.write(1, block[:min(4096, total - sent)])
        except BlockingIOError:
            eagain += 1
            time.sleep(pause)
    report('writer_bytes=%d' % sent)
    report('writer_eagain=%d' % eagain)

if cmd == 'set':
    fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)
    report('before_nonblock=%d' % nonblock())
elif cmd == 'after':
    report('after_nonblock=%d' % nonblock())
elif cmd == 'during':
    pid = sys.argv[2]
    samples = hits = 0
    while alive(pid):
        samples += 1
        hits += nonblock()
        time.sleep(0.001)
    report('during_samples=%d' % samples)
    report('during_nonblock=%d' % hits)
elif cmd == 'wait':
    wait_written(sys.argv[2], int(sys.argv[3]))
elif cmd == 'writer':
    pid = sys.argv[2]
    wait_written(pid, 1 << 20)
    write_mb(0.001)
    report('writer_overlapped=%d' % int(alive(pid)))
elif cmd == 'burst':
    pid = sys.argv[2]
    while alive(pid) and not nonblock() and wchar(pid) < (1 << 20):
        time.sleep(0.0005)
    write_mb(0.01)
`;

/** What {@link READER_PY} printed. */
export interface ReaderReport {
  bytes: number;
  sha256: string;
  reads: number;
  ff: number;
  other: number;
}

/** What a process group left behind. */
export interface GroupResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** The environment for CLI children: none of the developer's or vitest's settings that change output. */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, STRESS_READER: READER_PY, STRESS_FLAGS: FLAGS_PY, ...extra };
  delete env.LOOPSSH_LOG_LEVEL;
  delete env.NODE_OPTIONS;
  return env;
}

/** Spawns `file args` in its own process group, stdin closed, stdout/stderr piped. */
export function spawnGroup(file: string, args: readonly string[], env: NodeJS.ProcessEnv = childEnv()): ChildProcess {
  return spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd: ROOT, detached: true });
}

/**
 * Collects a group's output as text until every stdio stream closed (see
 * collect in ./processes.ts); then kills whatever the group left running (a
 * reader, a sibling). At the deadline (a hang, never a speed claim) the whole
 * group is killed.
 */
export async function collectGroup(child: ChildProcess, timeoutMs: number): Promise<GroupResult> {
  const r = await collect(child, timeoutMs);
  killGroup(child);
  return { code: r.code, signal: r.signal, stdout: r.stdout.toString('utf8'), stderr: r.stderr, timedOut: r.timedOut, ms: r.ms };
}

/**
 * Runs `bash -c SCRIPT bash node bin/loopssh.js ...cliArgs`: inside the
 * script the CLI is `"$@"` and the reader is `python3 -c "$STRESS_READER" MODE ...`.
 */
export function bashCli(script: string, cliArgs: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<GroupResult> {
  const child = spawnGroup('bash', ['-c', script, 'bash', process.execPath, BIN, ...cliArgs], childEnv(options.env));
  return collectGroup(child, options.timeoutMs ?? 60_000);
}

/** The reader's JSON line in a script's stdout. */
export function readerReport(stdout: string): ReaderReport {
  const line = stdout.split('\n').find((l) => l.startsWith('{"bytes"'));
  if (!line) throw new Error(`no reader report in: ${JSON.stringify(stdout.slice(0, 500))}`);
  return JSON.parse(line) as ReaderReport;
}

/** `name=value` lines a script printed (e.g. `cli=0`). */
export function statusLines(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^([a-z_]+)=(.*)$/gm)) out[m[1] as string] = m[2] as string;
  return out;
}

/** Non-empty lines. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Polls `check` every 20 ms; rejects after `timeoutMs` (a hang detector, not a speed claim). */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Rejects if `promise` has not settled within `ms` (hang detector). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms (hang)`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A loopback TCP proxy in front of a server: forwards both ways until cut or frozen. */
export interface Proxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Resets every connection (RST both ways), as a dead network would. */
  cut(): void;
  /** Stops forwarding in both directions without closing anything: a black hole. */
  freeze(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>();
  let accepted = 0;
  let frozen = false;
  const server: Server = createServer((down) => {
    accepted++;
    const up = netConnect(targetPort, targetHost);
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (frozen) return;
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => frozen || from.resume());
        }
      });
    };
    forward(down, up);
    forward(up, down);
    const end = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
      s.on('end', () => (frozen ? undefined : end()));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get accepted() {
      return accepted;
    },
    cut() {
      for (const [down, up] of pairs) {
        down.resetAndDestroy();
        up.resetAndDestroy();
      }
      pairs.clear();
    },
    freeze() {
      frozen = true;
      // Stop reading too, so the kernel buffers fill and nothing is acknowledged end to end.
      for (const [down, up] of pairs) {
        down.pause();
        up.pause();
      }
    },
    close: async () => {
      for (const [down, up] of pairs) {
        down.destroy();
        up.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs `loopssh get SIZE` (CLI) into a plain reader: the reader's count and digest, the CLI's exit status and stderr. */
export async function cliGet(cli: readonly string[], size: number | string, timeoutMs = 60_000): Promise<{ report: ReaderReport; exit: string | undefined; stderr: string; timedOut: boolean }> {
  const script = `"$@" | ${PYTHON} -c "$STRESS_READER" slow 0; echo "cli=\${PIPESTATUS[0]}"`;
  const r = await bashCli(script, ['get', String(size), ...cli], { timeoutMs });
  return { report: readerReport(r.stdout), exit: statusLines(r.stdout).cli, stderr: r.stderr, timedOut: r.timedOut };
}

/** A Writable that counts and hashes what it is given (and can keep it, up to `keep` bytes). */
export class CountingSink extends Writable {
  bytes = 0;
  readonly #hash = createHash('sha256');
  readonly #kept: Buffer[] = [];
  #digest: string | undefined;
  constructor(readonly keep = 0) {
    super({ highWaterMark: 1024 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    if (this.keep > 0 && this.bytes <= this.keep) this.#kept.push(chunk);
    cb();
  }
  /** SHA-256 of everything written so far (final: call once writing is over). */
  digest(): string {
    return (this.#digest ??= this.#hash.digest('hex'));
  }
  kept(): Buffer {
    return Buffer.concat(this.#kept);
  }
}

/**
 * Per-test cleanups, run in reverse order in afterEach: fixtures and CLI
 * servers started through it are always stopped, whatever the test did.
 */
export function useCleanups(): {
  defer(fn: () => Promise<void> | void): void;
  fixture(options?: Parameters<typeof startFixture>[0]): Promise<Fixture>;
  cliServer(options?: Parameters<typeof startCliFixture>[0]): Promise<CliFixture>;
} {
  let cleanups: (() => Promise<void> | void)[] = [];
  beforeEach(() => {
    cleanups = [];
  });
  afterEach(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  return {
    defer: (fn) => void cleanups.push(fn),
    async fixture(options = {}) {
      const fx = await startFixture(options);
      cleanups.push(() => fx.stop());
      return fx;
    },
    async cliServer(options = {}) {
      const srv = await startCliFixture(options);
      cleanups.push(() => srv.stop());
      return srv;
    },
  };
}

/**
 * A raw ssh2 client whose authHandler offers `offers` one by one; resolves
 * with how many it got to offer and how the connection ended.
 */
export function offerMany(server: ServerHandle, user: string, offers: ssh2.AnyAuthMethod[]): Promise<{ offered: number; error?: string; closedBy: 'server' | 'client-gave-up' }> {
  return within(
    new Promise((resolve) => {
      const raw = new RawClient();
      let offered = 0;
      let error: string | undefined;
      raw.on('error', (e) => (error = e.message));
      raw.on('ready', () => {
        raw.end();
        error = 'authenticated!';
      });
      raw.on('close', () =>
        resolve({ offered, error, closedBy: error === 'All configured authentication methods failed' ? 'client-gave-up' : 'server' }),
      );
      raw.connect({
        host: server.host,
        port: server.port,
        username: user,
        hostVerifier: () => true,
        authHandler: (_methodsLeft, _partial, next) => {
          const offer = offers[offered];
          if (!offer) return next(false as unknown as ssh2.AnyAuthMethod);
          offered++;
          next(offer);
        },
      });
    }),
    20_000,
    'the authentication attempts',
  );
}
