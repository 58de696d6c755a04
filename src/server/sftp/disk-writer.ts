/**
 * The WRITE requests of one file being uploaded into the real directory
 * behind `/disk`, written in batches: while one write to the file is in
 * flight the following requests queue, and when it completes every queued
 * request that continues the previous one's bytes goes out in one `writev`
 * at its offset. Each request is answered only after its bytes were written,
 * in the order the requests came. One `FileHandle.write` per 32 KiB request
 * cost a promise, a thread-pool round trip and a syscall each (writeBuffer
 * was 16.6% of loopssh serve's CPU profile during 1 GiB puts).
 *
 * The request's bytes are held as ssh2 delivered them, not copied: ssh2 1.17
 * never rewrites an inbound payload (docs/ssh2-traps.md, "ssh2 SFTP server
 * stream"). No ssh2 knowledge here.
 */

/** The part of a FileHandle a DiskWriter uses (a FileHandle is one; tests pass a recording fake). */
export interface WritevFile {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
}

/** Limits and the answer callback of a {@link DiskWriter}. */
export interface DiskWriterOptions {
  /** A request whose end (offset + length) passes this is refused with an {@link UploadLimitError}, nothing written. */
  readonly maxFileBytes: number;
  /** Requests per writev at most. */
  readonly maxBatchRequests?: number;
  /** Bytes per writev at most (a single larger request still goes alone). */
  readonly maxBatchBytes?: number;
  /**
   * Requests waiting behind the write in flight at most; one more is refused
   * with an {@link UploadLimitError} (in its place in the answer order), so a
   * client that never waits for answers cannot pile up held bytes without
   * end. Default: no limit.
   */
  readonly maxQueued?: number;
  /**
   * Bytes the queued requests may hold, shared as the caller decides (the
   * session's held-bytes budget): a request that would pass it is refused
   * with an {@link UploadLimitError}. Without one, only `maxQueued` bounds
   * what a client that never waits for answers makes the server hold.
   */
  readonly budget?: { tryTake(n: number): boolean; release(n: number): void; readonly limitBytes: number };
  /**
   * The answer to requests (a batch written together, or one refused),
   * called once for every request, in request order: no error once their
   * bytes were written, else why not. Called synchronously for a whole batch,
   * so the replies can leave in one socket write.
   */
  readonly answer: (reqids: readonly number[], err?: unknown) => void;
}

/** A request refused by one of the server's limits (upload size, requests queued): the message goes to the client. */
export class UploadLimitError extends Error {}

/** Defaults: 64 requests (OpenSSH sftp keeps 64 in flight) or 4 MiB per writev. */
export const MAX_BATCH_REQUESTS = 64;
export const MAX_BATCH_BYTES = 4 * 1024 ** 2;

const EMPTY = Buffer.alloc(0);

/** One queued request; `refused` set when it fails before any write. */
interface Pending {
  readonly reqid: number;
  readonly offset: number;
  readonly data: Buffer;
  readonly refused?: Error;
}

/** The queue of one open file; see the module comment. */
export class DiskWriter {
  readonly #file: WritevFile;
  readonly #options: Required<Omit<DiskWriterOptions, 'budget'>> & Pick<DiskWriterOptions, 'budget'>;
  /** Requests not yet taken into a write. */
  readonly #queue: Pending[] = [];
  #writing = false;
  #idle: (() => void)[] = [];
  /** Bytes written so far (successful requests). */
  bytesWritten = 0;
  /** writev calls made, for the docs and tests. */
  writes = 0;

  constructor(file: WritevFile, options: DiskWriterOptions) {
    this.#file = file;
    this.#options = { maxBatchRequests: MAX_BATCH_REQUESTS, maxBatchBytes: MAX_BATCH_BYTES, maxQueued: Infinity, ...options };
  }

  /** Queues one WRITE request; `data` is held until written and must not change meanwhile. */
  write(reqid: number, offset: number, data: Buffer): void {
    const { maxFileBytes: max, maxQueued } = this.#options;
    let refused: UploadLimitError | undefined;
    // `!(… <= …)` also refuses a NaN or an offset past 2^53.
    if (!(Number.isSafeInteger(offset) && offset + data.length <= max)) refused = new UploadLimitError(`upload exceeds ${max} bytes`);
    else if (this.#queue.length >= maxQueued) refused = new UploadLimitError(`too many WRITEs in flight (limit ${maxQueued})`);
    else if (this.#options.budget && !this.#options.budget.tryTake(data.length)) {
      refused = new UploadLimitError(`more than ${this.#options.budget.limitBytes} bytes of this session's WRITEs are waiting for the disk; wait for answers before sending more`);
    }
    // A refused request holds no bytes.
    this.#queue.push({ reqid, offset, data: refused ? EMPTY : data, refused });
    if (!this.#writing) this.#next();
  }

  /** Resolves once every request queued so far has been answered (before CLOSE closes the file). */
  drained(): Promise<void> {
    if (!this.#writing) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Starts the next batch, or goes idle. */
  #next(): void {
    const queue = this.#queue;
    // Refused requests at the head are answered now, in order.
    let first = 0;
    for (let p = queue[first]; p?.refused; p = queue[++first]) this.#options.answer([p.reqid], p.refused);
    const head = queue[first];
    if (!head) {
      queue.length = 0;
      this.#writing = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
      return;
    }
    const position = head.offset;
    let end = position;
    let last = first;
    // Contiguous, unrefused requests, within both caps; anything else starts the next batch.
    for (let p = queue[last]; p && last - first < this.#options.maxBatchRequests; p = queue[++last]) {
      if (p.refused || p.offset !== end || (last > first && end - position + p.data.length > this.#options.maxBatchBytes)) break;
      end += p.data.length;
    }
    const batch = queue.splice(0, last).slice(first);
    this.#writing = true;
    this.writes++;
    writeAll(this.#file, batch.map((p) => p.data), position, end - position).then(
      () => this.#answer(batch, undefined),
      (err: unknown) => this.#answer(batch, err ?? new Error('write failed')),
    );
  }

  #answer(batch: Pending[], err: unknown): void {
    if (!err) for (const p of batch) this.bytesWritten += p.data.length;
    // Written or failed, the batch holds its bytes no longer.
    for (const p of batch) this.#options.budget?.release(p.data.length);
    this.#options.answer(
      batch.map((p) => p.reqid),
      err,
    );
    this.#next();
  }
}

/** writev until every byte is written (a regular file takes all at once; a short write continues where it stopped). */
async function writeAll(file: WritevFile, buffers: Buffer[], position: number, total: number): Promise<void> {
  let done = 0;
  for (;;) {
    const { bytesWritten } = await file.writev(buffers, position + done);
    done += bytesWritten;
    if (done >= total) return;
    if (bytesWritten === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO' });
    buffers = dropBytes(buffers, bytesWritten);
  }
}

/** `buffers` without their first `n` bytes (views, no copy). */
function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  let i = 0;
  for (let b = buffers[i]; b && n >= b.length; b = buffers[++i]) n -= b.length;
  return [(buffers[i] as Buffer).subarray(n), ...buffers.slice(i + 1)];
}
