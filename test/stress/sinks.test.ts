// Sinks that misbehave: the CLI's stdout goes into slow, stalled, rate-limited
// readers, a FIFO opened late and a pseudo-terminal; the library's into slow
// and stalled Writables. Every run must deliver every byte (length and
// SHA-256), exit 0 and say "verified"; sink errors (EPIPE, ENOSPC) must end the
// CLI cleanly; and the CLI must leave a shared stdout pipe blocking, as it
// found it, so a sibling writer never sees EAGAIN (AsyncSSH #629's side effect).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, test as base, type ExpectStatic } from 'vitest';
import type { RunResult } from '../../src/client/index.ts';
import { referenceDigest } from '../helpers/oracle.ts';
import { expectedDigest, startCliFixture, startFixture, tempDir, type CliFixture, type Fixture } from '../helpers/fixture.ts';
import {
  bashCli,
  KiB,
  lines,
  MiB,
  readerReport,
  statusLines,
  waitFor,
  type GroupResult,
} from '../helpers/stress.ts';
import { BIN } from '../helpers/processes.ts';

const SMALL = 160 * KiB;
const MEDIUM = 16 * MiB;
const LARGE = 256 * MiB;
/** Runs of each 160 KiB case, side by side. */
const REPEAT = 10;

const PY = '/usr/bin/python3';

/** One server per test (port 0, keys in a fresh folder), stopped after the test. */
const test = base.extend<{ srv: CliFixture }>({
  // eslint-disable-next-line no-empty-pattern
  srv: async ({}, use) => {
    const srv = await startCliFixture();
    await use(srv);
    await srv.stop();
  },
});

/** Case → runs and bytes lost, printed at the end (the report's table). */
const tally = new Map<string, { runs: number; lost: number }>();
function count(name: string, expected: number, got: number): void {
  const t = tally.get(name) ?? { runs: 0, lost: 0 };
  t.runs++;
  t.lost += Math.max(0, expected - got);
  tally.set(name, t);
}
afterAll(() => {
  const rows = [...tally].map(([name, t]) => `  ${name.padEnd(48)} runs ${String(t.runs).padStart(3)}  bytes lost ${t.lost}`);
  console.log(`sinks: runs and bytes lost\n${rows.join('\n')}`);
});

function sizeName(size: number): string {
  return size >= MiB ? `${size / MiB}MiB` : `${size / KiB}KiB`;
}

/** Checks one CLI run into a reader: exit 0, "verified" on stderr, every byte and the digest. */
function expectDelivered(name: string, r: GroupResult, size: number, pattern: 'lines' | 'zero' | 'random', stderr = r.stderr): void {
  const report = readerReport(r.stdout);
  count(name, size, report.bytes);
  expect(r.timedOut, `${name}: hung; stderr: ${r.stderr}`).toBe(false);
  expect(report.bytes, `${name}: bytes; stderr: ${stderr}`).toBe(size);
  expect(report.sha256, `${name}: sha256`).toBe(expectedDigest(size, pattern));
  expect(statusLines(r.stdout).cli, `${name}: CLI exit; stderr: ${stderr}`).toBe('0');
  expect(lines(stderr), `${name}: stderr`).toEqual([expect.stringMatching(new RegExp(`^loopssh: verified .*\\(${size} bytes, SHA-256 `))]);
}

/** `"$@" | reader ARGS`, then the CLI's own exit status. */
const intoReader = (readerArgs: string): string => `"$@" | ${PY} -c "$STRESS_READER" ${readerArgs}; echo "cli=\${PIPESTATUS[0]}"`;

interface SinkCase {
  name: string;
  sizes: number[];
  pattern: 'lines' | 'zero';
  /** Runs one transfer of `size`; returns the group's result and the CLI's stderr. */
  run(srv: CliFixture, size: number, i: number): Promise<{ r: GroupResult; stderr: string }>;
  timeoutMs(size: number): number;
}

const get = (srv: CliFixture, size: number, pattern = 'lines'): string[] => ['get', String(size), '--pattern', pattern, ...srv.cli];

const CASES: SinkCase[] = [
  {
    // 64 KiB every 10 ms (≈ 6 MB/s); at 256 MiB that would take 42 s, so the
    // large run sleeps 1 ms per read: still a reader slower than the sender,
    // with the pipe full the whole time.
    name: 'slow reader (64 KiB per read, sleeps between reads)',
    sizes: [SMALL, MEDIUM, LARGE],
    pattern: 'lines',
    run: async (srv, size) => {
      const r = await bashCli(intoReader(`slow ${size === LARGE ? 1 : 10}`), get(srv, size), { timeoutMs: 150_000 });
      return { r, stderr: r.stderr };
    },
    timeoutMs: () => 180_000,
  },
  {
    name: 'stalled reader (nothing for 2 s, then all)',
    sizes: [SMALL, MEDIUM, LARGE],
    pattern: 'lines',
    run: async (srv, size) => {
      const r = await bashCli(intoReader('stall 2000'), get(srv, size), { timeoutMs: 120_000 });
      return { r, stderr: r.stderr };
    },
    timeoutMs: () => 150_000,
  },
  {
    // A reader far slower than the transport. 256 MiB at 1 MB/s took 4.5
    // minutes and set the floor of the whole suite's wall time (CI has 15),
    // so the large size reads at 8 MB/s: still ~50× slower than loopback.
    name: 'rate-limited reader (1 MB/s; 8 MB/s at 256 MiB)',
    sizes: [SMALL, MEDIUM, LARGE],
    pattern: 'lines',
    run: async (srv, size) => {
      const r = await bashCli(intoReader(`rate ${size === LARGE ? 8_000_000 : 1_000_000}`), get(srv, size), { timeoutMs: size === LARGE ? 240_000 : 120_000 });
      return { r, stderr: r.stderr };
    },
    timeoutMs: (size) => (size === LARGE ? 270_000 : 150_000),
  },
  {
    // `-o FIFO`: the CLI opens the FIFO in place (no temp + rename), and the
    // reader opens its end only 1 s later.
    name: 'FIFO (-o FIFO, reader opens it 1 s late)',
    sizes: [SMALL, MEDIUM, LARGE],
    pattern: 'lines',
    run: async (srv, size, i) => {
      const fifo = join(srv.dir, `fifo-${size}-${i}`);
      const script = `mkfifo "$STRESS_FIFO" || exit 9
"$@" -o "$STRESS_FIFO" & pid=$!
${PY} -c "$STRESS_READER" fifo 1000 "$STRESS_FIFO"
wait $pid; echo "cli=$?"`;
      const r = await bashCli(script, get(srv, size), { timeoutMs: 120_000, env: { STRESS_FIFO: fifo } });
      return { r, stderr: r.stderr };
    },
    timeoutMs: () => 150_000,
  },
  {
    // script(1) gives the CLI a pty as stdout and stderr and copies what the
    // pty prints to its own stdout (a pipe to the reader). A pty turns \n into
    // \r\n, so the pattern is zero (no \n); the CLI's stderr goes to a file so
    // it does not mix into the captured bytes. script -e returns the CLI's status.
    name: 'pseudo-terminal (script -qfec, --pattern zero)',
    sizes: [SMALL, MEDIUM, LARGE],
    pattern: 'zero',
    run: async (srv, size, i) => {
      const errFile = join(srv.dir, `pty-${size}-${i}.err`);
      const cmd = [process.execPath, BIN, ...get(srv, size, 'zero')].map((w) => `'${w}'`).join(' ');
      const script = `script -qfec "$STRESS_CMD 2>'$STRESS_ERR'" /dev/null </dev/null | ${PY} -c "$STRESS_READER" slow 0; echo "cli=\${PIPESTATUS[0]}"`;
      const r = await bashCli(script, [], { timeoutMs: 120_000, env: { STRESS_CMD: cmd, STRESS_ERR: errFile } });
      return { r, stderr: existsSync(errFile) ? readFileSync(errFile, 'utf8') : `(no stderr file) ${r.stderr}` };
    },
    timeoutMs: () => 150_000,
  },
];

describe.concurrent('Sinks that misbehave (0 bytes lost in every run)', () => {
  for (const c of CASES) {
    for (const size of c.sizes) {
      const runs = size === SMALL ? REPEAT : 1;
      test(`${c.name}: get ${sizeName(size)}${runs > 1 ? ` ×${runs}` : ''}`, { timeout: c.timeoutMs(size) }, async ({ srv }) => {
        const results = await Promise.all(Array.from({ length: runs }, (_, i) => c.run(srv, size, i)));
        for (const { r, stderr } of results) expectDelivered(`${c.name} ${sizeName(size)}`, r, size, c.pattern, stderr);
        // The server saw each run end with exit 0.
        const payloads = srv.server.seen.commands.filter((cmd) => cmd.argv[0] === 'payload');
        expect(payloads).toHaveLength(runs);
        for (const cmd of payloads) expect(cmd.exit).toEqual({ code: 0 });
      });
    }
  }

  test('pseudo-terminal with -o /dev/stdout: get 16MiB --pattern zero', { timeout: 120_000 }, async ({ srv }) => {
    const errFile = join(srv.dir, 'pty-devstdout.err');
    const cmd = [process.execPath, BIN, ...get(srv, MEDIUM, 'zero'), '-o', '/dev/stdout'].map((w) => `'${w}'`).join(' ');
    const script = `script -qfec "$STRESS_CMD 2>'$STRESS_ERR'" /dev/null </dev/null | ${PY} -c "$STRESS_READER" slow 0; echo "cli=\${PIPESTATUS[0]}"`;
    const r = await bashCli(script, [], { timeoutMs: 90_000, env: { STRESS_CMD: cmd, STRESS_ERR: errFile } });
    expectDelivered('pty -o /dev/stdout 16MiB', r, MEDIUM, 'zero', readFileSync(errFile, 'utf8'));
  });
});

/** A Writable that records its events, hashes what it takes and calls back late. */
function recordingWritable(options: { highWaterMark: number; delay: (n: number) => number | 'immediate'; events: string[] }): Writable & { bytes: number; digest(): string } {
  const hash = createHash('sha256');
  let n = 0;
  const w = new Writable({
    highWaterMark: options.highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      n += chunk.length;
      const d = options.delay(n);
      if (d === 'immediate') setImmediate(cb);
      else setTimeout(cb, d);
    },
    final(cb) {
      options.events.push('final');
      cb();
    },
    // Like fs.WriteStream, 'close' comes a while after 'finish' (the fd
    // closes later): a run settled at 'finish' shows up in the event order
    // (loopssh issue 17, point 5).
    destroy(err, cb) {
      setTimeout(() => cb(err), 20);
    },
  }) as Writable & { bytes: number; digest(): string };
  Object.defineProperty(w, 'bytes', { get: () => n });
  let digest: string | undefined;
  w.digest = () => (digest ??= hash.digest('hex'));
  w.on('finish', () => options.events.push('finish'));
  w.on('close', () => options.events.push('close'));
  return w;
}

describe.concurrent('Library: slow and stalled Writable targets (0 bytes lost)', () => {
  const libTest = base.extend<{ fx: Fixture }>({
    // eslint-disable-next-line no-empty-pattern
    fx: async ({}, use) => {
      const fx = await startFixture();
      await use(fx);
      await fx.stop();
    },
  });

  /** Runs into `w` and checks the order: the run settles only after the target closed. */
  async function runInto(fx: Fixture, size: number, w: ReturnType<typeof recordingWritable>, events: string[], name: string, conn?: Awaited<ReturnType<Fixture['connect']>>): Promise<RunResult> {
    const c = conn ?? (await fx.connect());
    const r = await c.run(`payload ${size}`, { stdout: w, hash: true });
    events.push('resolved');
    count(name, size, w.bytes);
    expect(r.exitCode).toBe(0);
    expect(r.stdoutBytes).toBe(size);
    expect(r.stdoutSha256).toBe(expectedDigest(size));
    expect(w.bytes).toBe(size);
    expect(w.digest()).toBe(expectedDigest(size));
    expect(events).toEqual(['final', 'finish', 'close', 'resolved']);
    return r;
  }

  libTest(`slow Writable (setTimeout 1 ms per 16 KiB chunk): 160KiB ×${REPEAT} in parallel on 2 connections`, async ({ fx }) => {
    const conns = await Promise.all([fx.connect(), fx.connect()]);
    await Promise.all(
      Array.from({ length: REPEAT }, (_, i) => {
        const events: string[] = [];
        const w = recordingWritable({ highWaterMark: 16 * KiB, delay: () => 1, events });
        return runInto(fx, SMALL, w, events, 'library slow Writable 160KiB', conns[i % 2]);
      }),
    );
  });

  libTest('slow Writable (setTimeout 1 ms per chunk): 16MiB', async ({ fx }) => {
    const events: string[] = [];
    await runInto(fx, MEDIUM, recordingWritable({ highWaterMark: 64 * KiB, delay: () => 1, events }), events, 'library slow Writable 16MiB');
  });

  libTest('slow Writable (setImmediate per chunk, 16 KiB highWaterMark): 256MiB', { timeout: 120_000 }, async ({ fx }) => {
    const events: string[] = [];
    await runInto(fx, LARGE, recordingWritable({ highWaterMark: 16 * KiB, delay: () => 'immediate', events }), events, 'library slow Writable 256MiB');
  });

  for (const size of [SMALL, MEDIUM]) {
    libTest(`stalled Writable (first chunk held 2 s): ${sizeName(size)}`, async ({ fx }) => {
      const events: string[] = [];
      let held = false;
      const w = recordingWritable({
        highWaterMark: 64 * KiB,
        delay: () => {
          if (held) return 'immediate';
          held = true;
          setTimeout(() => events.push('released'), 2000);
          return 2001;
        },
        events,
      });
      const c = await fx.connect();
      const r = await c.run(`payload ${size}`, { stdout: w, hash: true });
      events.push('resolved');
      count(`library stalled Writable ${sizeName(size)}`, size, w.bytes);
      expect(r.stdoutBytes).toBe(size);
      expect(w.bytes).toBe(size);
      expect(w.digest()).toBe(expectedDigest(size));
      expect(events).toEqual(['released', 'final', 'finish', 'close', 'resolved']);
    });
  }

  libTest('{ stream, end: false } slow Writable: 16MiB, every write called back before the run settles, stream left open', async ({ fx }) => {
    const events: string[] = [];
    let callbacks = 0;
    let bytesCalledBack = 0;
    const hash = createHash('sha256');
    const w = new Writable({
      highWaterMark: 32 * KiB,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        setTimeout(() => {
          callbacks++;
          bytesCalledBack += chunk.length;
          cb();
        }, 1);
      },
    });
    w.on('finish', () => events.push('finish'));
    const c = await fx.connect();
    const r = await c.run(`payload ${MEDIUM}`, { stdout: { stream: w, end: false }, hash: true });
    count('library { stream, end: false } 16MiB', MEDIUM, bytesCalledBack);
    expect(r.stdoutBytes).toBe(MEDIUM);
    expect(bytesCalledBack).toBe(MEDIUM);
    expect(hash.digest('hex')).toBe(expectedDigest(MEDIUM));
    expect(callbacks).toBeGreaterThan(0);
    expect(w.writableEnded).toBe(false);
    expect(w.writableLength).toBe(0);
    expect(events).toEqual([]);
    w.destroy();
  });
});

describe('Sink errors', () => {
  let srv: CliFixture;
  let mnt: string | undefined;
  beforeEach(async () => {
    srv = await startCliFixture();
  });
  afterEach(async () => {
    if (mnt) {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
      mnt = undefined;
    }
    await srv.stop();
  });

  /** After a failed run, the server ends that command and serves a verified 1 MiB right after. */
  async function serverStillServes(): Promise<void> {
    await waitFor(() => srv.server.seen.commands.every((c) => c.exit !== undefined), 10_000, 'every command to end on the server');
    const r = await bashCli(intoReader('slow 0'), ['get', '1MiB', ...srv.cli], { timeoutMs: 30_000 });
    expectDelivered('verified transfer after a sink error', r, MiB, 'lines');
  }

  // loopssh issue 17 (point 7): "promptly" is an event, not a stopwatch that
  // includes process start-up: 1 GiB at 50 MB/s takes 21 s, so the server
  // must see the client go away before the payload ended (exit 'closed').
  for (const [size, cutShort] of [
    ['16MiB', false],
    ['1GiB --rate 50MB', true],
  ] as const) {
    test(`EPIPE: get ${size} | head -c 100 → exit 141, no stderr${cutShort ? ', the transfer cut short' : ''}`, async () => {
      const [sz, ...rest] = size.split(' ');
      const script = `"$@" | head -c 100 | ${PY} -c "$STRESS_READER" slow 0; echo "cli=\${PIPESTATUS[0]}"`;
      const r = await bashCli(script, ['get', sz as string, ...rest, ...srv.cli], { timeoutMs: 60_000 });
      expect(r.timedOut, 'CLI hung after EPIPE (60 s)').toBe(false);
      if (cutShort) {
        const record = await waitFor(() => srv.server.seen.commands.find((c) => c.command.startsWith(`payload ${sz}`) && c.exit !== undefined), 10_000, 'the payload to end on the server');
        expect(record.exit, 'the server finished the whole payload: the CLI did not leave at EPIPE').toBe('closed');
      }
      const report = readerReport(r.stdout);
      expect(report.bytes).toBe(100);
      expect(report.sha256).toBe(referenceDigest({ size: 100, pattern: 'lines', seed: '0', stream: 'stdout' }));
      expect(statusLines(r.stdout).cli).toBe('141');
      expect(r.stderr).toBe('');
      await serverStillServes();
    });
  }

  test('ENOSPC: get 16MiB -o TMPFS/out.bin → one line naming the target and ENOSPC, no file, no partial; server still serves', async ({ skip }) => {
    const { dir } = tempDir('loopssh-enospc-');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      const why = `cannot mount a 1 MiB tmpfs (${(mounted.stderr || mounted.error?.message || '').trim()}); ENOSPC needs root`;
      if (process.env.CI) throw new Error(`${why}: required under CI`);
      // loopssh issue 17 (point 6): a visible skip, not a green test that checked nothing.
      skip(why);
    }
    mnt = dir;
    const out = join(dir, 'out.bin');
    const r = await bashCli(`"$@"; echo "cli=$?"`, ['get', '16MiB', '-o', out, ...srv.cli], { timeoutMs: 30_000 });
    expect(r.timedOut).toBe(false);
    const code = Number(statusLines(r.stdout).cli);
    expect(code).not.toBe(0);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain(out);
    expect(r.stderr).toContain('ENOSPC');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    await serverStillServes();
  });
});

describe.concurrent('O_NONBLOCK: a stdout pipe shared with siblings stays as the CLI found it', () => {
  /**
   * The CLI (`"$@"`), a flags sampler and a 1 MB writer share one pipe into a
   * slow reader that separates the payload's 0x00 bytes from the writer's 0xFF.
   * Reports go to fd 3 (the script's stdout). STRESS_INTERRUPT: SIGINT the
   * CLI once it has written 8 MiB.
   */
  const SHARED = `exec 3>&1
{
  "$@" 3>&- &
  pid=$!
  ${PY} -c "$STRESS_FLAGS" during $pid &
  sampler=$!
  ${PY} -c "$STRESS_FLAGS" writer $pid &
  writer=$!
  if [ -n "$STRESS_INTERRUPT" ]; then ${PY} -c "$STRESS_FLAGS" wait $pid 8388608; kill -INT $pid; fi
  wait $pid; echo "cli=$?" >&3
  wait $sampler $writer
  ${PY} -c "$STRESS_FLAGS" after
} | ${PY} -c "$STRESS_READER" split 2`;

  const sharedTest = base.extend<{ srv: CliFixture }>({
    // eslint-disable-next-line no-empty-pattern
    srv: async ({}, use) => {
      // drop-after: 32 MiB of zeros, then the channel is dropped (no exit status): an error exit.
      const srv = await startCliFixture({
        commands: {
          'drop-after': async (ctx) => {
            const buf = Buffer.alloc(256 * KiB);
            for (let sent = 0; sent < 32 * MiB; sent += buf.length) {
              await ctx.output.write('stdout', buf);
              await new Promise((r) => setTimeout(r, 2));
            }
            ctx.drop();
          },
        },
      });
      await use(srv);
      await srv.stop();
    },
  });

  function expectShared(expect: ExpectStatic, r: GroupResult, cliExit: string): ReturnType<typeof statusLines> {
    expect(r.timedOut, `hung; stderr: ${r.stderr}`).toBe(false);
    const s = statusLines(r.stdout);
    const report = readerReport(r.stdout);
    expect(s.cli, `CLI exit; stderr: ${r.stderr}`).toBe(cliExit);
    // Sampled every ms from the CLI's start to its exit: never O_NONBLOCK.
    expect(Number(s.during_samples)).toBeGreaterThan(10);
    expect.soft(Number(s.during_nonblock), `samples with O_NONBLOCK set, of ${s.during_samples}`).toBe(0);
    // Left as found: blocking.
    expect(s.after_nonblock).toBe('0');
    // The sibling writer: every byte written, no EAGAIN, while the CLI was writing.
    expect(s.writer_bytes).toBe('1000000');
    expect(s.writer_eagain).toBe('0');
    expect(report.ff).toBe(1_000_000);
    expect(report.other).toBe(0);
    return s;
  }

  sharedTest('normal exit: get 64MiB --pattern zero (and a sibling writes 1 MB into the same pipe)', { timeout: 90_000 }, async ({ srv, expect }) => {
    const r = await bashCli(SHARED, ['get', '64MiB', '--pattern', 'zero', ...srv.cli], { timeoutMs: 60_000 });
    const s = expectShared(expect, r, '0');
    expect(s.writer_overlapped, 'the writer finished while the CLI still ran').toBe('1');
    const report = readerReport(r.stdout);
    count('O_NONBLOCK shared pipe 64MiB', 64 * MiB, report.bytes);
    expect(report.bytes).toBe(64 * MiB);
    expect(report.sha256).toBe(expectedDigest(64 * MiB, 'zero'));
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^loopssh: verified 64 MiB/)]);
  });

  sharedTest('error exit: exec -- drop-after (channel lost after 32 MiB) → 255', { timeout: 90_000 }, async ({ srv, expect }) => {
    const r = await bashCli(SHARED, ['exec', ...srv.cli, '--', 'drop-after'], { timeoutMs: 60_000 });
    expectShared(expect, r, '255');
    const report = readerReport(r.stdout);
    expect(report.bytes).toBeLessThanOrEqual(32 * MiB);
    expect(report.sha256).toBe(expectedDigest(report.bytes, 'zero'));
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^loopssh: .*before an exit status/)]);
  });

  sharedTest('SIGINT mid-transfer: get 1GiB --rate 64MB --pattern zero → 130', { timeout: 90_000 }, async ({ srv, expect }) => {
    const r = await bashCli(SHARED, ['get', '1GiB', '--rate', '64MB', '--pattern', 'zero', ...srv.cli], { timeoutMs: 60_000, env: { STRESS_INTERRUPT: '1' } });
    expectShared(expect, r, '130');
    const report = readerReport(r.stdout);
    expect(report.bytes).toBeGreaterThanOrEqual(8 * MiB - 2 * MiB);
    expect(report.sha256).toBe(expectedDigest(report.bytes, 'zero'));
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^loopssh: interrupted by SIGINT after \d+ stdout/)]);
  });

  sharedTest('a sibling writing into the full pipe at any moment of the CLI\'s run (even its start-up) never gets EAGAIN', { timeout: 60_000 }, async ({ srv }) => {
    // The reader takes nothing for 1 s. The sibling starts a burst of 4 KiB
    // writes the moment it sees the pipe O_NONBLOCK, or once the CLI wrote
    // 1 MiB if that never happens: the burst fills the pipe, and every
    // further write must wait for the reader (blocking), never fail.
    const script = `exec 3>&1
{
  "$@" 3>&- & pid=$!
  ${PY} -c "$STRESS_FLAGS" burst $pid &
  writer=$!
  wait $pid; echo "cli=$?" >&3
  wait $writer
} | ${PY} -c "$STRESS_READER" split 1 1000`;
    const r = await bashCli(script, ['get', '16MiB', '--pattern', 'zero', ...srv.cli], { timeoutMs: 45_000 });
    const s = statusLines(r.stdout);
    const report = readerReport(r.stdout);
    expect(s.cli, r.stderr).toBe('0');
    count('O_NONBLOCK startup sibling 16MiB', 16 * MiB, report.bytes);
    expect(report.bytes).toBe(16 * MiB);
    expect(report.sha256).toBe(expectedDigest(16 * MiB, 'zero'));
    expect(s.writer_bytes).toBe('1000000');
    expect(report.ff).toBe(1_000_000);
    expect(Number(s.writer_eagain), 'writes that failed with EAGAIN (Resource temporarily unavailable)').toBe(0);
  });

  sharedTest('found O_NONBLOCK: still O_NONBLOCK after the CLI exits', { timeout: 60_000 }, async ({ srv }) => {
    const script = `exec 3>&1
{ ${PY} -c "$STRESS_FLAGS" set; "$@" 3>&-; echo "cli=$?" >&3; ${PY} -c "$STRESS_FLAGS" after; } | ${PY} -c "$STRESS_READER" split 1`;
    const r = await bashCli(script, ['get', '16MiB', '--pattern', 'zero', ...srv.cli], { timeoutMs: 45_000 });
    const s = statusLines(r.stdout);
    const report = readerReport(r.stdout);
    expect(s.before_nonblock).toBe('1');
    expect(s.cli, r.stderr).toBe('0');
    expect(report.bytes).toBe(16 * MiB);
    expect(report.sha256).toBe(expectedDigest(16 * MiB, 'zero'));
    expect(s.after_nonblock).toBe('1');
  });
});
