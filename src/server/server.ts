/**
 * The embedded loopssh server: ssh2 on loopback, exec channels only, no shell.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIP, type Socket } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import type { Algorithms, AuthContext, Connection, ServerChannel, Session } from 'ssh2';
import { splitCommand, CommandLineError } from '../shared/command-line.js';
import { clip, UsageError } from '../shared/flags.js';
import { ensureKeyDir, fingerprint, generateKeyPair, parseAuthorizedKeys, type ParsedKey } from '../shared/keys.js';
import { knownHostsLine, opensshArgs } from '../shared/openssh.js';
import { createLogger, type Logger } from '../shared/log.js';
import { BUILTINS, helpCommand } from './builtins.js';
import { ChannelClosedError, ChannelOutput, ChannelStalledError, type ExitStatus } from './channel-output.js';
import { DEFAULT_LIMITS, type CommandContext, type CommandHandler, type CommandResult, type ServerLimits } from './commands.js';

const { Server: SshServer, utils } = ssh2;

/** Where the default keys live: `keys/` at the package root. */
export const DEFAULT_KEYS_DIR = fileURLToPath(new URL('../../keys/', import.meta.url));

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
  /** authorized_keys text or public key lines; overrides the file in `keysDir`. */
  authorizedKeys?: string | readonly string[];
  /** Enables password auth for exactly these users (compared in constant time). Off by default. */
  passwords?: Readonly<Record<string, string>>;
  /** User names allowed to log in; default any name with an authorized key. */
  users?: readonly string[];
  /** Extra commands by name; they take precedence over the built-ins. */
  commands?: Readonly<Record<string, CommandHandler>>;
  /** Limits; unspecified ones take {@link DEFAULT_LIMITS}. */
  limits?: Partial<ServerLimits>;
  /** A pino logger; default: warnings and errors to stderr. */
  logger?: Logger;
  /** ssh2 algorithm overrides (ciphers, kex, …). */
  algorithms?: Algorithms;
  /**
   * Test hook for behaviours no command handler can express (exit-status
   * before data, CHANNEL_CLOSE without EOF, a rekey mid-transfer): called for
   * each exec request before the built-in runner; return true to own the
   * channel from then on. `loopssh audit` uses it (src/audit/behaviours.ts).
   */
  takeOverExec?: (request: RawExecRequest) => boolean;
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

/** What the server saw, for tests to assert on. */
export interface ServerRecord {
  connections: { remoteAddress: string; remotePort: number; user?: string }[];
  authAttempts: AuthRecord[];
  commands: CommandRecord[];
  /** Connections refused by the connection limit. */
  refused: number;
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

interface LoadedKeys {
  hostKey: string | Buffer;
  authorized: ParsedKey[];
  /** The client private key, when this server knows one it authorizes. */
  clientKey?: string;
  keyFiles?: ServerHandle['keyFiles'];
}

async function loadKeys(options: ServerOptions): Promise<LoadedKeys> {
  const authText = (keys: string | readonly string[]): string => (typeof keys === 'string' ? keys : keys.join('\n'));
  if (options.keysDir !== undefined) {
    const files = await ensureKeyDir(options.keysDir);
    const usesFileAuth = options.authorizedKeys === undefined;
    return {
      hostKey: options.hostKey ?? (await readFile(files.hostKeyPath)),
      authorized: parseAuthorizedKeys(usesFileAuth ? await readFile(files.authorizedKeysPath, 'utf8') : authText(options.authorizedKeys as string)),
      clientKey: usesFileAuth ? await readFile(files.clientKeyPath, 'utf8') : undefined,
      keyFiles: usesFileAuth ? { clientKeyPath: files.clientKeyPath, authorizedKeysPath: files.authorizedKeysPath } : undefined,
    };
  }
  // Ephemeral: nothing is written to disk; a fresh client key is authorized
  // unless the caller brought its own authorized keys.
  const client = options.authorizedKeys === undefined ? generateKeyPair('loopssh-ephemeral-client') : undefined;
  return {
    hostKey: options.hostKey ?? generateKeyPair('loopssh-ephemeral-host').privateKey,
    authorized: parseAuthorizedKeys(client ? client.publicKey : authText(options.authorizedKeys as string)),
    clientKey: client?.privateKey,
  };
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time password check: hashing first makes the lengths equal. */
function samePassword(given: string, expected: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}

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
  const parsedHost = utils.parseKey(keys.hostKey);
  if (parsedHost instanceof Error) throw new UsageError(`host key: ${parsedHost.message}`);
  const hostBlob = parsedHost.getPublicSSH();
  const hostPublicKey = `${parsedHost.type} ${hostBlob.toString('base64')}`;
  const commands: Record<string, CommandHandler> = { ...BUILTINS, ...options.commands };
  commands.help ??= helpCommand(Object.keys(options.commands ?? {}));
  const seen: ServerRecord = { connections: [], authAttempts: [], commands: [], refused: 0 };

  const live = new Set<Connection>();
  const running = new Set<Promise<void>>();
  let stopping = false;

  // Login grace time starts at the TCP accept: ssh2 reports a connection only
  // once the client has sent its version line, so a silent client, garbage or
  // an unfinished handshake would otherwise hold a socket forever.
  const raw = new Set<Socket>();
  const graceTimers = new WeakMap<Socket, NodeJS.Timeout>();
  const onRawSocket = (socket: Socket): void => {
    raw.add(socket);
    // Nagle would hold back window adjusts and the last small packets.
    socket.setNoDelay(true);
    // Every channel of the connection may wait for the socket's 'drain'.
    socket.setMaxListeners(0);
    const timer = setTimeout(() => {
      log.warn({ remote: socket.remoteAddress, loginGraceMs: limits.loginGraceMs }, 'login grace time over: closing');
      socket.destroy();
    }, limits.loginGraceMs);
    timer.unref();
    graceTimers.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      raw.delete(socket);
    });
  };

  const server = new SshServer({ hostKeys: [keys.hostKey], algorithms: options.algorithms, ident: 'loopssh' }, (client, info) => {
    if (stopping || live.size >= limits.maxConnections) {
      seen.refused++;
      log.warn({ remote: `${info.ip}:${info.port}`, limit: limits.maxConnections }, 'connection refused: limit reached');
      client.on('error', () => {});
      // SSH_DISCONNECT_TOO_MANY_CONNECTIONS (RFC 4253 §11.1), so clients can say why.
      const internals = client as unknown as { _protocol?: { disconnect(reason: number): void }; _sock?: Socket };
      if (internals._protocol && internals._sock) {
        internals._protocol.disconnect(12);
        internals._sock.end();
      } else client.end();
      return;
    }
    live.add(client);
    const record: ServerRecord['connections'][number] = { remoteAddress: info.ip, remotePort: info.port };
    seen.connections.push(record);
    handleConnection(client, record);
  });

  function handleConnection(client: Connection, record: ServerRecord['connections'][number]): void {
    let failures = 0;
    let user = '';
    let channels = 0;
    const sock = (client as unknown as { _sock?: Socket })._sock;
    if (limits.idleTimeoutMs > 0 && sock) {
      // Socket timeouts restart on any traffic, so this fires only when the peer is silent.
      sock.setTimeout(limits.idleTimeoutMs, () => {
        log.warn({ remote: record.remoteAddress, idleTimeoutMs: limits.idleTimeoutMs }, 'idle timeout: closing');
        sock.destroy();
      });
    }

    client.on('error', (err) => log.info({ err: err.message, remote: record.remoteAddress }, 'connection error'));
    client.on('close', () => live.delete(client));

    client.on('authentication', (ctx: AuthContext) => {
      // Past the limit nothing more is checked or recorded: requests already
      // in flight are refused and the socket is cut.
      if (failures >= limits.maxAuthTries) {
        ctx.reject();
        sock?.destroy();
        return;
      }
      const accepted = authenticate(ctx);
      // An accepted key offer without signature is a query, not a login: the
      // client signs next. A refused offer is a failure, as in OpenSSH.
      const isQuery = ctx.method === 'publickey' && !ctx.signature;
      if (ctx.method !== 'none' && !(isQuery && accepted)) seen.authAttempts.push({ user: ctx.username, method: ctx.method, accepted });
      if (accepted) {
        if (!isQuery) {
          user = ctx.username;
          record.user = user;
        }
        ctx.accept();
        return;
      }
      if (ctx.method !== 'none' && ++failures >= limits.maxAuthTries) {
        log.warn({ user: ctx.username, failures }, 'too many authentication failures: closing');
        ctx.reject();
        sock?.destroy();
        return;
      }
      ctx.reject(options.passwords ? ['publickey', 'password'] : ['publickey']);
    });

    client.on('ready', () => {
      if (sock) clearTimeout(graceTimers.get(sock));
      client.on('session', (accept, reject) => {
        if (stopping || channels >= limits.maxChannelsPerConnection) {
          reject();
          return;
        }
        channels++;
        const session: Session = accept();
        const env: Record<string, string> = {};
        let used = false;
        const release = (): void => {
          if (!used) return;
          used = false;
          channels--;
        };
        used = true;
        session.on('close', release);
        session.on('env', (acceptEnv, _rejectEnv, info) => {
          env[info.key] = info.val;
          acceptEnv?.();
        });
        session.on('pty', (_a, rejectPty) => rejectPty?.());
        session.on('shell', (acceptShell) => {
          const channel = acceptShell();
          const output = new ChannelOutput(channel);
          channel.resume();
          void output
            .write('stderr', Buffer.from("loopssh: no interactive shell here; run a command, e.g. 'help'\n"))
            .then(() => output.finish({ code: 2 }))
            .catch(() => {});
        });
        session.on('exec', (acceptExec, _rejectExec, info) => {
          const channel = acceptExec();
          channel.on('close', release);
          if (options.takeOverExec?.({ command: info.command, user, channel, connection: client })) return;
          const task = runCommand(client, channel, info.command, user, { ...env }).catch((err: unknown) =>
            log.error({ err }, 'command runner failed'),
          );
          running.add(task);
          void task.finally(() => running.delete(task));
        });
      });
    });
  }

  function authenticate(ctx: AuthContext): boolean {
    if (options.users && !options.users.includes(ctx.username)) return false;
    if (ctx.method === 'publickey') {
      const key = keys.authorized.find((k) => k.type === ctx.key.algo && sameBytes(k.getPublicSSH(), ctx.key.data));
      if (!key) return false;
      if (!ctx.signature) return true;
      return key.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo) === true;
    }
    if (ctx.method === 'password' && options.passwords) {
      const expected = options.passwords[ctx.username];
      return expected !== undefined && samePassword(ctx.password, expected);
    }
    return false;
  }

  async function runCommand(client: Connection, channel: ServerChannel, command: string, user: string, env: Record<string, string>): Promise<void> {
    const output = new ChannelOutput(channel, limits.stallTimeoutMs);
    const abort = new AbortController();
    channel.once('close', () => abort.abort(new ChannelClosedError()));
    const record: CommandRecord = { user, command, argv: [], env };
    seen.commands.push(record);
    let dropped = false;
    const fail = async (code: number, message: string): Promise<void> => {
      await output.write('stderr', Buffer.from(`loopssh: ${message}\n`)).catch(() => {});
      record.exit = { code };
      await output.finish({ code });
    };
    let argv: string[];
    try {
      argv = splitCommand(command);
    } catch (err) {
      channel.resume();
      if (err instanceof CommandLineError) return fail(2, err.message);
      throw err;
    }
    record.argv = argv;
    const name = argv[0];
    if (name === undefined) {
      channel.resume();
      return fail(2, "empty command (try 'help')");
    }
    const handler = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!handler) {
      channel.resume();
      return fail(2, `unknown command '${clip(name)}' (try 'help')`);
    }
    // A handler gets its own stdin: `for await` destroys the stream it iterates,
    // which on the channel itself would close it before the exit status.
    const stdin = channel.pipe(new PassThrough({ highWaterMark: 256 * 1024 }));
    // ssh2 emits the channel's 'close' only once its readable side has ended,
    // which a handler that never reads stdin would hold back forever. So the
    // peer's CHANNEL_CLOSE (or a dead connection) aborts the handler here and
    // discards the unread stdin.
    const internals = channel as unknown as { push(chunk: unknown, encoding?: BufferEncoding): boolean; incoming: { state: string } };
    const push = internals.push.bind(channel);
    internals.push = (chunk, encoding) => {
      if (chunk === null && internals.incoming.state === 'closed' && !abort.signal.aborted) {
        abort.abort(new ChannelClosedError());
        channel.unpipe(stdin);
        stdin.destroy();
        channel.resume();
      }
      return push(chunk, encoding);
    };
    const stdout = outputWritable(output, 'stdout');
    const stderr = outputWritable(output, 'stderr');
    const ctx: CommandContext = {
      argv,
      command,
      env,
      user,
      stdin,
      stdout,
      stderr,
      output,
      signal: abort.signal,
      limits,
      drop: () => {
        dropped = true;
        output.destroy();
      },
      dropConnection: () => {
        dropped = true;
        (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
      },
    };
    let status: ExitStatus;
    try {
      const result: CommandResult = await handler(ctx);
      await Promise.all([endWritable(stdout), endWritable(stderr)]);
      status = result === undefined ? { code: 0 } : typeof result === 'number' ? { code: result } : result;
    } catch (err) {
      if (dropped || err instanceof ChannelClosedError || err instanceof ChannelStalledError || abort.signal.aborted) {
        record.exit = dropped ? 'dropped' : output.stalled ? 'stalled' : 'closed';
        if (output.stalled) log.warn({ command: clip(command, 200), user }, `channel closed: ${output.stalled.message}`);
        return;
      }
      if (err instanceof UsageError) return fail(2, err.message);
      log.error({ err, command: clip(command, 200) }, 'command failed');
      return fail(1, `${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (dropped) {
      record.exit = 'dropped';
      return;
    }
    // Whatever the handler left unread is discarded, so ssh2 can emit 'close'.
    channel.unpipe(stdin);
    channel.resume();
    record.exit = output.closed ? 'closed' : status;
    await output.finish(status);
  }

  (server as unknown as { _srv: import('node:net').Server })._srv.on('connection', onRawSocket);
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

  let stopped: Promise<void> | undefined;
  const stop = (stopOptions: StopOptions = {}): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const graceMs = stopOptions.graceMs ?? 5000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...running]),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
      const sockets = [...live].map(
        (client) =>
          new Promise<void>((resolve) => {
            client.once('close', () => resolve());
            client.end();
            // A peer that does not answer the disconnect is cut after a moment.
            setTimeout(() => (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy(), 1000).unref();
          }),
      );
      await Promise.all(sockets);
      // Sockets that never finished a handshake.
      for (const socket of raw) socket.destroy();
      await closed;
      if (sshDir) rmSync(sshDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const hostKeyFingerprint = fingerprint(hostBlob);
  const clientOptions = (overrides: Partial<ClientOptions> = {}): ClientOptions => {
    if (keys.clientKey === undefined && overrides.privateKey === undefined) {
      throw new UsageError('clientOptions(): this server was given authorizedKeys but no client key; pass { privateKey }');
    }
    return {
      host,
      port,
      user: 'loopssh',
      privateKey: keys.clientKey as string,
      hostKey: hostKeyFingerprint,
      knownHosts: `${knownHostsLine(host, port, hostBlob)}\n`,
      ...overrides,
    };
  };
  let sshDir: string | undefined;
  const sshArgs = (extra: readonly string[] = []): string[] => {
    const client = clientOptions();
    if (!sshDir) {
      sshDir = mkdtempSync(join(tmpdir(), 'loopssh-ssh-'));
      writeFileSync(join(sshDir, 'id_ed25519'), client.privateKey, { mode: 0o600 });
      writeFileSync(join(sshDir, 'known_hosts'), client.knownHosts, { mode: 0o600 });
    }
    return opensshArgs({ host, port, user: client.user, identityFile: join(sshDir, 'id_ed25519'), knownHostsFile: join(sshDir, 'known_hosts') }, extra);
  };

  return {
    host,
    port,
    hostKeyFingerprint,
    clientOptions,
    sshArgs,
    hostPublicKey,
    keyFiles: keys.keyFiles,
    limits,
    seen,
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}

/** A Writable over one stream of a ChannelOutput, for handlers that pipe. */
function outputWritable(output: ChannelOutput, stream: 'stdout' | 'stderr'): Writable {
  return new Writable({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      output.write(stream, chunk).then(() => callback(), callback);
    },
  });
}

/** Ends a handler's Writable and waits until its last write reached the channel. */
function endWritable(w: Writable): Promise<void> {
  if (w.writableFinished) return Promise.resolve();
  if (w.destroyed) return Promise.reject(w.errored ?? new ChannelClosedError());
  return new Promise((resolve, reject) => {
    w.once('finish', resolve);
    w.once('error', reject);
    w.end();
  });
}
