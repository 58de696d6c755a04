/**
 * How the audit reads a client's stdout: through a real FIFO (a kernel pipe
 * with the usual 64 KiB buffer, as `client | consumer` gives), read from the
 * thread pool with a chosen pace. Node's own child "pipes" are socketpairs
 * that took 184,320 bytes with nobody reading (a pipe: 65,536), enough to
 * hide exactly the losses under test (README "Auditing an SSH client").
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, read } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Reader strategies. */
export const READERS = ['fast', 'slow', 'stalled-then-fast', 'one-byte-then-sleep'] as const;
/** One of {@link READERS}. */
export type ReaderName = (typeof READERS)[number];

/** Pace settings of the readers. */
export interface ReaderPace {
  /** `slow`: bytes per second. Default 64 KiB/s (160 KiB take 2.5 s). */
  slowBytesPerSecond: number;
  /** `stalled-then-fast` and `one-byte-then-sleep`: the stall, in ms. Default 2000. */
  stallMs: number;
}

/** Default {@link ReaderPace}. */
export const DEFAULT_PACE: Readonly<ReaderPace> = Object.freeze({ slowBytesPerSecond: 64 * 1024, stallMs: 2000 });

/** What a reader does with each piece it read; the buffer is reused after it returns. */
export type ChunkSink = (chunk: Buffer) => void;

/** Creates a FIFO at `path` (mkfifo(1): Node has no mkfifo). */
export function makeFifo(path: string): void {
  const r = spawnSync('mkfifo', ['-m', '0600', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo ${path} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Both ends of an opened FIFO: give `writeFd` to the client, read `readFd`. */
export interface FifoEnds {
  readFd: number;
  writeFd: number;
}

/**
 * Opens both ends without blocking the event loop: a non-blocking read end
 * first (so the write end opens at once), then a blocking read end (a writer
 * now exists), and the non-blocking one is dropped. The blocking read end is
 * what the thread-pool reads want: a read waits for data instead of EAGAIN.
 */
export function openFifo(path: string): FifoEnds {
  const probe = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const writeFd = openSync(path, constants.O_WRONLY);
    const readFd = openSync(path, constants.O_RDONLY);
    return { readFd, writeFd };
  } finally {
    closeSync(probe);
  }
}

function readSome(fd: number, buf: Buffer, length: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Reads `fd` to EOF with the strategy `name`, handing every piece to `sink`.
 * Resolves with the byte count at EOF (every writer closed its end).
 */
export async function readWith(name: ReaderName, fd: number, sink: ChunkSink, pace: ReaderPace = DEFAULT_PACE): Promise<number> {
  const buf = Buffer.allocUnsafe(256 * 1024);
  let total = 0;
  const take = async (length: number): Promise<number> => {
    const n = await readSome(fd, buf, length);
    if (n > 0) {
      sink(buf.subarray(0, n));
      total += n;
    }
    return n;
  };
  if (name === 'stalled-then-fast') await sleep(pace.stallMs);
  if (name === 'one-byte-then-sleep') {
    if ((await take(1)) === 0) return total;
    await sleep(pace.stallMs);
  }
  if (name === 'slow') {
    // About 50 reads a second, each sized to keep the average rate.
    const piece = Math.max(1, Math.min(buf.length, Math.floor(pace.slowBytesPerSecond / 50)));
    const started = performance.now();
    while ((await take(piece)) > 0) {
      const due = (total / pace.slowBytesPerSecond) * 1000 - (performance.now() - started);
      if (due > 1) await sleep(due);
    }
    return total;
  }
  while ((await take(buf.length)) > 0);
  return total;
}
