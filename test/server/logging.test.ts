/**
 * Server logs as pino intends (loopssh issue 13, point 7): one child logger
 * per connection carries the peer's address, errors go under `err` so pino's
 * serializer runs, and a bad LOOPSSH_LOG_LEVEL is one line, not pino's throw.
 */
import { connect as tcpConnect } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthenticationError } from '../../src/client/index.ts';
import { UsageError } from '../../src/server/index.ts';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { createLogger } from '../../src/server/log.ts';
import { startFixture, type Fixture } from '../helpers/fixture.ts';

/** A pino logger that keeps its lines, parsed, in memory. */
function memoryLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

describe('server logging', () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    vi.unstubAllEnvs();
    await fx?.stop();
    fx = undefined;
  });

  it('each connection logs through a child logger that names the peer as remote ip:port', async () => {
    const { logger, lines } = memoryLogger();
    fx = await startFixture({ logger, limits: { maxAuthTries: 1 } });
    const stranger = generateKeyPair('stranger');
    await expect(fx.connect({ privateKey: stranger.privateKey })).rejects.toBeInstanceOf(AuthenticationError);
    const line = lines.find((l) => l.msg === 'too many authentication failures: closing');
    expect(line).toBeDefined();
    expect(line?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(line?.user).toBe('tester');
  });

  it('a protocol error is logged with the error serialized under err (type, message, stack)', async () => {
    const { logger, lines } = memoryLogger();
    fx = await startFixture({ logger });
    const { port } = fx.server;
    const socket = tcpConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    // A version line, then a packet length far over the limit: ssh2 reports a protocol error.
    socket.write('SSH-2.0-garbage\r\n');
    socket.write(Buffer.alloc(64, 0xff));
    await new Promise((resolve) => socket.once('connect', resolve));
    const localPort = socket.localPort;
    // Read what the server sends: a paused socket never emits 'close'.
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    const line = lines.find((l) => l.msg === 'connection error');
    expect(line).toBeDefined();
    const err = line?.err as { type?: string; message?: string; stack?: string };
    expect(err.type).toBe('Error');
    expect(typeof err.message).toBe('string');
    expect(err.stack).toContain(err.message);
    expect(line?.remote).toBe(`127.0.0.1:${localPort}`);
  });

  it('a LOOPSSH_LOG_LEVEL pino does not know is a one-line UsageError naming the variable', () => {
    vi.stubEnv('LOOPSSH_LOG_LEVEL', 'loud');
    expect(() => createLogger()).toThrow(UsageError);
    expect(() => createLogger()).toThrow(/^LOOPSSH_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got 'loud'$/);
  });

  it('a known LOOPSSH_LOG_LEVEL wins over the level asked for', () => {
    vi.stubEnv('LOOPSSH_LOG_LEVEL', 'debug');
    expect(createLogger('warn').level).toBe('debug');
  });
});
