/**
 * Opening a connection: TCP, the SSH handshake with the host key checked
 * against a pin or known_hosts, and authentication. `exec()` is the one-shot
 * connect + run + close.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Algorithms } from 'ssh2';
import { patchClientConnection } from '../ssh2/index.js';
import { fingerprint, readPrivateKey } from '../openssh/key-format.js';
import { Connection } from './connection.js';
import type { RunOptions, RunResult } from './run-options.js';
import { AuthenticationError, ConnectionError, HostKeyError } from './errors.js';
import { lookupHostKeys, parseKnownHosts, verifyHostKey, type KnownHostEntry } from '../openssh/known-hosts.js';

const { Client } = ssh2;

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 22. */
  port?: number;
  /** Default: the local user name. */
  user?: string;
  /** Private key (OpenSSH PEM). */
  privateKey?: string | Buffer;
  /** Path of a private key; must not be readable by group or others. */
  identityFile?: string;
  /** Password auth, if the server allows it. */
  password?: string;
  /** Pinned host key fingerprint `SHA256:...`. */
  hostKey?: string;
  /** known_hosts file to check the host key against. Default `~/.ssh/known_hosts` when no `hostKey`/`knownHosts` is given. */
  knownHostsFile?: string;
  /** known_hosts text, instead of a file. */
  knownHosts?: string;
  /** Handshake and auth must finish within this, in ms. Default 20 000. */
  readyTimeoutMs?: number;
  /** Keepalive probe interval in ms (0 = off); the connection is declared lost after 3 unanswered. Default 15 000. */
  keepaliveIntervalMs?: number;
  /** ssh2 algorithm overrides (ciphers, …). */
  algorithms?: Algorithms;
}

/** What the host key is checked against: a pin or known_hosts entries. */
interface HostKeyExpectation {
  pin?: string;
  knownHosts?: KnownHostEntry[];
}

/** Reads the host key expectation from the options; refuses to go on without one. */
function hostKeyExpectation(options: ConnectOptions): HostKeyExpectation {
  if (options.hostKey) return { pin: options.hostKey };
  if (options.knownHosts !== undefined) return { knownHosts: parseKnownHosts(options.knownHosts) };
  const file = options.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts');
  if (!existsSync(file)) {
    throw new ConnectionError(
      `no host key to check against: give a pinned fingerprint (hostKey / --host-key SHA256:...) or a known_hosts file (${file} does not exist)`,
      options.host ?? '127.0.0.1',
      options.port ?? 22,
    );
  }
  return { knownHosts: parseKnownHosts(readFileSync(file, 'utf8')) };
}

/** Checks a presented host key; the error says what was expected instead. */
function checkHostKey(expectation: HostKeyExpectation, host: string, port: number, key: Buffer): HostKeyError | undefined {
  const verdict = verifyHostKey({ host, port, key, ...expectation });
  if (verdict.ok) return undefined;
  const expected = expectation.pin ? [expectation.pin] : lookupHostKeys(expectation.knownHosts ?? [], host, port).keys.map((k) => fingerprint(k));
  return new HostKeyError(verdict.reason, host, port, fingerprint(key), expected);
}

function openSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ConnectionError(`connect to ${host}:${port} timed out after ${timeoutMs} ms`, host, port));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.off('error', onError);
      // Without this, Nagle holds back small packets (window adjusts, last data).
      sock.setNoDelay(true);
      resolve(sock);
    });
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      const what = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
      reject(new ConnectionError(`cannot connect to ${host}:${port}: ${what}`, host, port, { cause: err }));
    };
    sock.once('error', onError);
  });
}

/** The private key from the options, read from `identityFile` if needed. */
function privateKeyOf(options: ConnectOptions, host: string, port: number): string | Buffer | undefined {
  if (options.privateKey !== undefined || options.identityFile === undefined) return options.privateKey;
  try {
    return readPrivateKey(options.identityFile);
  } catch (err) {
    throw new ConnectionError((err as Error).message, host, port, { cause: err });
  }
}

/**
 * Connects and authenticates. The host key must match the pin or the
 * known_hosts file; an unknown key is refused.
 */
export async function connect(options: ConnectOptions = {}): Promise<Connection> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 22;
  const user = options.user ?? userInfo().username;
  const expectation = hostKeyExpectation(options);
  const privateKey = privateKeyOf(options, host, port);
  if (privateKey === undefined && options.password === undefined) {
    throw new ConnectionError('no credentials: give a private key (identityFile / --identity FILE) or a password', host, port);
  }
  const readyTimeout = options.readyTimeoutMs ?? 20_000;
  const sock = await openSocket(host, port, readyTimeout);
  const client = new Client();
  let hostKeyFailure: HostKeyError | undefined;

  return new Promise<Connection>((resolve, reject) => {
    const onError = (err: Error & { level?: string }): void => {
      sock.destroy();
      if (hostKeyFailure) reject(hostKeyFailure);
      else if (err.level === 'client-authentication') {
        reject(new AuthenticationError(`authentication as '${user}' to ${host}:${port} refused (${err.message})`, host, port, { cause: err }));
      } else {
        const why = err.message === 'TOO_MANY_CONNECTIONS' ? 'the server refused the connection: too many connections' : err.message;
        reject(new ConnectionError(`ssh to ${host}:${port} failed: ${why}`, host, port, { cause: err }));
      }
    };
    client.once('error', onError);
    // A server that closes during the handshake (its connection limit, a
    // DISCONNECT ssh2 treats as normal) emits 'close' and no 'error'.
    const onClose = (): void => {
      sock.destroy();
      reject(
        hostKeyFailure ??
          new ConnectionError(`${host}:${port} closed the connection before login completed (connection limit reached, or not an SSH server?)`, host, port),
      );
    };
    client.once('close', onClose);
    client.once('ready', () => {
      client.off('error', onError);
      client.off('close', onClose);
      resolve(new Connection(client, host, port));
    });
    client.connect({
      sock,
      host,
      port,
      username: user,
      privateKey,
      password: options.password,
      readyTimeout,
      keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
      keepaliveCountMax: 3,
      algorithms: options.algorithms,
      hostVerifier: (key: Buffer) => {
        hostKeyFailure = checkHostKey(expectation, host, port, key);
        return hostKeyFailure === undefined;
      },
    });
    // Before any packet arrives: ssh2 fixes (guessed kex packets, window overruns).
    patchClientConnection(client);
  });
}

/**
 * Connects, runs one command, closes. The connection is closed whether the run
 * succeeds or fails.
 */
export async function exec(command: string | readonly string[], options: ConnectOptions & RunOptions): Promise<RunResult> {
  const connection = await connect(options);
  try {
    return await connection.run(command, options);
  } finally {
    await connection.close();
  }
}
