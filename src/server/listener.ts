/**
 * The accept gate: what happens to a socket before it is a connection, and
 * the limits on how many connections there are.
 *
 * ssh2 separates the same way: its `Server` accepts sockets, its per-socket
 * `Client` (here `Connection`) speaks the protocol. This module is the first
 * half: login grace time from the TCP accept, the connection limit, the idle
 * timeout, and closing everything on stop.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Connection, ClientInfo, Server } from 'ssh2';
import { connectionSocket, disconnectTooManyConnections } from '../ssh2/index.js';
import type { ServerLogger } from './log.js';
import type { ServerLimits } from './commands.js';
import type { ServerRecord } from './types.js';

/** How long a peer that does not answer our disconnect keeps its socket on stop. */
const STOP_CUT_MS = 1000;

/** Admits or refuses connections and closes them all on stop. */
export class AcceptGate {
  /** Connections admitted and not closed yet. */
  readonly #live = new Set<Connection>();
  /** Every accepted TCP socket until it closes, handshake finished or not. */
  readonly #raw = new Set<Socket>();
  readonly #graceTimers = new WeakMap<Socket, NodeJS.Timeout>();
  #stopping = false;

  constructor(
    private readonly limits: Readonly<ServerLimits>,
    private readonly log: ServerLogger,
    private readonly seen: ServerRecord,
  ) {}

  /** True once {@link closeAll} began: no new connection or channel is taken. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * The listening socket, loopssh's own: it watches every TCP socket it
   * accepts (before ssh2 sees a byte), then hands it to `server` through
   * ssh2's public `injectSocket()`.
   */
  attach(server: Server): NetServer {
    return createServer((socket) => {
      this.#onRawSocket(socket);
      server.injectSocket(socket);
    });
  }

  /**
   * Called when ssh2 reports a client (it sent its version line). Refuses it
   * with TOO_MANY_CONNECTIONS when stopping or at the limit; returns whether
   * it was admitted.
   */
  admit(client: Connection, info: ClientInfo): boolean {
    if (this.#stopping || this.#live.size >= this.limits.maxConnections) {
      this.seen.refused++;
      this.log.warn({ remote: `${info.ip}:${info.port}`, limit: this.limits.maxConnections }, 'connection refused: limit reached');
      client.on('error', () => {});
      // SSH_DISCONNECT_TOO_MANY_CONNECTIONS (RFC 4253 §11.1), so clients can say why.
      disconnectTooManyConnections(client);
      return false;
    }
    this.#live.add(client);
    client.on('close', () => this.#live.delete(client));
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

  /** The client on `sock` authenticated: its login grace time is over. */
  loggedIn(sock: Socket | undefined): void {
    if (sock) clearTimeout(this.#graceTimers.get(sock));
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

  /** Stops admitting connections and channels; running commands go on. */
  beginStop(): void {
    this.#stopping = true;
  }

  // Login grace time starts at the TCP accept: ssh2 reports a connection only
  // once the client has sent its version line, so a silent client, garbage or
  // an unfinished handshake would otherwise hold a socket forever.
  #onRawSocket(socket: Socket): void {
    this.#raw.add(socket);
    // Nagle would hold back window adjusts and the last small packets.
    socket.setNoDelay(true);
    // Every channel of the connection may wait for the socket's 'drain'.
    socket.setMaxListeners(0);
    const timer = setTimeout(() => {
      this.log.warn({ remote: socket.remoteAddress, loginGraceMs: this.limits.loginGraceMs }, 'login grace time over: closing');
      socket.destroy();
    }, this.limits.loginGraceMs);
    timer.unref();
    this.#graceTimers.set(socket, timer);
    socket.once('close', () => {
      clearTimeout(timer);
      this.#raw.delete(socket);
    });
  }
}
