/**
 * 'finish' vs 'close' on a Writable.
 *
 * 'finish' means every write() and `_final()` completed; `_destroy()` (where
 * a stream releases what it holds: closes its fd, commits, renames) runs
 * after it, and 'close' comes when that is done. asyncio's closest analogue
 * of 'close' is `connection_lost()`; "done at 'finish'" is the early end.
 *
 * 1. fs.WriteStream with `flush: true` and an `fs` option that logs every
 *    call: the fsync and the close of the fd come after 'finish'.
 * 2. An atomic file writer (temp file, fsync in `_final`, close + rename in
 *    `_destroy`) on slow storage: at 'finish' the destination does not exist
 *    yet; at 'close' it holds every byte. loopssh's file target works the
 *    same way (temporary name, renamed when complete).
 *
 * Run: npx tsx examples/finish-vs-close.ts
 */
import fs, { createWriteStream, fstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { conclude, linesPayload, report, since } from './lib/lesson.ts';

const SIZE = 4 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'loopssh-finish-close-'));
const expected = linesPayload(SIZE);

/** Is `fd` an open descriptor of this process? */
function fdOpen(fd: number | null | undefined): boolean {
  if (typeof fd !== 'number') return false;
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** Bytes at `path` now (0 if it does not exist). */
function readNow(path: string): { data: Buffer; note: string } {
  try {
    return { data: readFileSync(path), note: '' };
  } catch (err) {
    return { data: Buffer.alloc(0), note: `${(err as NodeJS.ErrnoException).code}: not there yet` };
  }
}

// --- 1. fs.WriteStream: the event order ---------------------------------
async function writeStreamOrder(): Promise<void> {
  const path = join(dir, 'plain.bin');
  const t0 = performance.now();
  const log: string[] = [];
  // Every fs call the stream makes, logged when it starts and when it calls back.
  type Cb = (...r: unknown[]) => void;
  const logged = (name: 'open' | 'write' | 'writev' | 'fsync' | 'close') =>
    (...args: unknown[]): void => {
      const cb = args.pop() as Cb;
      log.push(`${since(t0)}  fs.${name}()`);
      (fs[name] as (...a: unknown[]) => void)(...args, (...r: unknown[]) => {
        log.push(`${since(t0)}  fs.${name}() done`);
        cb(...r);
      });
    };
  // (@types/node's type for `fs` leaves out fsync; Node calls it when flush is true.)
  const loggedFs = { open: logged('open'), write: logged('write'), writev: logged('writev'), fsync: logged('fsync'), close: logged('close') };
  const ws = createWriteStream(path, { flush: true /* fsync before the fd is closed (Node ≥ 20.10) */, fs: loggedFs });
  const fdOf = (): number | null => (ws as unknown as { fd: number | null }).fd;
  let atFinish: Buffer = Buffer.alloc(0);
  ws.on('finish', () => {
    atFinish = readFileSync(path);
    log.push(`${since(t0)}  'finish'  fd ${fdOf()} open: ${fdOpen(fdOf())}; the file already holds ${atFinish.length} bytes`);
  });
  const closed = new Promise<void>((resolve) =>
    ws.on('close', () => {
      log.push(`${since(t0)}  'close'   fd ${fdOf()} (released)`);
      resolve();
    }),
  );
  log.push(`${since(t0)}  write(${SIZE} bytes); end()`);
  ws.end(expected);
  await closed;
  console.log('1. fs.WriteStream({ flush: true }), every fs call logged:');
  for (const line of log) console.log(`   ${line}`);
  console.log(
    `   at 'finish' the bytes are in the page cache (${atFinish.length} of ${SIZE}), but the fsync and the close of the fd\n` +
      `   are still to come: "done at 'finish'" means not yet on disk and the fd not yet released.`,
  );
  report('fixed', "fs.WriteStream, file read at 'close'", readFileSync(path), expected);
}

// --- 2. A writer whose _final and _destroy take time --------------------
/**
 * Writes to `<path>.partial`; `_final` fsyncs, `_destroy` closes the fd and
 * renames to `<path>` (only after a clean finish). `latencyMs` stands for
 * slow storage (a network file system) on the fsync and on the rename.
 */
class AtomicFileWriter extends Writable {
  #fd: number | undefined;
  readonly #temp: string;
  constructor(readonly path: string, readonly latencyMs: number, readonly log: (what: string) => void) {
    super({ highWaterMark: 1024 * 1024 });
    this.#temp = `${path}.partial`;
  }
  override _construct(cb: (err?: Error | null) => void): void {
    fs.open(this.#temp, 'w', (err, fd) => {
      this.#fd = fd;
      cb(err);
    });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    fs.write(this.#fd as number, chunk, (err) => cb(err));
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.log('_final(): fsync');
    fs.fsync(this.#fd as number, (err) => void sleep(this.latencyMs).then(() => cb(err)));
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.log('_destroy(): close the fd, rename .partial into place');
    const ok = err === null && this.writableFinished;
    fs.close(this.#fd as number, (closeErr) => {
      void sleep(this.latencyMs).then(() => {
        if (!ok) fs.rm(this.#temp, { force: true }, () => cb(err ?? closeErr));
        else fs.rename(this.#temp, this.path, (renameErr) => cb(closeErr ?? renameErr));
      });
    });
  }
}

async function atomicWriter(): Promise<void> {
  const path = join(dir, 'atomic.bin');
  const t0 = performance.now();
  const lines: string[] = [];
  const log = (what: string): void => void lines.push(`${since(t0)}  ${what}`);
  const w = new AtomicFileWriter(path, 250, log);
  let atFinish: { data: Buffer; note: string } = { data: Buffer.alloc(0), note: '' };
  w.on('finish', () => {
    atFinish = readNow(path);
    log(`'finish'  ${path.slice(dir.length + 1)} holds ${atFinish.data.length} bytes${atFinish.note ? ` (${atFinish.note})` : ''}`);
  });
  const closed = new Promise<void>((resolve) => w.on('close', resolve));
  log(`write(${SIZE} bytes); end()`);
  w.end(expected);
  await closed;
  const atClose = readNow(path);
  log(`'close'   ${path.slice(dir.length + 1)} holds ${atClose.data.length} bytes`);
  console.log('\n2. an atomic file writer on slow storage (fsync in _final, close + rename in _destroy, 250 ms each):');
  for (const line of lines) console.log(`   ${line}`);
  report('naive', "atomic writer, file read at 'finish'", atFinish.data, expected, atFinish.note);
  report('fixed', "atomic writer, file read at 'close'", atClose.data, expected);
}

try {
  await writeStreamOrder();
  await atomicWriter();
  conclude();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
