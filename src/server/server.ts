/**
 * The embedded loopssh server: ssh2 on loopback, exec channels only, no shell.
 *
 * This module only wires the parts together: keys (server-keys.ts), the
 * accept gate (listener.ts), each connection (connection.ts), each command
 * (exec.ts) and what clients and tests are handed (fixture.ts).
 */
import { isIP } from 'node:net';
import ssh2, { type Algorithms } from 'ssh2';
import { patchServerConnection } from '../ssh2/index.js';
import { UsageError } from '../util/flags.js';
import { clip } from '../util/text.js';
import { createLogger } from './log.js';
import { DEFAULT_LIMITS, type ServerLimits } from './commands.js';
import { serveConnection, type ConnectionScope } from './connection.js';
import { commandTable } from './exec.js';
import { clientFixture } from './fixture.js';
import { AcceptGate } from './listener.js';
import { hostPublicKey, loadKeys } from './server-keys.js';
import { DEFAULT_RECORD_LIMIT, Recorder } from './record.js';
import type { ServerHandle, ServerOptions, StopOptions } from './types.js';

/**
 * Starts the server and resolves once it listens.
 *
 * @example
 * ```ts
 * await using server = await startServer({ port: 0 });
 * console.log(server.port, server.hostKeyFingerprint);
 * ```
 */
export async function startServer(options: ServerOptions = {}): Promise<ServerHandle> {
  const log = options.logger ?? createLogger('warn', 'loopssh-server');
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const host = options.host ?? '127.0.0.1';
  if (isIP(host) === 0 && host !== 'localhost') throw new UsageError(`host must be an IP address or 'localhost', not '${clip(host)}'`);
  const keys = await loadKeys(options);
  for (const line of keys.refusedLines) log.warn({}, line);
  const hostKey = hostPublicKey(keys.hostKey);
  const recorder = new Recorder(options.recordLimit ?? DEFAULT_RECORD_LIMIT);
  const gate = new AcceptGate(limits, log, recorder.seen);
  const scope: ConnectionScope = {
    limits,
    log,
    recorder,
    gate,
    commands: commandTable(options.commands),
    authorized: keys.authorized,
    passwords: options.passwords,
    users: options.users,
    running: new Set(),
    takeOverExec: options.takeOverExec,
  };

  // Compression is off unless asked for: on loopback it costs CPU and buys nothing.
  const algorithms: Algorithms = { compress: ['none'], ...options.algorithms };
  const server = new ssh2.Server({ hostKeys: [keys.hostKey], algorithms, ident: 'loopssh' }, (client, info) => {
    patchServerConnection(client);
    if (gate.admit(client, info)) serveConnection(scope, client, info);
  });
  const listener = gate.attach(server);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port ?? 0, host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  listener.on('error', (err: Error) => log.error({ err }, 'server error'));
  const address = listener.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
    log.warn({ host, port }, `listening on ${host}, which is not loopback: reachable from other machines`);
  }
  const fixture = clientFixture(host, port, hostKey, keys.clientKey);

  let stopped: Promise<void> | undefined;
  const stop = (stopOptions: StopOptions = {}): Promise<void> => {
    stopped ??= (async () => {
      gate.beginStop();
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      await settledWithin([...scope.running], stopOptions.graceMs ?? 5000);
      await gate.closeAll();
      await closed;
      fixture.cleanup();
    })();
    return stopped;
  };

  return {
    host,
    port,
    hostKeyFingerprint: fixture.hostKeyFingerprint,
    clientOptions: fixture.clientOptions,
    sshArgs: fixture.sshArgs,
    hostPublicKey: hostKey.line,
    keyFiles: keys.keyFiles,
    limits,
    seen: recorder.seen,
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}

/** Waits until every task settled or `ms` passed, whichever comes first. */
async function settledWithin(tasks: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(tasks), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
