/**
 * Client-side exec channels (lib/Channel.js, ssh2 1.17). Why: docs/ssh2-traps.md.
 */
import type { ClientChannel } from 'ssh2';

interface StreamStates {
  _readableState?: { autoDestroy: boolean };
  _writableState?: { autoDestroy: boolean };
}

/**
 * Keeps a client channel open until the server closes it. ssh2's Channel
 * overrides `destroy()` to send CHANNEL_CLOSE, and Node's autoDestroy calls
 * it once stdout ended (the server's EOF) and stdin finished: the client
 * then closed the channel at the server's EOF and lost an exit-status the
 * server sends after its EOF (RFC 4254 §6.10 allows it; the audit's
 * `eof-delay-exit` scenario stages it). ssh2 still answers the server's
 * CHANNEL_CLOSE and emits 'close'; loopssh's own close() calls are untouched.
 */
export function keepOpenUntilServerCloses(channel: ClientChannel): void {
  const states = channel as unknown as StreamStates;
  if (states._readableState) states._readableState.autoDestroy = false;
  if (states._writableState) states._writableState.autoDestroy = false;
}
