/**
 * The facts of one run as they accumulate: byte counts (written by the
 * pipeline), the exit status (written here and only here), the duration,
 * and how to read what `'buffer'` targets collected, for errors.
 */
import type { RunFacts, RunOutput } from './errors.js';

/** The running tally of a run; errors and results are built from its snapshots. */
export class RunRecord {
  /** Counts and exit facts; the pipeline adds to `stdoutBytes`/`stderrBytes`. */
  readonly facts: RunFacts;
  /** True once an exit status or exit signal arrived; without one the output may be truncated. */
  exitSeen = false;
  readonly #started = performance.now();
  #output: () => RunOutput = () => ({});

  constructor(command: string) {
    this.facts = { command, exitCode: null, signal: null, stdoutBytes: 0, stderrBytes: 0, durationMs: 0 };
  }

  /** Records the exit status as it arrived: the one place exit facts are set. */
  exit(code: number | null, signal: string | undefined): void {
    this.exitSeen = true;
    this.facts.exitCode = code;
    this.facts.signal = signal ? signal.replace(/^SIG/, '') : null;
  }

  /** Where collected output comes from (the run's `'buffer'` targets). */
  collectFrom(output: () => RunOutput): void {
    this.#output = output;
  }

  /** The facts now, with the duration so far. Allocates no output copy: for progress. */
  snapshot(): RunFacts {
    return { ...this.facts, durationMs: Math.round(performance.now() - this.#started) };
  }

  /** The facts now plus the output collected so far: what an error carries. */
  failure(): RunFacts & RunOutput {
    return { ...this.snapshot(), ...this.#output() };
  }
}
