/**
 * loopssh issue 11 (speed of puts into /disk): DiskWriter batches the WRITE
 * requests queued behind a write in flight into one writev, answers each
 * request in order only after its bytes were written, refuses per request
 * what passes the upload limit, and holds the request's bytes uncopied.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskWriter, UploadLimitError, type WritevFile } from '../../../src/server/sftp/disk-writer.ts';
import { HeldBudget } from '../../../src/server/sftp/upload-hash.ts';
import { tempDir } from '../../helpers/fixture.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** One WRITE request of a test: its id, offset and bytes. */
interface Req {
  reqid: number;
  offset: number;
  data: Buffer;
}

/** `count` contiguous requests of `size` random bytes from offset 0, and the bytes they make together. */
function contiguous(count: number, size: number): { reqs: Req[]; whole: Buffer } {
  const whole = randomBytes(count * size);
  const reqs = Array.from({ length: count }, (_, i) => ({ reqid: 100 + i, offset: i * size, data: whole.subarray(i * size, (i + 1) * size) }));
  return { reqs, whole };
}

/**
 * A file in memory recording each writev (its buffers as passed, its
 * position); `fail(call)` makes that call (0-based) reject; `maxPerCall`
 * makes it write short, like a pwritev interrupted by a full disk.
 */
class RecordingFile implements WritevFile {
  bytes = Buffer.alloc(0);
  calls: { buffers: Buffer[]; position: number }[] = [];
  pending: (() => void)[] = [];
  constructor(private readonly opts: { fail?: (call: number) => NodeJS.ErrnoException | undefined; maxPerCall?: number; manual?: boolean } = {}) {}
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    const call = this.calls.length;
    this.calls.push({ buffers, position });
    return new Promise((resolve, reject) => {
      const run = (): void => {
        const err = this.opts.fail?.(call);
        if (err) return reject(err);
        let n = 0;
        for (const b of buffers) {
          const take = Math.min(b.length, (this.opts.maxPerCall ?? Infinity) - n);
          if (take <= 0) break;
          const end = position + n + take;
          if (end > this.bytes.length) this.bytes = Buffer.concat([this.bytes, Buffer.alloc(end - this.bytes.length)]);
          b.copy(this.bytes, position + n, 0, take);
          n += take;
        }
        resolve({ bytesWritten: n });
      };
      if (this.opts.manual) this.pending.push(run);
      else setImmediate(run);
    });
  }
}

/** A writer over `file` whose answers are recorded as [reqid, error code or message or 'ok'], and the size of each answer call. */
function recorded(file: WritevFile, maxFileBytes = 64 * MiB, caps: { maxBatchRequests?: number; maxBatchBytes?: number; maxQueued?: number; budget?: HeldBudget } = {}): { writer: DiskWriter; answers: [number, string][]; batches: number[] } {
  const answers: [number, string][] = [];
  /** How many requests each answer call carried. */
  const batches: number[] = [];
  const writer = new DiskWriter(file, {
    maxFileBytes,
    ...caps,
    answer: (reqids, err) => {
      const what = !err ? 'ok' : err instanceof UploadLimitError ? `limit: ${err.message}` : ((err as NodeJS.ErrnoException).code ?? String(err));
      for (const reqid of reqids) answers.push([reqid, what]);
      batches.push(reqids.length);
    },
  });
  return { writer, answers, batches };
}

/** Lets a manual file finish the write in flight, then the batch that queued behind it, and waits for the writer to drain. */
async function completeTwoWrites(file: RecordingFile, writer: DiskWriter): Promise<void> {
  (file.pending.shift() as () => void)();
  await new Promise((resolve) => setImmediate(resolve));
  (file.pending.shift() as () => void)();
  await writer.drained();
}

let tmp: { dir: string; remove: () => void };
beforeEach(() => {
  tmp = tempDir('loopssh-disk-writer-');
});
afterEach(() => tmp.remove());

describe('DiskWriter', () => {
  it('200 pipelined 32 KiB WRITEs into a real file: byte-exact, answered in order, in 5 writev calls (1, then 64, 64, 64, 7)', async () => {
    const { reqs, whole } = contiguous(200, 32 * KiB);
    const fh = await open(join(tmp.dir, 'out.bin'), 'w');
    const calls: number[] = [];
    const file: WritevFile = {
      writev: (buffers, position) => {
        calls.push(buffers.length);
        return fh.writev(buffers, position);
      },
    };
    const { writer, answers, batches } = recorded(file);
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    await writer.drained();
    await fh.close();
    expect(answers).toEqual(reqs.map((r) => [r.reqid, 'ok']));
    expect(calls).toEqual([1, 64, 64, 64, 7]);
    // Each batch answered in one call (the session replies to it in one socket write).
    expect(batches).toEqual([1, 64, 64, 64, 7]);
    expect(writer.writes).toBe(5);
    expect(writer.bytesWritten).toBe(whole.length);
    const written = await readFile(join(tmp.dir, 'out.bin'));
    expect(written.length).toBe(whole.length);
    expect(sha256(written)).toBe(sha256(whole));
  });

  it('hands writev the very buffers it was given (no copy), and answers none before its write completed', async () => {
    const { reqs, whole } = contiguous(5, 1000);
    const file = new RecordingFile({ manual: true });
    const { writer, answers } = recorded(file);
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    expect(file.calls.map((c) => c.buffers.length)).toEqual([1]);
    expect(answers).toEqual([]);
    (file.pending.shift() as () => void)();
    await new Promise((resolve) => setImmediate(resolve));
    expect(answers).toEqual([[100, 'ok']]);
    expect(file.calls.map((c) => c.buffers.length)).toEqual([1, 4]);
    expect(file.calls.flatMap((c) => c.buffers).every((b, i) => b === reqs[i]?.data)).toBe(true);
    (file.pending.shift() as () => void)();
    await writer.drained();
    expect(answers.map(([id]) => id)).toEqual([100, 101, 102, 103, 104]);
    expect(sha256(file.bytes)).toBe(sha256(whole));
  });

  it('caps a batch at 4 MiB: 20 WRITEs of 256 KiB go out as 1, 16, 3', async () => {
    const { reqs, whole } = contiguous(20, 256 * KiB);
    const file = new RecordingFile();
    const { writer, answers } = recorded(file);
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    await writer.drained();
    expect(file.calls.map((c) => c.buffers.length)).toEqual([1, 16, 3]);
    expect(Math.max(...file.calls.map((c) => c.buffers.reduce((n, b) => n + b.length, 0)))).toBe(4 * MiB);
    expect(answers.length).toBe(20);
    expect(sha256(file.bytes)).toBe(sha256(whole));
  });

  it('out-of-order and overlapping offsets start new batches; the file is what writing them in request order gives', async () => {
    const size = 8 * KiB;
    const parts = Array.from({ length: 6 }, () => randomBytes(size));
    // 0, then 2 and 1 swapped, then 3, 4, and one overlapping 3–4 again with other bytes.
    const reqs: Req[] = [
      { reqid: 1, offset: 0, data: parts[0] as Buffer },
      { reqid: 2, offset: 2 * size, data: parts[2] as Buffer },
      { reqid: 3, offset: size, data: parts[1] as Buffer },
      { reqid: 4, offset: 3 * size, data: parts[3] as Buffer },
      { reqid: 5, offset: 4 * size, data: parts[4] as Buffer },
      { reqid: 6, offset: 3 * size + size / 2, data: parts[5] as Buffer },
    ];
    // The oracle: the same writes applied one by one to a plain buffer.
    const oracle = Buffer.alloc(5 * size);
    for (const r of reqs) r.data.copy(oracle, r.offset);
    const file = new RecordingFile();
    const { writer, answers } = recorded(file);
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    await writer.drained();
    expect(answers).toEqual(reqs.map((r) => [r.reqid, 'ok']));
    // [1] alone (written while the rest queue); 2 (request 3 does not continue it); 3 (request 4 starts a part later); 4 and 5; 6 (overlaps).
    expect(file.calls.map((c) => [c.position / size, c.buffers.length])).toEqual([
      [0, 1],
      [2, 1],
      [1, 1],
      [3, 2],
      [3.5, 1],
    ]);
    expect(file.bytes.length).toBe(oracle.length);
    expect(sha256(file.bytes)).toBe(sha256(oracle));
  });

  it('a failed writev answers its error to every request of that batch, in order; the next batch is written', async () => {
    const { reqs } = contiguous(10, 4 * KiB);
    const enospc = Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    const file = new RecordingFile({ fail: (call) => (call === 1 ? enospc : undefined) });
    const { writer, answers } = recorded(file, 64 * MiB, { maxBatchRequests: 4 });
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    await writer.drained();
    // Batches: [100], [101..104] fails, [105..108], [109].
    expect(file.calls.map((c) => c.buffers.length)).toEqual([1, 4, 4, 1]);
    expect(answers).toEqual([
      [100, 'ok'],
      [101, 'ENOSPC'],
      [102, 'ENOSPC'],
      [103, 'ENOSPC'],
      [104, 'ENOSPC'],
      [105, 'ok'],
      [106, 'ok'],
      [107, 'ok'],
      [108, 'ok'],
      [109, 'ok'],
    ]);
    expect(writer.bytesWritten).toBe(6 * 4 * KiB);
  });

  it('the upload limit refuses only the request that passes it, in its place in the answer order, and writes nothing of it', async () => {
    const { reqs, whole } = contiguous(6, 10_000);
    const file = new RecordingFile();
    // 35,000: requests 0–2 end at 10k, 20k, 30k; request 3 would end at 40k.
    const { writer, answers, batches } = recorded(file, 35_000);
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    writer.write(200, Number.MAX_SAFE_INTEGER, Buffer.from('x'));
    await writer.drained();
    expect(answers).toEqual([
      [100, 'ok'],
      [101, 'ok'],
      [102, 'ok'],
      [103, 'limit: upload exceeds 35000 bytes'],
      [104, 'limit: upload exceeds 35000 bytes'],
      [105, 'limit: upload exceeds 35000 bytes'],
      [200, 'limit: upload exceeds 35000 bytes'],
    ]);
    // [100] alone, [101, 102] written together, then each refused one on its own.
    expect(batches).toEqual([1, 2, 1, 1, 1, 1]);
    expect(file.bytes.length).toBe(30_000);
    expect(sha256(file.bytes)).toBe(sha256(whole.subarray(0, 30_000)));
  });

  it('past maxQueued requests waiting, one more is refused in its place in the answer order', async () => {
    const { reqs, whole } = contiguous(6, 1000);
    const file = new RecordingFile({ manual: true });
    const { writer, answers } = recorded(file, 64 * MiB, { maxQueued: 3 });
    // 100 in flight, 101–103 wait, 104 and 105 are one too many.
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    expect(answers).toEqual([]);
    await completeTwoWrites(file, writer);
    expect(answers).toEqual([
      [100, 'ok'],
      [101, 'ok'],
      [102, 'ok'],
      [103, 'ok'],
      [104, 'limit: too many WRITEs in flight (limit 3)'],
      [105, 'limit: too many WRITEs in flight (limit 3)'],
    ]);
    expect(file.calls.map((c) => c.buffers.length)).toEqual([1, 3]);
    expect(sha256(file.bytes)).toBe(sha256(whole.subarray(0, 4000)));
    // The queue drained: the next request is taken again.
    writer.write(106, 4000, whole.subarray(4000, 5000));
    (file.pending.shift() as () => void)();
    await writer.drained();
    expect(answers.at(-1)).toEqual([106, 'ok']);
  });

  // Review finding (loopssh issue 11): the queue was bounded by count alone,
  // so a client that never waits for answers could make the server hold up
  // to 65,536 WRITEs of up to 256 KiB behind a slow disk. Queued bytes now
  // share the session's held-bytes budget.
  it('queued bytes share the session budget: past it a request is refused in its place; written batches give their bytes back', async () => {
    const { reqs, whole } = contiguous(6, 1000);
    const file = new RecordingFile({ manual: true });
    const budget = new HeldBudget(2500);
    const { writer, answers } = recorded(file, 64 * MiB, { budget });
    // 100 in flight (1000 held), 101 waits (2000), 102 would make 3000: refused; so are 103–105.
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    expect(budget.used).toBe(2000);
    await completeTwoWrites(file, writer);
    expect(answers).toEqual([
      [100, 'ok'],
      [101, 'ok'],
      ...[102, 103, 104, 105].map((id) => [id, "limit: more than 2500 bytes of this session's WRITEs are waiting for the disk; wait for answers before sending more"]),
    ]);
    expect([budget.used, sha256(file.bytes)]).toEqual([0, sha256(whole.subarray(0, 2000))]);
    // A failed write gives its bytes back too.
    const failing = new RecordingFile({ fail: () => Object.assign(new Error('disk gone'), { code: 'EIO' }) });
    const second = recorded(failing, 64 * MiB, { budget });
    second.writer.write(200, 0, Buffer.alloc(900));
    await second.writer.drained();
    expect([second.answers, budget.used]).toEqual([[[200, 'EIO']], 0]);
  });

  it('a short writev continues where it stopped: byte-exact with 5,000 bytes a call', async () => {
    const { reqs, whole } = contiguous(12, 3 * KiB);
    const file = new RecordingFile({ maxPerCall: 5000 });
    const { writer, answers } = recorded(file);
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    await writer.drained();
    expect(answers).toEqual(reqs.map((r) => [r.reqid, 'ok']));
    expect(file.calls.length).toBe(1 + Math.ceil((11 * 3 * KiB) / 5000));
    expect(file.bytes.length).toBe(whole.length);
    expect(sha256(file.bytes)).toBe(sha256(whole));
  });

  it('drained() waits for every queued request, and resolves at once when idle', async () => {
    const { reqs } = contiguous(3, 100);
    const file = new RecordingFile({ manual: true });
    const { writer, answers } = recorded(file);
    let drained = false;
    await writer.drained();
    for (const r of reqs) writer.write(r.reqid, r.offset, r.data);
    void writer.drained().then(() => (drained = true));
    (file.pending.shift() as () => void)();
    await new Promise((resolve) => setImmediate(resolve));
    expect([drained, answers.length]).toEqual([false, 1]);
    (file.pending.shift() as () => void)();
    await new Promise((resolve) => setImmediate(resolve));
    expect([drained, answers.length]).toEqual([true, 3]);
  });
});
