/**
 * Output flow control for ssh2's server-side SFTP stream (lib/protocol/SFTP.js).
 *
 * ssh2's SFTP replies (`data()`, `status()`, …) never push back: once the
 * channel window is spent, every further reply is parked in the stream's
 * private `_buffer` array without limit. A client that queues thousands of
 * READs (paramiko prefetches a whole file) would make the server hold the
 * whole file in memory. The SFTP server therefore asks {@link sftpBlocked}
 * before producing a READ's bytes and waits with {@link whenSftpWritable}.
 */
import { shapeError, SSH2_CHECKED_VERSION, type Ssh2Modules } from './internals.js';

/** The private fields of an SFTP stream this module reads. */
interface SftpFlowInternals {
  _buffer: unknown[];
  data(reqid: number, data: Buffer): void;
  _chunkcb?: (this: SftpFlowInternals) => void;
  outgoing: { id: number; window: number; state: string; packetSize: number };
  _protocol?: { exitStatus(channel: number, status: number): void; channelEOF(channel: number): void; channelData(channel: number, data: Buffer): void };
  /** The connection (lib/server.js Client); its `_sock` is the TCP socket. */
  _client?: { _sock?: { writable?: boolean } };
}

function internals(sftp: object): SftpFlowInternals {
  const s = sftp as Partial<SftpFlowInternals>;
  if (!Array.isArray(s._buffer) || typeof s.outgoing?.window !== 'number') {
    throw shapeError(SSH2_CHECKED_VERSION, 'the SFTP stream lacks _buffer/outgoing.window');
  }
  return s as SftpFlowInternals;
}

/** True when the next reply would be parked in ssh2's unbounded buffer instead of sent. */
export function sftpBlocked(sftp: object): boolean {
  const s = internals(sftp);
  return s._buffer.length > 0 || (s.outgoing.state === 'open' && s.outgoing.window === 0);
}

/** The `_chunkcb` ssh2 last assigned, and the callbacks waiting for the stream to drain. */
interface DrainHook {
  real: unknown;
  waiters: (() => void)[];
}
const drainHooks = new WeakMap<object, DrainHook>();

/**
 * Makes `_chunkcb` an accessor on this stream, once: ssh2 keeps assigning
 * its own `drainBuffer` there (on every send while the window is 0) and
 * clearing it (drainBuffer's first step), so a wrapper assigned once was
 * dropped by the next reply sent while blocked (a STATUS to another request)
 * and the READs waiting on it never resumed. The getter hands ssh2 a runner
 * that calls ssh2's callback, then the waiters once nothing is parked.
 */
function drainHook(s: SftpFlowInternals): DrainHook {
  const known = drainHooks.get(s);
  if (known) return known;
  const hook: DrainHook = { real: s._chunkcb, waiters: [] };
  function run(this: SftpFlowInternals): void {
    const drain = hook.real;
    if (typeof drain === 'function') (drain as (this: SftpFlowInternals) => void).call(this);
    // A closing channel resumes nobody; the session is going away.
    if (this.outgoing.state !== 'open') hook.waiters.length = 0;
    if (hook.waiters.length === 0 || sftpBlocked(this)) return;
    for (const callback of hook.waiters.splice(0)) callback();
  }
  Object.defineProperty(s, '_chunkcb', {
    configurable: true,
    enumerable: true,
    get: () => (hook.real === undefined && hook.waiters.length === 0 ? undefined : run),
    set: (value: unknown) => {
      hook.real = value;
    },
  });
  drainHooks.set(s, hook);
  return hook;
}

/**
 * Calls `callback` once the SFTP stream has sent everything it parked (the
 * peer's WINDOW_ADJUST ran ssh2's `drainBuffer` to the end). ssh2 calls the
 * stream's `_chunkcb` on every WINDOW_ADJUST while it waits for window; see
 * {@link drainHook} for how the callback survives ssh2 reassigning it.
 */
export function whenSftpWritable(sftp: object, callback: () => void): void {
  const s = internals(sftp);
  if (!sftpBlocked(sftp)) {
    queueMicrotask(callback);
    return;
  }
  const hook = drainHook(s);
  if (typeof hook.real !== 'function') {
    // Nothing will call us back: ssh2 parks replies only with a _chunkcb set.
    throw shapeError(SSH2_CHECKED_VERSION, 'a blocked SFTP stream has no _chunkcb to resume it');
  }
  hook.waiters.push(callback);
}

/**
 * Ends an SFTP session as sshd does when sftp-server exits: exit-status,
 * EOF, CLOSE. ssh2's SFTP `end()` sends only CHANNEL_CLOSE, and OpenSSH's
 * ssh then exits with status -1 (255), which `scp` reports as a failure.
 */
export function endSftpWithStatus(sftp: object, code: number): void {
  const s = internals(sftp);
  const proto = s._protocol;
  if (typeof proto?.exitStatus !== 'function' || typeof proto.channelEOF !== 'function') {
    throw shapeError(SSH2_CHECKED_VERSION, 'the SFTP stream lacks _protocol.exitStatus/channelEOF');
  }
  // On a socket's 'close' ssh2 cleans the protocol up (zlib's streams
  // closed) before it ends the channels: sending anything then, the CLOSE
  // of end() included, would throw "Invalid Zlib instance" out of the
  // socket's event and crash the server. ssh2 has closed the channel itself.
  if (s._client?._sock?.writable !== true) return;
  if (s.outgoing.state === 'open') {
    proto.exitStatus(s.outgoing.id, code);
    proto.channelEOF(s.outgoing.id);
    s.outgoing.state = 'eof';
  }
  (sftp as { end(): void }).end();
}

/** What SFTP.js must still do for {@link sendSftpData} to send as ssh2 would. */
export function sftpSendChecks(m: Ssh2Modules): [string, () => boolean][] {
  return [
    [
      'SFTP.js tryWritePayload no longer charges outgoing.window and sends packet-size pieces via _protocol.channelData(outgoing.id, …)',
      () => /const actualLen = Math\.min\(len - p, outgoing\.window, outgoing\.packetSize\);\s*outgoing\.window -= actualLen;/.test(m.sftpSource) && m.sftpSource.includes('sftp._protocol.channelData(sftp.outgoing.id, payload);'),
    ],
  ];
}

/** The fields of an SFTP stream (either side) a direct send reads and charges. */
interface DirectSendInternals {
  _buffer?: unknown[];
  outgoing?: { id: number; window: number; state: string; packetSize: number };
  _protocol?: { channelData?(channel: number, data: Buffer): void };
}

/**
 * Whether `length` bytes can go to the channel now the way ssh2's
 * `tryWritePayload` sends them: nothing parked ahead of them, the channel
 * open, and strictly more window than they need. Strictly: a direct send
 * never leaves the window at 0, where ssh2 expects its own send path to
 * have armed `_chunkcb` (whenSftpWritable waits on it).
 */
export function canSendDirect(sftp: object, length: number): boolean {
  const s = sftp as DirectSendInternals;
  const out = s.outgoing;
  return Array.isArray(s._buffer) && s._buffer.length === 0 && out?.state === 'open' && out.window > length && out.packetSize > 0 && typeof s._protocol?.channelData === 'function';
}

/**
 * Sends `bytes` as ssh2's `tryWritePayload` would: the window charged,
 * then packet-size pieces through `_protocol.channelData` (which copies
 * them, so `bytes` may be reused on return). Only after {@link canSendDirect}.
 */
export function sendDirect(sftp: object, bytes: Buffer): void {
  const s = sftp as Required<DirectSendInternals> & { _protocol: { channelData(channel: number, data: Buffer): void } };
  const out = s.outgoing;
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(bytes.length - at, out.packetSize);
    out.window -= n;
    s._protocol.channelData(out.id, at === 0 && n === bytes.length ? bytes : bytes.subarray(at, at + n));
    at += n;
  }
}

/** uint32 length, byte SSH_FXP_DATA, uint32 request id, uint32 data length: the bytes before a DATA reply's data. */
export const SFTP_DATA_HEADER = 13;
/** SSH_FXP_DATA (draft-ietf-secsh-filexfer-02 §7). */
const FXP_DATA = 103;

/**
 * Sends a READ's DATA reply whose bytes already sit in `frame` after
 * {@link SFTP_DATA_HEADER} reserved bytes: the header is written in front
 * and the frame goes to the channel as it is. ssh2's `data()` allocates a
 * new buffer per reply and copies the bytes into it (on a 1 GiB get, the
 * server's largest source of garbage); the channel copies them into its
 * packet either way, so `frame` can be reused as soon as this returns.
 * When the reply would not fit the window whole (ssh2 would park part of
 * it), it goes through `data()` instead, with its parking and resume.
 */
export function sendSftpData(sftp: object, reqid: number, frame: Buffer, length: number): void {
  const s = internals(sftp);
  const total = SFTP_DATA_HEADER + length;
  if (!canSendDirect(s, total)) {
    s.data(reqid, frame.subarray(SFTP_DATA_HEADER, total));
    return;
  }
  frame.writeUInt32BE(total - 4, 0);
  frame[4] = FXP_DATA;
  frame.writeUInt32BE(reqid, 5);
  frame.writeUInt32BE(length, 9);
  sendDirect(s, frame.subarray(0, total));
}

/** One SSH_FXP_STATUS with code OK, empty message and language tag: uint32 17, byte 101, uint32 id, uint32 0, two empty strings. */
const OK_STATUS_BYTES = 21;
const FXP_STATUS = 101;

/**
 * Answers every request in `reqids` with SSH_FX_OK in one channel message
 * (the bytes ssh2's `status(id, 0)` sends for each, back to back): a batch
 * of acknowledged WRITEs costs one SSH packet instead of one each. Falls
 * back to `status()` per request when the window lacks room to spare, ssh2
 * has replies parked, or the batch would not fit one packet.
 */
export function sendSftpOkStatuses(sftp: object, reqids: readonly number[]): void {
  const s = internals(sftp) as SftpFlowInternals & { status(reqid: number, code: number): void };
  const total = OK_STATUS_BYTES * reqids.length;
  if (reqids.length === 0) return;
  if (total > s.outgoing.packetSize || !canSendDirect(s, total)) {
    for (const id of reqids) s.status(id, 0);
    return;
  }
  const buf = Buffer.alloc(total);
  for (let i = 0, at = 0; i < reqids.length; i++, at += OK_STATUS_BYTES) {
    buf.writeUInt32BE(OK_STATUS_BYTES - 4, at);
    buf[at + 4] = FXP_STATUS;
    buf.writeUInt32BE(reqids[i] as number, at + 5);
    // code 0, message length 0, language tag length 0: already zero.
  }
  sendDirect(s, buf);
}
