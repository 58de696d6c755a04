/**
 * MEASUREMENT ONLY (loopssh issue 14, lever "larger maximum packet size and
 * window when both ends are loopssh"): a client connection's session
 * channels advertise `LOOPSSH_BIG_CHANNEL=packet,window` bytes instead of
 * ssh2's 32 KiB / 2 MiB, and top the window back up to `window`. Works only
 * against a peer whose decipher accepts packets over ssh2's 35,000-byte
 * MAX_PACKET_SIZE (a patched ssh2 copy in the bench's build).
 */
import type { ConnectionInternals, ProtocolInternals } from './internals.js';

const SSH2_WINDOW = 2 * 1024 * 1024;

interface Incoming {
  incoming: { window: number; packetSize: number };
  outgoing: { id: number };
}

export function bigChannelFromEnv(): { packet: number; window: number } | undefined {
  const v = process.env.LOOPSSH_BIG_CHANNEL;
  if (!v || v === 'none') return undefined;
  const [packet, window] = v.split(',').map(Number) as [number, number];
  return { packet, window };
}

export function patchBigChannels(conn: ConnectionInternals, proto: ProtocolInternals, big: { packet: number; window: number }): void {
  const p = proto as unknown as { session(chan: number, w: number, pk: number): void };
  const mgr = conn._chanMgr as unknown as { update(id: number, inst: unknown): void };
  const session = p.session.bind(p);
  const update = mgr.update.bind(mgr);
  const windowAdjust = proto.channelWindowAdjust.bind(proto);
  const pending = new Set<number>();
  const byRemote = new Map<number, Incoming>();
  p.session = (chan: number): void => {
    pending.add(chan);
    session(chan, big.window, big.packet);
  };
  mgr.update = (id: number, inst: unknown): void => {
    if (pending.delete(id) && typeof inst === 'object' && inst !== null && 'incoming' in inst) {
      const ch = inst as Incoming;
      ch.incoming.window = big.window;
      ch.incoming.packetSize = big.packet;
      byRemote.set(ch.outgoing.id, ch);
    }
    update(id, inst);
  };
  proto.channelWindowAdjust = (remote: number, amount: number): void => {
    const ch = byRemote.get(remote);
    if (!ch) return windowAdjust(remote, amount);
    // ssh2 topped the window up to its 2 MiB; top it up to ours.
    const extra = big.window - SSH2_WINDOW;
    ch.incoming.window += extra;
    windowAdjust(remote, amount + extra);
  };
}
