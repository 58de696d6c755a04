/**
 * A per-session receive window and maximum packet size on ssh2 1.17's
 * server side. ssh2 hard-codes both (lib/Channel.js: a 2 MiB window, 32 KiB
 * packets) in the CHANNEL_OPEN_CONFIRMATION it sends for every session and
 * tops the window back up to 2 MiB whenever half of it is used. The audit's
 * `tiny-window` scenario needs a session whose window is a few hundred bytes
 * and is topped up in small steps, so the client must keep honouring
 * WINDOW_ADJUST (RFC 4254 §5.2). Why: docs/ssh2-traps.md (patch 12).
 */
import type { ChannelInternals, ConnectionInternals, ProtocolInternals } from './internals.js';

/** A receive window the server advertises on a session channel (RFC 4254 §5.1, §5.2). */
export interface SessionWindow {
  /** Initial window, in bytes, and the most the server ever grants ahead (≥ 1). */
  window: number;
  /** Maximum data packet the client may send, in bytes (≥ 1). */
  packetSize: number;
  /** Bytes per WINDOW_ADJUST (1 ≤ step ≤ window): the window is topped up in messages of exactly this size. */
  step: number;
}

/** The incoming sides of channels opened with a {@link SessionWindow}: their data packets are also checked against its packet size. */
const limited = new WeakMap<object, SessionWindow>();

/** The window of a channel's incoming side, when it was opened with one (the window-overrun check asks). */
export function limitedWindowOf(incoming: object): SessionWindow | undefined {
  return limited.get(incoming);
}

/** Throws on a window that could stall a transfer (no grant ever possible) or is not a whole number. */
export function checkSessionWindow(w: SessionWindow): void {
  for (const [name, value] of Object.entries(w)) {
    if (!Number.isInteger(value) || value < 1 || value > 0xffffffff) throw new RangeError(`sessionWindow.${name} must be a whole number from 1 to 2^32-1, not ${value}`);
  }
  if (w.step > w.window) throw new RangeError(`sessionWindow.step (${w.step}) must not exceed sessionWindow.window (${w.window})`);
}

interface SessionEntry {
  _chanInfo?: { type: string; incoming: ChannelInternals['incoming'] & { packetSize: number } };
}

/**
 * Makes the session channels this connection accepts advertise the window
 * `choose()` returns at the moment each is accepted (undefined: ssh2's
 * defaults), and grant it back in steps. Install right after
 * `patchServerConnection`.
 *
 * How: ssh2's session accept() builds the Session, registers it, then calls
 * `proto.channelOpenConfirm(remote, local, MAX_WINDOW, PACKET_SIZE)`; this
 * connection's `channelOpenConfirm` is replaced to set the Session's
 * incoming window and packet size and send those instead. ssh2's
 * `windowAdjust()` adds `2 MiB - window` to the incoming window, then calls
 * `proto.channelWindowAdjust(remote, amount)` (after every data packet the
 * channel's reader took, since a small window is always under its
 * threshold); for a limited channel that grant is taken back and replaced
 * by WINDOW_ADJUSTs of `step` bytes while the window has room for one.
 */
export function limitSessionWindows(conn: ConnectionInternals, choose: () => SessionWindow | undefined): void {
  const proto: ProtocolInternals | undefined = conn._protocol;
  if (!proto) throw new Error('loopssh: ssh2 connection has no protocol yet');
  const openConfirm = proto.channelOpenConfirm.bind(proto);
  const windowAdjust = proto.channelWindowAdjust.bind(proto);
  /** Limited channels by the peer's channel number (the recipient of our WINDOW_ADJUST); a number is reused only after its channel closed, and each open overwrites. */
  const byRemote = new Map<number, { incoming: { window: number }; w: SessionWindow }>();

  proto.channelOpenConfirm = (remote: number, local: number, window: number, packetSize: number): void => {
    byRemote.delete(remote);
    const entry = conn._chanMgr?.get(local) as SessionEntry | undefined;
    const w = entry?._chanInfo?.type === 'session' ? choose() : undefined;
    if (!w || !entry?._chanInfo) return openConfirm(remote, local, window, packetSize);
    checkSessionWindow(w);
    const incoming = entry._chanInfo.incoming;
    incoming.window = w.window;
    incoming.packetSize = w.packetSize;
    limited.set(incoming, w);
    byRemote.set(remote, { incoming, w });
    return openConfirm(remote, local, w.window, w.packetSize);
  };

  proto.channelWindowAdjust = (remote: number, amount: number): void => {
    const ch = byRemote.get(remote);
    if (!ch) return windowAdjust(remote, amount);
    // ssh2 already added `amount` to the window: take it back, grant in steps.
    ch.incoming.window -= amount;
    while (ch.w.window - ch.incoming.window >= ch.w.step) {
      ch.incoming.window += ch.w.step;
      windowAdjust(remote, ch.w.step);
    }
  };
}
