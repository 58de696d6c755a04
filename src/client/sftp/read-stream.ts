/**
 * A remote SFTP file as a Readable, read with several requests in flight.
 *
 * SFTP lets a server answer a READ with fewer bytes than asked (a short
 * read); only an SSH_FX_EOF status means the end. So a short answer is
 * re-requested from where it stopped, never taken for EOF, and the bytes
 * that arrived are checked against the size stat reported: fewer (EOF came
 * early) or more (the file is longer than stat said) is an error, never a
 * silently different file (curl #4344, ssh2-sftp-client #387).
 */
import { Readable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { sftpPacketFit } from '../../ssh2/index.js';

/** How the bytes that came disagreed with the size stat reported. */
export class LengthMismatchError extends Error {
  override readonly name = 'LengthMismatchError';
  constructor(
    readonly expected: number,
    readonly received: number,
  ) {
    super(
      received < expected
        ? `server reported EOF after ${received} of ${expected} bytes (stat size): the file would be truncated`
        : `server sent more than the ${expected} bytes stat reported`,
    );
  }
}

/** One READ in flight: the range [offset, end) still owed. */
interface Slot {
  offset: number;
  end: number;
  /** Pieces that arrived for this range (short reads give several). */
  parts: Buffer[];
  busy: boolean;
}

/** Tuning of {@link SftpReadStream}. */
export interface ReadTuning {
  /** Bytes per READ request; undefined: the largest whose reply fits one SSH packet (src/ssh2/sftp-packet.ts). */
  chunkSize: number | undefined;
  /** READ requests in flight. */
  requests: number;
}

/** Pipelined reader of one open remote file handle; emits bytes in order, then 'end' only after EOF at the stat size. */
export class SftpReadStream extends Readable {
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  readonly #size: number;
  readonly #tuning: { chunkSize: number; requests: number };
  /** In-order queue of requested ranges; the head is pushed when complete. */
  readonly #slots: Slot[] = [];
  /** Next offset not yet requested. */
  #next = 0;
  /** The EOF probe at `size` has been answered with EOF. */
  #eofConfirmed = false;
  #probing = false;
  #received = 0;
  /** Lowest offset a READ answered EOF at (Infinity: none yet). */
  #eofAt = Infinity;

  constructor(sftp: SFTPWrapper, handle: Buffer, size: number, tuning: ReadTuning) {
    const chunkSize = tuning.chunkSize ?? sftpPacketFit(sftp, handle).read;
    super({ highWaterMark: chunkSize * tuning.requests });
    this.#sftp = sftp;
    this.#handle = handle;
    this.#size = size;
    this.#tuning = { chunkSize, requests: tuning.requests };
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#received;
  }

  override _read(): void {
    // Complete slots held back by backpressure go first, then new requests.
    this.#deliver();
  }

  #fillSlots(): void {
    if (this.destroyed) return;
    if (this.#eofAt !== Infinity) return;
    while (this.#slots.length < this.#tuning.requests && this.#next < this.#size) {
      const end = Math.min(this.#next + this.#tuning.chunkSize, this.#size);
      const slot: Slot = { offset: this.#next, end, parts: [], busy: false };
      this.#next = end;
      this.#slots.push(slot);
      this.#request(slot);
    }
    // Everything up to the stat size is requested: one more READ at `size`
    // must answer EOF, or the file is longer than stat said.
    if (this.#next >= this.#size && !this.#probing && !this.#eofConfirmed) {
      this.#probing = true;
      this.#sftp.read(this.#handle, Buffer.alloc(1), 0, 1, this.#size, (err, n) => {
        if (this.destroyed) return;
        if (err) return this.destroy(err);
        if (n > 0) return this.destroy(new LengthMismatchError(this.#size, this.#size + n));
        this.#eofConfirmed = true;
        this.#deliver();
      });
    }
  }

  #request(slot: Slot): void {
    slot.busy = true;
    const length = slot.end - slot.offset;
    this.#sftp.read(this.#handle, Buffer.allocUnsafe(length), 0, length, slot.offset, (err, n, data) => {
      slot.busy = false;
      if (this.destroyed) return;
      if (err) return this.destroy(err);
      if (n === 0 || this.#eofAt !== Infinity) {
        // EOF before the stat size. Other READs may still be out (a later
        // range's EOF can come first): report the lowest EOF offset once
        // every request has been answered.
        if (n === 0) this.#eofAt = Math.min(this.#eofAt, slot.offset);
        if (!this.#slots.some((s) => s.busy)) this.destroy(new LengthMismatchError(this.#size, this.#eofAt));
        return;
      }
      slot.parts.push(n === length ? data : data.subarray(0, n));
      slot.offset += n;
      // A short read: ask for the rest of this range, never treat it as the end.
      if (slot.offset < slot.end) this.#request(slot);
      else this.#deliver();
    });
  }

  #deliver(): void {
    let more = true;
    while (more && this.#slots.length > 0) {
      const head = this.#slots[0] as Slot;
      if (head.busy || head.offset < head.end) break;
      this.#slots.shift();
      for (const part of head.parts) {
        this.#received += part.length;
        more = this.push(part);
      }
    }
    if (this.#slots.length === 0 && this.#next >= this.#size && this.#eofConfirmed) {
      this.push(null);
      return;
    }
    if (more) this.#fillSlots();
    else if (this.#slots.length === 0 && this.#next >= this.#size) this.#fillSlots();
  }
}
