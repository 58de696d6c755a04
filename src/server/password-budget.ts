/**
 * A per-source budget for wrong passwords: a token bucket per remote address.
 * Within the budget a wrong password is answered at once; past it the answer
 * waits until the source has earned a new guess, so one address gets at most
 * `perSecond` guesses a second (after a burst), however many connections it
 * opens in parallel. Right passwords and public keys never wait.
 */

/** How many sources are remembered; beyond it the ones that have earned their full burst back are forgotten first. */
const MAX_SOURCES = 4096;

interface Bucket {
  /** Guesses left; negative: guesses already promised for later. */
  tokens: number;
  /** When `tokens` was last brought up to date, in ms. */
  updated: number;
}

/** Wrong-password budget of every source address. */
export class PasswordBudget {
  readonly #sources = new Map<string, Bucket>();

  /**
   * @param burst wrong guesses a source may make at once
   * @param perSecond wrong guesses it earns back each second
   * @param now a clock in ms (tests pass their own)
   */
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Spends one wrong guess of `source`; returns how long to hold the answer back, in ms (0 within the budget). */
  failure(source: string): number {
    const now = this.now();
    let bucket = this.#sources.get(source);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updated) / 1000) * this.perSecond);
      bucket.updated = now;
    } else {
      this.#makeRoom(now);
      bucket = { tokens: this.burst, updated: now };
      this.#sources.set(source, bucket);
    }
    bucket.tokens -= 1;
    // A debt of d guesses is paid off after d / perSecond seconds.
    return bucket.tokens >= 0 ? 0 : (-bucket.tokens / this.perSecond) * 1000;
  }

  /** Number of sources remembered (bounded by MAX_SOURCES). */
  get size(): number {
    return this.#sources.size;
  }

  #makeRoom(now: number): void {
    if (this.#sources.size < MAX_SOURCES) return;
    for (const [source, b] of this.#sources) {
      if (b.tokens + ((now - b.updated) / 1000) * this.perSecond >= this.burst) this.#sources.delete(source);
    }
    // Still full: forget the oldest entry (Map keeps insertion order).
    if (this.#sources.size >= MAX_SOURCES) this.#sources.delete(this.#sources.keys().next().value as string);
  }
}
