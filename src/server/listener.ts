/**
 * The accept gate: what happens to a socket before it is a connection, and
 * the limits on how many connections there are.
 *
 * ssh2 separates the same way: its `Server` accepts sockets, its per-socket
 * `Client` (here `Connection`) speaks the protocol. This module is the first
 * half: the pre-authentication limit (OpenSSH's MaxStartups, with early
 * drop), the version-line timeout and login grace time, the limit on
 * authenticated connections, the idle timeout, and closing everything on stop.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Connection, ClientInfo, Server } from 'ssh2';
import { UsageError } from '../util/flags.js';
import { clip } from '../util/text.js';
import { connectionSocket, disconnectTooManyConnections } from '../ssh2/index.js';
import type { ServerLogger } from './log.js';
import type { MaxStartups, ServerLimits } from './commands.js';
import type { ServerRecord } from './types.js';

/** How long a peer that does not answer our disconnect keeps its socket on stop. */
const STOP_CUT_MS = 1000;

/** Parses OpenSSH's `start:rate:full` (or a bare `N`, meaning `N:100:N`); `flag` names it in errors. */
export function parseMaxStartups(text: string, flag = '--max-startups'): MaxStartups {
  const m = /^(\d{1,6})(?::(\d{1,3}):(\d{1,6}))?$/.exec(text);
  if (!m) throw new UsageError(`${flag} must be START:RATE:FULL or N (as OpenSSH's MaxStartups), not '${clip(text)}'`);
  const start = Number(m[1]);
  const [rate, full] = m[2] === undefined ? [100, start] : [Number(m[2]), Number(m[3])];
  if (start < 1 || full < start || rate > 100) {
    throw new UsageError(`${flag} ${clip(text)}: needs 1 <= START <= FULL and RATE <= 100`);
  }
  return { start, rate, full };
}

/**
 * OpenSSH's random early drop: below `start` nothing is dropped, from `start`
 * a new connection is dropped with probability rate%, rising linearly to 100%
 * at `full`.
 */
export function dropProbability(startups: number, { start, rate, full }: MaxStartups): number {
  if (startups < start) return 0;
  if (startups >= full) return 1;
  return rate / 100 + ((1 - rate / 100) * (startups - start)) / (full - start);
}

/** Per-socket state before authentication. */
interface Pending {
  /** Closes the socket if no version line arrives in time. */
  versionTimer: NodeJS.Timeout;
  /** Closes the socket if it has not authenticated in time. */
  graceTimer: NodeJS.Timeout;
}

/** Admits or refuses connections and closes them all on stop. */
export class AcceptGate {
  /** Connections ssh2 reported (version line received) and not closed yet. */
  readonly #live = new Set<Connection>();
  /** Every accepted TCP socket until it closes, handshake finished or not. */
  readonly #raw = new Set<Socket>();
  /** Sockets not authenticated yet: what maxStartups counts. */
  readonly #pending = new Map<Socket, Pending>();
  /** Authenticated connections: what maxConnections counts. */
  readonly #authenticated = new Set<Connection>();
  /** Whether sockets are being dropped (one warning per episode, not one line per socket). */
  #dropping = false;
  #stopping = false;

  constructor(
    private readonly limits: Readonly<ServerLimits>,
    private readonly log: ServerLogger,
    private readonly seen: ServerRecord,
  ) {}

  /** True once {@link beginStop} was called: no new connection or channel is taken. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * The listening socket, loopssh's own: it watches every TCP socket it
   * accepts and hands the ones the pre-authentication limit lets in to
   * `server` through ssh2's public `injectSocket()`.
   */
  attach(server: Server): NetServer {
    return createServer((socket) => {
      if (this.#accept(socket)) server.injectSocket(socket);
    });
  }

  /**
   * Called when ssh2 reports a client (it sent its version line). Refuses it
   * with TOO_MANY_CONNECTIONS when stopping; returns whether it was admitted.
   */
  admit(client: Connection, info: ClientInfo): boolean {
    const sock = connectionSocket(client);
    const pending = sock && this.#pending.get(sock);
    if (pending) clearTimeout(pending.versionTimer);
    if (this.#stopping) {
      this.#refuse(client, `${info.ip}:${info.port}`, 'connection refused: server stopping');
      return false;
    }
    this.#live.add(client);
    client.on('close', () => this.#live.delete(client));
    return true;
  }

  /**
   * The client's credentials were accepted. Counts it toward maxConnections
   * and ends its login grace time; at the limit it is refused with
   * TOO_MANY_CONNECTIONS instead and this returns false.
   */
  logIn(client: Connection, log: ServerLogger): boolean {
    if (this.#authenticated.size >= this.limits.maxConnections) {
      this.#refuse(client, undefined, 'connection refused: limit reached', log);
      return false;
    }
    this.#authenticated.add(client);
    const sock = connectionSocket(client);
    // Free again as soon as the peer is gone: its FIN ('end') can come well
    // before the socket's 'close', and a client may reconnect at once.
    const free = (): void => void this.#authenticated.delete(client);
    client.once('close', free);
    sock?.once('end', free);
    if (sock) this.#settle(sock);
    return true;
  }

  /** Closes `sock` after `idleTimeoutMs` without traffic, if that limit is set. */
  watchIdle(sock: Socket | undefined, log: ServerLogger): void {
    const { idleTimeoutMs } = this.limits;
    if (idleTimeoutMs <= 0 || !sock) return;
    // Socket timeouts restart on any traffic, so this fires only when the peer is silent.
    sock.setTimeout(idleTimeoutMs, () => {
      log.warn({ idleTimeoutMs }, 'idle timeout: closing');
      sock.destroy();
    });
  }

  /** Stops admitting connections and channels; running commands go on. */
  beginStop(): void {
    this.#stopping = true;
  }

  /** Ends every live connection (cut after a moment if the peer is silent), then every half-open socket. */
  async closeAll(): Promise<void> {
    this.beginStop();
    const ended = [...this.#live].map(
      (client) =>
        new Promise<void>((resolve) => {
          client.once('close', () => resolve());
          client.end();
          setTimeout(() => connectionSocket(client)?.destroy(), STOP_CUT_MS).unref();
        }),
    );
    await Promise.all(ended);
    // Sockets that never finished a handshake.
    for (const socket of this.#raw) socket.destroy();
  }

  /** Refuses with TOO_MANY_CONNECTIONS; `log` is the connection's own logger when there is one (it names the peer). */
  #refuse(client: Connection, remote: string | undefined, why: string, log: ServerLogger = this.log): void {
    this.seen.refused++;
    log.warn(remote === undefined ? { limit: this.limits.maxConnections } : { remote, limit: this.limits.maxConnections }, why);
    client.on('error', () => {});
    // SSH_DISCONNECT_TOO_MANY_CONNECTIONS (RFC 4253 §11.1), so clients can say why.
    disconnectTooManyConnections(client);
  }

  /** A new TCP socket: drops it early past maxStartups, else starts its timers. Returns whether it may go on to ssh2. */
  #accept(socket: Socket): boolean {
    if (this.#stopping) {
      socket.destroy();
      return false;
    }
    if (this.#shouldDrop()) {
      this.seen.dropped++;
      socket.destroy();
      return false;
    }
    this.#raw.add(socket);
    // Nagle would hold back window adjusts and the last small packets.
    socket.setNoDelay(true);
    // Every channel of the connection may wait for the socket's 'drain'.
    socket.setMaxListeners(0);
    // Both clocks start at the TCP accept: ssh2 reports a connection only once
    // the client has sent its version line, so a silent client, garbage or an
    // unfinished handshake would otherwise hold a socket (and a startup) forever.
    const { loginGraceMs, versionTimeoutMs } = this.limits;
    const closeAfter = (ms: number, message: string, fields: object): NodeJS.Timeout => {
      const timer = setTimeout(() => {
        this.log.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}`, ...fields }, message);
        socket.destroy();
      }, ms);
      timer.unref();
      return timer;
    };
    this.#pending.set(socket, {
      versionTimer: closeAfter(Math.min(versionTimeoutMs, loginGraceMs), 'no SSH version line in time: closing', { versionTimeoutMs }),
      graceTimer: closeAfter(loginGraceMs, 'login grace time over: closing', { loginGraceMs }),
    });
    socket.once('close', () => {
      this.#settle(socket);
      this.#raw.delete(socket);
    });
    return true;
  }

  /** The socket authenticated or closed: it no longer counts as a startup. */
  #settle(socket: Socket): void {
    const pending = this.#pending.get(socket);
    if (!pending) return;
    clearTimeout(pending.versionTimer);
    clearTimeout(pending.graceTimer);
    this.#pending.delete(socket);
  }

  // Dropping before ssh2 sees the socket costs no handshake work.
  #shouldDrop(): boolean {
    const { start, rate, full } = this.limits.maxStartups;
    const startups = this.#pending.size;
    const p = dropProbability(startups, this.limits.maxStartups);
    const drop = p >= 1 || (p > 0 && Math.random() < p);
    if (startups < start) this.#dropping = false;
    else if (drop && !this.#dropping) {
      this.#dropping = true;
      this.log.warn({ startups, maxStartups: `${start}:${rate}:${full}` }, 'too many unauthenticated connections: dropping new ones');
    }
    return drop;
  }
}
