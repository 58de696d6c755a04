/**
 * The bytes of one open tree file, at any offset, with the file's faults
 * applied: short reads, early EOF, pacing, and the byte count at which the
 * session is dropped.
 */
import { createPayloadReader, type PayloadReader } from '../../payload/patterns.js';
import { hasUnknownSize } from './stream-file.js';
import type { FileNode } from './tree.js';

/** What {@link FileSource.read} did: bytes written to the buffer (0 = EOF), or a drop to carry out. */
export type ReadAnswer = number | 'drop' | 'drop-connection';

/** Reads one file node; a sequential client costs one generator, a seeking one a new generator per seek. */
export class FileSource {
  #reader: PayloadReader | undefined;

  constructor(readonly node: FileNode) {}

  /** How long to hold a reply of `length` bytes back (delay + rate faults), in ms. */
  delayFor(length: number): number {
    const { delayMs = 0, rate } = this.node.faults;
    return delayMs + (rate ? (Math.min(length, this.node.faults.short ?? length) * 1000) / rate : 0);
  }

  /**
   * Fills `target` with up to `max` bytes from `offset`.
   * @param served bytes already served on this handle (for the drop faults)
   */
  read(offset: number, max: number, target: Buffer, served: number): ReadAnswer | Promise<ReadAnswer> {
    const { node } = this;
    const { short, eof, drop, dropConnection } = node.faults;
    // A stream of unknown size (stat says 0) is read until the stream ends.
    const size = typeof node.content === 'object' && hasUnknownSize(node.content) ? Number.MAX_SAFE_INTEGER : node.size;
    const end = Math.min(size, eof ?? size);
    let n = Math.min(max, target.length, end - offset);
    if (short !== undefined) n = Math.min(n, short);
    if (dropConnection !== undefined) {
      if (served >= dropConnection) return 'drop-connection';
      n = Math.min(n, dropConnection - served);
    }
    if (drop !== undefined) {
      if (served >= drop) return 'drop';
      n = Math.min(n, drop - served);
    }
    if (n <= 0) return 0;
    const content = node.content;
    if (Buffer.isBuffer(content)) return content.copy(target, 0, offset, offset + n);
    if ('read' in content) {
      // A registered reader: it may answer short (a short read) or async; never more than asked.
      const copy = (bytes: Uint8Array): number => Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, n)).copy(target, 0);
      const got = content.read(offset, n);
      return got instanceof Uint8Array ? copy(got) : got.then(copy);
    }
    if (this.#reader?.position !== offset) this.#reader = createPayloadReader(content, offset);
    return this.#reader.read(target.subarray(0, n));
  }
}
