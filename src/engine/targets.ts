/**
 * Redirect targets. Like AsyncSSH's redirects, each target knows how it is
 * closed and what "done" means for it, and registers that with the run's
 * FlushTracker:
 *
 * | target                        | closed by          | done when                       |
 * |-------------------------------|--------------------|---------------------------------|
 * | file path                     | `end()`            | `'close'` (fd closed), renamed  |
 * | Writable (handed over)        | `end()`            | `'close'`                       |
 * | process.stdout/stderr, fd,    | never closed       | a final `write('', cb)` called  |
 * | `{ stream, end: false }`      |                    | back                            |
 * | `'buffer'`, `'ignore'`        | `end()`            | `'close'`                       |
 *
 * `'close'` of a file means the kernel has every byte, not the disk: with
 * `fsync` a file target is fsynced before its rename and its folder after it
 * (docs/close-semantics.md, "What done does not guarantee").
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { FlushTracker } from './flush-tracker.js';
import { FdWriteStream } from './fd-writer.js';

/**
 * Where a remote stdout/stderr goes:
 * - a path string (or `{ file }`): written under a temporary name in the same
 *   folder and renamed into place only on success;
 * - `'inherit'`: this process's stdout/stderr, kept open;
 * - a number: a file descriptor, kept open, written from the thread pool
 *   (see FdWriteStream: the CLI's stdout is `1`, not process.stdout);
 * - a Writable: handed over, ended and awaited to `'close'`
 *   (process.stdout/stderr are always kept open);
 * - `{ stream, end: false }`: a Writable kept open;
 * - `'buffer'`: collected into `result.stdout`/`result.stderr`;
 * - `'ignore'`: read and discarded.
 */
export type OutputTarget =
  | 'buffer'
  | 'ignore'
  | 'inherit'
  | string
  | number
  | { file: string }
  | Writable
  | { stream: Writable; end?: boolean };

/**
 * Where the remote stdin comes from: a path string (or `{ file }`), a
 * Readable (read to its end, not destroyed), or bytes (a Buffer/Uint8Array).
 * Text goes in the `input` option.
 */
export type InputSource = string | { file: string } | Readable | Uint8Array;

/** Collected output above `maxBuffer` bytes. */
export class MaxBufferError extends Error {
  override readonly name = 'MaxBufferError';
  readonly code = 'EMAXBUFFER';
  constructor(readonly limit: number) {
    super(`output is larger than maxBuffer (${limit} bytes); send it to a file or stream instead`);
  }
}

/** One open destination of a run. */
export interface OutputSink {
  /** For messages: `stdout → file out.bin`. */
  readonly label: string;
  readonly stream: Writable;
  /** True for targets that must stay open (process.stdout, fds, `end: false`). */
  readonly keptOpen: boolean;
  /** Registers the stream with the tracker: from now on its errors fail the run. */
  track(tracker: FlushTracker): void;
  /** The source ended: close the way this target closes; the tracker waits for it. */
  close(tracker: FlushTracker): void;
  /** The run succeeded and every entry is done: make the output visible. */
  commit(): Promise<void>;
  /** The run failed: leave nothing that looks complete. */
  discard(): Promise<void>;
  /** What `'buffer'` collected. */
  collected?(): Buffer;
}

/** Options that shape how targets are opened. */
export interface SinkOptions {
  /** Largest `'buffer'` output, in bytes. */
  maxBuffer: number;
  /** Naive mode writes straight to the path, no temporary name (it exists to show the bug). */
  naive: boolean;
  /**
   * Make a file target durable before the run resolves: fsync the complete
   * temporary file, rename it into place, then fsync its folder (so the new
   * name survives a power loss too). Default false. Devices, FIFOs and naive
   * runs are written in place and never fsynced.
   */
  fsync?: boolean;
  /** The fsync calls; replaced only by tests that record them. */
  sync?: SyncCalls;
}

/** How a file and a folder are fsynced. */
export interface SyncCalls {
  /** fsyncs the regular file at `path` (a new fd syncs the inode's data all the same). */
  file(path: string): Promise<void>;
  /** fsyncs the folder at `path`, making a rename inside it durable. */
  folder(path: string): Promise<void>;
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The real fsync calls (Linux and macOS: a folder opens read-only and fsyncs). */
export const FS_SYNC: SyncCalls = {
  file: (path) => fsyncPath(path, 'r+'),
  folder: (path) => fsyncPath(path, 'r'),
};

/**
 * File and fd writes: one 32 KiB SSH packet must fit without a pause (fs
 * default: 16 KiB). Measured: 4 MiB cost 40% to a file in two processes and
 * 70 MiB of RSS against 1 MiB, which stays here.
 */
const FILE_HIGH_WATER_MARK = 1024 * 1024;

function isWritable(x: unknown): x is Writable {
  return x instanceof Writable || (typeof x === 'object' && x !== null && typeof (x as Writable).write === 'function' && typeof (x as Writable).on === 'function');
}

function ownedSink(label: string, stream: Writable, extra: Partial<OutputSink> = {}): OutputSink {
  return {
    label,
    stream,
    keptOpen: false,
    track: (tracker) => tracker.owned(stream, label),
    close: () => {
      stream.end();
    },
    commit: async () => {},
    discard: async () => {
      stream.destroy();
    },
    ...extra,
  };
}

function borrowedSink(label: string, stream: Writable): OutputSink {
  return {
    label,
    stream,
    keptOpen: true,
    track: (tracker) => tracker.borrowed(stream, label),
    close: (tracker) => tracker.flush(stream),
    commit: async () => {},
    discard: async () => {},
  };
}

/** A Writable that keeps what it is given, up to `limit` bytes. */
function bufferSink(label: string, limit: number): OutputSink {
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > limit) {
        cb(new MaxBufferError(limit));
        return;
      }
      chunks.push(chunk);
      cb();
    },
  });
  return ownedSink(label, stream, { collected: () => Buffer.concat(chunks, Math.min(size, limit)) });
}

/** Opens a file target: a temporary name beside the path, renamed on commit. */
async function fileSink(which: string, path: string, options: SinkOptions): Promise<OutputSink> {
  const naive = options.naive;
  const label = `${which} file ${path}`;
  // A device or FIFO (/dev/null, a named pipe) is written in place: renaming
  // a temporary file over it would replace the device with a regular file.
  const existing = await stat(path).catch(() => undefined);
  if (naive || (existing && !existing.isFile())) {
    const handle = await open(path, 'w');
    return ownedSink(label, createWriteStream(path, { fd: handle, highWaterMark: FILE_HIGH_WATER_MARK }));
  }
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.loopssh-partial`);
  const handle = await open(temp, 'wx', 0o666).catch((err: NodeJS.ErrnoException) => {
    // Name the path the user gave, not our temporary sibling.
    const why = err.code === 'ENOENT' ? `no such directory: ${dirname(path)}` : err.code === 'EACCES' ? `permission denied in ${dirname(path)}` : err.message;
    throw Object.assign(new Error(`${path}: ${why}`), { code: err.code });
  });
  const stream = createWriteStream(temp, { fd: handle, highWaterMark: FILE_HIGH_WATER_MARK });
  const sync = options.fsync ? (options.sync ?? FS_SYNC) : undefined;
  return ownedSink(label, stream, {
    commit: async () => {
      if (sync) {
        // Data first, under the temporary name: a crash before the rename
        // leaves a .loopssh-partial file, never a short file at `path`.
        await sync.file(temp).catch(async (err: Error) => {
          await rm(temp, { force: true });
          throw new Error(`${path}: fsync failed: ${err.message}`, { cause: err });
        });
      }
      await rename(temp, path);
      if (sync) await sync.folder(dirname(path)).catch((err: Error) => Promise.reject(new Error(`${dirname(path)}: fsync of the folder failed: ${err.message}`, { cause: err })));
    },
    discard: async () => {
      stream.destroy();
      await rm(temp, { force: true });
    },
  });
}

/** Opens the target for one output stream of a run. Errors here (a bad path) come before anything runs remotely. */
export async function openSink(target: OutputTarget, which: 'stdout' | 'stderr', options: SinkOptions): Promise<OutputSink> {
  if (target === 'buffer') return bufferSink(`${which} buffer`, options.maxBuffer);
  if (target === 'ignore') {
    return ownedSink(`${which} ignored`, new Writable({ highWaterMark: 1024 * 1024, write: (_c, _e, cb) => cb() }));
  }
  // process.stdout is read only here: touching it makes a pipe O_NONBLOCK.
  if (target === 'inherit') return borrowedSink(`${which} → process.${which}`, which === 'stdout' ? process.stdout : process.stderr);
  if (typeof target === 'string') return fileSink(which, target, options);
  if (typeof target === 'number') {
    return borrowedSink(`${which} → fd ${target}`, new FdWriteStream(target, FILE_HIGH_WATER_MARK));
  }
  if (isWritable(target)) {
    if (target === process.stdout || target === process.stderr) return borrowedSink(`${which} → process stream`, target);
    return ownedSink(`${which} → stream`, target);
  }
  if ('file' in target) return fileSink(which, target.file, options);
  if ('stream' in target && isWritable(target.stream)) {
    return target.end === false ? borrowedSink(`${which} → stream (kept open)`, target.stream) : ownedSink(`${which} → stream`, target.stream);
  }
  throw new TypeError(`${which}: unsupported target`);
}

/** An opened stdin source; `owned` ones are destroyed when the run ends early. */
export interface InputStream {
  readonly label: string;
  readonly stream: Readable;
  readonly owned: boolean;
}

/** Opens stdin: files are opened now, so a missing one fails before the remote command starts. */
export async function openSource(source: InputSource | undefined, input: string | Uint8Array | undefined): Promise<InputStream | undefined> {
  if (source !== undefined && input !== undefined) throw new TypeError('give stdin or input, not both');
  if (input !== undefined) {
    const bytes = typeof input === 'string' ? Buffer.from(input) : input;
    return { label: 'input', stream: Readable.from([bytes], { objectMode: false }), owned: true };
  }
  if (source === undefined) return undefined;
  if (source instanceof Uint8Array) return { label: 'stdin buffer', stream: Readable.from([source], { objectMode: false }), owned: true };
  if (typeof source === 'string' || (typeof source === 'object' && 'file' in source && typeof source.file === 'string')) {
    const path = typeof source === 'string' ? source : source.file;
    const handle = await open(path, 'r');
    return { label: `stdin file ${path}`, stream: createReadStream(path, { fd: handle, highWaterMark: 256 * 1024 }), owned: true };
  }
  if (source instanceof Readable || typeof (source as unknown as Readable).pipe === 'function') {
    return { label: 'stdin stream', stream: source as unknown as Readable, owned: false };
  }
  throw new TypeError('stdin: unsupported source');
}
