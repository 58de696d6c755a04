/**
 * Hashes an upload whose WRITEs may arrive out of order (SFTP clients
 * pipeline them, and nothing in the protocol orders the replies). In-order
 * bytes go straight into SHA-256; a write ahead of the hashed prefix is held
 * until the gap fills, within a bounded window, never more.
 *
 * Memory bound: held writes never overlap one another nor the hashed
 * prefix, and each ends within `windowBytes` of the prefix, so together they
 * fit in the window: held bytes ≤ windowBytes whatever the order of the
 * writes. A {@link HeldBudget} shared by a session's uploads caps the sum
 * over all its open files, and {@link MAX_HELD_WRITES} the count per file
 * (a 1-byte write still costs a Buffer and a slot).
 */
import { createHash, type Hash } from 'node:crypto';

/** Why a write was refused: the message goes to the client in the SFTP status. */
export class UploadOrderError extends Error {}

/**
 * Writes held at once per upload. Real clients keep at most a few hundred
 * requests in flight (OpenSSH sftp 64, AsyncSSH 128, ssh2 fastPut 64), so
 * this only stops a client splitting the window into tiny pieces.
 */
export const MAX_HELD_WRITES = 1024;

/** Held bytes shared by all uploads of one SFTP session. */
export class HeldBudget {
  #used = 0;

  /** @param limitBytes most bytes held across the session's open uploads */
  constructor(readonly limitBytes: number) {}

  /** Bytes held now, across the session. */
  get used(): number {
    return this.#used;
  }

  /** Takes `n` bytes, or throws when the session would exceed its limit. */
  take(n: number): void {
    if (this.#used + n > this.limitBytes) {
      throw new UploadOrderError(`out-of-order writes would hold more than ${this.limitBytes} bytes across this session's uploads (${this.#used} held); write in order or open fewer files at once`);
    }
    this.#used += n;
  }

  /**
   * Takes `n` bytes unless that would pass the limit while something is
   * already held (a single request larger than the limit still goes alone).
   */
  tryTake(n: number): boolean {
    if (this.#used > 0 && this.#used + n > this.limitBytes) return false;
    this.#used += n;
    return true;
  }

  /** Gives `n` bytes back. */
  release(n: number): void {
    this.#used -= n;
  }
}

/** One held write. */
interface Held {
  readonly offset: number;
  readonly data: Buffer;
}

/** Streaming length + SHA-256 of one upload. */
export class UploadHash {
  readonly #hash: Hash = createHash('sha256');
  /** Bytes hashed so far: the next in-order write starts here. */
  #hashed = 0;
  /**
   * Writes ahead of #hashed, disjoint, sorted by DESCENDING offset: the next
   * to drain is the last element (pop is O(1)); insertion is a binary search
   * and a splice over at most MAX_HELD_WRITES entries.
   */
  readonly #pending: Held[] = [];
  #pendingBytes = 0;

  /**
   * @param windowBytes how far past the hashed prefix a write may end (the held bytes are bounded by it)
   * @param maxBytes largest upload accepted
   * @param budget the session's held-bytes budget (default: this upload's own window)
   */
  constructor(
    readonly windowBytes: number,
    readonly maxBytes: number,
    readonly budget: HeldBudget = new HeldBudget(windowBytes),
  ) {}

  /** Bytes hashed (the contiguous prefix received). */
  get hashed(): number {
    return this.#hashed;
  }

  /** Bytes held out of order. */
  get held(): number {
    return this.#pendingBytes;
  }

  /**
   * Takes one WRITE. `data` is copied only when held (ssh2 may reuse it).
   * A refused write changes nothing.
   * @throws UploadOrderError when it rewrites hashed bytes, overlaps a held
   *   write, ends beyond the window, would exceed the held-write count or
   *   the session's budget, or ends beyond the upload limit
   */
  write(offset: number, data: Buffer): void {
    const end = offset + data.length;
    if (end > this.maxBytes) throw new UploadOrderError(`upload exceeds the server's limit of ${this.maxBytes} bytes`);
    if (data.length === 0) return;
    if (offset < this.#hashed) throw new UploadOrderError(`write at offset ${offset} rewrites bytes already received (up to ${this.#hashed}); uploads are write-once`);
    const pending = this.#pending;
    // Index of the first held write with offset < this one's (descending order).
    let lo = 0;
    let hi = pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((pending[mid] as Held).offset >= offset) lo = mid + 1;
      else hi = mid;
    }
    // Disjoint and sorted, so only the two neighbours can overlap it.
    const after = lo > 0 ? pending[lo - 1] : undefined; // smallest offset ≥ this one
    const before = lo < pending.length ? pending[lo] : undefined; // largest offset < this one
    if ((after && after.offset < end) || (before && before.offset + before.data.length > offset)) {
      const other = (after && after.offset < end ? after : before) as Held;
      throw new UploadOrderError(`write at offset ${offset} (${data.length} bytes) overlaps a held write at offset ${other.offset} (${other.data.length} bytes)`);
    }
    if (offset > this.#hashed) {
      if (end - this.#hashed > this.windowBytes) {
        throw new UploadOrderError(`write at offset ${offset} is more than ${this.windowBytes} bytes ahead of the received prefix (${this.#hashed}); reorder window exceeded`);
      }
      if (pending.length >= MAX_HELD_WRITES) throw new UploadOrderError(`more than ${MAX_HELD_WRITES} writes held out of order; write in order or in larger pieces`);
      this.budget.take(data.length);
      pending.splice(lo, 0, { offset, data: Buffer.from(data) });
      this.#pendingBytes += data.length;
      return;
    }
    this.#hash.update(data);
    this.#hashed = end;
    // Drain whatever the gap was holding back; no overlap is possible (checked above).
    for (let next = pending.at(-1); next !== undefined && next.offset === this.#hashed; next = pending.at(-1)) {
      pending.pop();
      this.#pendingBytes -= next.data.length;
      this.budget.release(next.data.length);
      this.#hash.update(next.data);
      this.#hashed += next.data.length;
    }
  }

  /** True when nothing is held back: every byte up to {@link hashed} arrived, and no gap. */
  get complete(): boolean {
    return this.#pending.length === 0;
  }

  /** Drops the held writes and gives their bytes back to the session's budget (a failed or abandoned upload). */
  discard(): void {
    this.budget.release(this.#pendingBytes);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
  }

  /** Final hex digest; call once, when {@link complete}. */
  digest(): string {
    return this.#hash.digest('hex');
  }
}
