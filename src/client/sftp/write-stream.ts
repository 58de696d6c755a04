/**
 * A remote SFTP file as a Writable, written with several WRITE requests in
 * flight. It finishes only after every WRITE was acknowledged and the
 * server answered CLOSE (a put "succeeding" before that is ssh2-sftp-client
 * #277), and it emits 'close' by itself, so the FlushTracker can wait for it.
 */
import { Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { batchSftpWrites, sftpPacketFit } from '../../ssh2/index.js';

/** Pipelined writer of one open remote file handle. */
export class SftpWriteStream extends Writable {
  readonly #sftp: SFTPWrapper;
  readonly #handle: Buffer;
  readonly #chunkSize: number;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #offset = 0;
  #acked = 0;
  /** The write callback held back while the pipeline is full. */
  #blocked: (() => void) | undefined;
  /** Bytes of the last source chunk not sent yet (less than one WRITE). */
  #carry: Buffer | undefined;
  /** Called when the pipeline has drained (for _final). */
  #drained: (() => void) | undefined;

  /** @param chunkSize bytes per WRITE; undefined: the most that fits one SSH packet with its header (src/ssh2/sftp-packet.ts) */
  constructor(sftp: SFTPWrapper, handle: Buffer, chunkSize: number | undefined, requests: number) {
    const size = chunkSize ?? sftpPacketFit(sftp, handle).write;
    super({ highWaterMark: size * requests });
    this.#sftp = sftp;
    this.#handle = handle;
    this.#chunkSize = size;
    this.#maxInFlight = requests;
  }

  /** Bytes the server acknowledged. */
  get acknowledged(): number {
    return this.#acked;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const size = this.#chunkSize;
    batchSftpWrites(this.#sftp);
    let at = 0;
    // The tail of the last chunk goes out topped up from this one: every WRITE
    // but the last is a full chunk, never a sliver at each source chunk's end.
    if (this.#carry) {
      at = Math.min(size - this.#carry.length, chunk.length);
      this.#carry = Buffer.concat([this.#carry, chunk.subarray(0, at)]);
      if (this.#carry.length === size) {
        this.#send(this.#carry);
        this.#carry = undefined;
      }
    }
    for (; at + size <= chunk.length; at += size) this.#send(chunk.subarray(at, at + size));
    // Copied: the source may reuse its buffer once this callback ran.
    if (at < chunk.length) this.#carry = Buffer.from(chunk.subarray(at));
    if (this.#inFlight < this.#maxInFlight) callback();
    else this.#blocked = () => callback();
  }

  /** One WRITE at the next offset. ssh2 copies the bytes into its packet before write() returns. */
  #send(piece: Buffer): void {
    const position = this.#offset;
    this.#offset += piece.length;
    this.#inFlight++;
    this.#sftp.write(this.#handle, piece, 0, piece.length, position, (err) => {
      this.#inFlight--;
      if (err) {
        this.destroy(err);
        return;
      }
      this.#acked += piece.length;
      if (this.#inFlight < this.#maxInFlight && this.#blocked) {
        const resume = this.#blocked;
        this.#blocked = undefined;
        resume();
      }
      if (this.#inFlight === 0) this.#drained?.();
    });
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.#carry) this.#send(this.#carry);
    this.#carry = undefined;
    const close = (): void => this.#sftp.close(this.#handle, (err) => callback(err ?? null));
    if (this.#inFlight === 0) close();
    else this.#drained = close;
  }
}
