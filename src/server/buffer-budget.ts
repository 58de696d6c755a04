/**
 * One memory budget for the write buffers of every running built-in command
 * (payload, digest). Each takes what it asks for while the budget lasts and
 * a small floor after that, so 64 connections × 10 channels of `--chunk 1MiB`
 * cost the budget plus the floors, not 640 MiB (loopssh issue 15, point 9).
 */

/** What a command gets when the budget is spent: small, but enough to make progress. */
export const BUFFER_FLOOR = 16 * 1024;

/** A reservation from a {@link BufferBudget}. */
export interface BufferLease {
  /** Bytes granted: at most what was asked, at least min(asked, BUFFER_FLOOR). */
  readonly bytes: number;
  /** Gives the bytes back (once; later calls do nothing). */
  release(): void;
}

/** Bytes held by built-in commands' buffers, against a limit. */
export class BufferBudget {
  #used = 0;
  #peak = 0;

  /**
   * @param limit bytes shared by all commands; past it each gets {@link BUFFER_FLOOR}
   * @param onPeak told each new high-water mark (the server records it)
   */
  constructor(
    readonly limit: number,
    private readonly onPeak: (bytes: number) => void = () => {},
  ) {}

  /** Reserves up to `want` bytes. */
  take(want: number): BufferLease {
    const bytes = Math.max(Math.min(want, BUFFER_FLOOR), Math.min(want, this.limit - this.#used));
    this.#used += bytes;
    if (this.#used > this.#peak) {
      this.#peak = this.#used;
      this.onPeak(this.#peak);
    }
    let held = true;
    return {
      bytes,
      release: () => {
        if (!held) return;
        held = false;
        this.#used -= bytes;
      },
    };
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** The most bytes reserved at once so far. */
  get peak(): number {
    return this.#peak;
  }
}
