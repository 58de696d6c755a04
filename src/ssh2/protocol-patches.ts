/**
 * Per-connection fixes to ssh2 1.17's protocol layer, installed on one
 * connection's Protocol instance (nothing global: another ssh2 user in the
 * same process is untouched). Why each exists: docs/ssh2-traps.md.
 */
import { createRequire } from 'node:module';
import { limitedWindowOf } from './session-window.js';
import { MSG, DISCONNECT, type ChannelInternals, type ConnectionInternals, type DecipherInternals, type ProtocolInternals } from './internals.js';

const require = createRequire(import.meta.url);

type HandlerMap = ProtocolInternals['_handlers'];
type MessageHandler = (proto: ProtocolInternals, payload: Buffer) => unknown;

/** ssh2's own fatal path: DISCONNECT, tear the protocol down, 'error' on the connection. Returns Infinity (stop parsing). */
const doFatalError = (require('ssh2/lib/protocol/utils.js') as { doFatalError(p: ProtocolInternals, msg: string, level: string, reason: number): number }).doFatalError;
const MESSAGE_HANDLERS = require('ssh2/lib/protocol/handlers.js') as (MessageHandler | undefined)[];

interface PatchState {
  /** The peer's wrongly guessed key-exchange packet is next and must be dropped (after inflating it). */
  skipGuess: boolean;
  /** A patch ended the connection: parse nothing more. */
  fatal: boolean;
}

const passThrough = (payload: Buffer): Buffer => payload;

/** IGNORE, UNIMPLEMENTED, DEBUG: allowed during any key exchange (RFC 4253 §7.1); strict kex forbids them only in the first. */
const TRANSPORT_GENERIC = new Set([2, 3, 4]);

/** The first kex and host-key algorithm a KEXINIT payload lists, and its first_kex_packet_follows flag (undefined: malformed). */
function kexinitFacts(payload: Buffer): { firstKex: string; firstHostKey: string; guessFollows: boolean } | undefined {
  let pos = 17; // type byte + 16-byte cookie
  const firsts: string[] = [];
  for (let list = 0; list < 10; list++) {
    if (pos + 4 > payload.length) return undefined;
    const len = payload.readUInt32BE(pos);
    pos += 4;
    if (pos + len > payload.length) return undefined;
    if (list < 2) {
      const names = payload.toString('latin1', pos, pos + len);
      const comma = names.indexOf(',');
      firsts.push(comma === -1 ? names : names.slice(0, comma));
    }
    pos += len;
  }
  return { firstKex: firsts[0] as string, firstHostKey: firsts[1] as string, guessFollows: pos < payload.length && payload[pos] !== 0 };
}

/**
 * RFC 4253 §7: a guessed packet follows when the peer's flag is set; the
 * guess was right when both sides list the same first kex AND host-key
 * algorithm (what OpenSSH's proposals_match and dropbear check). ssh2 1.17
 * compares against `remote.kex[0]` after overwriting `remote.kex` with the
 * chosen name, so it judged every guess wrong and dropped right guesses.
 */
export function guessToDrop(localKexinit: Buffer, remoteKexinit: Buffer): boolean {
  const local = kexinitFacts(localKexinit);
  const remote = kexinitFacts(remoteKexinit);
  if (!local || !remote || !remote.guessFollows) return false;
  return local.firstKex !== remote.firstKex || local.firstHostKey !== remote.firstHostKey;
}

/**
 * Hooks every packet decipher the protocol will use (the first one may
 * already exist): each inbound payload passes through `guarded` first. The
 * deciphers call `this._onPayload(payload)`; ssh2 assigns that field (and
 * `proto._decipher`) at each key exchange, so both become accessors.
 */
function hookDeciphers(proto: ProtocolInternals, state: PatchState): void {
  const hook = (decipher: DecipherInternals): void => {
    let inner = decipher._onPayload;
    const guarded = (payload: Buffer): unknown => {
      if (state.fatal) return Infinity;
      const kexBefore = proto._kex;
      // Hot path: outside a key exchange ssh2's own onPayload runs unchanged.
      const result = inner === proto._onPayload ? inner(payload) : duringKeyExchange(proto, state, inner, payload);
      if (proto._kex !== kexBefore) afterKexinit(proto, state);
      return state.fatal ? Infinity : result;
    };
    Object.defineProperty(decipher, '_onPayload', {
      configurable: true,
      enumerable: true,
      get: () => guarded,
      set: (fn: DecipherInternals['_onPayload']) => {
        inner = fn;
      },
    });
  };
  let current = proto._decipher;
  if (current) hook(current);
  Object.defineProperty(proto, '_decipher', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (decipher: DecipherInternals | undefined) => {
      current = decipher;
      if (decipher) hook(decipher);
    },
  });
}

/** A KEXINIT was just handled (a new KeyExchange exists): decide about a guessed packet ourselves. */
function afterKexinit(proto: ProtocolInternals, state: PatchState): void {
  const kex = proto._kex;
  if (!kex?._kexinit || !kex._remoteKexinit) return;
  proto._skipNextInboundPacket = false;
  state.skipGuess = guessToDrop(kex._kexinit, kex._remoteKexinit);
}

/**
 * One inbound packet while ssh2's key-exchange handler (onKEXPayload) is active.
 * - A wrongly guessed packet is dropped only after it went through the
 *   decompressor (ssh2 dropped it before, putting zlib out of step).
 * - During a rekey, connection-layer messages (80+, e.g. PuTTY's
 *   winadj@putty channel request) are handled as outside one, as OpenSSH
 *   does; ssh2 made them fatal. Replies wait in ssh2's rekey queue.
 * - During a rekey, IGNORE/UNIMPLEMENTED/DEBUG are handled too: ssh2 kept
 *   strict-kex rules (meant for the first exchange only) for every rekey and
 *   disconnected AsyncSSH for its SSH_MSG_IGNORE.
 */
function duringKeyExchange(proto: ProtocolInternals, state: PatchState, inner: (p: Buffer) => unknown, payload: Buffer): unknown {
  if (payload.length === 0) return inner(payload);
  if (state.skipGuess) {
    state.skipGuess = false;
    proto._packetRW.read.read(payload);
    return undefined;
  }
  if (proto._kex?.sessionID === undefined) return inner(payload);
  const reader = proto._packetRW.read;
  const read = reader.read;
  const plain = read.call(reader, payload);
  const type = plain[0] as number;
  if (type >= MSG.CONNECTION_FIRST || TRANSPORT_GENERIC.has(type)) return MESSAGE_HANDLERS[type]?.(proto, plain);
  // Already inflated: let ssh2's handler read it through a pass-through once.
  reader.read = passThrough;
  try {
    return inner(plain);
  } finally {
    reader.read = read;
  }
}

/** The channel a CHANNEL_DATA recipient number names, unwrapping a server Session. */
function incomingWindowOf(conn: ConnectionInternals, recipient: number): ChannelInternals['incoming'] | undefined {
  const entry = conn._chanMgr?.get(recipient) as (ChannelInternals & { _chanInfo?: { incoming: ChannelInternals['incoming'] } }) | undefined;
  if (typeof entry !== 'object' || entry === null) return undefined;
  return entry._chanInfo?.incoming ?? entry.incoming;
}

/**
 * A peer that sends more than the window it was granted is disconnected
 * (PROTOCOL_ERROR). ssh2 1.17 drops data only at a window of exactly 0 and
 * buffers everything once it is negative (mscdex/ssh2#1505): unbounded memory.
 */
function checkWindows(conn: ConnectionInternals, proto: ProtocolInternals, state: PatchState, types: readonly ('CHANNEL_DATA' | 'CHANNEL_EXTENDED_DATA')[]): void {
  const handlers: HandlerMap = proto._handlers;
  for (const type of types) {
    const original = handlers[type] as ((p: ProtocolInternals, recipient: number, data: Buffer, dataType?: number) => unknown) | undefined;
    if (!original) continue;
    // Per packet: fixed parameters (no rest array), one channel lookup.
    handlers[type] = ((p: ProtocolInternals, recipient: number, data: Buffer, dataType?: number) => {
      const window = incomingWindowOf(conn, recipient);
      if (window && data.length > window.window) {
        state.fatal = true;
        return doFatalError(proto, `peer overran the channel window (${data.length} bytes sent, ${window.window} allowed)`, 'protocol', DISCONNECT.PROTOCOL_ERROR);
      }
      // A session opened with a limited window (session-window.ts) also has its packet size enforced (RFC 4254 §5.2).
      const limit = window && limitedWindowOf(window);
      if (limit && data.length > limit.packetSize) {
        state.fatal = true;
        return doFatalError(proto, `peer overran the maximum packet size (${data.length} bytes in one packet, ${limit.packetSize} allowed)`, 'protocol', DISCONNECT.PROTOCOL_ERROR);
      }
      return original(p, recipient, data, dataType);
    }) as HandlerMap[string];
  }
}

/**
 * Server: a repeated `ssh-userauth` service request before login is
 * accepted again (paramiko sends one per key it tries; ssh2 disconnected).
 * Authentication attempts are still counted by loopssh's auth handler.
 */
function acceptRepeatedUserauth(conn: ConnectionInternals, proto: ProtocolInternals): void {
  const handlers = proto._handlers;
  const original = handlers.SERVICE_REQUEST as ((p: ProtocolInternals, service: string) => unknown) | undefined;
  if (!original) return;
  let accepted = false;
  handlers.SERVICE_REQUEST = ((p: ProtocolInternals, service: string) => {
    if (accepted && service === 'ssh-userauth' && !conn.authenticated) {
      proto.serviceAccept(service);
      return undefined;
    }
    if (service === 'ssh-userauth') accepted = true;
    return original(p, service);
  }) as HandlerMap[string];
}

/**
 * Server: a request that wants a reply on a session already running a
 * command (a second exec/shell/subsystem, pty, winadj@putty, keepalive…)
 * gets CHANNEL_FAILURE on that channel. ssh2 1.17 handed a second exec to
 * the 'exec' listener with an accept() returning undefined and its reject()
 * sent nothing, so the client waited or the handler threw.
 */
function refuseRequestsOnRunningSessions(conn: ConnectionInternals, proto: ProtocolInternals): void {
  const handlers = proto._handlers;
  const original = handlers.CHANNEL_REQUEST as ((p: ProtocolInternals, recipient: number, type: string, wantReply: boolean, data: unknown) => unknown) | undefined;
  if (!original) return;
  handlers.CHANNEL_REQUEST = ((p: ProtocolInternals, recipient: number, type: string, wantReply: boolean, data: unknown) => {
    const session = conn._chanMgr?.get(recipient) as ChannelInternals | undefined;
    if (typeof session === 'object' && session !== null && session._chanInfo && (session._channel !== undefined || session._ending)) {
      if (wantReply && session._chanInfo.outgoing.state === 'open') proto.channelFailure(session._chanInfo.outgoing.id);
      return undefined;
    }
    return original(p, recipient, type, wantReply, data);
  }) as HandlerMap[string];
}

function protocolOf(conn: ConnectionInternals): ProtocolInternals {
  const proto = conn._protocol;
  if (!proto) throw new Error('loopssh: ssh2 connection has no protocol yet (patch after connect())');
  return proto;
}

/** Installs the server-side fixes on a connection ssh2 just reported (its 'connection' event). */
export function patchServerProtocol(conn: ConnectionInternals): void {
  const proto = protocolOf(conn);
  const state: PatchState = { skipGuess: false, fatal: false };
  hookDeciphers(proto, state);
  checkWindows(conn, proto, state, ['CHANNEL_DATA']);
  acceptRepeatedUserauth(conn, proto);
  refuseRequestsOnRunningSessions(conn, proto);
}

/** Installs the client-side fixes; call right after ssh2's `connect()` returned. */
export function patchClientProtocol(conn: ConnectionInternals): void {
  const proto = protocolOf(conn);
  const state: PatchState = { skipGuess: false, fatal: false };
  hookDeciphers(proto, state);
  checkWindows(conn, proto, state, ['CHANNEL_DATA', 'CHANNEL_EXTENDED_DATA']);
}
