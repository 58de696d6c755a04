/**
 * The public API is chosen, not leaked (loopssh issue 13.10): each entry
 * point exports exactly these runtime names, so an internal helper cannot
 * become API by a stray `export *`; and ServerOptions.logger takes any logger
 * with the methods the server calls, not only pino's type.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle, type ServerLogger } from '../../src/server/index.ts';

const SERVER = [
  'ChannelClosedError',
  'ChannelOutput',
  'ChannelStalledError',
  'DEFAULT_LIMITS',
  'DEFAULT_RECORD_LIMIT',
  'EXIT_SIGNALS',
  'UsageError',
  'startServer',
  'startServerWorker',
];
const CLIENT = [
  'AuthenticationError',
  'ChannelLostError',
  'Connection',
  'ConnectionError',
  'ExitStatusError',
  'HostKeyError',
  'LoopsshError',
  'MaxBufferError',
  'RunAbortedError',
  'RunError',
  'RunTimeoutError',
  'TargetError',
  'TransferError',
  'TransferLengthError',
  'connect',
  'exec',
];
const ROOT_ONLY = ['FlushTimeoutError', 'FlushTracker', 'PrematureCloseError', 'createPayloadReader', 'payloadDigest'];

const AUDIT = ['READERS', 'SCENARIOS', 'VERDICTS', 'audit', 'formatJson', 'formatMarkdown', 'formatTable'];

const names = (m: object): string[] => Object.keys(m).sort();

describe('entry points', () => {
  it("'loopssh/server' exports the server API and nothing else", async () => {
    expect(names(await import('../../src/server/index.ts'))).toEqual([...SERVER].sort());
  });

  it("'loopssh/client' exports the client API and nothing else", async () => {
    expect(names(await import('../../src/client/index.ts'))).toEqual([...CLIENT].sort());
  });

  it("'loopssh/audit' exports the audit library and nothing else", async () => {
    expect(names(await import('../../src/audit/index.ts'))).toEqual([...AUDIT].sort());
  });

  it("'loopssh' exports both, the FlushTracker and the payload digests, and nothing else", async () => {
    expect(names(await import('../../src/index.ts'))).toEqual([...SERVER, ...CLIENT, ...ROOT_ONLY].sort());
  });
});

describe('ServerOptions.logger', () => {
  let server: ServerHandle | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('takes a logger that is not pino, and logs through it', async () => {
    const lines: { level: string; fields: object; message: string }[] = [];
    const logger: ServerLogger = {
      error: (fields, message) => void lines.push({ level: 'error', fields, message }),
      warn: (fields, message) => void lines.push({ level: 'warn', fields, message }),
      info: (fields, message) => void lines.push({ level: 'info', fields, message }),
      debug: (fields, message) => void lines.push({ level: 'debug', fields, message }),
      child: () => logger,
    };
    server = await startServer({ host: '0.0.0.0', port: 0, logger });
    expect(lines).toEqual([
      { level: 'warn', fields: { host: '0.0.0.0', port: server.port }, message: expect.stringMatching(/^listening on 0\.0\.0\.0, which is not loopback/) },
    ]);
  });
});
