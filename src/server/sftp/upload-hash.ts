/**
 * Hashes an upload whose WRITEs may arrive out of order (SFTP clients
 * pipeline them, and nothing in the protocol orders the replies). In-order
 * bytes go straight into SHA-256; a write ahead of the hashed prefix is held
 * until the gap fills, within a bounded window, never more.
 */
import { createHash, type Hash } from 'node:crypto';

/** Why a write was refused: the message goes to the client in the SFTP status. */
export class UploadOrderError extends Error {}

/** Streaming length + SHA-256 of one upload. */
export class UploadHash {
  readonly #hash: Hash = createHash('sha256');
  /** Bytes hashed so far: the next in-order write starts here. */
  #hashed = 0;
  /** Writes ahead of #hashed, by offset. */
  readonly #pending = new Map<number, Buffer>();
  #pendingBytes = 0;

  /**
   * @param windowBytes how far past the hashed prefix a write may end (the held bytes are bounded by it)
   * @param maxBytes largest upload accepted
   */
  constructor(
    readonly windowBytes: number,
    readonly maxBytes: number,
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
   * @throws UploadOrderError when it rewrites hashed bytes, overlaps a held
   *   write, ends beyond the window, or beyond the upload limit
   */
  write(offset: number, data: Buffer): void {
    const end = offset + data.length;
    if (end > this.maxBytes) throw new UploadOrderError(`upload exceeds the server's limit of ${this.maxBytes} bytes`);
    if (data.length === 0) return;
    if (offset < this.#hashed) throw new UploadOrderError(`write at offset ${offset} rewrites bytes already received (up to ${this.#hashed}); uploads are write-once`);
    if (offset > this.#hashed) {
      if (end - this.#hashed > this.windowBytes) {
        throw new UploadOrderError(`write at offset ${offset} is more than ${this.windowBytes} bytes ahead of the received prefix (${this.#hashed}); reorder window exceeded`);
      }
      if (this.#pending.has(offset)) throw new UploadOrderError(`write at offset ${offset} repeats a pending write`);
      this.#pending.set(offset, Buffer.from(data));
      this.#pendingBytes += data.length;
      return;
    }
    this.#hash.update(data);
    this.#hashed = end;
    // Drain whatever the gap was holding back.
    for (let next = this.#pending.get(this.#hashed); next !== undefined; next = this.#pending.get(this.#hashed)) {
      this.#pending.delete(this.#hashed);
      this.#pendingBytes -= next.length;
      this.#hash.update(next);
      this.#hashed += next.length;
    }
    if (this.#pending.size > 0 && [...this.#pending.keys()].some((k) => k < this.#hashed)) {
      throw new UploadOrderError(`a held write overlaps bytes received later (before offset ${this.#hashed})`);
    }
  }

  /** True when nothing is held back: every byte up to {@link hashed} arrived, and no gap. */
  get complete(): boolean {
    return this.#pending.size === 0;
  }

  /** Final hex digest; call once, when {@link complete}. */
  digest(): string {
    return this.#hash.digest('hex');
  }
}
