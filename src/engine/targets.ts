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
import { createReadStream } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { FlushTracker } from './flush-tracker.js';
import { FdWriteStream } from './fd-writer.js';
import { FILE_HIGH_WATER_MARK, openFile, type SyncCalls } from './file-target.js';

/**
 * Where a remote stdout/stderr goes:
 * - a path string (or `{ file }`): written under a temporary name in the same
 *   folder and renamed into place only on success (a FIFO or character
 *   device is written in place; a symbolic link is refused);
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
  /** Registers the stream with the run's tracker, once: from now on its errors fail the run and {@link end} is tracked. */
  track(tracker: FlushTracker): void;
  /** The source ended: close the way this target closes; the tracker waits for it. */
  end(): void;
  /** The run succeeded and every entry is done: make the output visible. */
  commit(): Promise<void>;
  /** The run failed: leave nothing that looks complete; with `keepPartial` a file is kept as `FILE.partial` (its name is returned). */
  discard(keepPartial?: boolean): Promise<string | undefined>;
  /** What `'buffer'` collected (at most `maxBuffer` bytes). */
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

function isWritable(x: unknown): x is Writable {
  return x instanceof Writable || (typeof x === 'object' && x !== null && typeof (x as Writable).write === 'function' && typeof (x as Writable).on === 'function');
}

function ownedSink(label: string, stream: Writable, extra: Partial<OutputSink> = {}): OutputSink {
  return {
    label,
    stream,
    keptOpen: false,
    track: (tracker) => tracker.owned(stream, label),
    end: () => {
      stream.end();
    },
    commit: async () => {},
    discard: async () => {
      stream.destroy();
      return undefined;
    },
    ...extra,
  };
}

function borrowedSink(label: string, stream: Writable): OutputSink {
  let tracker: FlushTracker | undefined;
  return {
    label,
    stream,
    keptOpen: true,
    track: (t) => {
      tracker = t;
      t.borrowed(stream, label);
    },
    end: () => tracker?.flush(stream),
    commit: async () => {},
    discard: async () => undefined,
  };
}

/** A Writable that keeps the first `limit` bytes it is given and fails past them. */
function bufferSink(label: string, limit: number): OutputSink {
  const chunks: Buffer[] = [];
  let kept = 0;
  const stream = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      if (kept + chunk.length > limit) {
        // Keep the bytes up to the limit: an error carries exactly maxBuffer bytes.
        chunks.push(chunk.subarray(0, limit - kept));
        kept = limit;
        cb(new MaxBufferError(limit));
        return;
      }
      chunks.push(chunk);
      kept += chunk.length;
      cb();
    },
  });
  return ownedSink(label, stream, { collected: () => Buffer.concat(chunks, kept) });
}

/** Opens a file target: a temporary name beside the path, renamed on commit. */
async function fileSink(which: string, path: string, options: SinkOptions): Promise<OutputSink> {
  const file = await openFile(path, options);
  return ownedSink(`${which} file ${path}`, file.stream, { commit: file.commit, discard: file.discard });
}

/** Opens the target for one output stream of a run. Errors here (a bad path) come before anything runs remotely. */
export async function openSink(target: OutputTarget, which: 'stdout' | 'stderr', options: SinkOptions): Promise<OutputSink> {
  if (target === 'buffer') return bufferSink(`${which} buffer`, options.maxBuffer);
  if (target === 'ignore') {
    return ownedSink(`${which} ignored`, new Writable({ highWaterMark: 1024 * 1024, write: (_c, _e, cb) => cb() }));
  }
  // process.stdout is read only here: touching it makes a pipe O_NONBLOCK.
  if (target === 'inherit') return borrowedSink(`${which} → process.${which}`, which === 'stdout' ? process.stdout : process.stderr);
  const path = filePath(target);
  if (path !== undefined) return fileSink(which, path, options);
  if (typeof target === 'number') {
    return borrowedSink(`${which} → fd ${target}`, new FdWriteStream(target, FILE_HIGH_WATER_MARK));
  }
  if (isWritable(target)) {
    if (target === process.stdout || target === process.stderr) return borrowedSink(`${which} → process stream`, target);
    return ownedSink(`${which} → stream`, target);
  }
  if (typeof target === 'object' && 'stream' in target && isWritable(target.stream)) {
    return target.end === false ? borrowedSink(`${which} → stream (kept open)`, target.stream) : ownedSink(`${which} → stream`, target.stream);
  }
  throw new TypeError(`${which}: unsupported target`);
}

/** The path of a file target, if it is one. */
function filePath(target: OutputTarget): string | undefined {
  if (target === 'buffer' || target === 'ignore' || target === 'inherit') return undefined;
  if (typeof target === 'string') return target;
  if (typeof target === 'object' && target !== null && 'file' in target && typeof target.file === 'string') return target.file;
  return undefined;
}

/** Where a path's last name would live: its folder resolved through links. */
async function placeOf(path: string): Promise<string> {
  const folder = await realpath(dirname(resolve(path))).catch(() => dirname(resolve(path)));
  return join(folder, basename(path));
}

/**
 * True when two file targets are one file (same place after resolving, or
 * same inode): both would be written and renamed over each other, and the
 * file would hold one stream while the run reported both. A character
 * device (`/dev/null`) may take both.
 */
export async function sameFile(a: OutputTarget, b: OutputTarget): Promise<boolean> {
  const [pa, pb] = [filePath(a), filePath(b)];
  if (pa === undefined || pb === undefined) return false;
  const [sa, sb] = await Promise.all([stat(pa).catch(() => undefined), stat(pb).catch(() => undefined)]);
  if (sa?.isCharacterDevice()) return false;
  if (sa && sb && sa.dev === sb.dev && sa.ino === sb.ino) return true;
  return (await placeOf(pa)) === (await placeOf(pb));
}

/** An opened stdin source; `owned` ones are destroyed when the run ends early. */
export interface InputStream {
  readonly label: string;
  readonly stream: Readable;
  readonly owned: boolean;
}

/**
 * Bytes per read of a file source (stdin from a file, an upload). Each read
 * is a fresh buffer; 1 MiB reads cost a 1 GiB upload less CPU than 256 KiB
 * (client user 1.08–1.31 s vs 1.20–1.50 s, 3 runs each, CLI put into
 * loopssh serve) and 2–4 MiB bought nothing more but RSS.
 */
export const FILE_SOURCE_CHUNK = 1024 * 1024;

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
    return { label: `stdin file ${path}`, stream: createReadStream(path, { fd: handle, highWaterMark: FILE_SOURCE_CHUNK }), owned: true };
  }
  if (source instanceof Readable || typeof (source as unknown as Readable).pipe === 'function') {
    return { label: 'stdin stream', stream: source as unknown as Readable, owned: false };
  }
  throw new TypeError('stdin: unsupported source');
}
