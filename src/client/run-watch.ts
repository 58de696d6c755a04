/**
 * What runs beside a run's data path: stdin into the channel, the idle
 * watchdog, progress reports and the caller's AbortSignal. Timers compare
 * counters on an interval; nothing here runs per chunk except the stdin byte
 * count the watchdog needs.
 */
import type { ClientChannel } from 'ssh2';
import { RunAbortedError, RunTimeoutError, TargetError, type RunError, type RunFacts } from './errors.js';
import { errorCode } from './delivery.js';
import type { RunRecord } from './run-record.js';
import type { InputStream } from '../engine/targets.js';

/** What {@link watchRun} needs. */
export interface RunWatch {
  channel: ClientChannel;
  /** Resolves at the channel's 'close'. */
  closed: Promise<void>;
  input: InputStream | undefined;
  record: RunRecord;
  /** Ends the run with `reason`: fails the delivery (if any) and closes the channel. */
  stop(reason: RunError): void;
  idleTimeoutMs?: number;
  onProgress?: (facts: RunFacts) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

/** Starts the watchers; the returned function stops them (also done at the channel's 'close'). */
export function watchRun(w: RunWatch): () => void {
  const { channel, input, record } = w;
  // stdin: EOF at once, or a pipe that the channel's backpressure paces.
  if (input) {
    input.stream.pipe(channel);
    input.stream.once('error', (err) => {
      w.stop(new TargetError(`${input.label}: ${err.message}`, record.failure(), input.label, errorCode(err), { cause: err }));
    });
    void w.closed.then(() => {
      input.stream.unpipe(channel);
      if (input.owned) input.stream.destroy();
    });
  } else {
    channel.end();
  }
  const timers: NodeJS.Timeout[] = [];
  if (w.idleTimeoutMs && w.idleTimeoutMs > 0) timers.push(idleWatchdog(w, w.idleTimeoutMs));
  if (w.onProgress) {
    const report = w.onProgress;
    timers.push(setInterval(() => report(record.snapshot()), w.progressIntervalMs ?? 250));
  }
  const onAbort = (): void => w.stop(new RunAbortedError('run aborted', record.failure(), { cause: w.signal?.reason }));
  w.signal?.addEventListener('abort', onAbort, { once: true });
  const stop = (): void => {
    for (const t of timers) clearInterval(t);
    w.signal?.removeEventListener('abort', onAbort);
  };
  for (const t of timers) t.unref();
  void w.closed.then(stop);
  return stop;
}

/** Stops the run when no output arrives and no stdin is taken for `limit` ms. */
function idleWatchdog(w: RunWatch, limit: number): NodeJS.Timeout {
  let uploaded = 0;
  w.input?.stream.on('data', (c: Buffer) => (uploaded += c.length));
  let last = -1;
  let since = performance.now();
  const timer = setInterval(
    () => {
      const moved = w.record.facts.stdoutBytes + w.record.facts.stderrBytes + uploaded;
      if (moved !== last) {
        last = moved;
        since = performance.now();
      } else if (performance.now() - since >= limit) {
        clearInterval(timer);
        w.stop(new RunTimeoutError(`nothing moved for ${limit} ms (idle timeout): the peer stopped sending or reading`, w.record.failure()));
      }
    },
    Math.max(10, Math.floor(limit / 4)),
  );
  return timer;
}
