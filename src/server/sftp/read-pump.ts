/**
 * The READ side of an SFTP session: requests queue here and their bytes are
 * made only when the channel can take them, so a client queueing thousands
 * of READs (paramiko prefetches a whole file) costs their bookkeeping, not
 * their data. Fault delays and async registered readers hold the queue.
 */
import type { ServerLogger } from '../log.js';
import type { TransferRecord } from '../types.js';
import { FX } from './attrs.js';
import { SFTP_DATA_HEADER } from '../../ssh2/index.js';
import type { FileSource, ReadAnswer } from './file-source.js';

/**
 * Most bytes one READ reply carries. OpenSSH's client takes packets up to
 * 256 KiB; clients ask 32 KiB (OpenSSH, paramiko) or less. Asking more gets a
 * short read, which SFTP allows.
 */
export const MAX_READ_BYTES = 255 * 1024;

/** Where the pump's answers go: the SFTP stream's flow state and replies. */
export interface ReadPumpOutput {
  /** True when a reply now would be parked instead of sent. */
  blocked(): boolean;
  /** Calls back once replies can be sent again. */
  whenWritable(callback: () => void): void;
  /** A DATA reply: its `length` bytes follow SFTP_DATA_HEADER free bytes in `frame` (reused after the call). */
  data(reqid: number, frame: Buffer, length: number): void;
  status(reqid: number, code: number, message?: string): void;
  /** A drop fault fired: close the channel or cut the connection. */
  drop(record: TransferRecord, connection: boolean): void;
  readonly log: ServerLogger;
}

/** A READ waiting for window (or for its fault delay). */
interface PendingRead {
  reqid: number;
  source: FileSource;
  record: TransferRecord;
  offset: number;
  length: number;
  /** Its fault delay has been waited out. */
  delayed?: boolean;
}

/** The per-session READ queue. */
export class ReadPump {
  readonly #pending: PendingRead[] = [];
  #waiting = false;
  #timer: NodeJS.Timeout | undefined;
  /** An async read is out: the queue waits for it. */
  #reading = false;
  #closed = false;
  // One frame per session: the DATA header, then the bytes read. The
  // channel copies it into its packet, so the next READ can reuse it.
  readonly #frame = Buffer.allocUnsafe(SFTP_DATA_HEADER + MAX_READ_BYTES);
  readonly #scratch = this.#frame.subarray(SFTP_DATA_HEADER);

  constructor(
    readonly limit: number,
    readonly out: ReadPumpOutput,
  ) {}

  /** Queues a READ; returns false (and answers it with FAILURE) when the queue is full. */
  enqueue(reqid: number, source: FileSource, record: TransferRecord, offset: number, length: number): boolean {
    if (this.#pending.length >= this.limit) {
      this.out.status(reqid, FX.FAILURE, `too many READs in flight (limit ${this.limit})`);
      return false;
    }
    this.#pending.push({ reqid, source, record, offset, length });
    if (!this.#waiting && this.#timer === undefined && !this.#reading) this.#pump();
    return true;
  }

  /** Drops the queue: the session is gone. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#pending.length = 0;
  }

  #pump = (): void => {
    this.#waiting = false;
    while (!this.#closed && this.#timer === undefined && !this.#reading && this.#pending.length > 0) {
      if (this.out.blocked()) {
        this.#waiting = true;
        this.out.whenWritable(this.#pump);
        return;
      }
      const read = this.#pending[0] as PendingRead;
      const wait = read.source.delayFor(read.length);
      if (wait > 0 && !read.delayed) {
        read.delayed = true;
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, wait);
        return;
      }
      this.#pending.shift();
      this.#serve(read);
    }
  };

  #serve({ reqid, source, record, offset, length }: PendingRead): void {
    const answer = source.read(offset, Math.min(length, MAX_READ_BYTES), this.#scratch, record.bytes);
    if (!(answer instanceof Promise)) return this.#finish(reqid, record, answer);
    this.#reading = true;
    answer.then(
      (got) => {
        this.#reading = false;
        if (!this.#closed) this.#finish(reqid, record, got);
        this.#pump();
      },
      (err: unknown) => {
        this.#reading = false;
        this.out.log.warn({ err, path: record.path }, 'registered file read failed');
        if (!this.#closed) this.out.status(reqid, FX.FAILURE, `read failed: ${err instanceof Error ? err.message : String(err)}`);
        this.#pump();
      },
    );
  }

  #finish(reqid: number, record: TransferRecord, answer: ReadAnswer): void {
    if (answer === 'drop' || answer === 'drop-connection') return this.out.drop(record, answer === 'drop-connection');
    if (answer === 0) return this.out.status(reqid, FX.EOF);
    record.bytes += answer;
    this.out.data(reqid, this.#frame, answer);
  }
}
