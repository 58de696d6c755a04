/**
 * Hostile peers and shared machines: nothing exhausts, crashes or leaks
 * (loopssh issue 15; the server parts of points 1, 2, 3 and 9).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthenticationError, ConnectionError } from '../../src/client/index.ts';
import type { CommandContext, CommandHandler } from '../../src/server/index.ts';
import { expectedDigest, startFixture, type Fixture } from '../helpers/fixture.ts';

const { Client: RawClient } = ssh2;
const MiB = 1024 * 1024;

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});

/** A fresh connection runs a verified 1 MiB payload: the server is alive and serving. */
async function serverStillServes(f: Fixture): Promise<void> {
  const conn = await f.connect();
  const r = await conn.run('payload 1MiB', { stdout: 'ignore', hash: true });
  expect(r.exitCode).toBe(0);
  expect(r.stdoutSha256).toBe(expectedDigest(MiB));
  await conn.close();
}

/** A connected, authenticated raw ssh2 client (for what the loopssh client would never do). */
function rawClient(f: Fixture, extra: Partial<ssh2.ConnectConfig> = {}): Promise<ssh2.Client> {
  const opts = f.connectOptions;
  return new Promise((resolve, reject) => {
    const raw = new RawClient();
    raw.once('ready', () => resolve(raw));
    raw.once('error', reject);
    raw.connect({ host: '127.0.0.1', port: f.server.port, username: 'tester', privateKey: opts.privateKey, hostVerifier: () => true, ...extra });
  });
}

describe('a handler writing after its client vanished (issue 15.2)', () => {
  // loopssh issue 15, point 2: ctx.stdout had no 'error' listener until the
  // handler returned, so ChannelClosedError was an unhandled 'error' event
  // and the whole server process died.
  it.each(['stdout', 'stderr'] as const)('ctx.%s: the signal aborts, later writes report an error, the process and other connections live on', async (stream) => {
    let entered!: () => void;
    const started = new Promise<void>((resolve) => (entered = resolve));
    let outcome!: (o: { aborted: boolean; writeError: unknown }) => void;
    const finished = new Promise<{ aborted: boolean; writeError: unknown }>((resolve) => (outcome = resolve));
    const chatty: CommandHandler = async (ctx: CommandContext) => {
      const out = ctx[stream];
      const piece = Buffer.alloc(64 * 1024, 0x61);
      // Write without waiting, as a careless handler does, until the client is gone.
      entered();
      while (!ctx.signal.aborted) {
        out.write(piece);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const writeError = await new Promise<unknown>((resolve) => out.write(piece, (err) => resolve(err)));
      outcome({ aborted: ctx.signal.aborted, writeError });
      // A handler that ignores it all and returns normally.
      return 0;
    };
    fx = await startFixture({ commands: { chatty } });
    const bystander = await fx.connect();
    const victim = await rawClient(fx);
    // (Its exec reply may never arrive: the socket is cut at once.)
    victim.exec('chatty', () => {});
    await started;
    // The client vanishes: its socket is cut, no CHANNEL_CLOSE, no DISCONNECT.
    victim.destroy();
    const o = await finished;
    expect(o.aborted).toBe(true);
    expect(o.writeError).toBeInstanceOf(Error);
    // The other connection, opened before, still works, and so do new ones.
    const r = await bystander.run('payload 1MiB', { stdout: 'ignore', hash: true });
    expect(r.stdoutSha256).toBe(expectedDigest(MiB));
    await serverStillServes(fx);
    expect(fx.server.seen.commands.find((c) => c.command === 'chatty')?.exit).toBe('closed');
  });
});
