// Security defaults and limits: who may log in and how often, which host key
// the client accepts, where the server listens, what the limits refuse, and
// that no exec request ever reaches a shell.
import { readdirSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AuthenticationError, connect, ConnectionError, HostKeyError, type Connection, type RunResult } from '../../src/client/index.ts';
import { startServer } from '../../src/server/index.ts';
import { fingerprint, generateKeyPair } from '../../src/openssh/key-format.ts';
import { knownHostsLine } from '../../src/openssh/known-hosts.ts';
import { expectedDigest, tempDir } from '../helpers/fixture.ts';
import { peer } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';
import { bashCli, CountingSink, lines, MiB, offerMany, useCleanups, waitFor, within } from '../helpers/stress.ts';

const { defer, fixture, cliServer } = useCleanups();

async function verifiedRun(conn: Connection, size = MiB, extra = ''): Promise<RunResult> {
  const sink = new CountingSink();
  const r = await within(conn.run(`payload ${size}${extra}`, { stdout: sink, hash: true }), 30_000, `payload ${size}`);
  expect(r.exitCode).toBe(0);
  expect(r.stdoutBytes).toBe(size);
  expect(sink.bytes).toBe(size);
  expect(sink.digest()).toBe(expectedDigest(size));
  return r;
}

/** What the connect attempt threw (or undefined: it connected, and was closed again). */
async function connectError(options: Parameters<typeof connect>[0]): Promise<unknown> {
  return within(
    connect(options).then(
      async (c) => {
        await c.close();
        return undefined;
      },
      (e: unknown) => e,
    ),
    20_000,
    'connect',
  );
}

describe('Authentication', () => {
  it('public-key only by default: a password attempt is refused', async () => {
    const fx = await fixture();
    const err = await connectError({ ...fx.connectOptions, privateKey: undefined, password: 'anything' });
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(fx.server.seen.authAttempts.filter((a) => a.accepted)).toEqual([]);
    // The key still works.
    await verifiedRun(await fx.connect());
  });

  it("password auth when configured (passwords: { u: 'p' }); a wrong password is refused", async () => {
    const fx = await fixture({ passwords: { u: 'p' } });
    const base = { port: fx.server.port, hostKey: fx.server.hostKeyFingerprint, user: 'u' };
    const conn = await connect({ ...base, password: 'p' });
    defer(() => conn.close());
    await verifiedRun(conn);
    expect(await connectError({ ...base, password: 'P' })).toBeInstanceOf(AuthenticationError);
    expect(await connectError({ ...base, password: 'p ' })).toBeInstanceOf(AuthenticationError);
    expect(await connectError({ ...base, user: 'v', password: 'p' })).toBeInstanceOf(AuthenticationError);
    const pw = fx.server.seen.authAttempts.filter((a) => a.method === 'password');
    expect(pw.map((a) => [a.user, a.accepted])).toEqual([
      ['u', true],
      ['u', false],
      ['u', false],
      ['v', false],
    ]);
  });

  it("a wrong key is refused; an unknown user is refused (users: ['alice'])", async () => {
    const fx = await fixture({ users: ['alice'] });
    const stranger = await connectError({ ...fx.connectOptions, user: 'alice', privateKey: generateKeyPair('stranger').privateKey });
    expect(stranger).toBeInstanceOf(AuthenticationError);
    expect((stranger as Error).message).toMatch(/authentication as 'alice' to 127\.0\.0\.1:\d+ refused/);
    expect(await connectError({ ...fx.connectOptions, user: 'mallory' })).toBeInstanceOf(AuthenticationError);
    expect(fx.server.seen.authAttempts.some((a) => a.accepted)).toBe(false);
    const alice = await fx.connect({ user: 'alice' });
    await verifiedRun(alice);
    expect(fx.server.seen.connections.map((c) => c.user).filter(Boolean)).toEqual(['alice']);
  });

  // loopssh issue 17 (point 2): the default is exactly 6, not "at most 6".
  it('more than maxAuthTries (6) wrong passwords on one connection: exactly 6 refused, then disconnected', async () => {
    const fx = await fixture({ passwords: { u: 'right' } });
    const offers = Array.from({ length: 8 }, (_, i) => ({ type: 'password' as const, username: 'u', password: `wrong-${i}` }));
    const r = await offerMany(fx.server, 'u', offers);
    expect(r.closedBy, JSON.stringify(r)).toBe('server');
    // The 6th refusal ends it; a 7th may already be on its way when it does.
    expect(r.offered).toBeGreaterThanOrEqual(6);
    expect(r.offered).toBeLessThanOrEqual(7);
    expect(fx.server.seen.authAttempts.map((a) => [a.user, a.method, a.accepted])).toEqual(Array(6).fill(['u', 'password', false]));
    await verifiedRun(await fx.connect());
  });

  it('more than maxAuthTries (6) wrong keys on one connection: exactly 6 refused, then disconnected', async () => {
    const fx = await fixture();
    const offers = Array.from({ length: 8 }, (_, i) => ({ type: 'publickey' as const, username: 'tester', key: generateKeyPair(`wrong-${i}`).privateKey }));
    const r = await offerMany(fx.server, 'tester', offers);
    expect(fx.server.seen.authAttempts.map((a) => [a.user, a.method, a.accepted])).toEqual(Array(6).fill(['tester', 'publickey', false]));
    // OpenSSH counts every refused key, signed or not (ssh-agent users know
    // "Too many authentication failures"): the server must hang up after the
    // 6th (a 7th may already be on its way when it does).
    expect(r.offered, `offered ${r.offered} wrong keys on one connection; ended: ${r.error}`).toBeGreaterThanOrEqual(6);
    expect(r.offered, `offered ${r.offered} wrong keys on one connection; ended: ${r.error}`).toBeLessThanOrEqual(7);
    expect(r.closedBy, JSON.stringify(r)).toBe('server');
    await verifiedRun(await fx.connect());
  });
});

describe('Host key checking', () => {
  it('the library refuses a host key mismatch, naming both fingerprints', async () => {
    const fx = await fixture();
    const wrong = fingerprint(generateKeyPair('other-host').publicKey);
    const err = await connectError({ ...fx.connectOptions, hostKey: wrong });
    expect(err).toBeInstanceOf(HostKeyError);
    const e = err as HostKeyError;
    expect(e.actual).toBe(fx.server.hostKeyFingerprint);
    expect(e.expected).toEqual([wrong]);
    expect(e.message).toContain(fx.server.hostKeyFingerprint);
    expect(e.message).toContain(wrong);
    // Nothing was sent: no authentication attempt reached the server.
    expect(fx.server.seen.authAttempts).toEqual([]);
  });

  it('the CLI refuses a known_hosts file that lists another key: exit 255, one line naming both fingerprints', async () => {
    const srv = await cliServer();
    const other = generateKeyPair('other-host');
    const wrong = fingerprint(other.publicKey);
    // A wrong --host-key pin has its home in test/cli/exec.test.ts.
    const known = join(srv.dir, 'known_hosts');
    writeFileSync(known, `${knownHostsLine('127.0.0.1', srv.server.port, other.publicKey)}\n`);
    const viaFile = await bashCli('"$@"; echo "cli=$?"', ['get', '160KiB', ...srv.cli, '--known-hosts', known], { timeoutMs: 30_000 });
    expect(viaFile.stdout).toBe('cli=255\n');
    expect(lines(viaFile.stderr)).toHaveLength(1);
    expect(viaFile.stderr).toContain(wrong);
    expect(viaFile.stderr).toContain(srv.server.hostKeyFingerprint);
    expect(srv.server.seen.commands).toEqual([]);
  });
});

describe('Where the server listens', () => {
  const otherIPv4 = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

  function tcpReach(host: string, port: number): Promise<'connected' | string> {
    return within(
      new Promise((resolve) => {
        const s = netConnect(port, host);
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      }),
      10_000,
      `TCP connect to ${host}:${port}`,
    );
  }

  it('binds 127.0.0.1 by default, no warning', async () => {
    const logs: string[] = [];
    const server = await startServer({ port: 0, logger: pino({}, { write: (s: string) => logs.push(s) }) });
    defer(() => server.stop({ graceMs: 100 }));
    expect(server.host).toBe('127.0.0.1');
    expect(await tcpReach('127.0.0.1', server.port)).toBe('connected');
    expect(logs.filter((l) => /not loopback/.test(l))).toEqual([]);
  });

  // loopssh issue 17 (point 6): a missing precondition is a visible skip, not a silent pass.
  it(`bound by default: not reachable via another local address (${otherIPv4 ?? 'none on this machine'})`, async (ctx) => {
    if (!otherIPv4) ctx.skip('no non-loopback IPv4 address on this machine');
    const server = await startServer({ port: 0, logger: pino({ level: 'silent' }) });
    defer(() => server.stop({ graceMs: 100 }));
    expect(await tcpReach(otherIPv4 as string, server.port)).toBe('ECONNREFUSED');
  });

  it('bound to 0.0.0.0: logs a warning (pino level 40) naming the address, and is reachable via other addresses', async () => {
    const logs: string[] = [];
    const server = await startServer({ host: '0.0.0.0', port: 0, logger: pino({}, { write: (s: string) => logs.push(s) }) });
    defer(() => server.stop({ graceMs: 100 }));
    expect(server.host).toBe('0.0.0.0');
    const warnings = logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain('0.0.0.0');
    expect(warnings[0]?.msg).toMatch(/not loopback/);
    expect(await tcpReach('127.0.0.1', server.port)).toBe('connected');
  });

  it(`bound to 0.0.0.0: reachable via another local address (${otherIPv4 ?? 'none on this machine'})`, async (ctx) => {
    if (!otherIPv4) ctx.skip('no non-loopback IPv4 address on this machine');
    const server = await startServer({ host: '0.0.0.0', port: 0, logger: pino({ level: 'silent' }) });
    defer(() => server.stop({ graceMs: 100 }));
    expect(await tcpReach(otherIPv4 as string, server.port)).toBe('connected');
  });
});

describe('Limits', () => {
  it('maxPayloadBytes: a larger payload gets one clear line and exit 2; the limit itself is served', async () => {
    const fx = await fixture({ limits: { maxPayloadBytes: MiB } });
    const conn = await fx.connect();
    for (const cmd of ['payload 2MiB', `payload ${MiB + 1}`, 'payload 1KiB --stderr 2MiB', 'digest 2MiB']) {
      const r = await conn.run(cmd);
      expect(r.exitCode, cmd).toBe(2);
      expect(r.stdoutBytes, cmd).toBe(0);
      expect(lines(r.stderr?.toString() ?? ''), cmd).toEqual([expect.stringMatching(/^loopssh: .*above this server's limit of 1048576 bytes$/)]);
    }
    await verifiedRun(conn, MiB);
  });

  it('maxConnections 3: the 4th gets a clean refusal (ConnectionError, seen.refused 1), the 3 others are unaffected', async () => {
    const fx = await fixture({ limits: { maxConnections: 3 } });
    const conns = await Promise.all([fx.connect(), fx.connect(), fx.connect()]);
    const err = await connectError(fx.connectOptions);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).not.toBeInstanceOf(AuthenticationError);
    expect(fx.server.seen.refused).toBe(1);
    await Promise.all(conns.map((c) => verifiedRun(c, 4 * MiB)));
    expect(conns.every((c) => !c.closed)).toBe(true);
    // A slot frees when a connection closes.
    await (conns[0] as Connection).close();
    const again = await waitFor(async () => {
      const e = await connectError(fx.connectOptions);
      return e === undefined ? 'connected' : undefined;
    }, 10_000, 'a 4th connection once one closed');
    expect(again).toBe('connected');
  });

  it('maxChannelsPerConnection 3: a 4th concurrent run on one connection is refused clearly, the 3 others finish byte-exact', async () => {
    const fx = await fixture({ limits: { maxChannelsPerConnection: 3 } });
    const conn = await fx.connect();
    const sinks = [0, 1, 2, 3].map(() => new CountingSink());
    const outcomes = await within(
      Promise.all(
        sinks.map((sink) =>
          conn.run('payload 4MiB --delay-ms 500', { stdout: sink, hash: true }).then(
            (r) => ({ ok: true as const, r, sink }),
            (e: unknown) => ({ ok: false as const, e, sink }),
          ),
        ),
      ),
      30_000,
      '4 concurrent runs',
    );
    const refused = outcomes.filter((o) => !o.ok);
    expect(refused).toHaveLength(1);
    const e = (refused[0] as { e: unknown }).e;
    expect(e).toBeInstanceOf(ConnectionError);
    expect((e as Error).message).toMatch(/exec refused/);
    for (const o of outcomes.filter((x) => x.ok)) {
      expect(o.sink.bytes).toBe(4 * MiB);
      expect(o.sink.digest()).toBe(expectedDigest(4 * MiB));
    }
    // The channels were released: the connection serves again.
    await verifiedRun(conn);
  });

  // Login grace (silent, garbage, version-only and unauthenticated peers) has its home in test/stress/malformed.test.ts.

  // Margins sized for a loaded 2-core CI machine: the keepalive comes 7×
  // as often as the idle timeout, and the slow transfer lasts ~3 timeouts.
  it('idleTimeoutMs 1500: a silent connection is closed; a slow transfer and a keepalive keep theirs', async () => {
    const fx = await fixture({ limits: { idleTimeoutMs: 1500 } });
    const silent = await fx.connect({ keepaliveIntervalMs: 0 });
    const alive = await fx.connect({ keepaliveIntervalMs: 200 });
    const busy = await fx.connect({ keepaliveIntervalMs: 0 });
    // 8 MiB at 2 MB/s: about 4 s, nearly three times the idle timeout, never silent.
    const transfer = verifiedRun(busy, 8 * MiB, ' --rate 2MB');
    await waitFor(() => silent.closed, 15_000, 'the silent connection to be closed');
    await transfer;
    expect(busy.closed).toBe(false);
    expect(alive.closed).toBe(false);
    await verifiedRun(alive);
  });
});

describe('No command reaches a shell', () => {
  it('shell syntax is only words: nothing is created, each request fails with exit 2 and one line', async () => {
    const fx = await fixture();
    const { dir, remove } = tempDir('loopssh-noshell-');
    defer(remove);
    const xBefore = readdirSync('/tmp').filter((f) => f.startsWith('x-'));
    const f = (name: string): string => join(dir, name);
    const requests = [
      'payload 1; touch /tmp/x-$RANDOM',
      `payload 1; touch ${f('semicolon')}`,
      `payload 1 $(touch ${f('dollar')})`,
      `payload 1 \`touch ${f('backtick')}\``,
      `payload 1 && touch ${f('and')}`,
      `payload 1 || touch ${f('or')}`,
      `payload 1 | touch ${f('pipe')}`,
      `payload 1\ntouch ${f('newline')}`,
      `payload 1 > ${f('redirect')}`,
      `payload 1 & touch ${f('background')}`,
      `touch ${f('bare')}`,
      `sh -c 'touch ${f('sh')}'`,
      `$(touch ${f('subst-first')})`,
      `payload "1; touch ${f('quoted')}"`,
    ];
    const conn = await fx.connect();
    for (const command of requests) {
      const r = await conn.run(command);
      expect(r.exitCode, command).toBe(2);
      expect(r.stdoutBytes, command).toBe(0);
      expect(lines(r.stderr?.toString() ?? ''), command).toEqual([expect.stringMatching(/^loopssh: /)]);
    }
    // Through the CLI and OpenSSH's ssh too: the string travels as is.
    const srvCli = await cliServer();
    const viaCli = await bashCli('"$@"; echo "cli=$?"', ['exec', ...srvCli.cli, '--', `payload 1; touch ${f('cli')}`], { timeoutMs: 30_000 });
    expect(viaCli.stdout).toBe('cli=2\n');
    const ssh = peer('ssh');
    if (ssh) {
      const r = await runProcess(ssh, [...fx.server.sshArgs(), `payload 1 && touch ${f('openssh')}`], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(2);
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(readdirSync(dir)).toEqual([]);
    expect(readdirSync('/tmp').filter((x) => x.startsWith('x-'))).toEqual(xBefore);
    expect(fx.server.seen.commands.length).toBe(requests.length + (ssh ? 1 : 0));
    // The same requests were neither run nor mangled: argv shows the literal words.
    expect(fx.server.seen.commands[0]?.argv).toEqual(['payload', '1;', 'touch', '/tmp/x-$RANDOM']);
  });
});
