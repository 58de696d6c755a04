/**
 * SFTP messages sent the way OpenSSH sends them: one SSH packet each, and a
 * burst in one socket write.
 *
 * Request sizes that keep each SFTP message whole and in one SSH packet.
 * ssh2's SFTP client cuts a READ or WRITE longer than `_maxReadLen` /
 * `_maxWriteLen` into two requests, the second one sent only after the
 * first is answered; for any server whose version string is not OpenSSH's
 * (loopssh serve among them) that limit is 31 952 bytes (34 000 less 2 KiB),
 * so a 32 KiB request became 31 952 + 816 bytes: two round trips and two
 * server operations per chunk. And ssh2 sends every SFTP message on its own
 * (lib/protocol/SFTP.js tryWritePayload), cut at the channel's packet size
 * (32 KiB on both ssh2 ends): a WRITE of a full 32 KiB plus its 29-byte
 * header leaves as two packets, as does a 32 KiB READ's reply from an ssh2
 * server. OpenSSH packs its channel as a byte stream and pays neither.
 */
import type { Socket } from 'node:net';
import { connectionInternals } from './internals.js';

/** The channel fields this module reads (public on ssh2's SFTP stream, but undocumented). */
interface SftpChannelSizes {
  outgoing?: { packetSize?: unknown };
  incoming?: { packetSize?: unknown };
  _maxReadLen?: unknown;
  _maxWriteLen?: unknown;
}

/** uint32 length + byte type + uint32 request id + uint32 data length: a DATA reply's header. */
const DATA_HEADER = 4 + 1 + 4 + 4;
/** uint32 length + byte type + uint32 request id + uint32 handle length + uint64 offset + uint32 data length: a WRITE's header, without the handle. */
const WRITE_HEADER = 4 + 1 + 4 + 4 + 8 + 4;
/** When a channel reports no usable packet size: the 32 768 bytes RFC 4253 §6.1 has every implementation handle. */
const FALLBACK_PACKET = 32 * 1024;

function packetSize(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 1024 ? v : FALLBACK_PACKET;
}

/** ssh2's own cut-off for one READ/WRITE (Infinity when the field is missing: the packet bound still holds). */
function ssh2Limit(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : Infinity;
}

/**
 * The largest READ length that ssh2 sends as one request and whose DATA
 * reply fits one packet we receive, and the largest WRITE data length (with
 * `handle`) that ssh2 sends as one request in one packet.
 */
export function sftpPacketFit(sftp: object, handle: Buffer): { read: number; write: number } {
  const s = sftp as SftpChannelSizes;
  return {
    read: Math.min(ssh2Limit(s._maxReadLen), packetSize(s.incoming?.packetSize) - DATA_HEADER),
    write: Math.min(ssh2Limit(s._maxWriteLen), packetSize(s.outgoing?.packetSize) - WRITE_HEADER - handle.length),
  };
}

/** Sockets corked until the end of the current tick. */
const corked = new WeakSet<Socket>();

/**
 * Holds the SFTP session's socket writes until the end of this tick, then
 * sends them as one writev. ssh2 writes every SSH packet to the socket on
 * its own, so a burst of SFTP messages (the WRITEs cut from one source
 * chunk, a run of READ requests, the STATUS acks of the WRITEs one socket
 * read brought) costs one system call, and one wake-up of the peer, per
 * message; OpenSSH batches them. Costs nothing when called again in the same
 * tick. No-op if the session's connection has no socket (ssh2's shape moved).
 */
export function batchSftpWrites(sftp: object): void {
  const client = (sftp as { _client?: object })._client;
  const sock = client ? connectionInternals(client)._sock : undefined;
  if (!sock || corked.has(sock) || typeof sock.cork !== 'function') return;
  corked.add(sock);
  sock.cork();
  process.nextTick(() => {
    corked.delete(sock);
    sock.uncork();
  });
}
