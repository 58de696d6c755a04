/**
 * SFTP WRITEs framed in a reused buffer on ssh2's client
 * (lib/protocol/SFTP.js).
 *
 * ssh2's `sftp.write()` allocates a new buffer per WRITE for the message
 * (a 32 KiB ArrayBuffer per request on an upload) and copies the bytes in;
 * the channel then copies the message into its packet. {@link sftpWriteFramed}
 * builds the message in the caller's frame instead and sends it as ssh2's
 * `tryWritePayload` would (src/ssh2/sftp-flow.ts checks that code at
 * start-up), registering the request in `_requests` as `write()` does, so
 * ssh2's STATUS handler answers it. The frame is free again on return.
 */
import { shapeError, SSH2_CHECKED_VERSION, type Ssh2Modules } from './internals.js';
import { canSendDirect, sendDirect } from './sftp-flow.js';

/** SSH_FXP_WRITE (draft-ietf-secsh-filexfer-02 §3). */
const FXP_WRITE = 6;
/** uint32 length, byte type, uint32 id, uint32 handle length, (handle), uint64 offset, uint32 data length. */
const WRITE_FIXED = 4 + 1 + 4 + 4 + 8 + 4;

/** The client SFTP stream fields this module reads and writes. */
interface SftpWriteInternals {
  _requests: Record<number, { cb: (err?: Error) => void } | undefined>;
  _writeReqid: number;
  _maxWriteLen: number;
  _buffer: unknown[];
  outgoing: { id: number; window: number; state: string; packetSize: number };
  _protocol?: { channelData(channel: number, data: Buffer): void };
  write(handle: Buffer, buf: Buffer, off: number, len: number, position: number, cb: (err?: Error) => void): void;
}

/** What SFTP.js must still say for {@link sftpWriteFramed} to register requests as write() does. */
export function sftpWriteChecks(m: Ssh2Modules): [string, () => boolean][] {
  return [
    [
      'SFTP.js write() no longer numbers requests with _writeReqid & MAX_REQID and registers them as this._requests[reqid] = { cb }',
      () => /out\[4\] = REQUEST\.WRITE;\s*const reqid = this\._writeReqid = \(this\._writeReqid \+ 1\) & MAX_REQID;/.test(m.sftpSource) && /this\._requests\[reqid\] = \{\s*cb: \(err\) => \{/.test(m.sftpSource) && m.sftpSource.includes('const MAX_REQID = 2 ** 32 - 1;'),
    ],
  ];
}

function internals(sftp: object): SftpWriteInternals {
  const s = sftp as Partial<SftpWriteInternals>;
  if (typeof s._requests !== 'object' || s._requests === null || typeof s._writeReqid !== 'number' || typeof s._maxWriteLen !== 'number' || !Array.isArray(s._buffer) || typeof s.outgoing?.window !== 'number' || typeof s.write !== 'function') {
    throw shapeError(SSH2_CHECKED_VERSION, 'the SFTP client lacks _requests/_writeReqid/_maxWriteLen/_buffer/outgoing/write');
  }
  return s as SftpWriteInternals;
}

/** The frame size {@link sftpWriteFramed} needs for WRITEs of up to `dataLength` bytes with `handle`. */
export function sftpWriteFrameSize(handle: Buffer, dataLength: number): number {
  return WRITE_FIXED + handle.length + dataLength;
}

/**
 * Sends one WRITE of `data` at `position`, built in `frame` (at least
 * {@link sftpWriteFrameSize} bytes; reusable once this returns); `cb` runs
 * with the server's answer (an error for any status but OK). When the
 * message would not fit the window with room to spare, would be cut by
 * ssh2 or ssh2 has parked messages, it goes through `sftp.write()` instead.
 */
export function sftpWriteFramed(sftp: object, handle: Buffer, data: Buffer, position: number, frame: Buffer, cb: (err?: Error) => void): void {
  const s = internals(sftp);
  const len = data.length;
  const total = WRITE_FIXED + handle.length + len;
  if (len > s._maxWriteLen || frame.length < total || !canSendDirect(s, total)) {
    s.write(handle, data, 0, len, position, (err) => cb(err ?? undefined));
    return;
  }
  const reqid = (s._writeReqid = (s._writeReqid + 1) % 2 ** 32);
  frame.writeUInt32BE(total - 4, 0);
  frame[4] = FXP_WRITE;
  frame.writeUInt32BE(reqid, 5);
  frame.writeUInt32BE(handle.length, 9);
  handle.copy(frame, 13);
  let p = 13 + handle.length;
  // uint64 big-endian offset (positions stay below 2^53).
  frame.writeUInt32BE(Math.floor(position / 2 ** 32), p);
  frame.writeUInt32BE(position % 2 ** 32, p + 4);
  frame.writeUInt32BE(len, p + 8);
  p += 12;
  data.copy(frame, p);
  s._requests[reqid] = { cb: (err) => cb(err) };
  sendDirect(s, frame.subarray(0, total));
}
