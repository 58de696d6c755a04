/**
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
 * reply fits one packet we receive, the largest WRITE data length (with
 * `handle`) that ssh2 sends as one request in one packet, and the largest it
 * sends as one request at all (`writeLimit`: above it ssh2 would read the
 * rest of the caller's buffer only after the first part's answer).
 */
export function sftpPacketFit(sftp: object, handle: Buffer): { read: number; write: number; writeLimit: number } {
  const s = sftp as SftpChannelSizes;
  return {
    read: Math.min(ssh2Limit(s._maxReadLen), packetSize(s.incoming?.packetSize) - DATA_HEADER),
    write: Math.min(ssh2Limit(s._maxWriteLen), packetSize(s.outgoing?.packetSize) - WRITE_HEADER - handle.length),
    writeLimit: ssh2Limit(s._maxWriteLen),
  };
}

