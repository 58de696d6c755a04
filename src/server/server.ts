/**
 * The embedded loopssh server: ssh2 on loopback, exec channels only, no shell.
 *
 * This module only wires the parts together: keys (server-keys.ts), the
 * accept gate (listener.ts), each connection (connection.ts), each command
 * (exec.ts) and what clients and tests are handed (fixture.ts).
 */
import { isIP } from 'node:net';
import ssh2 from 'ssh2';
import { UsageError } from '../util/flags.js';
import { clip } from '../util/text.js';
import { createLogger } from './log.js';
import { DEFAULT_LIMITS, type ServerLimits } from './commands.js';
import { serveConnection, type ConnectionScope } from './connection.js';
import { commandTable } from './exec.js';
import { clientFixture } from './fixture.js';
import { AcceptGate } from './listener.js';
import { hostPublicKey, loadKeys } from './server-keys.js';
import type { ServerHandle, ServerOptions, ServerRecord, StopOptions } from './types.js';

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
  if (isIP(host) === 0 && host !== 'localhost') throw new UsageError(`--host must be an IP address, not '${clip(host)}'`);
  const keys = await loadKeys(options);
  const hostKey = hostPublicKey(keys.hostKey);
  const seen: ServerRecord = { connections: [], authAttempts: [], commands: [], refused: 0 };
  const gate = new AcceptGate(limits, log, seen);
  const scope: ConnectionScope = {
    limits,
    log,
    seen,
    gate,
    commands: commandTable(options.commands),
    authorized: keys.authorized,
    passwords: options.passwords,
    users: options.users,
    running: new Set(),
  };

  const server = new ssh2.Server({ hostKeys: [keys.hostKey], algorithms: options.algorithms, ident: 'loopssh' }, (client, info) => {
    if (gate.admit(client, info)) serveConnection(scope, client, info);
  });
  gate.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err: Error) => log.error({ err }, 'server error'));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
    log.warn({ host, port }, `listening on ${host}, which is not loopback: reachable from other machines`);
  }
  const fixture = clientFixture(host, port, hostKey, keys.clientKey);

  let stopped: Promise<void> | undefined;
  const stop = (stopOptions: StopOptions = {}): Promise<void> => {
    stopped ??= (async () => {
      gate.beginStop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
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
    seen,
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
