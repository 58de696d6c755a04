/**
 * The embedded loopssh server: ssh2 on loopback, exec channels only, no shell.
 *
 * This module only wires the parts together: keys (server-keys.ts), the
 * accept gate (listener.ts), each connection (connection.ts), each command
 * (exec.ts) and what clients and tests are handed (fixture.ts).
 */
import { isIP } from 'node:net';
import ssh2, { type Algorithms, type KexAlgorithm } from 'ssh2';
import { checkSessionWindow, limitServerSessionWindows, patchServerConnection } from '../ssh2/index.js';
import { UsageError } from '../util/flags.js';
import { isLoopback } from '../util/loopback.js';
import { clip } from '../util/text.js';
import { createLogger } from './log.js';
import { DEFAULT_LIMITS, type ServerLimits } from './commands.js';
import { serveConnection, type ConnectionScope } from './connection.js';
import { commandTable } from './exec.js';
import { DiskJail } from './sftp/disk.js';
import { clientFixture } from './fixture.js';
import { AcceptGate } from './listener.js';
import { hostPublicKey, loadKeys } from './server-keys.js';
import { BufferBudget } from './buffer-budget.js';
import { PasswordBudget } from './password-budget.js';
import { DEFAULT_RECORD_LIMIT, Recorder } from './record.js';
import type { ServerHandle, ServerOptions, StopOptions } from './types.js';

/**
 * Key exchanges offered unless `algorithms.kex` says otherwise: ssh2's own
 * default order with the finite-field Diffie-Hellman groups left out. Those
 * are chosen before authentication and cost the single thread dearly
 * (group18: ~57 ms per handshake), so any client could make the server do
 * that work for free; every peer loopssh is tested with speaks curve25519.
 */
const DEFAULT_KEX: readonly KexAlgorithm[] = [
  'curve25519-sha256@libssh.org',
  'curve25519-sha256',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
];

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
  // One jail for /disk, shared by the SFTP subsystem and legacy scp.
  const sftpDisk = options.sftpDirectory ? new DiskJail(options.sftpDirectory) : undefined;
  const scope: ConnectionScope = {
    limits,
    log,
    recorder,
    gate,
    commands: commandTable(new BufferBudget(limits.maxBufferBytes, (peak) => (recorder.seen.bufferBytesPeak = peak)), options.commands, recorder, options.sftpFiles, sftpDisk),
    authorized: keys.authorized,
    passwords: options.passwords,
    users: options.users,
    passwordBudget: new PasswordBudget(limits.passwordGuessBurst, limits.passwordGuessesPerSecond),
    running: new Set(),
    takeOverExec: options.takeOverExec,
    sftpFiles: options.sftpFiles,
    sftpDisk,
  };

  // Compression is off unless asked for: on loopback it costs CPU and buys nothing.
  const algorithms: Algorithms = { kex: [...DEFAULT_KEX], compress: ['none'], ...options.algorithms };
  const sessionWindow = options.sessionWindow;
  if (typeof sessionWindow === 'object') checkSessionWindow(sessionWindow);
  const chooseWindow = typeof sessionWindow === 'function' ? sessionWindow : () => sessionWindow;
  const server = new ssh2.Server({ hostKeys: [keys.hostKey], algorithms, ident: 'loopssh' }, (client, info) => {
    patchServerConnection(client);
    if (sessionWindow !== undefined) limitServerSessionWindows(client, chooseWindow);
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
  if (!isLoopback(host)) {
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
