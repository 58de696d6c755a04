/**
 * A remote SFTP file as a Writable, written with several WRITE requests in
 * flight. It finishes only after every WRITE was acknowledged and the
 * server answered CLOSE (a put "succeeding" before that is ssh2-sftp-client
 * #277), and it emits 'close' by itself, so the FlushTracker can wait for it.
 */
import { Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';

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
  /** Called when the pipeline has drained (for _final). */
  #drained: (() => void) | undefined;

  constructor(sftp: SFTPWrapper, handle: Buffer, chunkSize: number, requests: number) {
    super({ highWaterMark: chunkSize * requests });
    this.#sftp = sftp;
    this.#handle = handle;
    this.#chunkSize = chunkSize;
    this.#maxInFlight = requests;
  }

  /** Bytes the server acknowledged. */
  get acknowledged(): number {
    return this.#acked;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    for (let at = 0; at < chunk.length; at += this.#chunkSize) {
      const piece = chunk.subarray(at, Math.min(at + this.#chunkSize, chunk.length));
      const position = this.#offset;
      this.#offset += piece.length;
      this.#inFlight++;
      // ssh2 copies the bytes into its packet before write() returns.
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
    if (this.#inFlight < this.#maxInFlight) callback();
    else this.#blocked = () => callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    const close = (): void => this.#sftp.close(this.#handle, (err) => callback(err ?? null));
    if (this.#inFlight === 0) close();
    else this.#drained = close;
  }
}
