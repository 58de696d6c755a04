/**
 * Per-packet work in ssh2 1.17's send path, three switchable levers
 * (loopssh issue 14; measured in docs/performance-baseline.md):
 *
 * - `pad`: padding bytes from a CSPRNG pool (padding-pool.ts) instead of one
 *   `randomFillSync` per packet.
 * - `reuse`: large packets in reused buffers (packet-slabs.ts) instead of a
 *   fresh 32 KiB ArrayBuffer per packet; a buffer is reused only after the
 *   socket write that carried it called back.
 * - `cork`: the socket is corked at the first large packet of a tick and
 *   uncorked on the next tick, so a burst of packets (one channel write of
 *   256 KiB is 8 packets) leaves in one writev instead of one write each.
 *   Small packets alone (auth replies, window adjusts, EOF/CLOSE) are
 *   written at once as before, so a `destroy()` right after one (e.g. "too
 *   many authentication failures") still lets it out first.
 *
 * `LOOPSSH_SEND_PATH` picks them (a comma list of pad, reuse, cork, or
 * `all`/`none`); unset means {@link DEFAULT_SEND_LEVERS}. Installed per
 * connection on its Protocol's `_cipher` (replaced at each key exchange),
 * never on ssh2's classes.
 */
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { CipherInternals, ConnectionInternals, ProtocolInternals } from './internals.js';
import { MIN_SLAB_PACKET, PacketSlabs } from './packet-slabs.js';
import { PaddingPool } from './padding-pool.js';
import { IN_PLACE_CIPHERS } from './send-path-shape.js';

const isWritable = (createRequire(import.meta.url)('ssh2/lib/utils.js') as { isWritable(s: unknown): boolean }).isWritable;

/** Which send-path levers are on. */
export interface SendLevers {
  pad: boolean;
  reuse: boolean;
  cork: boolean;
}

/** The environment variable that picks the levers (the bench A/Bs them with it). */
export const SEND_PATH_ENV = 'LOOPSSH_SEND_PATH';
/** What an unset LOOPSSH_SEND_PATH means: the levers that won their A/B. */
export const DEFAULT_SEND_LEVERS = 'pad,reuse';
const LEVER_NAMES = ['pad', 'reuse', 'cork'] as const;

/** Parses a LOOPSSH_SEND_PATH value; throws one line naming a bad word. */
export function parseSendLevers(value: string | undefined): SendLevers {
  const words = (value ?? DEFAULT_SEND_LEVERS).split(',').map((w) => w.trim()).filter(Boolean);
  const levers: SendLevers = { pad: false, reuse: false, cork: false };
  for (const word of words) {
    if (word === 'none') continue;
    if (word === 'all') for (const name of LEVER_NAMES) levers[name] = true;
    else if ((LEVER_NAMES as readonly string[]).includes(word)) levers[word as keyof SendLevers] = true;
    else throw new Error(`loopssh: ${SEND_PATH_ENV}: unknown lever '${word}' (a comma list of ${LEVER_NAMES.join(', ')}, or all, none)`);
  }
  return levers;
}

let fromEnv: SendLevers | undefined;
/** The levers LOOPSSH_SEND_PATH asks for (read once per process). */
export function sendLevers(): SendLevers {
  fromEnv ??= parseSendLevers(process.env[SEND_PATH_ENV]);
  return fromEnv;
}

/** Shared by every connection of the process: bytes and buffers are handed out once each, whoever asks. */
const padding = new PaddingPool();
export const packetSlabs = new PacketSlabs();

const inPlace = new Set<string>(IN_PLACE_CIPHERS);

/** One payload size's packet layout, learned from ssh2's own allocPacket. */
interface Layout {
  total: number;
  /** The packet_length field (bytes 0–3). */
  length: number;
  padLen: number;
}

/** Most sizes seen per cipher; more (never in practice) go to ssh2's own allocPacket. */
const MAX_LAYOUTS = 64;

/**
 * Replaces `cipher.allocPacket`: the first packet of each payload size comes
 * from ssh2 (its layout is a pure function of the size, checked at start-up)
 * and is remembered; later ones get the same header and padding length, with
 * the padding from the pool (`pad`) and the buffer from a slab (`reuse`).
 */
function patchAlloc(cipher: CipherInternals, pad: boolean, slabs: boolean): void {
  const original = cipher.allocPacket;
  const layouts = new Map<number, Layout>();
  let lastSize = -1;
  let last: Layout | undefined;
  cipher.allocPacket = function allocPacket(payloadLen: number): Buffer {
    const layout = payloadLen === lastSize ? last : layouts.get(payloadLen);
    if (layout === undefined) {
      const packet = original.call(this, payloadLen);
      if (layouts.size < MAX_LAYOUTS) layouts.set(payloadLen, { total: packet.length, length: packet.readUInt32BE(0), padLen: packet[4] as number });
      return packet;
    }
    lastSize = payloadLen;
    last = layout;
    const total = layout.total;
    const packet = (slabs ? packetSlabs.take(total) : undefined) ?? Buffer.allocUnsafe(total);
    const length = layout.length;
    packet[0] = length >>> 24;
    packet[1] = length >>> 16;
    packet[2] = length >>> 8;
    packet[3] = length;
    packet[4] = layout.padLen;
    if (pad) padding.take(packet, 5 + payloadLen, layout.padLen);
    else randomFillSync(packet, 5 + payloadLen, layout.padLen);
    return packet;
  };
}

/** Per connection: whether its socket is corked until the next tick. */
interface CorkState {
  corked: boolean;
  readonly uncork: () => void;
}

/**
 * Replaces `cipher._onWrite` (ssh2's: `if (isWritable(sock)) sock.write(data)`):
 * corks for a burst (`cork`), and writes a slab packet with the callback that
 * returns its slab (`reuse`); everything else goes to ssh2's own.
 */
function patchWrite(cipher: CipherInternals, sock: Socket, cork: CorkState | undefined, reuse: boolean): void {
  const write = cipher._onWrite;
  cipher._onWrite = (data: Uint8Array): void => {
    if (cork !== undefined && !cork.corked && data.length >= MIN_SLAB_PACKET && isWritable(sock)) {
      sock.cork();
      cork.corked = true;
      process.nextTick(cork.uncork);
    }
    const slab = reuse ? packetSlabs.claimForWrite(data) : undefined;
    if (slab === undefined) return write(data);
    if (isWritable(sock)) sock.write(data, slab.done);
    else packetSlabs.unused(slab);
  };
}

/**
 * Installs the chosen levers on one connection: on its current cipher and
 * on every cipher a key exchange puts in `proto._cipher` later.
 */
export function patchSendPath(conn: ConnectionInternals, proto: ProtocolInternals, levers: SendLevers = sendLevers()): void {
  const sock = conn._sock;
  if (!sock || (!levers.pad && !levers.reuse && !levers.cork)) return;
  let cork: CorkState | undefined;
  if (levers.cork) {
    const state: CorkState = {
      corked: false,
      uncork: () => {
        state.corked = false;
        sock.uncork();
      },
    };
    cork = state;
  }
  const hook = (cipher: CipherInternals): void => {
    // Slabs only where encrypt seals in place and writes that very packet once.
    const reuse = levers.reuse && inPlace.has(cipher.constructor.name);
    if (levers.pad || reuse) patchAlloc(cipher, levers.pad, reuse);
    if (cork || reuse) patchWrite(cipher, sock, cork, reuse);
  };
  let current = proto._cipher;
  hook(current);
  Object.defineProperty(proto, '_cipher', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (cipher: CipherInternals) => {
      current = cipher;
      if (cipher) hook(cipher);
    },
  });
}
