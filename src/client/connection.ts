/**
 * The loopssh client: connect with a checked host key, run commands, and
 * settle a run only when every byte has reached its target.
 */
import { createHash, type Hash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import ssh2 from 'ssh2';
import type { Algorithms, ClientChannel } from 'ssh2';
import { patchClientConnection } from '../ssh2/index.js';
import { joinCommand } from '../openssh/command-line.js';
import { FlushTracker, FlushTimeoutError } from '../engine/flush-tracker.js';
import { fingerprint, readPrivateKey } from '../openssh/key-format.js';
import {
  AuthenticationError,
  ChannelLostError,
  ConnectionError,
  ExitStatusError,
  HostKeyError,
  RunAbortedError,
  RunError,
  RunTimeoutError,
  TargetError,
  type RunFacts,
} from './errors.js';
import { lookupHostKeys, parseKnownHosts, verifyHostKey, type KnownHostEntry } from '../openssh/known-hosts.js';
import { openSink, openSource, type InputSource, type OutputSink, type OutputTarget } from '../engine/targets.js';

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

/** Options of {@link Connection.run}. */
export interface RunOptions {
  /** Where stdout goes. Default `'buffer'` (bounded by `maxBuffer`). */
  stdout?: OutputTarget;
  /** Where stderr goes. Default `'buffer'`. */
  stderr?: OutputTarget;
  /** Where stdin comes from: a path, a Readable or bytes. Default: EOF at once. */
  stdin?: InputSource;
  /** Text or bytes to send as stdin. */
  input?: string | Uint8Array;
  /** Environment variables to request (servers may refuse some). */
  env?: Record<string, string>;
  /** Cancels the run: the channel is closed and the run rejects with {@link RunAbortedError}. */
  signal?: AbortSignal;
  /**
   * Reject with {@link RunTimeoutError} (and close the channel) when nothing
   * moves for this long, in ms: no output arrives and no stdin is taken, e.g.
   * a peer that stopped reading. Default 0: wait forever.
   */
  idleTimeoutMs?: number;
  /** Called every `progressIntervalMs` (default 250) with the byte counts so far: for progress displays. */
  onProgress?: (facts: RunFacts) => void;
  /** How often {@link onProgress} is called, in ms. */
  progressIntervalMs?: number;
  /** Reject with {@link ExitStatusError} unless the command exits 0. Default false. */
  check?: boolean;
  /** Largest `'buffer'` output per stream, in bytes. Default 64 MiB. */
  maxBuffer?: number;
  /** Compute the SHA-256 of stdout and stderr as they arrive (`result.stdoutSha256`). Default false. */
  hash?: boolean;
  /**
   * File targets: fsync the complete file before renaming it into place, then
   * its folder, so the output survives a power loss. Default false (the run
   * resolves when the kernel has every byte).
   */
  fsync?: boolean;
  /** Give up waiting for targets to flush after this long once the channel closed, in ms. Default: wait. */
  flushTimeoutMs?: number;
  /**
   * Resolve at the channel's `'close'` without waiting for targets: the bug
   * AsyncSSH #629 had. Exists only to demonstrate the loss.
   */
  naive?: boolean;
}

/** What a finished run reports. */
export interface RunResult extends RunFacts {
  /** Collected stdout when the target was `'buffer'`. */
  stdout?: Buffer;
  /** Collected stderr when the target was `'buffer'`. */
  stderr?: Buffer;
  /** Lowercase hex SHA-256 of what arrived on stdout, with `hash: true`. */
  stdoutSha256?: string;
  /** Lowercase hex SHA-256 of what arrived on stderr, with `hash: true`. */
  stderrSha256?: string;
  /** True when the run was naive: the counts say what arrived, not what reached the target. */
  naive: boolean;
}

const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

/** Longest exec request sent: the packet must stay under ssh2's 35,000-byte limit (OpenSSH's is larger). */
export const MAX_EXEC_BYTES = 32 * 1024;

/** Reads the host key expectation from the options; refuses to go on without one. */
function hostKeyExpectation(options: ConnectOptions): { pin?: string; knownHosts?: KnownHostEntry[] } {
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

/**
 * Connects and authenticates. The host key must match the pin or the
 * known_hosts file; an unknown key is refused.
 */
export async function connect(options: ConnectOptions = {}): Promise<Connection> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 22;
  const user = options.user ?? userInfo().username;
  const expectation = hostKeyExpectation(options);
  let privateKey = options.privateKey;
  if (privateKey === undefined && options.identityFile !== undefined) {
    try {
      privateKey = readPrivateKey(options.identityFile);
    } catch (err) {
      throw new ConnectionError((err as Error).message, host, port, { cause: err });
    }
  }
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
        const verdict = verifyHostKey({ host, port, key, ...expectation });
        if (verdict.ok) return true;
        const expected = expectation.pin
          ? [expectation.pin]
          : lookupHostKeys(expectation.knownHosts ?? [], host, port).keys.map((k) => fingerprint(k));
        hostKeyFailure = new HostKeyError(verdict.reason, host, port, fingerprint(key), expected);
        return false;
      },
    });
    // Before any packet arrives: ssh2 fixes (guessed kex packets, window overruns).
    patchClientConnection(client);
  });
}

/** The exit status as it arrived (`seen` false: none did). */
interface ExitInfo {
  seen: boolean;
  code: number | null;
  signal: string | null;
}

/** Error code of a target failure, for {@link TargetError.code}. */
function errorCode(err: Error): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Copies a source into a sink with backpressure and counts the bytes. The
 * handler allocates nothing per chunk.
 */
function pump(source: Readable, sink: OutputSink, hash: Hash | undefined, count: (n: number) => void, onEnd: () => void): void {
  const out = sink.stream;
  let waiting = false;
  const resume = (): void => {
    waiting = false;
    source.resume();
  };
  source.on('data', (chunk: Buffer) => {
    count(chunk.length);
    hash?.update(chunk);
    if (!out.write(chunk) && !waiting) {
      waiting = true;
      source.pause();
      out.once('drain', resume);
    }
  });
  source.once('end', onEnd);
}

/** An authenticated SSH connection. Runs may overlap (one channel each). */
export class Connection implements AsyncDisposable {
  readonly #client: InstanceType<typeof Client>;
  #lastError: Error | undefined;
  #closed = false;
  readonly #closedPromise: Promise<void>;

  /** @internal Use {@link connect}. */
  constructor(
    client: InstanceType<typeof Client>,
    readonly host: string,
    readonly port: number,
  ) {
    this.#client = client;
    client.on('error', (err) => (this.#lastError = err));
    this.#closedPromise = new Promise((resolve) =>
      client.once('close', () => {
        this.#closed = true;
        resolve();
      }),
    );
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs a command and resolves when it has exited and every target has
   * flushed (see {@link FlushTracker}). `command` is sent as is, or, as an
   * array, quoted word by word.
   */
  async run(command: string | readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const cmd = typeof command === 'string' ? command : joinCommand(command);
    const started = performance.now();
    const facts: RunFacts = { command: cmd, exitCode: null, signal: null, stdoutBytes: 0, stderrBytes: 0, durationMs: 0 };
    const snapshot = (): RunFacts => ({ ...facts, durationMs: Math.round(performance.now() - started) });
    const naive = options.naive === true;
    const sinkOptions = { maxBuffer: options.maxBuffer ?? DEFAULT_MAX_BUFFER, naive, fsync: options.fsync === true };
    options.signal?.throwIfAborted();

    const sinks: OutputSink[] = [];
    let input: Awaited<ReturnType<typeof openSource>>;
    try {
      sinks.push(await openSink(options.stdout ?? 'buffer', 'stdout', sinkOptions));
      sinks.push(await openSink(options.stderr ?? 'buffer', 'stderr', sinkOptions));
      input = await openSource(options.stdin, options.input);
    } catch (err) {
      await Promise.all(sinks.map((s) => s.discard()));
      const e = err as Error;
      throw new TargetError(`cannot open ${sinks.length === 0 ? 'stdout' : sinks.length === 1 ? 'stderr' : 'stdin'}: ${e.message}`, snapshot(), 'open', errorCode(e), { cause: e });
    }
    const [outSink, errSink] = sinks as [OutputSink, OutputSink];

    let channel: ClientChannel;
    let exit: ExitInfo;
    try {
      ({ channel, exit } = await this.#exec(cmd, options.env));
    } catch (err) {
      await Promise.all(sinks.map((s) => s.discard()));
      if (input?.owned) input.stream.destroy();
      throw err;
    }

    const exitFacts = (): void => {
      facts.exitCode = exit.code;
      facts.signal = exit.signal;
    };
    exitFacts();
    channel.on('exit', exitFacts);
    const channelClosed = new Promise<void>((resolve) => channel.once('close', () => resolve()));

    const tracker = new FlushTracker();
    // stdin: EOF at once, or a pipe that the channel's backpressure paces.
    if (input) {
      input.stream.pipe(channel);
      input.stream.once('error', (err) => {
        channel.close();
        if (!naive) tracker.abort(new TargetError(`${input?.label}: ${err.message}`, snapshot(), input?.label ?? 'stdin', errorCode(err), { cause: err }));
      });
      void channelClosed.then(() => {
        input.stream.unpipe(channel);
        if (input.owned) input.stream.destroy();
      });
    } else {
      channel.end();
    }

    // Idle watchdog: one interval comparing byte counters, nothing per chunk.
    let uploaded = 0;
    if (input && options.idleTimeoutMs) input.stream.on('data', (c: Buffer) => (uploaded += c.length));
    let idleTimer: NodeJS.Timeout | undefined;
    if (options.idleTimeoutMs && options.idleTimeoutMs > 0) {
      const limit = options.idleTimeoutMs;
      let last = -1;
      let since = performance.now();
      idleTimer = setInterval(() => {
        const moved = facts.stdoutBytes + facts.stderrBytes + uploaded;
        if (moved !== last) {
          last = moved;
          since = performance.now();
        } else if (performance.now() - since >= limit) {
          clearInterval(idleTimer);
          tracker.abort(new RunTimeoutError(`nothing moved for ${limit} ms (idle timeout): the peer stopped sending or reading`, snapshot()));
          channel.close();
        }
      }, Math.max(10, Math.floor(limit / 4)));
      idleTimer.unref();
      void channelClosed.then(() => clearInterval(idleTimer));
    }
    // Progress: one interval reading the counters, nothing per chunk.
    let progressTimer: NodeJS.Timeout | undefined;
    if (options.onProgress) {
      const report = options.onProgress;
      progressTimer = setInterval(() => report(snapshot()), options.progressIntervalMs ?? 250);
      progressTimer.unref();
      void channelClosed.then(() => clearInterval(progressTimer));
    }
    const onAbort = (): void => {
      tracker.abort(new RunAbortedError('run aborted', snapshot(), { cause: options.signal?.reason }));
      channel.close();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    if (naive) {
      // The naive consumer (shared/facts): write every chunk as it comes,
      // ignore backpressure, and call it done when the channel closes.
      const outHash = options.hash ? createHash('sha256') : undefined;
      const errHash = options.hash ? createHash('sha256') : undefined;
      channel.on('data', (c: Buffer) => {
        facts.stdoutBytes += c.length;
        outHash?.update(c);
        outSink.stream.write(c);
      });
      channel.stderr.on('data', (c: Buffer) => {
        facts.stderrBytes += c.length;
        errHash?.update(c);
        errSink.stream.write(c);
      });
      channel.once('end', () => outSink.keptOpen || outSink.stream.end());
      channel.stderr.once('end', () => errSink.keptOpen || errSink.stream.end());
      for (const s of sinks) s.stream.on('error', () => {});
      await channelClosed;
      options.signal?.removeEventListener('abort', onAbort);
      return {
        ...snapshot(),
        naive: true,
        stdout: outSink.collected?.(),
        stderr: errSink.collected?.(),
        stdoutSha256: outHash?.digest('hex'),
        stderrSha256: errHash?.digest('hex'),
      };
    }

    tracker.source(channel, 'stdout channel');
    tracker.source(channel.stderr, 'stderr channel');
    outSink.track(tracker);
    errSink.track(tracker);
    const outHash = options.hash ? createHash('sha256') : undefined;
    const errHash = options.hash ? createHash('sha256') : undefined;
    pump(channel, outSink, outHash, (n) => (facts.stdoutBytes += n), () => outSink.close(tracker));
    pump(channel.stderr, errSink, errHash, (n) => (facts.stderrBytes += n), () => errSink.close(tracker));

    try {
      await tracker.wait({ timeoutMs: options.flushTimeoutMs });
      // Both sources ended, so ssh2 emits 'close' as soon as CHANNEL_CLOSE is in.
      // Not a tracker task: after a failure nothing may wait on a paused channel.
      await channelClosed;
    } catch (err) {
      channel.close();
      await Promise.all(sinks.map((s) => s.discard()));
      throw this.#runError(err as Error, sinks, snapshot());
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      clearInterval(idleTimer);
      clearInterval(progressTimer);
    }

    exitFacts();
    if (!exit.seen) {
      await Promise.all(sinks.map((s) => s.discard()));
      const why = this.#lastError ? `connection lost (${this.#lastError.message})` : this.#closed ? 'connection lost' : 'channel closed';
      const f = snapshot();
      throw new ChannelLostError(
        `${why} before an exit status: output may be truncated (${f.stdoutBytes} stdout and ${f.stderrBytes} stderr bytes arrived)`,
        f,
      );
    }
    await Promise.all(sinks.map((s) => s.commit()));
    const result: RunResult = {
      ...snapshot(),
      naive: false,
      stdout: outSink.collected?.(),
      stderr: errSink.collected?.(),
      stdoutSha256: outHash?.digest('hex'),
      stderrSha256: errHash?.digest('hex'),
    };
    if (options.check && (result.exitCode !== 0 || result.signal !== null)) {
      const how = result.signal ? `was killed by signal ${result.signal}` : `exited with status ${result.exitCode}`;
      throw new ExitStatusError(`remote command ${how}`, result);
    }
    return result;
  }

  #runError(err: Error, sinks: OutputSink[], facts: RunFacts): Error {
    if (err instanceof RunError) return err;
    if (err instanceof FlushTimeoutError) return new TargetError(`targets did not flush: ${err.message}`, facts, err.pending.join(', '), undefined, { cause: err });
    const sink = sinks.find((s) => s.stream.errored === err) ?? sinks.find((s) => s.stream.errored);
    const label = sink?.label ?? 'output';
    return new TargetError(`${label}: ${err.message}`, facts, label, errorCode(err), { cause: err });
  }

  #exec(command: string, env: Record<string, string> | undefined): Promise<{ channel: ClientChannel; exit: ExitInfo }> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new ConnectionError('connection is closed', this.host, this.port));
        return;
      }
      const bytes = Buffer.byteLength(command);
      if (bytes > MAX_EXEC_BYTES) {
        // ssh2 servers drop the whole connection for a packet over 35,000 bytes.
        reject(new ConnectionError(`command is too long to send (${bytes} bytes; at most ${MAX_EXEC_BYTES})`, this.host, this.port));
        return;
      }
      this.#client.exec(command, env ? { env } : {}, (err, channel) => {
        if (err) {
          const why = this.#closed || this.#lastError ? `connection lost before the exec request was answered (${this.#lastError?.message ?? 'closed'})` : `exec refused: ${err.message}`;
          reject(new ConnectionError(`${this.host}:${this.port}: ${why}`, this.host, this.port, { cause: err }));
          return;
        }
        // Listen now, not after an await: ssh2 may parse the exit status from
        // the same TCP read as the exec reply, before a later listener exists.
        const exit: ExitInfo = { seen: false, code: null, signal: null };
        channel.on('exit', (code: number | null, signal?: string) => {
          exit.seen = true;
          exit.code = code;
          exit.signal = signal ? signal.replace(/^SIG/, '') : null;
        });
        resolve({ channel, exit });
      });
    });
  }

  /** Closes the connection; resolves when the socket is closed. */
  async close(): Promise<void> {
    if (!this.#closed) this.#client.end();
    await this.#closedPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
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
