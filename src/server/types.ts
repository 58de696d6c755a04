/**
 * The public shapes of the embedded server: its options, its handle, and
 * what it records for tests to assert on.
 */
import type { SessionWindow } from '../ssh2/index.js';
import type { Algorithms, Connection, ServerChannel } from 'ssh2';
import type { ServerLogger } from './log.js';
import type { ExitStatus } from './channel-output.js';
import type { CommandHandler, ServerLimits } from './commands.js';
import type { RegisteredFiles } from './sftp/tree.js';
import type { DiskMount } from './sftp/disk.js';

/** Options of {@link startServer}. Everything has a safe default. */
export interface ServerOptions {
  /** Address to bind. Default `127.0.0.1`; anything else is logged as a warning. */
  host?: string;
  /** Port; 0 (the default) picks a free one, reported in the handle. */
  port?: number;
  /**
   * Folder with `host_ed25519`, `client_ed25519` and `authorized_keys`,
   * generated on first use (the CLI uses the package's `keys/`). Without it,
   * keys not given below are generated in memory for this server alone.
   */
  keysDir?: string;
  /** Host private key (OpenSSH PEM); overrides the one in `keysDir`. */
  hostKey?: string | Buffer;
  /**
   * Public keys that may log in, overriding the file in `keysDir`:
   * `authorized_keys` text or lines (each key logs in as any user name), or
   * a record from user name to that user's keys (each key logs in as that
   * name only). Options `from=`, `expiry-time=`, `command=` and `restrict`
   * are enforced; a line with an option loopssh cannot honour is not used,
   * and the server logs why.
   */
  authorizedKeys?: string | readonly string[] | Readonly<Record<string, string | readonly string[]>>;
  /** Enables password auth for exactly these users (compared in constant time). Off by default. */
  passwords?: Readonly<Record<string, string>>;
  /** User names allowed to log in; default any name with an authorized key. */
  users?: readonly string[];
  /** Extra commands by name; they take precedence over the built-ins. */
  commands?: Readonly<Record<string, CommandHandler>>;
  /**
   * Files served read-only at `/files/NAME` over SFTP and SCP, beside the
   * payload tree: bytes, `{ size, read(offset, length) }` (sync or async;
   * a shorter answer is a short read), or a function returning a Readable
   * (read front to back, once per open; a `size` property is what stat
   * reports, without one stat says 0 and reads go to the stream's end;
   * an out-of-order READ gets FAILURE). Path fault options apply
   * (`/files/NAME,short=100`).
   */
  sftpFiles?: RegisteredFiles;
  /**
   * A real directory served at `/disk` over SFTP: read-only, or with
   * `writable: true` also file creation and writes (never remove, rename or
   * mkdir). Jailed: every path is resolved with realpath and must stay inside
   * it (no escape by `..` or symbolic links).
   */
  sftpDirectory?: DiskMount;
  /** Limits; unspecified ones take {@link DEFAULT_LIMITS}. */
  limits?: Partial<ServerLimits>;
  /** Where logs go: a pino logger or any {@link ServerLogger}; default: warnings and errors as JSON lines on stderr. */
  logger?: ServerLogger;
  /** Entries kept per list of {@link ServerHandle.seen} (the newest); 0 keeps only the totals. Default 1000. */
  recordLimit?: number;
  /** ssh2 algorithm overrides (ciphers, kex, …). */
  algorithms?: Algorithms;
  /**
   * Test hook for behaviours no command handler can express (exit-status
   * before data, CHANNEL_CLOSE without EOF, a rekey mid-transfer): called for
   * each exec request before the built-in runner; return true to own the
   * channel from then on. `loopssh audit` uses it (src/audit/behaviours.ts).
   */
  takeOverExec?: (request: RawExecRequest) => boolean;
  /**
   * The receive window and maximum packet size advertised on session
   * channels, asked each time a session is opened (undefined: ssh2's 2 MiB
   * window and 32 KiB packets). The window is topped up in WINDOW_ADJUSTs of
   * `step` bytes; a client that sends past the window or a packet larger
   * than `packetSize` is disconnected (PROTOCOL_ERROR). `loopssh audit`'s
   * `tiny-window` scenario uses it (docs/ssh2-traps.md, patch 12).
   */
  sessionWindow?: SessionWindow | (() => SessionWindow | undefined);
}

/** What {@link ServerOptions.takeOverExec} gets: the accepted ssh2 exec channel and its connection. */
export interface RawExecRequest {
  command: string;
  user: string;
  channel: ServerChannel;
  connection: Connection;
}

/** One authentication attempt the server saw. */
export interface AuthRecord {
  /** The user name the client sent, clipped to 64 characters with control characters escaped. */
  user: string;
  method: string;
  accepted: boolean;
}

/** One exec request the server saw, and how it ended. */
export interface CommandRecord {
  user: string;
  command: string;
  argv: string[];
  env: Record<string, string>;
  /** Set when the command ended: its exit status, or `'dropped'` (by the handler), `'closed'` (by the peer) or `'stalled'` (the peer stopped reading) if it never got one. */
  exit?: ExitStatus | 'dropped' | 'closed' | 'stalled';
}

/** One file transfer over SFTP or legacy SCP, and how it ended. */
export interface TransferRecord {
  protocol: 'sftp' | 'scp';
  direction: 'download' | 'upload';
  user: string;
  /** The tree path as the client named it (normalized, clipped to 200 characters). */
  path: string;
  /** The fault options the path selected, in path form (`short=1000,drop=1048576`), or '' for none. */
  faults: string;
  /** Downloads: bytes served. Uploads: bytes received in order (hashed). */
  bytes: number;
  /** Uploads that completed: lowercase hex SHA-256 of the bytes received. */
  sha256?: string;
  /**
   * Set when it ended: `complete` (closed cleanly; for a download, not
   * necessarily read to the end), `failed` (refused with a status, see
   * `error`), `dropped` (by a drop fault), `abandoned` (the channel closed
   * with the file still open).
   */
  outcome?: 'complete' | 'failed' | 'dropped' | 'abandoned';
  error?: string;
  /**
   * Uploads the client renamed after writing (temp name, then rename over
   * the target, as loopssh's upload() does): the name it was written
   * under. `path` is then the final name.
   */
  renamedFrom?: string;
}

/** One connection the server admitted. */
export interface ConnectionRecord {
  remoteAddress: string;
  remotePort: number;
  /** Set once it authenticated (clipped as in {@link AuthRecord.user}). */
  user?: string;
}

/**
 * What the server saw, for tests to assert on. The lists hold the most recent
 * `recordLimit` entries each (default 1000; `loopssh serve` keeps none); the
 * totals count everything.
 */
export interface ServerRecord {
  connections: ConnectionRecord[];
  authAttempts: AuthRecord[];
  commands: CommandRecord[];
  /** SFTP and SCP file transfers. */
  transfers: TransferRecord[];
  /** Everything seen, including entries no longer in the lists. */
  totals: { connections: number; authAttempts: number; commands: number; transfers: number };
  /** Connections refused by the connection limit. */
  refused: number;
  /** Sockets dropped before their handshake by the pre-authentication limit (`maxStartups`). */
  dropped: number;
  /** Failed password attempts answered late because their source was over its guessing budget. */
  throttled: number;
  /** The most bytes built-in commands' write buffers held at once (bounded by `maxBufferBytes`, see there). */
  bufferBytesPeak: number;
}

/** Options of {@link ServerHandle.stop}. */
export interface StopOptions {
  /** How long running commands may go on before their channels are cut, in ms. Default 5000. */
  graceMs?: number;
}

/** A running server. */
export interface ServerHandle extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  /** `SHA256:...` of the host key, as `ssh-keygen -l` prints it. */
  readonly hostKeyFingerprint: string;
  /** The host public key as an OpenSSH line (`ssh-ed25519 AAAA...`), for known_hosts. */
  readonly hostPublicKey: string;
  /** The key files in use when `keysDir` was used (for the CLI and demos). */
  readonly keyFiles?: { clientKeyPath: string; authorizedKeysPath: string };
  readonly limits: Readonly<ServerLimits>;
  readonly seen: ServerRecord;
  /**
   * Everything the loopssh client (or ssh2) needs to connect: host, port,
   * user, the client private key this server authorizes, the pinned host key.
   * Throws if the server was given `authorizedKeys` without a client key it knows.
   */
  clientOptions(overrides?: Partial<ClientOptions>): ClientOptions;
  /**
   * argv for OpenSSH's `ssh` (append the remote command): a temporary key
   * file and known_hosts, written on first call, removed by {@link stop}.
   */
  sshArgs(extra?: readonly string[]): string[];
  /** Stops accepting, lets running commands finish (up to `graceMs`), then closes every connection. */
  stop(options?: StopOptions): Promise<void>;
}

/** What {@link ServerHandle.clientOptions} returns: the shape the loopssh client and ssh2 take. */
export interface ClientOptions {
  host: string;
  port: number;
  user: string;
  /** Client private key (OpenSSH PEM). */
  privateKey: string;
  /** Pinned host key fingerprint, `SHA256:...` (loopssh client). */
  hostKey: string;
  /** The same pin as a known_hosts line, for clients that want one. */
  knownHosts: string;
}