/**
 * loopssh issue 11 (naive variant): download({ naive: true }) reproduces real
 * SFTP losses against loopssh's fault files and a slow target, and the
 * tracked download gets every byte of the same file:
 * - a short READ taken for EOF (https://github.com/curl/curl/issues/4344):
 *   naive resolves with the first short answer, tracked re-requests;
 * - done before the target closed
 *   (https://github.com/theophilusx/ssh2-sftp-client/issues/387): naive
 *   resolves while a slow sink still holds the tail;
 * - EOF before the stat size trusted: naive resolves short, tracked rejects.
 * Bytes checked against the independent oracle (openssl/seq reference).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TransferLengthError } from '../../src/client/index.ts';
import { fixtureAndFolderPerTest, type Fixture } from '../helpers/fixture.ts';
import { referenceBytes, referenceDigest } from '../helpers/oracle.ts';
import { fileDigest } from '../server/sftp-helpers.ts';

const MiB = 1024 ** 2;

let f: Fixture;
let tmp: { dir: string; remove: () => void };
fixtureAndFolderPerTest('loopssh-sftp-naive-', (fixture, folder) => {
  f = fixture;
  tmp = folder;
});

/** A sink taking `bytesPerSecond` (a slow disk, a terminal); counts and hashes what it took. */
class SlowSink extends Writable {
  taken = 0;
  readonly hash = createHash('sha256');
  constructor(readonly bytesPerSecond: number) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    setTimeout(() => {
      this.taken += chunk.length;
      this.hash.update(chunk);
      cb();
    }, (chunk.length / this.bytesPerSecond) * 1000);
  }
}

describe('download({ naive: true }) loses bytes where the tracked download gets them all', () => {
  it('short reads (short=1000): naive stops at the first short answer and resolves; tracked gets 1 MiB byte-exact', async () => {
    const c = await f.connect();
    const path = '/payload/random/5/1MiB,short=1000';
    const naive = await c.download(path, join(tmp.dir, 'naive.bin'), { naive: true });
    expect([naive.bytes, naive.naive]).toEqual([1000, true]);
    // Read the file the moment the download says it is done, as a caller would.
    expect(readFileSync(join(tmp.dir, 'naive.bin')).length).toBeLessThanOrEqual(1000);
    const buffered = await c.download(path, 'buffer', { naive: true });
    expect(buffered.data).toEqual(referenceBytes({ size: MiB, pattern: 'random', seed: '5' }).subarray(0, 1000));
    const tracked = await c.download(path, join(tmp.dir, 'tracked.bin'));
    expect(fileDigest(join(tmp.dir, 'tracked.bin'))).toEqual([MiB, referenceDigest({ size: MiB, pattern: 'random', seed: '5' })]);
    expect([tracked.bytes, tracked.naive]).toEqual([MiB, undefined]);
  });

  it('a slow target (2 MB/s): naive resolves with every byte read but not taken; tracked resolves when the sink has all', async () => {
    const c = await f.connect();
    const want = referenceDigest({ size: MiB, pattern: 'lines' });
    const slow = new SlowSink(2_000_000);
    const naive = await c.download('/payload/lines/0/1MiB', slow, { naive: true });
    const takenAtResolve = slow.taken;
    expect(naive.bytes).toBe(MiB);
    expect(takenAtResolve).toBeLessThan(MiB);
    const sink = new SlowSink(2_000_000);
    await c.download('/payload/lines/0/1MiB', sink);
    expect([sink.taken, sink.hash.digest('hex')]).toEqual([MiB, want]);
  });

  it('EOF before the stat size (eof=100000): naive resolves with 100000 bytes; tracked rejects with TransferLengthError, no file', async () => {
    const c = await f.connect();
    const naive = await c.download('/payload/zero/0/300000,eof=100000', 'buffer', { naive: true });
    expect(naive.data?.length).toBe(100_000);
    const err = await c.download('/payload/zero/0/300000,eof=100000', join(tmp.dir, 't')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferLengthError);
    expect([(err as TransferLengthError).expectedBytes, (err as TransferLengthError).receivedBytes]).toEqual([300_000, 100_000]);
  });
});
