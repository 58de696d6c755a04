/**
 * Reads a byte stream as a protocol: single bytes, lines, exact byte counts.
 * The legacy SCP protocol interleaves text lines and file bytes on one stdin.
 */
import type { Readable } from 'node:stream';

/** The peer ended the stream in the middle of something. */
export class UnexpectedEofError extends Error {}

/** Pull reader over a Readable's chunks, keeping what one call did not use. */
export class ByteReader {
  readonly #chunks: AsyncIterator<Buffer>;
  #rest: Buffer = Buffer.alloc(0);
  #ended = false;

  constructor(stream: Readable) {
    this.#chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async #fill(): Promise<boolean> {
    if (this.#rest.length > 0) return true;
    if (this.#ended) return false;
    const next = await this.#chunks.next();
    if (next.done) {
      this.#ended = true;
      return false;
    }
    this.#rest = next.value;
    return true;
  }

  /** The next byte, or undefined at EOF. */
  async byte(): Promise<number | undefined> {
    if (!(await this.#fill())) return undefined;
    const b = this.#rest[0] as number;
    this.#rest = this.#rest.subarray(1);
    return b;
  }

  /**
   * The next line without its `\n`, or undefined at a clean EOF (nothing read).
   * @throws Error when the line is longer than `max` bytes, UnexpectedEofError when it has no end
   */
  async line(max: number): Promise<string | undefined> {
    const parts: Buffer[] = [];
    let length = 0;
    for (;;) {
      if (!(await this.#fill())) {
        if (length === 0) return undefined;
        throw new UnexpectedEofError('the client ended in the middle of a line');
      }
      const nl = this.#rest.indexOf(0x0a);
      const take = nl < 0 ? this.#rest : this.#rest.subarray(0, nl);
      length += take.length;
      if (length > max) throw new Error(`protocol line longer than ${max} bytes`);
      parts.push(take);
      this.#rest = nl < 0 ? Buffer.alloc(0) : this.#rest.subarray(nl + 1);
      if (nl >= 0) return Buffer.concat(parts).toString('utf8');
    }
  }

  /**
   * Hands exactly `n` bytes to `sink`, chunk by chunk as they arrive (views,
   * not copies); a sink returning a promise is awaited before the next chunk
   * is read (back-pressure for a file being written).
   * @throws UnexpectedEofError when the stream ends first
   */
  async exactly(n: number, sink: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw new UnexpectedEofError(`the client ended ${left} bytes short`);
      const take = Math.min(left, this.#rest.length);
      const pending = sink(this.#rest.subarray(0, take));
      if (pending) await pending;
      this.#rest = this.#rest.subarray(take);
      left -= take;
    }
  }
}
