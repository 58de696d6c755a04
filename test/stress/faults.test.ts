// Faults mid-transfer: either process killed, the connection cut from either
// side or turned into a black hole, a peer that stops reading, and stop()
// under load. Every run ends (no hang), fails loudly with byte counts instead
// of a quiet success, leaves no partial output file, and the server goes on
// serving verified transfers.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelLostError, connect, ConnectionError, RunTimeoutError, type Connection, type RunResult } from '../../src/client/index.ts';
import type { CommandContext } from '../../src/server/index.ts';
import { expectedDigest, startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import {
  childEnv,
  cliGet,
  collectGroup,
  CountingSink,
  lines,
  MiB,
  spawnGroup,
  startProxy,
  useCleanups,
  waitFor,
  within,
  type Proxy,
} from '../helpers/stress.ts';
import { BIN, killGroup, ROOT } from '../helpers/processes.ts';
import { referenceBytes } from '../helpers/oracle.ts';

const { Client: RawClient } = ssh2;

/** Bytes of the default `lines` payload from offset 0 (for prefix checks). */
function payloadPrefix(n: number): Buffer {
  return referenceBytes({ size: n });
}

/** A library run that must succeed byte-exact. */
async function verifiedRun(conn: Connection, size: number): Promise<RunResult> {
  const sink = new CountingSink();
  const r = await within(conn.run(`payload ${size}`, { stdout: sink, hash: true }), 30_000, `payload ${size}`);
  expect(r.exitCode).toBe(0);
  expect(r.stdoutBytes).toBe(size);
  expect(sink.bytes).toBe(size);
  expect(sink.digest()).toBe(expectedDigest(size));
  expect(r.stdoutSha256).toBe(expectedDigest(size));
  return r;
}

/** What a failed run must look like: an error with the facts, what arrived an exact prefix. */
async function expectLost(run: Promise<RunResult>, sink: CountingSink, boundMs: number): Promise<ChannelLostError | ConnectionError> {
  const err = await within(
    run.then(
      (r) => {
        throw new Error(`run succeeded unexpectedly: ${JSON.stringify(r)}`);
      },
      (e: unknown) => e,
    ),
    boundMs,
    'the run after the fault',
  );
  expect(err instanceof ChannelLostError || err instanceof ConnectionError, `got ${String(err)}`).toBe(true);
  if (err instanceof ChannelLostError) {
    expect(err.exitCode).toBeNull();
    expect(err.stdoutBytes).toBe(sink.bytes);
    expect(err.message).toContain(`${err.stdoutBytes} stdout and ${err.stderrBytes} stderr bytes arrived`);
  }
  // Lost, not corrupted: what reached the target is the payload's first bytes.
  expect(sink.digest()).toBe(expectedDigest(sink.bytes));
  return err as ChannelLostError | ConnectionError;
}

describe('Faults mid-transfer', () => {
  const { defer, fixture, cliServer } = useCleanups();

  it('server process SIGKILLed mid-transfer: client exits 255 with one line of bytes arrived; no FILE, no partial', async () => {
    const { dir, remove } = tempDir('loopssh-faults-');
    defer(remove);
    const keys = join(dir, 'keys');
    const server = spawnGroup(process.execPath, [BIN, 'serve', '--port', '0', '--keys', keys]);
    defer(() => killGroup(server, 'SIGKILL'));
    let serverErr = '';
    server.stderr?.setEncoding('utf8').on('data', (s: string) => (serverErr += s));
    server.stdout?.resume();
    const listening = await waitFor(() => /^listening (\S+):(\d+) hostkey (SHA256:\S+)$/m.exec(serverErr) ?? undefined, 20_000, `serve's listening line (got ${serverErr})`);
    expect(listening[1]).toBe('127.0.0.1');
    const port = listening[2] as string;

    const out = join(dir, 'out.bin');
    const client = spawnGroup(process.execPath, [BIN, 'get', '1GiB', '--rate', '50MB', '-o', out, '--port', port, '--keys', keys]);
    defer(() => killGroup(client, 'SIGKILL'));
    const result = collectGroup(client, 30_000);
    // Kill once the partial file holds more than 1 MiB.
    await waitFor(() => {
      const partial = readdirSync(dir).find((f) => f.endsWith('.loopssh-partial'));
      return partial !== undefined && statSync(join(dir, partial)).size > MiB;
    }, 20_000, 'the partial file to grow past 1 MiB');
    killGroup(server, 'SIGKILL');
    const r = await result;
    expect(r.timedOut, 'the client hung after the server died').toBe(false);
    expect(r.code).toBe(255);
    expect(lines(r.stderr), r.stderr).toHaveLength(1);
    const m = /(\d+) stdout and (\d+) stderr bytes arrived/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const arrived = Number(m?.[1]);
    expect(arrived).toBeGreaterThan(MiB);
    expect(arrived).toBeLessThan(1024 * MiB);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('out.bin'))).toEqual([]);
  });

  it('client process SIGKILLed mid-transfer: the server frees the channel (exit "closed") and serves a verified transfer right after', async () => {
    const srv = await cliServer();
    const client = spawn(process.execPath, [BIN, 'get', '1GiB', '--rate', '50MB', ...srv.cli], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(), cwd: ROOT, detached: true });
    defer(() => killGroup(client, 'SIGKILL'));
    let received = 0;
    client.stdout?.on('data', (c: Buffer) => (received += c.length));
    client.stderr?.resume();
    const exited = new Promise((resolve) => client.once('close', resolve));
    await waitFor(() => received > MiB, 20_000, 'the client to receive 1 MiB');
    killGroup(client, 'SIGKILL');
    await within(exited, 10_000, 'the killed client');
    const record = srv.server.seen.commands[0];
    await waitFor(() => record?.exit === 'closed', 10_000, `seen.commands[0].exit to become 'closed' (is ${JSON.stringify(record?.exit)})`);
    const after = await cliGet(srv.cli, 16 * MiB);
    expect(after.timedOut).toBe(false);
    expect(after.exit).toBe('0');
    expect(after.report.bytes).toBe(16 * MiB);
    expect(after.report.sha256).toBe(expectedDigest(16 * MiB));
  });

  it('connection cut by the server (handler calls ctx.dropConnection()): the run rejects with byte counts, no hang', async () => {
    const fx = await fixture({
      commands: {
        'cut-after': async (ctx: CommandContext) => {
          await ctx.output.write('stdout', payloadPrefix(4 * MiB));
          ctx.dropConnection();
        },
      },
    });
    const conn = await fx.connect();
    const sink = new CountingSink();
    await expectLost(conn.run('cut-after', { stdout: sink, hash: true }), sink, 15_000);
    expect(sink.bytes).toBeLessThanOrEqual(4 * MiB);
    await waitFor(() => fx.server.seen.commands[0]?.exit === 'dropped', 5_000, "seen exit 'dropped'");
    await waitFor(() => conn.closed, 5_000, 'the client connection to be closed');
    await verifiedRun(await fx.connect(), 16 * MiB);
  });

  // A channel dropped by the server (ctx.drop()) has its home in test/server/server.test.ts.

  describe('through a loopback TCP proxy', () => {
    let proxy: Proxy;
    let fx: Fixture;
    beforeEach(async () => {
      fx = await fixture({ limits: { stallTimeoutMs: 1000 } });
      proxy = await startProxy(fx.server.port);
      defer(() => proxy.close());
    });

    it("connection cut on the client's side (RST): the run rejects with byte counts, no hang; the server frees the channel", async () => {
      const conn = await connect({ ...fx.connectOptions, port: proxy.port });
      defer(() => conn.close());
      const sink = new CountingSink();
      const run = conn.run('payload 1GiB --rate 50MB', { stdout: sink, hash: true });
      await waitFor(() => sink.bytes > 2 * MiB, 20_000, '2 MiB to arrive');
      proxy.cut();
      const err = await expectLost(run, sink, 15_000);
      expect(err.message).toMatch(/connection lost|ECONNRESET/);
      await waitFor(() => fx.server.seen.commands[0]?.exit === 'closed', 10_000, "the server's exit 'closed'");
      await verifiedRun(await fx.connect(), 16 * MiB);
    });

    it('connection turned into a black hole: keepalive (250 ms × 3) ends the run with byte counts; the server closes the stalled channel', async () => {
      const conn = await connect({ ...fx.connectOptions, port: proxy.port, keepaliveIntervalMs: 250 });
      defer(() => conn.close());
      const sink = new CountingSink();
      const run = conn.run('payload 1GiB --rate 50MB', { stdout: sink, hash: true });
      await waitFor(() => sink.bytes > 2 * MiB, 20_000, '2 MiB to arrive');
      proxy.freeze();
      await expectLost(run, sink, 20_000);
      // The server never hears from the client again: its stall watchdog frees the channel.
      await waitFor(() => fx.server.seen.commands[0]?.exit === 'stalled', 15_000, "the server's exit 'stalled'");
      await verifiedRun(await fx.connect(), 16 * MiB);
    });
  });

  it('a peer that stops reading (raw ssh2 client, stream paused): with stallTimeoutMs 500 the server closes the channel as "stalled", then serves others', async () => {
    const fx = await fixture({ limits: { stallTimeoutMs: 500 } });
    const o = fx.server.clientOptions();
    const raw = new RawClient();
    defer(() => void raw.end());
    await within(
      new Promise<void>((resolve, reject) => {
        raw.once('ready', () => resolve());
        raw.once('error', reject);
        raw.connect({ host: o.host, port: o.port, username: o.user, privateKey: o.privateKey });
      }),
      10_000,
      'raw ssh2 connect',
    );
    raw.on('error', () => {});
    const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
      raw.exec('payload 64MiB', (err, stream) => (err ? reject(err) : resolve(stream))),
    );
    // Never read: no 'data' listener, paused; ssh2 stops adjusting the window.
    channel.pause();
    channel.stderr.pause();
    const record = await waitFor(() => fx.server.seen.commands[0], 5_000, 'the command record');
    await waitFor(() => record.exit === 'stalled', 10_000, `exit 'stalled' (is ${JSON.stringify(record.exit)})`);
    await verifiedRun(await fx.connect(), 16 * MiB);
  });

  it('a command that never reads stdin while the client uploads 64 MiB: idleTimeoutMs 500 rejects with RunTimeoutError', async () => {
    const fx = await fixture({
      commands: {
        hold: (ctx: CommandContext) =>
          new Promise<number>((resolve) => {
            if (ctx.signal.aborted) resolve(0);
            ctx.signal.addEventListener('abort', () => resolve(0), { once: true });
          }),
      },
    });
    const conn = await fx.connect();
    let pulled = 0;
    const upload = Readable.from(
      (function* () {
        for (let i = 0; i < 1024; i++) {
          pulled += 64 * 1024;
          yield Buffer.alloc(64 * 1024, 0x61);
        }
      })(),
      { objectMode: false },
    );
    const err = await within(
      conn.run('hold', { stdin: upload, idleTimeoutMs: 500 }).then(
        () => undefined,
        (e: unknown) => e,
      ),
      15_000,
      'the run against a command that never reads',
    );
    expect(err).toBeInstanceOf(RunTimeoutError);
    expect((err as RunTimeoutError).message).toMatch(/idle timeout/);
    expect(pulled).toBeLessThan(64 * MiB);
    expect(conn.closed).toBe(false);
    await verifiedRun(conn, MiB);
    // The client closed the channel: the server must abort the handler
    // (ctx.signal) and record how it ended, even though stdin was never read.
    await waitFor(() => fx.server.seen.commands[0]?.exit !== undefined, 5_000, `the server to end 'hold' after the client closed its channel (exit is ${JSON.stringify(fx.server.seen.commands[0]?.exit)})`);
    expect(fx.server.seen.commands[0]?.exit).toBe('closed');
  });
});

describe('stop() under load', () => {
  const CLIENTS = 5;
  const SIZE = 256 * MiB;
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.stop();
    fx = undefined;
  });

  const tcpHandles = (): number => process.getActiveResourcesInfo().filter((t) => t === 'TCPSocketWrap' || t === 'TCPServerWrap').length;

  it(`${CLIENTS} clients mid-transfer of payload 256MiB --rate 100MB, stop({ graceMs: 300 }): refuses new connections, every run ends (lost with counts, or byte-exact), no TCP handle left`, async () => {
    const baseline = tcpHandles();
    fx = await startFixture();
    const server = fx.server;
    const conns = await Promise.all(Array.from({ length: CLIENTS }, () => fx!.connect()));
    const sinks = conns.map(() => new CountingSink());
    const runs = conns.map((c, i) =>
      c.run(`payload ${SIZE} --rate 100MB`, { stdout: sinks[i], hash: true }).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      ),
    );
    await waitFor(() => sinks.every((s) => s.bytes > MiB), 30_000, 'every client to receive 1 MiB');

    const stopping = server.stop({ graceMs: 300 });
    let stopped = false;
    void stopping.then(() => (stopped = true));
    // Right after stop() began: a new connection is refused.
    const late = await within(
      connect({ ...fx.connectOptions, readyTimeoutMs: 5000 }).then(
        async (c) => {
          await c.close();
          return undefined;
        },
        (e: unknown) => e,
      ),
      10_000,
      'a connection attempt during stop()',
    );
    expect(late).toBeInstanceOf(ConnectionError);

    const outcomes = await within(Promise.all(runs), 15_000, 'the in-flight runs after stop()');
    await within(stopping, 15_000, 'stop()');
    expect(stopped).toBe(true);
    outcomes.forEach((o, i) => {
      const sink = sinks[i] as CountingSink;
      if (o.ok) {
        expect(o.r.stdoutBytes).toBe(SIZE);
        expect(sink.digest()).toBe(expectedDigest(SIZE));
      } else {
        expect(o.e instanceof ChannelLostError || o.e instanceof ConnectionError, String(o.e)).toBe(true);
        expect(sink.bytes).toBeLessThan(SIZE);
        if (o.e instanceof ChannelLostError) expect(o.e.stdoutBytes).toBe(sink.bytes);
        expect(sink.digest()).toBe(expectedDigest(sink.bytes));
      }
    });
    // 300 ms of grace cannot carry 256 MiB at 100 MB/s: at least one run was cut.
    expect(outcomes.some((o) => !o.ok)).toBe(true);
    // The server's record: each command ended, cut ones as 'closed'.
    const cmds = server.seen.commands.filter((c) => c.argv[0] === 'payload');
    expect(cmds).toHaveLength(CLIENTS);
    await waitFor(() => cmds.every((c) => c.exit !== undefined), 5_000, 'every command record to end');
    const finished = outcomes.filter((o) => o.ok).length;
    expect(cmds.filter((c) => c.exit === 'closed')).toHaveLength(CLIENTS - finished);
    expect(cmds.filter((c) => typeof c.exit === 'object' && 'code' in c.exit && c.exit.code === 0)).toHaveLength(finished);
    await Promise.all(conns.map((c) => c.close()));
    await waitFor(() => tcpHandles() <= baseline, 5_000, `TCP handles back to ${baseline} (now ${tcpHandles()})`);
  });

  it('a process that starts a server, loads it with 2 clients and calls stop({ graceMs: 300 }) exits on its own (no open handles)', async () => {
    const { dir, remove } = tempDir('loopssh-stop-');
    try {
      const script = join(dir, 'stop-under-load.mts');
      const src = (p: string): string => pathToFileURL(join(ROOT, p)).href;
      writeFileSync(
        script,
        `import { startServer } from '${src('src/server/index.ts')}';
import { connect } from '${src('src/client/index.ts')}';
import { createLogger } from '${src('src/server/log.ts')}';
import { Writable } from 'node:stream';
const server = await startServer({ port: 0, logger: createLogger('silent') });
const conns = await Promise.all([0, 1].map(() => connect(server.clientOptions())));
let bytes = 0;
const runs = conns.map((c) => c.run('payload 256MiB --rate 100MB', { stdout: new Writable({ write(ch, _e, cb) { bytes += ch.length; cb(); } }) }).then(() => 'ok', (e) => e.name));
while (bytes < 2 * 1024 * 1024) await new Promise((r) => setTimeout(r, 10));
await server.stop({ graceMs: 300 });
const outcomes = await Promise.all(runs);
await Promise.all(conns.map((c) => c.close()));
console.log('stopped ' + outcomes.join(',') + ' ' + server.seen.commands.map((c) => JSON.stringify(c.exit)).join(','));
`,
      );
      // No process.exit() anywhere: the process ends only when nothing holds the loop.
      const child = spawnGroup(process.execPath, ['--import', 'tsx', script]);
      const r = await collectGroup(child, 30_000);
      expect(r.timedOut, `the process did not exit on its own; stdout: ${r.stdout} stderr: ${r.stderr}`).toBe(false);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^stopped (ChannelLostError|ConnectionError|ok),(ChannelLostError|ConnectionError|ok) /m);
    } finally {
      remove();
    }
  });
});
