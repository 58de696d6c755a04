/**
 * A Writable over a file descriptor we do not own (the CLI's stdout/stderr,
 * a caller's fd): fs writes from the thread pool, never closed.
 *
 * Why not process.stdout: on a pipe Node makes the fd O_NONBLOCK, a flag that
 * every process sharing the pipe sees (a sibling writer then fails with
 * EAGAIN), and its writes are asynchronous, queued in this process. Here the
 * fd may stay blocking; should someone else have made it non-blocking, EAGAIN
 * is retried after a short pause instead of failing the run.
 */
import { write, writev } from 'node:fs';
import { Writable } from 'node:stream';

const RETRY_MIN_MS = 1;
const RETRY_MAX_MS = 50;

/** Writes everything in `chunks` to `fd`, retrying short writes and EAGAIN. */
function writeAll(fd: number, chunks: Buffer[], cb: (err?: Error | null) => void, delay = RETRY_MIN_MS): void {
  const done = (err: NodeJS.ErrnoException | null, written: number): void => {
    if (err) {
      if (err.code === 'EAGAIN') {
        setTimeout(() => writeAll(fd, chunks, cb, Math.min(delay * 2, RETRY_MAX_MS)), delay);
        return;
      }
      cb(err);
      return;
    }
    // Drop what was written; go on with the rest.
    while (written > 0 && chunks.length > 0) {
      const head = chunks[0] as Buffer;
      if (written >= head.length) {
        written -= head.length;
        chunks.shift();
      } else {
        chunks[0] = head.subarray(written);
        written = 0;
      }
    }
    if (chunks.length === 0) cb();
    else writeAll(fd, chunks, cb);
  };
  if (chunks.length === 1) write(fd, chunks[0] as Buffer, 0, (chunks[0] as Buffer).length, null, done);
  else writev(fd, chunks, null, done);
}

/** A kept-open Writable for `fd`; `end()` finishes it without closing the fd. */
export class FdWriteStream extends Writable {
  constructor(readonly fd: number, highWaterMark = 1024 * 1024) {
    super({ highWaterMark });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (chunk.length === 0) cb();
    else writeAll(this.fd, [chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    writeAll(this.fd, chunks.map((c) => c.chunk).filter((c) => c.length > 0), cb);
  }
}
