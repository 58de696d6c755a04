/**
 * Random padding for outbound SSH packets from a pool instead of one
 * `randomFillSync` per packet (loopssh issue 14, lever "pooled padding").
 *
 * RFC 4253 §6: the 4–255 bytes of padding SHOULD be random. ssh2 1.17 asks
 * the CSPRNG for them packet by packet (4–19 bytes each, ~5.9% of a sending
 * server's CPU at 32 KiB packets). Here the same CSPRNG fills 64 KiB at once
 * and each byte is handed out exactly once; when the pool is used up it is
 * refilled. So the padding stays CSPRNG output, never reused, never shared
 * between two packets.
 */
import { randomFillSync } from 'node:crypto';

/** Bytes asked of the CSPRNG at once: ~4,000 packets of padding. */
export const PADDING_POOL_BYTES = 64 * 1024;

/** A pool of CSPRNG bytes, each handed out once. */
export class PaddingPool {
  readonly #pool: Buffer;
  readonly #fill: (pool: Buffer) => void;
  /** Next unused byte; `pool.length` means "refill before use" (so nothing is drawn until first needed). */
  #pos: number;

  /** @param fill - fills the whole buffer with fresh random bytes (tests pass a counter). */
  constructor(size = PADDING_POOL_BYTES, fill: (pool: Buffer) => void = (b) => void randomFillSync(b)) {
    this.#pool = Buffer.allocUnsafe(size);
    this.#fill = fill;
    this.#pos = size;
  }

  /**
   * Copies the next `n` unused bytes of the pool into `dst` at `offset`
   * (n ≤ pool size; SSH padding is at most 255 bytes).
   */
  take(dst: Uint8Array, offset: number, n: number): void {
    const pool = this.#pool;
    if (this.#pos + n > pool.length) {
      // Whatever was left over is skipped, not handed out twice.
      this.#fill(pool);
      this.#pos = 0;
    }
    let p = this.#pos;
    // A JS loop: cheaper than a native copy call for ≤ 19 bytes.
    for (let i = 0; i < n; i++) dst[offset + i] = pool[p++] as number;
    this.#pos = p;
  }
}
