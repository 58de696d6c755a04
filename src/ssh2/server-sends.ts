/**
 * Server messages ssh2 1.17's public API cannot send, though RFC 4253/4254
 * allow them. The audit (src/audit/behaviours.ts) uses them to stage
 * behaviours real servers show. Why each exists: docs/ssh2-traps.md.
 */
import { randomBytes } from 'node:crypto';
import type { ServerChannel } from 'ssh2';
import { connectionInternals, MSG, type ChannelWriteInternals, type PacketWriterInternals, type ProtocolInternals } from './internals.js';

/** The first kex name of a server KEXINIT made to guess wrong: no client lists it, so no client can list it first. */
export const NEVER_CHOSEN_KEX = 'guess-never-matches@loopssh';

/**
 * Sends exit-status `status` on an exec channel even after its EOF, as a
 * server whose command closes stdout and exits later does (RFC 4254 §6.10:
 * exit-status may come any time before CHANNEL_CLOSE). ssh2 1.17's
 * `channel.exit()` sends nothing once `eof()` set `outgoing.state` to
 * 'eof'. Returns false (nothing sent) once CHANNEL_CLOSE went out.
 */
export function sendExitStatus(channel: ServerChannel, status: number): boolean {
  const ch = channel as unknown as ChannelWriteInternals;
  const proto = ch._client?._protocol;
  if (!proto || (ch.outgoing.state !== 'open' && ch.outgoing.state !== 'eof')) return false;
  proto.exitStatus(ch.outgoing.id, status);
  return true;
}

/** `kexinit` with NEVER_CHOSEN_KEX put first in its kex list and first_kex_packet_follows set. */
export function kexinitWithWrongGuess(kexinit: Buffer): Buffer {
  const KEX_LIST = 17; // type byte + 16-byte cookie
  const listLength = kexinit.readUInt32BE(KEX_LIST);
  const name = Buffer.from(`${NEVER_CHOSEN_KEX}${listLength > 0 ? ',' : ''}`, 'latin1');
  const out = Buffer.alloc(kexinit.length + name.length);
  kexinit.copy(out, 0, 0, KEX_LIST);
  out.writeUInt32BE(listLength + name.length, KEX_LIST);
  name.copy(out, KEX_LIST + 4);
  kexinit.copy(out, KEX_LIST + 4 + name.length, KEX_LIST + 4);
  out[out.length - 5] = 1; // first_kex_packet_follows (the reserved uint32 follows)
  return out;
}

/** One key-exchange packet through the current compression and cipher, as ssh2's kexinit() sends its KEXINIT. */
function sendKexPacket(proto: ProtocolInternals, payload: Buffer): void {
  const writer = proto._packetRW.write;
  const packet = writer.alloc(payload.length, true);
  packet.set(payload, writer.allocStartKEX);
  proto._cipher.encrypt(writer.finalize(packet, true));
}

/**
 * Starts a server-side key re-exchange whose KEXINIT says
 * first_kex_packet_follows and is followed by a guessed packet (a
 * KEXDH_REPLY of random bytes). The KEXINIT lists {@link NEVER_CHOSEN_KEX}
 * first, so by RFC 4253 §7 the guess is wrong for every client, which must
 * drop the packet; a client that runs it fails the key exchange. (Only a
 * wrong guess can be staged: in every kex method loopssh offers the client
 * speaks first.) The exchange hash covers the KEXINIT as sent, so ssh2's
 * copy (`_kexinit`) is replaced too. Returns false when a key exchange is
 * already running (nothing sent).
 */
export function rekeyWithWrongGuess(connection: object): boolean {
  const proto = connectionInternals(connection)._protocol;
  if (!proto || proto._kexinit !== undefined) return false;
  const writer: PacketWriterInternals = proto._packetRW.write;
  const hadOwn = Object.hasOwn(writer, 'finalize');
  const finalize = writer.finalize;
  let replaced = false;
  // ssh2's kexinit() builds and sends its KEXINIT synchronously inside rekey():
  // the first packet finalized is that KEXINIT, swapped here for the flagged one.
  writer.finalize = function (packet: Buffer, force?: boolean): Buffer {
    const kexinit = proto._kexinit;
    if (replaced || !kexinit || packet[writer.allocStartKEX] !== MSG.KEXINIT) return finalize.call(this, packet, force);
    replaced = true;
    const flagged = kexinitWithWrongGuess(kexinit);
    proto._kexinit = flagged;
    const swapped = writer.alloc(flagged.length, true);
    swapped.set(flagged, writer.allocStartKEX);
    return finalize.call(this, swapped, force);
  };
  try {
    proto.rekey();
  } finally {
    if (hadOwn) writer.finalize = finalize;
    else delete (writer as Partial<PacketWriterInternals>).finalize;
  }
  if (!replaced) return false;
  sendKexPacket(proto, Buffer.concat([Buffer.from([MSG.KEXDH_REPLY]), randomBytes(64)]));
  return true;
}
