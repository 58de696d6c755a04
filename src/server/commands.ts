/**
 * What a command handler sees, and how its result becomes an exit status.
 */
import type { Readable, Writable } from 'node:stream';
import type { ChannelOutput, ExitStatus } from './channel-output.js';

/** Limits the server enforces; every one is configurable. */
export interface ServerLimits {
  /** Largest `payload`/`digest` size (stdout and stderr each), in bytes. Default 64 GiB. */
  maxPayloadBytes: number;
  /** Largest `digest` size, in bytes: hashing is CPU on the server's one thread (~1.3 s per GiB). Default 1 GiB. */
  maxDigestBytes: number;
  /**
   * Write buffers of all running built-in commands together, in bytes; past
   * it each new one gets 16 KiB. Default 64 MiB.
   */
  maxBufferBytes: number;
  /**
   * Concurrent authenticated connections; one more login is refused with
   * TOO_MANY_CONNECTIONS. Connections still authenticating count toward
   * {@link maxStartups} instead. Default 64.
   */
  maxConnections: number;
  /**
   * Connections not authenticated yet, as OpenSSH's MaxStartups
   * `start:rate:full`: from `start` on, a new TCP connection is dropped at
   * once with probability `rate`%, rising linearly to 100% at `full`.
   * Default 64:30:256 (OpenSSH: 10:30:100; test suites connect in bursts).
   */
  maxStartups: Readonly<MaxStartups>;
  /** Time a new TCP connection has to send its SSH version line, in ms (at most loginGraceMs). Default 5 000. */
  versionTimeoutMs: number;
  /** Concurrent channels on one connection. Default 10 (OpenSSH's MaxSessions). */
  maxChannelsPerConnection: number;
  /** Time a client has to authenticate, in ms. Default 30 000. */
  loginGraceMs: number;
  /** A connection with no traffic for this long is closed, in ms; 0 = never. Default 0. */
  idleTimeoutMs: number;
  /** Authentication attempts per connection (OpenSSH's MaxAuthTries). Default 6. */
  maxAuthTries: number;
  /**
   * Wrong passwords one source address may send at once; past them its
   * wrong passwords are answered only at {@link passwordGuessesPerSecond},
   * across all its connections. Default 10.
   */
  passwordGuessBurst: number;
  /** Wrong passwords a source address earns back each second. Default 5. */
  passwordGuessesPerSecond: number;
  /** A channel whose peer takes no data (no window) for this long is closed, in ms; 0 = never. Default 60 000. */
  stallTimeoutMs: number;
  /**
   * The server starts a key re-exchange this often on each connection, in ms
   * (the time half of OpenSSH's RekeyLimit); 0 = never (ssh2 never starts
   * one; the peer still may). Default 0.
   */
  rekeyIntervalMs: number;
  /** Open SFTP handles per SFTP session; one more OPEN/OPENDIR fails. Default 64. */
  maxSftpHandles: number;
  /** Longest path an SFTP or SCP request may name, in bytes. Default 4096. */
  maxPathBytes: number;
  /**
   * SFTP READs queued per session while the client's window is full (each
   * costs ~100 bytes, not its data: bytes are made only when they can be
   * sent). paramiko queues a READ for every 32 KiB of a file at once, so the
   * default, 65 536, covers 2 GiB; one more fails with SSH_FX_FAILURE.
   * Also the WRITEs waiting per file written under /disk (behind the write
   * in flight, holding their bytes; src/server/sftp/disk-writer.ts).
   */
  maxSftpPendingRequests: number;
  /** How far ahead of the received prefix an out-of-order upload WRITE may reach, in bytes (the most held per file). Default 8 MiB. */
  uploadWindowBytes: number;
  /**
   * Bytes held out of order across all open uploads of one SFTP session (so
   * many handles cannot multiply {@link uploadWindowBytes}); a write that
   * would go past it fails with SSH_FX_FAILURE. Default 32 MiB.
   */
  uploadHeldBytesPerSession: number;
  /** Largest upload accepted (SFTP and SCP), in bytes. Default 64 GiB. */
  maxUploadBytes: number;
}

/** OpenSSH's MaxStartups: unauthenticated connections from which new ones are dropped, and how often. */
export interface MaxStartups {
  /** Below this many, nothing is dropped. */
  start: number;
  /** Percentage dropped at `start`. */
  rate: number;
  /** At this many, every new connection is dropped. */
  full: number;
}

/** The defaults of {@link ServerLimits}. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxPayloadBytes: 64 * 1024 ** 3,
  maxDigestBytes: 1024 ** 3,
  maxBufferBytes: 64 * 1024 ** 2,
  maxConnections: 64,
  maxStartups: Object.freeze({ start: 64, rate: 30, full: 256 }),
  versionTimeoutMs: 5_000,
  maxChannelsPerConnection: 10,
  loginGraceMs: 30_000,
  idleTimeoutMs: 0,
  maxAuthTries: 6,
  passwordGuessBurst: 10,
  passwordGuessesPerSecond: 5,
  stallTimeoutMs: 60_000,
  rekeyIntervalMs: 0,
  maxSftpHandles: 64,
  maxPathBytes: 4096,
  maxSftpPendingRequests: 65_536,
  uploadWindowBytes: 8 * 1024 ** 2,
  uploadHeldBytesPerSession: 32 * 1024 ** 2,
  maxUploadBytes: 64 * 1024 ** 3,
});

/** Everything a command handler gets. */
export interface CommandContext {
  /** The words of the exec request; `argv[0]` is the command name. */
  readonly argv: readonly string[];
  /**
   * The exec request string as the client sent it, or the key's forced
   * `command=` (then the client's request is in `env.SSH_ORIGINAL_COMMAND`).
   */
  readonly command: string;
  /** Environment variables the client set with `env` requests. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The user name the client logged in as. It is proven only as far as the
   * server binds keys to names: with `authorizedKeys` per user (or a
   * password for that name) it is that user's; with a flat key list or a
   * keys folder's `authorized_keys`, any authorized key may claim any name.
   */
  readonly user: string;
  /** The client's stdin; ends at the client's EOF. */
  readonly stdin: Readable;
  /**
   * Backpressured, lossless stdout (any mix with stderr is safe). Once the
   * client is gone, writes fail (the error reaches their callbacks and
   * {@link signal} aborts); the failure never escapes as an unhandled 'error'.
   */
  readonly stdout: Writable;
  /** Backpressured, lossless stderr. */
  readonly stderr: Writable;
  /** The low-level writer behind stdout/stderr: `await output.write('stdout', buf)`. */
  readonly output: ChannelOutput;
  /** Aborted when the channel closes, the connection is lost, or an output write fails. */
  readonly signal: AbortSignal;
  /** The server's limits, for handlers that size their output. */
  readonly limits: Readonly<ServerLimits>;
  /** Fails on purpose: closes the channel with no exit status, as a crash would. */
  drop(): void;
  /** Fails harder: cuts the whole connection's socket, as a dead network would. */
  dropConnection(): void;
}

/**
 * What a handler returns: nothing (exit 0), an exit code, or
 * `{ signal: 'TERM' }`. Throwing a `UsageError` (util/flags) exits 2 with its
 * message; any other error exits 1.
 */
export type CommandResult = void | number | ExitStatus;

/** A command the server runs for an exec request. */
export type CommandHandler = (ctx: CommandContext) => CommandResult | Promise<CommandResult>;

/** Signal names the SSH protocol (RFC 4254 §6.10) defines for exit-signal. */
export const EXIT_SIGNALS = ['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2'] as const;
