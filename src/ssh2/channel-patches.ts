/**
 * Per-channel fixes and private reads on ssh2 1.17 exec channels
 * (lib/Channel.js). Why each exists: docs/ssh2-traps.md.
 */
import type { Socket } from 'node:net';
import type { ServerChannel } from 'ssh2';
import type { ChannelWriteInternals } from './internals.js';

function internals(channel: ServerChannel): ChannelWriteInternals {
  return channel as unknown as ChannelWriteInternals;
}

/**
 * `Channel._write` parks a window-blocked remainder in `_chunk`/`_chunkcb`
 * (`_chunkErr`/`_chunkcbErr` for stderr) and never clears them; the
 * WINDOW_ADJUST handler checks `_chunk` first, so a later stderr wait
 * replayed old stdout bytes (1 MiB duplicated, ERR_MULTIPLE_CALLBACK).
 * Each `_write` callback is wrapped to clear the fields it may have set.
 */
export function clearStaleChunksOnWrite(channel: ServerChannel): void {
  const ch = internals(channel);
  const stdoutWrite = ch._write;
  ch._write = function (data, encoding, cb) {
    stdoutWrite.call(this, data, encoding, (err) => {
      ch._chunk = undefined;
      ch._chunkcb = undefined;
      cb(err);
    });
  };
  const stderrWrite = ch.stderr._write;
  ch.stderr._write = function (data, encoding, cb) {
    stderrWrite.call(this, data, encoding, (err) => {
      ch._chunkErr = undefined;
      ch._chunkcbErr = undefined;
      cb(err);
    });
  };
}

/**
 * Calls `onPeerClosed` once when the peer's CHANNEL_CLOSE (or a dead
 * connection) ends the channel's readable side. ssh2 emits the channel's
 * 'close' only after its readable side has been consumed, which a handler
 * that never reads stdin would hold back forever; ssh2 marks the close by
 * pushing `null` with `incoming.state === 'closed'`.
 */
export function onPeerClosedChannel(channel: ServerChannel, onPeerClosed: () => void): void {
  const ch = internals(channel);
  const push = ch.push.bind(channel);
  let called = false;
  ch.push = (chunk, encoding) => {
    if (chunk === null && ch.incoming.state === 'closed' && !called) {
      called = true;
      onPeerClosed();
    }
    return push(chunk, encoding);
  };
}

/** True once ssh2 no longer sends on the channel (EOF or CLOSE sent). */
export function channelOutputClosed(channel: ServerChannel): boolean {
  return internals(channel).outgoing.state !== 'open';
}

/** The TCP socket under a channel's connection, to wait for its 'drain'. */
export function channelSocket(channel: ServerChannel): Socket | undefined {
  return internals(channel)._client?._sock;
}
