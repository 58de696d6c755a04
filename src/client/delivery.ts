/**
 * The tracked data path: each source is copied into its sink with
 * backpressure, and one FlushTracker settles the whole only when every source
 * has ended and every sink is done (see docs/close-semantics.md). Then the
 * output is committed (files renamed into place) or discarded.
 *
 * Written for more than one caller: an exec run routes the channel's stdout
 * and stderr; a download routes one remote file into one sink.
 */
import type { Hash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { FlushTimeoutError, FlushTracker } from '../engine/flush-tracker.js';
import { RunError, TargetError, type RunFacts, type RunOutput } from './errors.js';
import type { OutputSink } from '../engine/targets.js';

/** The error code of a failure, for {@link TargetError.code}. */
export function errorCode(err: Error): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Copies a source into a writable with backpressure and counts the bytes.
 * The 'data' handler allocates nothing per chunk.
 */
function pump(source: Readable, out: Writable, hash: Hash | undefined, count: (n: number) => void, onEnd: () => void): void {
  let waiting = false;
  const resume = (): void => {
    waiting = false;
    source.resume();
  };
  source.on('data', (chunk: Buffer) => {
    count(chunk.length);
    hash?.update(chunk);
    if (!out.write(chunk) && !waiting) {
      waiting = true;
      source.pause();
      out.once('drain', resume);
    }
  });
  source.once('end', onEnd);
}

/** Sources routed into sinks under one FlushTracker. */
export class Delivery {
  readonly #tracker = new FlushTracker();
  readonly #sinks: OutputSink[] = [];
  readonly #facts: () => RunFacts & RunOutput;

  /** `facts` gives what an error built here carries. */
  constructor(facts: () => RunFacts & RunOutput) {
    this.#facts = facts;
  }

  /**
   * Copies `source` into `sink`: `count` is called per chunk (it must not
   * allocate), `hash` updated; the sink is ended its own way when the source
   * ends. The source and the sink register with the tracker here, once each.
   */
  route(source: Readable, sourceName: string, sink: OutputSink, count: (n: number) => void, hash?: Hash): void {
    this.#tracker.source(source, sourceName);
    sink.track(this.#tracker);
    this.#sinks.push(sink);
    pump(source, sink.stream, hash, count, () => sink.end());
  }

  /** Fails the delivery from outside (cancelled, timed out, stdin failed); {@link settled} rejects with `reason`. */
  abort(reason: RunError): void {
    this.#tracker.abort(reason);
  }

  /** Resolves when every source has ended and every sink is done; rejects with the first error (see {@link fail}). */
  async settled(timeoutMs?: number): Promise<void> {
    await this.#tracker.wait({ timeoutMs });
  }

  /**
   * Discards every sink (a file is removed, or kept as `FILE.partial` with
   * `keepPartial`) and returns the run error for `err`: a RunError as is, else
   * a TargetError naming the entry the tracker saw fail.
   */
  async fail(err: Error, keepPartial = false): Promise<RunError> {
    await this.discard(keepPartial);
    if (err instanceof RunError) return err;
    const facts = this.#facts();
    if (err instanceof FlushTimeoutError) {
      return new TargetError(`targets did not flush: ${err.message}`, facts, err.pending.join(', '), undefined, { cause: err });
    }
    const name = this.#tracker.failedEntry ?? 'output';
    return new TargetError(`${name}: ${err.message}`, facts, name, errorCode(err), { cause: err });
  }

  /** Leaves nothing that looks complete; returns the names of the partial files kept. */
  async discard(keepPartial = false): Promise<string[]> {
    const kept = await Promise.all(this.#sinks.map((s) => s.discard(keepPartial)));
    return kept.filter((k): k is string => k !== undefined);
  }

  /**
   * Makes the output visible, sink by sink. If one cannot be put in place,
   * the rest are discarded and the TargetError says which were already in place.
   */
  async commit(): Promise<void> {
    const done: string[] = [];
    for (const [i, sink] of this.#sinks.entries()) {
      try {
        await sink.commit();
        done.push(sink.label);
      } catch (err) {
        await Promise.all(this.#sinks.slice(i).map((s) => s.discard()));
        const e = err as Error;
        const also = done.length > 0 ? `; ${done.join(', ')} already in place` : '; nothing was put in place';
        throw new TargetError(`${sink.label}: ${e.message}${also}`, this.#facts(), sink.label, errorCode(e), { cause: e });
      }
    }
  }
}
