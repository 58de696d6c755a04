/**
 * The one place that knows ssh2's private internals (ssh2 1.17.x).
 *
 * Everything loopssh needs from inside ssh2 is typed and reached here, and
 * {@link assertSsh2Shape} checks at import that each piece is still there, so
 * an ssh2 upgrade that moved something fails at start-up with one line
 * instead of losing bytes later. docs/ssh2-traps.md lists each patch and why.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { sendPathChecks } from './send-path-shape.js';
import { sftpSendChecks } from './sftp-flow.js';
import { sftpWriteChecks } from './sftp-write.js';
import { sftpVersionChecks } from './sftp-version.js';

const require = createRequire(import.meta.url);

/** The ssh2 version every private access and patch here was checked against. */
export const SSH2_CHECKED_VERSION = '1.17.0';

/** SSH_MSG_* numbers used by the patches (RFC 4250 §4.1.2). */
export const MSG = { KEXINIT: 20, KEXDH_INIT: 30, KEXDH_REPLY: 31, CONNECTION_FIRST: 80 } as const;

/** SSH_DISCONNECT_* reason codes (RFC 4250 §4.2.2). */
export const DISCONNECT = { PROTOCOL_ERROR: 2, TOO_MANY_CONNECTIONS: 12 } as const;

type PayloadFn = (payload: Buffer) => unknown;

/** A packet decipher: every class in lib/protocol/crypto.js calls `this._onPayload(payload)`. */
export interface DecipherInternals {
  _onPayload: PayloadFn;
}

/** ssh2's KeyExchange (lib/protocol/kex.js): the KEXINIT payloads both sides sent. */
export interface KexInternals {
  sessionID?: Buffer;
  _kexinit?: Buffer;
  _remoteKexinit?: Buffer;
}

/** lib/protocol/Protocol.js, the fields and methods the patches use. */
export interface ProtocolInternals {
  _decipher?: DecipherInternals;
  _kex?: KexInternals;
  _kexinit?: Buffer;
  _skipNextInboundPacket: boolean;
  _onPayload: PayloadFn;
  _packetRW: { read: { read(payload: Buffer): Buffer }; write: PacketWriterInternals };
  _cipher: CipherInternals;
  _handlers: Record<string, ((...args: never[]) => unknown) | undefined>;
  disconnect(reason: number): void;
  channelFailure(recipient: number): void;
  serviceAccept(service: string): void;
  rekey(): void;
  exitStatus(recipient: number, status: number): void;
  channelOpenConfirm(remote: number, local: number, initWindow: number, maxPacket: number): void;
  channelWindowAdjust(recipient: number, amount: number): void;
}

/**
 * An outbound packet cipher (lib/protocol/crypto.js: NullCipher, the
 * *CipherBinding and *CipherNative classes): `allocPacket` lays out length,
 * padding length and random padding; `encrypt` seals it and hands the bytes
 * to `_onWrite` (the Protocol's, which writes to the socket).
 */
export interface CipherInternals {
  allocPacket(payloadLen: number): Buffer;
  encrypt(packet: Buffer): void;
  _onWrite: (data: Uint8Array) => void;
  constructor: { name: string };
}

/** lib/protocol/zlib.js PacketWriter/ZlibPacketWriter: builds outbound packets (`force`: during a key exchange). */
export interface PacketWriterInternals {
  allocStartKEX: number;
  alloc(size: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}

/** A channel as ssh2's ChannelManager holds it (lib/Channel.js), or a server Session wrapping one. */
export interface ChannelInternals {
  incoming: { id: number; window: number; state: string };
  outgoing: { id: number; state: string };
  _channel?: ChannelInternals;
  _chanInfo?: { outgoing: { id: number; state: string } };
  _ending?: boolean;
  constructor: unknown;
}

/** ssh2's server-side and client-side connection objects (lib/server.js Client, lib/client.js Client). */
export interface ConnectionInternals {
  _protocol?: ProtocolInternals;
  _sock?: Socket;
  _chanMgr?: { get(id: number): unknown };
  authenticated?: boolean;
}

type WriteFn = (data: Buffer, encoding: BufferEncoding | null, cb: (err?: Error | null) => void) => void;

/** An exec channel's writer side (lib/Channel.js): the parked remainders of a window-blocked write. */
export interface ChannelWriteInternals {
  _write: WriteFn;
  _chunk?: Buffer;
  _chunkcb?: unknown;
  _chunkErr?: Buffer;
  _chunkcbErr?: unknown;
  _client?: ConnectionInternals;
  stderr: { _write: WriteFn };
  push(chunk: unknown, encoding?: BufferEncoding): boolean;
  incoming: { state: string };
  outgoing: { id: number; state: string };
}

/** The ssh2 module's private files the patches load. */
export interface Ssh2Modules {
  version: string;
  Protocol: new (config: Record<string, unknown>) => ProtocolInternals;
  handlers: (((proto: ProtocolInternals, payload: Buffer) => unknown) | undefined)[];
  Channel: { prototype: Record<string, unknown> };
  serverSource: string;
  clientSource: string;
  kexSource: string;
  /** lib/protocol/crypto.js, for the send-path checks (src/ssh2/send-path-shape.ts). */
  cryptoSource: string;
  /** lib/utils.js isWritable: ssh2's own test before every socket write. */
  isWritable: (stream: unknown) => boolean;
  channelSource: string;
  /** lib/protocol/SFTP.js, for the SFTP send, WRITE and VERSION checks (sftp-flow.ts, sftp-write.ts, sftp-version.ts). */
  sftpSource: string;
  Server: { prototype: Record<string, unknown> };
}

function load(): Ssh2Modules {
  const fs = require('node:fs') as typeof import('node:fs');
  const read = (id: string): string => fs.readFileSync(require.resolve(id), 'utf8');
  return {
    version: (require('ssh2/package.json') as { version: string }).version,
    Protocol: require('ssh2/lib/protocol/Protocol.js') as Ssh2Modules['Protocol'],
    handlers: require('ssh2/lib/protocol/handlers.js') as Ssh2Modules['handlers'],
    Channel: (require('ssh2/lib/Channel.js') as { Channel: Ssh2Modules['Channel'] }).Channel,
    serverSource: read('ssh2/lib/server.js'),
    clientSource: read('ssh2/lib/client.js'),
    kexSource: read('ssh2/lib/protocol/kex.js'),
    cryptoSource: read('ssh2/lib/protocol/crypto.js'),
    isWritable: (require('ssh2/lib/utils.js') as { isWritable: Ssh2Modules['isWritable'] }).isWritable,
    channelSource: read('ssh2/lib/Channel.js'),
    sftpSource: read('ssh2/lib/protocol/SFTP.js'),
    Server: require('ssh2/lib/server.js') as Ssh2Modules['Server'],
  };
}

/** The one line an unexpected ssh2 throws. */
export function shapeError(version: string, what: string): Error {
  return new Error(`loopssh: ssh2 ${version} has an unexpected shape: ${what} — loopssh was checked against ${SSH2_CHECKED_VERSION}`);
}

/**
 * What must hold for the patches to be right, as [description, check] pairs.
 * Source-text checks cover fields that live only inside ssh2's closures.
 */
function shapeChecks(m: Ssh2Modules): [string, () => boolean][] {
  const proto = (): ProtocolInternals => new m.Protocol({ onWrite: () => {}, onError: () => {} });
  return [
    ['version is not 1.17.x', () => /^1\.17\./.test(m.version)],
    ['Server.prototype.injectSocket is missing', () => typeof m.Server.prototype.injectSocket === 'function'],
    [
      'Protocol lacks _decipher/_skipNextInboundPacket/_packetRW/_handlers/_onPayload',
      () => {
        const p = proto();
        return '_decipher' in p && p._skipNextInboundPacket === false && typeof p._packetRW?.read?.read === 'function' && typeof p._handlers === 'object' && typeof p._onPayload === 'function';
      },
    ],
    [
      'Protocol lacks disconnect/channelFailure/serviceAccept',
      () => ['disconnect', 'channelFailure', 'serviceAccept'].every((k) => typeof (proto() as unknown as Record<string, unknown>)[k] === 'function'),
    ],
    ['protocol/handlers.js has no KEXINIT handler', () => typeof m.handlers[MSG.KEXINIT] === 'function'],
    [
      'kex.js no longer skips a guessed packet via _skipNextInboundPacket before _packetRW.read.read',
      () => /_skipNextInboundPacket\)\s*\{[^}]*return;\s*\}\s*payload = this\._packetRW\.read\.read\(payload\)/.test(m.kexSource),
    ],
    ['kex.js KeyExchange lacks _kexinit/_remoteKexinit', () => /this\._remoteKexinit = remoteKexinit/.test(m.kexSource) && /this\._kexinit = protocol\._kexinit/.test(m.kexSource)],
    ['Channel.prototype._write is missing', () => typeof m.Channel.prototype._write === 'function'],
    [
      'the WINDOW_ADJUST handler no longer replays _chunk/_chunkcb/_chunkErr/_chunkcbErr',
      () => [m.serverSource, m.clientSource].every((s) => s.includes('channel._write(channel._chunk, null, channel._chunkcb)') && s.includes('channel._chunkcbErr()')),
    ],
    [
      'CHANNEL_DATA handlers no longer read channel.incoming.window',
      () => [m.serverSource, m.clientSource].every((s) => s.includes('channel.incoming.window -= data.length')),
    ],
    ['server Client lacks _sock/_chanMgr/_protocol', () => /this\._sock = socket;\s*this\._chanMgr = new ChannelManager/.test(m.serverSource) && m.serverSource.includes('this._protocol = new Protocol')],
    ['server sessions no longer keep the running channel in session._channel', () => m.serverSource.includes('session._channel = channel;')],
    ...serverSendsChecks(m, proto),
    ...sendPathChecks(m, proto),
    ...sessionWindowChecks(m, proto),
    ...sftpSendChecks(m),
    ...sftpWriteChecks(m),
    ...sftpVersionChecks(m),
    ['client lacks _protocol/_chanMgr', () => m.clientSource.includes('this._protocol = new Protocol') && m.clientSource.includes('this._chanMgr')],
  ];
}

/** What src/ssh2/server-sends.ts relies on (sendExitStatus, rekeyWithWrongGuess). */
function serverSendsChecks(m: Ssh2Modules, proto: () => ProtocolInternals): [string, () => boolean][] {
  return [
    [
      'Protocol lacks rekey/exitStatus/_cipher.encrypt/_packetRW.write alloc+finalize',
      () => {
        const p = proto();
        const w = p._packetRW.write;
        return typeof p.rekey === 'function' && typeof p.exitStatus === 'function' && typeof p._cipher?.encrypt === 'function' && typeof w?.alloc === 'function' && typeof w.finalize === 'function' && typeof w.allocStartKEX === 'number';
      },
    ],
    ['kex.js kexinit() no longer sets _kexinit, then sends it via _packetRW.write.finalize', () => /self\._kexinit = payload;[\s\S]{0,500}self\._cipher\.encrypt\(self\._packetRW\.write\.finalize\(packet, true\)\)/.test(m.kexSource)],
    ['Channel no longer keeps _client and outgoing', () => /this\.outgoing = info\.outgoing;[\s\S]{0,200}this\._client = client;/.test(String(m.Channel))],
  ];
}

/** What src/ssh2/session-window.ts relies on (limitSessionWindows). */
function sessionWindowChecks(m: Ssh2Modules, proto: () => ProtocolInternals): [string, () => boolean][] {
  return [
    ['Protocol lacks channelOpenConfirm/channelWindowAdjust', () => typeof proto().channelOpenConfirm === 'function' && typeof proto().channelWindowAdjust === 'function'],
    [
      'a session accept() no longer registers the Session before proto.channelOpenConfirm(info.sender, localChan, MAX_WINDOW, PACKET_SIZE)',
      () => /new Session\(this, info, localChan\);\s*this\._chanMgr\.update\(localChan, instance\);\s*proto\.channelOpenConfirm\(info\.sender,\s*localChan,\s*MAX_WINDOW,\s*PACKET_SIZE\)/.test(m.serverSource),
    ],
    [
      'Channel.js windowAdjust() no longer adds to incoming.window, then sends channelWindowAdjust(outgoing.id, amt)',
      () => /self\.incoming\.window \+= amt;\s*self\._client\._protocol\.channelWindowAdjust\(self\.outgoing\.id, amt\)/.test(m.channelSource),
    ],
    ['Channel no longer shares its incoming side with the Session (this.incoming = info.incoming)', () => String(m.Channel).includes('this.incoming = info.incoming;')],
  ];
}

let checked: Ssh2Modules | undefined;

/**
 * Checks ssh2's shape once and returns its private modules; throws the
 * one-line {@link shapeError} naming the first thing that does not hold.
 */
export function assertSsh2Shape(modules: () => Ssh2Modules = load): Ssh2Modules {
  if (checked && modules === load) return checked;
  let m: Ssh2Modules;
  try {
    m = modules();
  } catch (err) {
    throw shapeError('(unknown version)', `cannot load its private files (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
  for (const [what, holds] of shapeChecks(m)) {
    let ok = false;
    try {
      ok = holds();
    } catch {
      ok = false;
    }
    if (!ok) throw shapeError(m.version, what);
  }
  if (modules === load) checked = m;
  return m;
}

/** The private side of an ssh2 connection object (server or client). */
export function connectionInternals(connection: object): ConnectionInternals {
  return connection as ConnectionInternals;
}
