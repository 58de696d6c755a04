/**
 * SFTP extensions in the server's VERSION reply (ssh2's server side,
 * lib/protocol/SFTP.js).
 *
 * ssh2 answers INIT with a fixed 9-byte VERSION and no extension pairs, so
 * a client cannot learn that loopssh serve handles posix-rename@openssh.com:
 * OpenSSH's sftp, and loopssh's own atomic upload, then fall back to SFTP
 * v3 RENAME, which never replaces (a replace becomes remove + rename, with
 * a moment where the target is missing). {@link advertiseSftpExtensions}
 * takes the INIT before ssh2 sees it and does what ssh2's INIT handler
 * does (version and extensions recorded, 'ready' emitted), with the
 * extensions in the reply.
 */
import { shapeError, SSH2_CHECKED_VERSION, type Ssh2Modules } from './internals.js';
import { canSendDirect, sendDirect } from './sftp-flow.js';

/** SSH_FXP_INIT and SSH_FXP_VERSION (draft-ietf-secsh-filexfer-02 §4). */
const FXP_INIT = 1;
const FXP_VERSION = 2;
/** An INIT longer than this is not one a client sends: left to ssh2. */
const MAX_INIT = 64 * 1024;

/** The server SFTP stream fields this module reads and writes. */
interface SftpServerInternals {
  push(data: Buffer | null): void;
  _version: number;
  _extensions: Record<string, string>;
  outgoing: { id: number; window: number; state: string; packetSize: number };
  _protocol?: { channelData(channel: number, data: Buffer): void };
  emit(event: 'ready'): boolean;
}

/** What SFTP.js's INIT handler must still do for the replacement here to match it. */
export function sftpVersionChecks(m: Ssh2Modules): [string, () => boolean][] {
  return [
    [
      "SFTP.js INIT handler no longer sends VERSION, then sets _version/_extensions and emits 'ready'",
      () => /sendOrBuffer\(sftp, SERVER_VERSION_BUFFER\);\s*sftp\._version = version;\s*sftp\._extensions = extensions;\s*sftp\.emit\('ready'\);/.test(m.sftpSource),
    ],
    ["SFTP.js push() no longer treats _version === -1 as 'INIT expected'", () => /if \(this\._version === -1\) \{\s*if \(this\.server\) \{\s*if \(type !== REQUEST\.INIT\)/.test(m.sftpSource)],
  ];
}

/** The VERSION packet: uint32 length, byte 2, uint32 3, then each extension as two SSH strings. */
function versionPacket(extensions: Record<string, string>): Buffer {
  const pairs = Object.entries(extensions).flatMap(([name, data]) => [Buffer.from(name), Buffer.from(data)]);
  const body = 1 + 4 + pairs.reduce((n, b) => n + 4 + b.length, 0);
  const out = Buffer.allocUnsafe(4 + body);
  out.writeUInt32BE(body, 0);
  out[4] = FXP_VERSION;
  out.writeUInt32BE(3, 5);
  let at = 9;
  for (const b of pairs) {
    out.writeUInt32BE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** The client's version and extension pairs from an INIT packet (after its length), or undefined if malformed. */
function parseInit(init: Buffer): { version: number; extensions: Record<string, string> } | undefined {
  if (init.length < 5) return undefined;
  const version = init.readUInt32BE(1);
  const extensions: Record<string, string> = {};
  let at = 5;
  const str = (): string | undefined => {
    if (at + 4 > init.length) return undefined;
    const len = init.readUInt32BE(at);
    if (at + 4 + len > init.length) return undefined;
    const s = init.toString('latin1', at + 4, at + 4 + len);
    at += 4 + len;
    return s;
  };
  while (at < init.length) {
    const name = str();
    const data = str();
    if (name === undefined || data === undefined) return undefined;
    extensions[name] = data;
  }
  return { version, extensions };
}

/**
 * Makes the server SFTP stream `sftp` (just accepted, nothing received yet)
 * answer the client's INIT with `extensions` listed in its VERSION. Anything
 * unexpected (no INIT first, a malformed one, no window for the reply) is
 * left to ssh2 as it is, which then answers or fails as before.
 */
export function advertiseSftpExtensions(sftp: object, extensions: Record<string, string>): void {
  const s = sftp as Partial<SftpServerInternals>;
  if (typeof s.push !== 'function' || s._version !== -1 || typeof s.outgoing?.window !== 'number') {
    throw shapeError(SSH2_CHECKED_VERSION, 'a new server SFTP stream lacks push/_version -1/outgoing');
  }
  const stream = s as SftpServerInternals;
  const original = stream.push;
  let head: Buffer | undefined;
  const restore = (): void => {
    stream.push = original;
  };
  stream.push = function (data: Buffer | null): void {
    if (data === null) {
      restore();
      return original.call(this, data);
    }
    head = head ? Buffer.concat([head, data]) : data;
    if (head.length < 5) return;
    const len = head.readUInt32BE(0);
    if (head[4] !== FXP_INIT || len > MAX_INIT) {
      restore();
      return original.call(this, head);
    }
    if (head.length < 4 + len) return;
    restore();
    const rest = head.subarray(4 + len);
    const init = parseInit(head.subarray(4, 4 + len));
    const reply = versionPacket(extensions);
    if (!init || reply.length > stream.outgoing.packetSize || !canSendDirect(stream, reply.length)) {
      // ssh2's own INIT handling: its plain VERSION, or its error.
      return original.call(this, head);
    }
    sendDirect(stream, reply);
    stream._version = init.version;
    stream._extensions = init.extensions;
    stream.emit('ready');
    if (rest.length > 0) original.call(this, rest);
  };
}
