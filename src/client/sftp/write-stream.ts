/**
 * A remote SFTP file as a Writable, written with several WRITE requests in
 * flight. It finishes only after every WRITE was acknowledged and the
 * server answered CLOSE (a put "succeeding" before that is ssh2-sftp-client
 * #277), and it emits 'close' by itself, so the FlushTracker can wait for it.
 */
import { Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { sftpPacketFit, sftpWriteFrameSize, sftpWriteFramed } from '../../ssh2/index.js';

/** Pipelined writer of one open remote file handle. */
export class SftpWriteStream extends Writable {
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  readonly #chunkSize: number;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #offset = 0;
  #acked = 0;
  /** The source chunk being cut into WRITEs (one at a time, as Writable hands them over). */
  #chunk: Buffer | undefined;
  /** Bytes of {@link #chunk} already sent or carried. */
  #at = 0;
  /** {@link #chunk}'s write callback: called once it is all sent or carried and the pipeline has room. */
  #chunkDone: ((err?: Error | null) => void) | undefined;
  /**
   * The WRITE that spans two source chunks is assembled here: the tail of
   * one chunk (less than one WRITE), topped up from the next. Copied, as the
   * source may reuse its buffer once the write callback ran.
   */
  #carry: Buffer | undefined;
  /** Bytes in {@link #carry}. */
  #carried = 0;
  /** Where each WRITE message is built (src/ssh2/sftp-write.ts): reused, ssh2's write() allocated one per request. */
  readonly #frame: Buffer;
  /** Called when the pipeline has drained (for _final). */
  #drained: (() => void) | undefined;

  /** @param chunkSize bytes per WRITE; undefined: the most that fits one SSH packet with its header (src/ssh2/sftp-packet.ts) */
  constructor(sftp: SFTPWrapper, handle: Buffer, chunkSize: number | undefined, requests: number) {
    const fit = sftpPacketFit(sftp, handle);
    // Never above what ssh2 sends as one request: past it ssh2 reads the
    // rest of a piece only after the first part's answer, when the source
    // (or the carry) may already hold other bytes; it would also cost a
    // round trip per piece.
    const size = Math.min(chunkSize ?? fit.write, fit.writeLimit);
    super({ highWaterMark: size * requests });
    this.#sftp = sftp;
    this.#handle = handle;
    this.#chunkSize = size;
    this.#maxInFlight = requests;
    this.#frame = Buffer.allocUnsafeSlow(sftpWriteFrameSize(handle, Math.min(size, fit.write)));
  }

  /** Bytes the server acknowledged. */
  get acknowledged(): number {
    return this.#acked;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#chunk = chunk;
    this.#at = 0;
    this.#chunkDone = callback;
    this.#pump();
  }

  /**
   * Cuts the current chunk into WRITEs while fewer than `requests` are in
   * flight, and resumes from each answer: a large chunk (a 1 MiB file read,
   * a whole Buffer) never puts more than `requests` WRITEs on the wire,
   * which a server may refuse past its queue limit. The tail of one chunk
   * goes out topped up from the next: every WRITE but the last is full size,
   * never a sliver at each source chunk's end.
   */
  #pump(): void {
    const chunk = this.#chunk;
    if (!chunk) return;
    const size = this.#chunkSize;
    while (this.#inFlight < this.#maxInFlight) {
      if (this.#carried > 0) {
        const carry = this.#carry as Buffer;
        const n = chunk.copy(carry, this.#carried, this.#at, this.#at + size - this.#carried);
        this.#at += n;
        this.#carried += n;
        if (this.#carried < size) break; // the chunk is used up
        this.#send(carry);
        this.#carried = 0;
      } else if (this.#at + size <= chunk.length) {
        this.#send(chunk.subarray(this.#at, this.#at + size));
        this.#at += size;
      } else break;
    }
    if (this.#carried === 0 && this.#at < chunk.length && this.#at + size > chunk.length) {
      // Less than one WRITE left: copied, as the source may reuse its buffer
      // once the callback ran. One carry buffer per stream: every WRITE's
      // bytes are copied into its message before the call returns.
      this.#carry ??= Buffer.allocUnsafeSlow(size);
      this.#carried = chunk.copy(this.#carry, 0, this.#at);
      this.#at = chunk.length;
    }
    if (this.#at >= chunk.length && this.#inFlight < this.#maxInFlight) {
      const done = this.#chunkDone;
      this.#chunk = undefined;
      this.#chunkDone = undefined;
      done?.();
    }
  }

  /** One WRITE at the next offset. Its bytes are copied into the message before this returns. */
  #send(piece: Buffer): void {
    const position = this.#offset;
    this.#offset += piece.length;
    this.#inFlight++;
    sftpWriteFramed(this.#sftp, this.#handle, piece, position, this.#frame, (err) => {
      this.#inFlight--;
      if (err) {
        this.destroy(err);
        return;
      }
      this.#acked += piece.length;
      this.#pump();
      if (this.#inFlight === 0) this.#drained?.();
    });
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.#carried > 0) this.#send((this.#carry as Buffer).subarray(0, this.#carried));
    this.#carried = 0;
    this.#carry = undefined;
    const close = (): void => this.#sftp.close(this.#handle, (err) => callback(err ?? null));
    if (this.#inFlight === 0) close();
    else this.#drained = close;
  }
}
