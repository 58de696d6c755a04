/**
 * loopssh's one door to ssh2 internals (pinned to ssh2 1.17.x).
 *
 * Importing this module checks ssh2's shape once and throws one line
 * (`loopssh: ssh2 X.Y.Z has an unexpected shape: …`) if anything the patches
 * rely on moved. Nothing outside src/ssh2/ touches a `_`-prefixed ssh2 field.
 * The patches and why: docs/ssh2-traps.md.
 */
import type { Socket } from 'node:net';
import { assertSsh2Shape, connectionInternals, DISCONNECT } from './internals.js';
import { patchClientProtocol, patchServerProtocol } from './protocol-patches.js';
import { patchSendPath, sendLevers, type SendLevers } from './send-path.js';
import { limitSessionWindows, type SessionWindow } from './session-window.js';

assertSsh2Shape();
// A bad LOOPSSH_SEND_PATH fails at start-up, not at the first connection.
sendLevers();

export { SSH2_CHECKED_VERSION, DISCONNECT, assertSsh2Shape } from './internals.js';
export { clearStaleChunksOnWrite, onPeerClosedChannel, channelOutputClosed, channelSocket } from './channel-patches.js';
export { endSftpWithStatus, sftpBlocked, whenSftpWritable, sendSftpData, sendSftpOkStatuses, SFTP_DATA_HEADER } from './sftp-flow.js';
export { sftpPacketFit } from './sftp-packet.js';
export { sftpWriteFramed, sftpWriteFrameSize } from './sftp-write.js';
export { advertiseSftpExtensions } from './sftp-version.js';
export { sendExitStatus, rekeyWithWrongGuess, NEVER_CHOSEN_KEX } from './server-sends.js';
export { keepOpenUntilServerCloses } from './client-channel.js';
export { SEND_PATH_ENV, DEFAULT_SEND_LEVERS, parseSendLevers, packetSlabs, type SendLevers } from './send-path.js';
export { PaddingPool, PADDING_POOL_BYTES } from './padding-pool.js';
export { PacketSlabs, SLAB_BYTES, MIN_SLAB_PACKET } from './packet-slabs.js';
export { checkSessionWindow, type SessionWindow } from './session-window.js';

/**
 * Fixes a server-side connection ssh2 just reported (call first thing in the
 * Server's 'connection' listener): first_kex_packet_follows, channel-window
 * overruns, repeated ssh-userauth service requests, requests on a running
 * session, connection messages during a rekey; and the send-path levers
 * LOOPSSH_SEND_PATH picks (send-path.ts).
 */
export function patchServerConnection(connection: object): void {
  const conn = connectionInternals(connection);
  patchServerProtocol(conn);
  if (conn._protocol) patchSendPath(conn, conn._protocol);
}

/**
 * Makes the session channels of a server-side connection advertise the
 * receive window and packet size `choose()` returns when each is accepted
 * (undefined: ssh2's 2 MiB / 32 KiB), topped up in WINDOW_ADJUSTs of
 * `step` bytes; a client sending a larger packet is disconnected like one
 * overrunning the window. Call right after {@link patchServerConnection}.
 */
export function limitServerSessionWindows(connection: object, choose: () => SessionWindow | undefined): void {
  limitSessionWindows(connectionInternals(connection), choose);
}

/**
 * Fixes a client-side ssh2 connection: first_kex_packet_follows, channel
 * window overruns, connection messages during a rekey; the send-path
 * levers. Call right after
 * `client.connect(...)` returned, before any packet arrived.
 */
export function patchClientConnection(connection: object): void {
  const conn = connectionInternals(connection);
  patchClientProtocol(conn);
  if (conn._protocol) patchSendPath(conn, conn._protocol);
}

/**
 * Installs only the send-path levers given (not LOOPSSH_SEND_PATH's) on an
 * ssh2 connection of either side, for tests and benches that pick levers
 * per connection. Call where {@link patchServerConnection} would be called.
 */
export function patchConnectionSendPath(connection: object, levers: SendLevers): void {
  const conn = connectionInternals(connection);
  if (conn._protocol) patchSendPath(conn, conn._protocol, levers);
}

/**
 * Sends SSH_MSG_DISCONNECT with `reason` (RFC 4253 §11.1) and ends the
 * socket; ssh2's public `end()` always says BY_APPLICATION.
 */
export function disconnectWith(connection: object, reason: number): void {
  const conn = connectionInternals(connection);
  if (conn._protocol && conn._sock) {
    conn._protocol.disconnect(reason);
    conn._sock.end();
  } else (connection as { end(): void }).end();
}

/** Refuses a connection with SSH_DISCONNECT_TOO_MANY_CONNECTIONS. */
export function disconnectTooManyConnections(connection: object): void {
  disconnectWith(connection, DISCONNECT.TOO_MANY_CONNECTIONS);
}

/** The TCP socket of an ssh2 connection (server or client side). */
export function connectionSocket(connection: object): Socket | undefined {
  return connectionInternals(connection)._sock;
}
