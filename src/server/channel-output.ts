/**
 * Lossless output for an ssh2 1.17 server exec channel.
 *
 * Measured traps (docs/ssh2-traps.md) and what this does:
 * - ssh2 never clears a window-blocked write's parked remainder, so a later
 *   stderr wait replayed old stdout bytes. → src/ssh2 clears it
 *   ({@link clearStaleChunksOnWrite}).
 * - stdout and stderr share one window and one `_waitWindow` flag, so
 *   concurrent writes on both hang. → one write outstanding at a time,
 *   across both streams (what worked in every probe).
 * - `exit()` goes straight to the protocol, past the Writable buffers.
 *   → the exit status is sent only after every write callback ran (every
 *   byte handed to the protocol), then stderr is ended, then EOF and close.
 * - `_write` on a channel no longer open returns without calling back
 *   (ssh2 issue 1508). → every wait also ends at the channel's 'close'.
 */
import type { ServerChannel } from 'ssh2';
import { channelOutputClosed, channelSocket, clearStaleChunksOnWrite } from '../ssh2/index.js';

/** Which of the channel's two output streams. */
export type OutputStream = 'stdout' | 'stderr';

/** How a command ended: an exit status, or a signal name such as `TERM`. */
export type ExitStatus = { code: number } | { signal: string; coreDumped?: boolean; message?: string };

/** The peer stopped taking data: no window for longer than the stall timeout. */
export class ChannelStalledError extends Error {
  override readonly name = 'ChannelStalledError';
  constructor(readonly stallTimeoutMs: number) {
    super(`peer took no data for ${stallTimeoutMs} ms`);
  }
}

/** The channel went away (client closed it, connection lost) before output was accepted. */
export class ChannelClosedError extends Error {
  override readonly name = 'ChannelClosedError';
  constructor() {
    super('channel closed by the peer');
  }
}

/**
 * Serialised, backpressured writer over one server channel. Use
 * {@link write} for data and {@link finish} exactly once at the end.
 */
export class ChannelOutput {
  readonly #channel: ServerChannel;
  /** Every write chains here: one write outstanding at a time across both streams. */
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  #finished = false;
  readonly #onClose: (() => void)[] = [];
  /** Bytes accepted by the channel, per stream. */
  readonly accepted = { stdout: 0, stderr: 0 };
  readonly #stallTimeoutMs: number;
  /** When the write in flight started (0: none): one watchdog, no timer per chunk. */
  #pendingSince = 0;
  #watchdog: NodeJS.Timeout | undefined;
  #stalled: ChannelStalledError | undefined;

  /** @param stallTimeoutMs - a write waiting longer for window closes the channel (0 = never). */
  constructor(channel: ServerChannel, stallTimeoutMs = 0) {
    this.#channel = channel;
    this.#stallTimeoutMs = stallTimeoutMs;
    clearStaleChunksOnWrite(channel);
    channel.once('close', () => this.#markClosed());
  }

  /** Set when the peer stopped reading and the channel was closed for it. */
  get stalled(): ChannelStalledError | undefined {
    return this.#stalled;
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    for (const fn of this.#onClose.splice(0)) fn();
  }

  #watch(): void {
    if (this.#stallTimeoutMs <= 0 || this.#watchdog) return;
    this.#watchdog = setInterval(() => {
      if (this.#pendingSince === 0 || performance.now() - this.#pendingSince < this.#stallTimeoutMs) return;
      this.#stalled = new ChannelStalledError(this.#stallTimeoutMs);
      this.#channel.close();
      // The peer may never answer our CHANNEL_CLOSE: stop waiting for it.
      this.#markClosed();
    }, Math.max(10, Math.floor(this.#stallTimeoutMs / 4)));
    this.#watchdog.unref();
  }

  /** True once the channel is closed or no longer open for output. */
  get closed(): boolean {
    return this.#closed || channelOutputClosed(this.#channel);
  }

  /**
   * Writes `data` to one stream. Resolves when the channel accepted it (the
   * caller may then reuse the buffer); rejects with {@link ChannelClosedError}
   * if the channel goes away first. Calls may overlap; they run in order.
   */
  write(stream: OutputStream, data: Buffer): Promise<void> {
    if (this.#finished) return Promise.reject(new Error('write after finish'));
    const result = this.#tail.then(() => this.#writeNow(stream, data));
    this.#tail = result.catch(() => {});
    return result;
  }

  /**
   * Ends the command: waits for every write, ends stderr, sends the exit
   * status (or signal), then EOF and close. Safe to call on a closed channel.
   */
  async finish(status: ExitStatus): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    await this.#tail;
    if (this.#watchdog) clearInterval(this.#watchdog);
    try {
      if (this.closed) return;
      const stderr = this.#channel.stderr;
      await this.#untilClosed<void>((resolve) => {
        stderr.once('finish', resolve);
        stderr.end();
      });
      if (this.closed) return;
      if ('code' in status) this.#channel.exit(status.code);
      else this.#channel.exit(status.signal, status.coreDumped ?? false, status.message ?? '');
      // end() → 'finish' → ssh2 sends EOF, then CHANNEL_CLOSE.
      this.#channel.end();
    } catch (err) {
      if (!(err instanceof ChannelClosedError)) throw err;
    }
  }

  /** Closes the channel at once, without an exit status (a handler asked to drop it). */
  destroy(): void {
    this.#finished = true;
    this.#channel.close();
  }

  async #writeNow(stream: OutputStream, data: Buffer): Promise<void> {
    if (data.length === 0) return;
    if (this.closed) throw new ChannelClosedError();
    // ssh2 writes packets into the socket whatever its buffer holds: with many
    // channels each would park up to a 2 MiB window in it. Wait for the socket
    // to drain first, so memory stays bounded per connection, not per channel.
    const sock = channelSocket(this.#channel);
    if (sock?.writableNeedDrain) await this.#untilClosed<void>((resolve) => sock.once('drain', resolve));
    return this.#send(stream, data);
  }

  #send(stream: OutputStream, data: Buffer): Promise<void> {
    const target = stream === 'stdout' ? this.#channel : this.#channel.stderr;
    this.#watch();
    this.#pendingSince = performance.now();
    return this.#untilClosed<void>((resolve, reject) => {
      target.write(data, (err) => {
        this.#pendingSince = 0;
        if (err) reject(err);
        else {
          this.accepted[stream] += data.length;
          resolve();
        }
      });
    });
  }

  /** A promise that also rejects when the channel closes, since ssh2 may never call back then. */
  #untilClosed<T>(executor: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closed) {
        reject(this.#stalled ?? new ChannelClosedError());
        return;
      }
      const onClose = (): void => reject(this.#stalled ?? new ChannelClosedError());
      this.#onClose.push(onClose);
      const done = (): void => {
        const i = this.#onClose.indexOf(onClose);
        if (i >= 0) this.#onClose.splice(i, 1);
      };
      executor(
        (v) => {
          done();
          resolve(v);
        },
        (e) => {
          done();
          reject(e);
        },
      );
    });
  }
}
