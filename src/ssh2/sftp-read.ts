/**
 * Zero-copy SFTP READs on ssh2's client (lib/protocol/SFTP.js).
 *
 * ssh2's public `sftp.read(handle, buf, …)` copies every DATA reply into
 * the caller's buffer, so a download allocates a fresh 32 KiB ArrayBuffer
 * per request and copies each byte once more than it must: on a 1 GiB get
 * that was the largest share of the client's garbage-collector time.
 * ssh2's own DATA handler already hands a *view* of the packet to a request
 * registered without a buffer; {@link sftpReadView} registers the READ that
 * way. The view stays valid: every inbound payload is a slice of a fresh
 * socket read decrypted in place, or a fresh buffer when a packet or SFTP
 * message spans reads, and ssh2 never writes into either afterwards
 * (docs/ssh2-traps.md, "Inbound payloads are never reused").
 */
import { shapeError, SSH2_CHECKED_VERSION, type Ssh2Modules } from './internals.js';

/** SSH_FX_EOF (draft-ietf-secsh-filexfer-02 §7). */
const FX_EOF = 1;

/** A pending request as ssh2 keeps it in `_requests` (read_'s, for a READ). */
interface RequestInternals {
  cb?: (err?: Error & { code?: number }, data?: Buffer, nb?: number) => void;
  buffer?: Buffer;
}

/** The client SFTP stream fields this module reads. */
interface SftpReadInternals {
  _requests: Record<number, RequestInternals | undefined>;
  _writeReqid: number;
  _maxReadLen: number;
  read(handle: Buffer, buf: Buffer, off: number, len: number, position: number, cb: () => void): void;
}

/**
 * Answer to one READ: `data` is the bytes (at most the length asked; fewer
 * is a short read, never the end), undefined at SSH_FX_EOF.
 */
export type ReadViewCallback = (err: Error | undefined, data: Buffer | undefined) => void;

/** What the source of lib/protocol/SFTP.js must still say for {@link sftpReadView} to be right. */
export function sftpReadChecks(m: Ssh2Modules): [string, () => boolean][] {
  return [
    [
      'SFTP.js read_ no longer registers its request as self._requests[reqid] with req.buffer',
      () => /req\.buffer = bufferSlice\(buf, off, off \+ len\);\s*self\._requests\[reqid\] = req;/.test(m.sftpSource) && /const reqid = self\._writeReqid = \(self\._writeReqid \+ 1\) & MAX_REQID;/.test(m.sftpSource),
    ],
    [
      'SFTP.js DATA handler no longer hands a request without a buffer a view (bufferParser.readString() → req.cb(undefined, data))',
      () => /\} else \{\s*const data = bufferParser\.readString\(\);\s*bufferParser\.clear\(\);\s*if \(data !== undefined\) \{[\s\S]{0,200}req\.cb\(undefined, data\);/.test(m.sftpSource),
    ],
  ];
}

function internals(sftp: object): SftpReadInternals {
  const s = sftp as Partial<SftpReadInternals>;
  if (typeof s._requests !== 'object' || s._requests === null || typeof s._writeReqid !== 'number' || typeof s._maxReadLen !== 'number' || typeof s.read !== 'function') {
    throw shapeError(SSH2_CHECKED_VERSION, 'the SFTP client lacks _requests/_writeReqid/_maxReadLen/read');
  }
  return s as SftpReadInternals;
}

/**
 * Sends one READ of `length` bytes at `offset` and calls back with a view
 * of the reply (no copy, no allocation per request). `scratch` is any
 * buffer of at least `length` bytes: ssh2's `read()` checks a destination
 * but nothing is written to it. Lengths above ssh2's `_maxReadLen` are
 * cut to it, so the reply is then short. A server that sends more bytes than
 * asked, or answers a READ with status OK, gets an error, never a silent
 * end.
 */
export function sftpReadView(sftp: object, handle: Buffer, offset: number, length: number, scratch: Buffer, cb: ReadViewCallback): void {
  const s = internals(sftp);
  const asked = Math.min(length, s._maxReadLen);
  s.read(handle, scratch, 0, asked, offset, noop);
  const req = s._requests[s._writeReqid];
  if (req === undefined || typeof req.cb !== 'function' || !('buffer' in req)) {
    throw shapeError(SSH2_CHECKED_VERSION, 'sftp.read() did not register its request under _requests[_writeReqid]');
  }
  // Without a buffer, ssh2's DATA handler passes a view of the packet.
  req.buffer = undefined;
  req.cb = (err, data) => {
    if (err) return err.code === FX_EOF ? cb(undefined, undefined) : cb(err, undefined);
    if (data === undefined) return cb(new Error(`server answered a READ at offset ${offset} with status OK instead of data`), undefined);
    if (data.length > asked) return cb(new Error(`server sent ${data.length} bytes for a READ of ${asked} at offset ${offset}`), undefined);
    cb(undefined, data);
  };
}

function noop(): void {}
