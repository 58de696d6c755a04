import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelLostError, ConnectionError, HostKeyError } from '../../src/client/index.ts';
import { UsageError, type CommandHandler } from '../../src/server/index.ts';
import { expectedDigest, sha256, startFixture, type Fixture } from '../helpers/fixture.ts';
import { referenceBytes } from '../helpers/oracle.ts';
import { waitFor } from '../helpers/stress.ts';

const MiB = 1024 * 1024;

/** `size` bytes of the lines pattern for `stream`, as one Buffer. */
function patternBytes(size: number, stream: 'stdout' | 'stderr' = 'stdout'): Buffer {
  return referenceBytes({ size, pattern: 'lines', seed: '0', stream });
}

/** A Readable of the lines pattern in 64 KiB pieces. */
function patternStream(size: number, stream: 'stdout' | 'stderr'): Readable {
  const all = patternBytes(size, stream);
  let at = 0;
  return new Readable({
    read() {
      const piece = all.subarray(at, at + 64 * 1024);
      at += piece.length;
      this.push(piece.length === 0 ? null : piece);
    },
  });
}

describe('server: built-in payload', () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await startFixture();
  });
  afterEach(async () => {
    await fx.stop();
  });

  it.each([0, 1, 15, 16, 17, 163_840, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 16 * MiB])('delivers %i bytes byte-exact with exit 0', async (size) => {
    const conn = await fx.connect();
    const r = await conn.run(`payload ${size}`);
    expect(r.exitCode).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stdoutBytes).toBe(size);
    expect(r.stdout?.length).toBe(size);
    expect(sha256(r.stdout as Buffer)).toBe(expectedDigest(size));
    expect(r.stderrBytes).toBe(0);
  });

  it.each(['zero', 'lines', 'random'] as const)('mixes 8 MiB stdout and 8 MiB stderr of pattern %s', async (pattern) => {
    const conn = await fx.connect();
    const r = await conn.run(`payload 8MiB --stderr 8MiB --pattern ${pattern} --seed 5 --exit 7`, { hash: true, stdout: 'ignore', stderr: 'ignore' });
    expect([r.exitCode, r.stdoutBytes, r.stderrBytes]).toEqual([7, 8 * MiB, 8 * MiB]);
    expect(r.stdoutSha256).toBe(expectedDigest(8 * MiB, pattern, 'stdout', '5'));
    expect(r.stderrSha256).toBe(expectedDigest(8 * MiB, pattern, 'stderr', '5'));
  });

  it('honours --chunk, --delay-ms and --rate', async () => {
    const conn = await fx.connect();
    const started = performance.now();
    const r = await conn.run('payload 200000 --chunk 1000 --delay-ms 100 --rate 1MB', { hash: true });
    const ms = performance.now() - started;
    expect(r.stdoutBytes).toBe(200_000);
    expect(r.stdoutSha256).toBe(expectedDigest(200_000));
    // 200 kB at 1 MB/s plus 100 ms of delay cannot finish sooner than ~300 ms (a lower bound, not a speed test).
    expect(ms).toBeGreaterThanOrEqual(250);
  });

  it('reports a signal as a signal, not an exit code', async () => {
    const conn = await fx.connect();
    const r = await conn.run('payload 1000 --signal TERM');
    expect([r.exitCode, r.signal, r.stdoutBytes]).toEqual([null, 'TERM', 1000]);
  });

  it.each([0, 1, 2, 100, 255])('passes exit status %i through', async (code) => {
    const conn = await fx.connect();
    const r = await conn.run(['payload', '10', '--exit', String(code)]);
    expect(r.exitCode).toBe(code);
  });

  it('digest prints the SHA-256 of what payload sends', async () => {
    const conn = await fx.connect();
    const r = await conn.run('digest 3MiB --pattern random --seed 9');
    expect(r.stdout?.toString()).toBe(`${expectedDigest(3 * MiB, 'random', 'stdout', '9')}\n`);
  });

  it('sink counts and hashes an upload; echo returns it byte-exact', async () => {
    const conn = await fx.connect();
    const data = patternBytes(5 * MiB + 3);
    const s = await conn.run('sink', { stdin: data });
    expect(s.stdout?.toString()).toBe(`${data.length} ${sha256(data)}\n`);
    const e = await conn.run('echo', { stdin: Readable.from([data.subarray(0, MiB), data.subarray(MiB)]), hash: true, stdout: 'ignore' });
    expect([e.exitCode, e.stdoutBytes, e.stdoutSha256]).toEqual([0, data.length, sha256(data)]);
  });

  it('help lists the commands', async () => {
    const conn = await fx.connect();
    const r = await conn.run('help');
    expect(r.exitCode).toBe(0);
    for (const name of ['payload SIZE', 'digest SIZE', 'sink', 'echo']) expect(r.stdout?.toString()).toContain(name);
  });
});

describe('server: bad commands get one line and exit 2, and the server stays up', () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await startFixture({ limits: { maxPayloadBytes: 10 * MiB } });
  });
  afterEach(async () => {
    await fx.stop();
  });

  it.each([
    ['nosuch', /^loopssh: unknown command 'nosuch'/],
    ['', /^loopssh: empty command/],
    ["payload 'unterminated", /^loopssh: unterminated single quote/],
    ['payload', /^loopssh: payload needs a SIZE/],
    ['payload -1', /^loopssh: /],
    ['payload 1.5M', /^loopssh: SIZE: invalid size '1.5M'/],
    ['payload 1 --bogus 3', /^loopssh: unknown option '--bogus'/],
    ['payload 11MiB', /above this server's limit of 10485760 bytes/],
    ['payload 1 --stderr 11MiB', /above this server's limit/],
    ['payload 1 --rate 0', /--rate must be at least 1/],
    ['payload 1 --chunk 0', /--chunk must be between/],
    ['payload 1 --exit 1 --signal TERM', /cannot be used together/],
    ['payload 1 --exit 256', /--exit must be between 0 and 255/],
    ['payload 1 --signal NOPE', /unknown signal 'NOPE'/],
    ['sink extra', /sink takes no arguments/],
  ])('%j', async (command, message) => {
    const conn = await fx.connect();
    const r = await conn.run(command);
    expect(r.exitCode).toBe(2);
    expect(r.stdoutBytes).toBe(0);
    const err = r.stderr?.toString() ?? '';
    expect(err.endsWith('\n')).toBe(true);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toMatch(message);
    // Unharmed: the same connection still transfers byte-exact.
    const ok = await conn.run('payload 100000');
    expect([ok.exitCode, sha256(ok.stdout as Buffer)]).toEqual([0, expectedDigest(100_000)]);
  });
  // Nothing reaches a shell: test/stress/security.test.ts ('No command reaches a shell').
});

describe('server: registered commands and the ssh2 write orders that lose data', () => {
  let fx: Fixture;
  const four = patternBytes(4 * MiB);
  const fourErr = patternBytes(4 * MiB, 'stderr');
  const commands: Record<string, CommandHandler> = {
    // ssh2 1.17 alone: stdout and stderr written, then exit(0); end() → stderr 0 bytes.
    'both-then-exit': (ctx) => {
      ctx.stdout.write(four);
      ctx.stderr.write(fourErr);
      return 0;
    },
    // ssh2 1.17 alone: 3 MiB stdout then 3 MiB stderr → 1 MiB of stdout duplicated, stderr lost.
    'stdout-then-stderr': async (ctx) => {
      await ctx.output.write('stdout', four.subarray(0, 3 * MiB));
      await ctx.output.write('stderr', fourErr.subarray(0, 3 * MiB));
      return 0;
    },
    // ssh2 1.17 alone: large concurrent writes on both → hang.
    concurrent: async (ctx) => {
      await Promise.all([pipeline(patternStream(8 * MiB, 'stdout'), ctx.stdout), pipeline(patternStream(8 * MiB, 'stderr'), ctx.stderr)]);
    },
    // ssh2 1.17 alone: exit() then close() → 2 of 5 MiB (ssh2 issue 1508).
    'write-and-return': (ctx) => {
      ctx.stdout.write(patternBytes(5 * MiB));
      return 3;
    },
    // Many small alternating writes: each stream keeps its own order.
    alternate: async (ctx) => {
      const out = patternBytes(7000 * 300);
      const err = patternBytes(5000 * 300, 'stderr');
      for (let i = 0; i < 300; i++) {
        ctx.stdout.write(out.subarray(i * 7000, (i + 1) * 7000));
        ctx.stderr.write(err.subarray(i * 5000, (i + 1) * 5000));
      }
    },
    args: async (ctx) => {
      await ctx.output.write('stdout', Buffer.from(JSON.stringify({ argv: ctx.argv, env: ctx.env, user: ctx.user })));
      return { signal: 'HUP' };
    },
    usage: () => {
      throw new UsageError('usage: wrong on purpose');
    },
    broken: () => {
      throw new Error('disk on fire');
    },
    drop: async (ctx) => {
      await ctx.output.write('stdout', patternBytes(300_000));
      ctx.drop();
    },
  };
  beforeEach(async () => {
    fx = await startFixture({ commands });
  });
  afterEach(async () => {
    await fx.stop();
  });

  it('4 MiB stdout + 4 MiB stderr, then return: both arrive in full, then the exit status', async () => {
    const conn = await fx.connect();
    const r = await conn.run('both-then-exit');
    expect([r.exitCode, r.stdoutBytes, r.stderrBytes]).toEqual([0, 4 * MiB, 4 * MiB]);
    expect(sha256(r.stdout as Buffer)).toBe(sha256(four));
    expect(sha256(r.stderr as Buffer)).toBe(sha256(fourErr));
    expect(fx.server.seen.commands[0]?.exit).toEqual({ code: 0 });
  });

  it('3 MiB stdout then 3 MiB stderr: nothing duplicated, nothing lost', async () => {
    const conn = await fx.connect();
    const r = await conn.run('stdout-then-stderr');
    expect([r.exitCode, r.stdoutBytes, r.stderrBytes]).toEqual([0, 3 * MiB, 3 * MiB]);
    expect(sha256(r.stdout as Buffer)).toBe(sha256(four.subarray(0, 3 * MiB)));
    expect(sha256(r.stderr as Buffer)).toBe(sha256(fourErr.subarray(0, 3 * MiB)));
  });

  it('8 MiB on stdout and stderr concurrently: no hang, both exact', async () => {
    const conn = await fx.connect();
    const r = await conn.run('concurrent', { hash: true, stdout: 'ignore', stderr: 'ignore' });
    expect([r.exitCode, r.stdoutBytes, r.stderrBytes]).toEqual([0, 8 * MiB, 8 * MiB]);
    expect([r.stdoutSha256, r.stderrSha256]).toEqual([expectedDigest(8 * MiB), expectedDigest(8 * MiB, 'lines', 'stderr')]);
  });

  it('a handler that returns right after writing 5 MiB: all 5 MiB arrive before exit 3', async () => {
    const conn = await fx.connect();
    const r = await conn.run('write-and-return', { hash: true, stdout: 'ignore' });
    expect([r.exitCode, r.stdoutBytes, r.stdoutSha256]).toEqual([3, 5 * MiB, expectedDigest(5 * MiB)]);
  });

  it('600 alternating small writes keep each stream in order', async () => {
    const conn = await fx.connect();
    const r = await conn.run('alternate');
    expect(sha256(r.stdout as Buffer)).toBe(expectedDigest(7000 * 300));
    expect(sha256(r.stderr as Buffer)).toBe(expectedDigest(5000 * 300, 'lines', 'stderr'));
  });

  it('handlers get argv, env and user; the server records what it saw', async () => {
    const conn = await fx.connect();
    const r = await conn.run(['args', 'a b', "it's"], { env: { LOOPSSH_TEST: 'yes' } });
    expect(r.signal).toBe('HUP');
    expect(JSON.parse(r.stdout?.toString() ?? '')).toEqual({ argv: ['args', 'a b', "it's"], env: { LOOPSSH_TEST: 'yes' }, user: 'tester' });
    const seen = fx.server.seen;
    expect(seen.commands).toEqual([{ user: 'tester', command: `args 'a b' 'it'\\''s'`, argv: ['args', 'a b', "it's"], env: { LOOPSSH_TEST: 'yes' }, exit: { signal: 'HUP' } }]);
    expect(seen.authAttempts).toEqual([{ user: 'tester', method: 'publickey', accepted: true }]);
    expect(seen.connections).toHaveLength(1);
  });

  it('a UsageError exits 2 and any other error exits 1, each with one line', async () => {
    const conn = await fx.connect();
    const u = await conn.run('usage');
    expect([u.exitCode, u.stderr?.toString()]).toEqual([2, 'loopssh: usage: wrong on purpose\n']);
    const b = await conn.run('broken');
    expect([b.exitCode, b.stderr?.toString()]).toEqual([1, 'loopssh: broken: disk on fire\n']);
  });

  it('a channel dropped without exit status rejects with ChannelLostError carrying the byte counts', async () => {
    const conn = await fx.connect();
    const err = await conn.run('drop').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelLostError);
    expect((err as ChannelLostError).exitCode).toBeNull();
    expect((err as ChannelLostError).stdoutBytes).toBe(300_000);
    expect((err as ChannelLostError).message).toMatch(/before an exit status/);
    expect(fx.server.seen.commands[0]?.exit).toBe('dropped');
    // The connection itself is fine: the same connection serves a verified run right after.
    const again = await conn.run('payload 1MiB', { stdout: 'ignore', hash: true });
    expect([again.exitCode, again.stdoutBytes, again.stdoutSha256]).toEqual([0, MiB, expectedDigest(MiB)]);
    expect(conn.closed).toBe(false);
  });
});

// Authentication and host-key refusals have their home in test/stress/security.test.ts.
describe('server: known_hosts and stop()', () => {
  let fx: Fixture;
  afterEach(async () => {
    await fx.stop();
  });

  it('the client checks known_hosts text: a listed key passes, an unlisted host is refused', async () => {
    fx = await startFixture();
    const line = `[127.0.0.1]:${fx.server.port} ${fx.server.hostPublicKey}`;
    const conn = await fx.connect({ hostKey: undefined, knownHosts: `${line}\n` });
    expect((await conn.run('payload 1')).exitCode).toBe(0);
    const other = `[127.0.0.1]:${fx.server.port + 1} ${fx.server.hostPublicKey}`;
    await expect(fx.connect({ hostKey: undefined, knownHosts: `${other}\n` })).rejects.toBeInstanceOf(HostKeyError);
  });

  it('stop() refuses new connections and resolves once all are closed', async () => {
    fx = await startFixture();
    const conn = await fx.connect();
    const running = conn.run('payload 2MiB --rate 8MB', { hash: true, stdout: 'ignore' });
    // In flight: the server has the command (not a guess at how long that takes).
    await waitFor(() => fx.server.seen.commands.length === 1, 10_000, 'the server to start the command');
    await fx.server.stop({ graceMs: 5000 });
    const r = await running;
    // The in-flight transfer finished within the grace time, byte-exact.
    expect([r.exitCode, r.stdoutBytes, r.stdoutSha256]).toEqual([0, 2 * MiB, expectedDigest(2 * MiB)]);
    await expect(fx.connect()).rejects.toBeInstanceOf(ConnectionError);
  });
});
