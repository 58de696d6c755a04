/**
 * FlushTracker: a run is finished only when every stream it wrote to has
 * really let go of its bytes.
 *
 * This is AsyncSSH's fix for its issue 629 (a `_PipeWriter` close tracked as a
 * cleanup task until `connection_lost`), done for Node streams:
 * - an owned writable (we end it) is done at `'close'`, not `'finish'`:
 *   fs.WriteStream emits `'finish'` before its fd is closed. Only a stream
 *   that will emit `'close'` by itself can be waited for that way (Node's own
 *   rule, `willEmitClose()` in lib/internal/streams/utils.js: `autoDestroy`
 *   and `emitClose` both true); any other is done at `'finish'`, or at a
 *   `'close'` its owner emits by hand, whichever comes first (see
 *   {@link willEmitClose} and docs/ssh2-traps.md);
 * - a borrowed writable (process.stdout, a caller's stream kept open) is never
 *   ended; it is done when a final `write('', cb)` queued after the last byte
 *   has called back, i.e. everything before it was handed to the OS;
 * - a source readable is done at `'end'`: ssh2 may emit the channel's `'close'`
 *   while its separate stderr stream still holds undelivered data;
 * - any other promise can be added as a cleanup task.
 *
 * `stream.finished()` is not used: on an ssh2 client channel it rejects with
 * ERR_STREAM_PREMATURE_CLOSE on clean runs (ssh2 emits `'close'` by hand
 * before Node's deferred `'finish'`) and it never covers `channel.stderr`;
 * docs/ssh2-traps.md has the measured order. We listen for the events.
 */
import type { Readable, Writable } from 'node:stream';

/**
 * Whether `stream` will emit `'close'` by itself after `'finish'` or
 * `destroy()`: Node's own test (`willEmitClose()` in
 * lib/internal/streams/utils.js, used by `stream.finished()`), i.e.
 * `autoDestroy` and `emitClose` both true. A stream without Node's writable
 * state is assumed to emit it.
 */
export function willEmitClose(stream: Writable): boolean {
  // _writableState is Node's (stable since Node 10), not ssh2's.
  const state = (stream as { _writableState?: { autoDestroy?: boolean; emitClose?: boolean } })._writableState;
  if (!state) return true;
  return state.autoDestroy === true && state.emitClose === true;
}

/**
 * Adds `listeners` to `stream` in the order given and returns the function
 * that removes exactly those again (an entry's `detach`).
 */
function listen(stream: Readable | Writable, listeners: Record<string, (err: Error) => void>): () => void {
  const pairs = Object.entries(listeners);
  for (const [event, listener] of pairs) stream.on(event, listener);
  return () => {
    for (const [event, listener] of pairs) stream.off(event, listener);
  };
}

/** How a tracked entry is closed and what "done" means for it. */
export type TrackedKind = 'owned' | 'borrowed' | 'source' | 'task';

/** Raised by {@link FlushTracker.wait} when entries are still pending at the deadline. */
export class FlushTimeoutError extends Error {
  override readonly name = 'FlushTimeoutError';
  /** Names of the entries that had not completed. */
  readonly pending: string[];
  constructor(timeoutMs: number, pending: string[]) {
    super(`not flushed after ${timeoutMs} ms: ${pending.join(', ')}`);
    this.pending = pending;
  }
}

/** Raised when a tracked source closed without emitting `'end'`. */
export class PrematureCloseError extends Error {
  override readonly name = 'PrematureCloseError';
  constructor(readonly entry: string) {
    super(`${entry} closed before it ended`);
  }
}

interface Entry {
  readonly name: string;
  readonly kind: TrackedKind;
  readonly stream?: Readable | Writable;
  done: boolean;
  /** For borrowed entries: flush() was called. */
  flushing?: boolean;
  /** Removes the listeners this tracker added. */
  detach(): void;
}

/** Options for {@link FlushTracker.wait}. */
export interface WaitOptions {
  /** Reject with {@link FlushTimeoutError} if not all done by then. Default: wait forever. */
  timeoutMs?: number;
}

/** Event names the tracker records, in order, for tests and diagnostics. */
export type TrackerEvent = `${string}:${'done' | 'error'}`;

/**
 * Collects every destination and source of a run and settles when all are
 * done. The first error rejects {@link wait} with that error, but only after
 * the other entries have been destroyed (owned streams, sources) or given up
 * (borrowed streams, which are never destroyed) so nothing is left dangling.
 */
export class FlushTracker {
  readonly #entries: Entry[] = [];
  readonly #borrowed = new Map<Writable, Entry>();
  #error: Error | undefined;
  #failedEntry: string | undefined;
  /** Resolvers of every pending wait() (there may be several). */
  readonly #waiters = new Set<() => void>();
  /** Completion order, e.g. `['stdout-source:done', 'file:done']`. */
  readonly events: TrackerEvent[] = [];

  /**
   * An owned writable: the caller ends it. Done at `'close'` when the stream
   * will emit it by itself ({@link willEmitClose}); otherwise at `'finish'`
   * or at a hand-emitted `'close'`, whichever comes first: a stream with
   * `autoDestroy: false` keeps its resource after `'finish'` by design
   * (`fs.createWriteStream(p, { autoClose: false })` keeps its fd), and
   * ssh2's SFTP WriteStream (`emitClose: false`, `autoDestroy: false`)
   * destroys itself in `_final`, so it never emits `'finish'` and emits
   * `'close'` by hand once the server has answered its CLOSE request.
   */
  owned(stream: Writable, name: string): void {
    const entry = this.#add(name, 'owned', stream);
    const closesItself = willEmitClose(stream);
    if (stream.closed || (!closesItself && stream.writableFinished)) {
      this.#settle(entry, stream.errored ?? undefined);
      return;
    }
    const onClose = (): void => this.#settle(entry, stream.errored ?? undefined);
    // Without a 'close' of its own, 'finish' is the last event Node promises.
    const onFinish = (): void => {
      if (!closesItself) this.#settle(entry, undefined);
    };
    const onError = (err: Error): void => {
      // A stream with autoDestroy: false stays open after an error: release it.
      if (!stream.destroyed) stream.destroy();
      this.#settle(entry, err);
    };
    entry.detach = listen(stream, { close: onClose, finish: onFinish, error: onError });
  }

  /**
   * A borrowed writable that must stay open: never ended or destroyed here.
   * Call {@link flush} after the last write; it is done when that flush lands.
   */
  borrowed(stream: Writable, name: string): void {
    const entry = this.#add(name, 'borrowed', stream);
    entry.detach = listen(stream, { error: (err) => this.#settle(entry, err) });
    this.#borrowed.set(stream, entry);
  }

  /**
   * Marks the end of writing to a borrowed stream: queues an empty write
   * behind everything written so far; its callback means all of it was
   * handed to the OS (process.stdout on a pipe writes asynchronously).
   */
  flush(stream: Writable): void {
    const entry = this.#borrowed.get(stream);
    if (!entry) throw new Error('flush() of a stream that is not tracked as borrowed');
    if (entry.done || entry.flushing) return;
    entry.flushing = true;
    if (stream.destroyed || stream.writableEnded) {
      this.#settle(entry, stream.errored ?? new PrematureCloseError(entry.name));
      return;
    }
    stream.write('', (err) => this.#settle(entry, err ?? undefined));
  }

  /** A source readable: done when it has emitted `'end'` (all data consumed). */
  source(stream: Readable, name: string): void {
    const entry = this.#add(name, 'source', stream);
    if (stream.readableEnded) {
      this.#settle(entry, undefined);
      return;
    }
    if (stream.destroyed) {
      this.#settle(entry, stream.errored ?? new PrematureCloseError(name));
      return;
    }
    const onEnd = (): void => this.#settle(entry, undefined);
    const onError = (err: Error): void => this.#settle(entry, err);
    // ssh2 channels emit 'close' after 'end'; a 'close' first means data was cut.
    const onClose = (): void => {
      if (!stream.readableEnded) this.#settle(entry, stream.errored ?? new PrematureCloseError(name));
    };
    entry.detach = listen(stream, { end: onEnd, error: onError, close: onClose });
  }

  /** Any other work that must finish first, like AsyncSSH's `add_cleanup_task`. */
  cleanup(task: PromiseLike<unknown>, name: string): void {
    const entry = this.#add(name, 'task');
    task.then(
      () => this.#settle(entry, undefined),
      (err: unknown) => this.#settle(entry, err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Names of the entries not yet done. */
  pending(): string[] {
    return this.#entries.filter((e) => !e.done).map((e) => e.name);
  }

  /** The first error seen, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  /**
   * Name of the entry whose own error failed the run (the first error), so a
   * caller can say which target failed; undefined when the run was failed
   * from outside ({@link abort}) or timed out.
   */
  get failedEntry(): string | undefined {
    return this.#failedEntry;
  }

  /**
   * Fails the run from outside (a lost connection, a cancelled run): destroys
   * owned streams and sources with `reason`; {@link wait} rejects with it.
   */
  abort(reason: Error): void {
    this.#fail(reason);
  }

  /** Resolves when every entry is done; rejects with the first error once all are settled. */
  async wait(options: WaitOptions = {}): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (options.timeoutMs !== undefined && Number.isFinite(options.timeoutMs)) {
      timer = setTimeout(() => {
        timedOut = true;
        this.#wakeAll();
      }, options.timeoutMs);
    }
    try {
      while (this.pending().length > 0) {
        if (timedOut) {
          const err = new FlushTimeoutError(options.timeoutMs ?? 0, this.pending());
          // Destroy what we own so a stuck stream does not keep the process alive.
          this.#fail(err);
          throw this.#error ?? err;
        }
        await new Promise<void>((resolve) => this.#waiters.add(resolve));
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (this.#error) throw this.#error;
  }

  #add(name: string, kind: TrackedKind, stream?: Readable | Writable): Entry {
    const entry: Entry = { name, kind, stream, done: false, detach: () => {} };
    this.#entries.push(entry);
    return entry;
  }

  #settle(entry: Entry, err: Error | undefined): void {
    if (entry.done) return;
    entry.done = true;
    entry.detach();
    // A failed write calls back with the error and then emits 'error' on the
    // next tick: keep one listener for it, or it would crash the process.
    if (err && entry.stream && entry.stream.listenerCount('error') === 0) entry.stream.once('error', () => {});
    this.events.push(`${entry.name}:${err ? 'error' : 'done'}`);
    if (err && !this.#error) this.#failedEntry = entry.name;
    if (err) this.#fail(err);
    this.#wakeAll();
  }

  #wakeAll(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  #fail(err: Error): void {
    if (this.#error) return;
    this.#error = err;
    for (const entry of this.#entries) {
      if (entry.done) continue;
      if (entry.kind === 'owned' || entry.kind === 'source') {
        if (entry.kind === 'owned') {
          // Our 'error'/'close' listeners stay on, so wait() sees it settle.
          entry.stream?.destroy(err);
        } else {
          // Settled here, so destroy without an error nobody would listen to.
          this.#settle(entry, undefined);
          entry.stream?.destroy();
        }
      } else if (entry.kind === 'borrowed') {
        // Not ours to close: stop waiting for it (a later flush() is a no-op).
        this.#settle(entry, undefined);
      }
    }
    this.#wakeAll();
  }
}
