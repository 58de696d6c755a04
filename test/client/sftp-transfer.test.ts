/**
 * loopssh issue 11 (client): Connection.download()/upload() over SFTP against
 * loopssh's own server, including every fault mode: the client recovers
 * (short reads) or rejects with a typed error and leaves no file; it never
 * resolves with a truncated file. Bytes checked against the independent oracle.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TransferError, TransferLengthError } from '../../src/client/index.ts';
import { fixtureAndFolderPerTest, sha256, type Fixture } from '../helpers/fixture.ts';
import { referenceBytes, referenceDigest } from '../helpers/oracle.ts';
import { fileDigest } from '../server/sftp-helpers.ts';

const MiB = 1024 ** 2;

let f: Fixture;
let tmp: { dir: string; remove: () => void };
fixtureAndFolderPerTest('loopssh-client-sftp-', (fixture, folder) => {
  f = fixture;
  tmp = folder;
});

describe('download() from loopssh', () => {
  it('0 B, 1 B, 32 KiB ± 1 and 64 MiB to a file, byte-exact; the file appears only when complete', async () => {
    const c = await f.connect();
    for (const n of [0, 1, 32767, 32768, 32769, 64 * MiB]) {
      const out = join(tmp.dir, `d${n}`);
      const r = await c.download(`/payload/random/5/${n}`, out);
      const want = referenceDigest({ size: n, pattern: 'random', seed: '5' });
      expect([r.bytes, r.sha256]).toEqual([n, want]);
      expect(fileDigest(out)).toEqual([n, want]);
    }
    expect(readdirSync(tmp.dir).filter((name) => !/^d\d+$/.test(name))).toEqual([]);
  });

  it("to 'buffer' and with a small chunk and one request in flight", async () => {
    const c = await f.connect();
    const r = await c.download('/payload/lines/0/100001', 'buffer', { chunkSize: 1000, requests: 1 });
    expect(r.data).toEqual(referenceBytes({ size: 100_001, pattern: 'lines' }));
  });

  it('short reads are re-requested, never taken for EOF: the whole file arrives', async () => {
    const c = await f.connect();
    const out = join(tmp.dir, 'short');
    const r = await c.download('/payload/random/5/300000,short=1000', out);
    expect(fileDigest(out)).toEqual([300_000, referenceDigest({ size: 300_000, pattern: 'random', seed: '5' })]);
    expect(r.bytes).toBe(300_000);
  });

  it.each([
    ['eof=100000 (EOF before the stat size)', '/payload/zero/0/300000,eof=100000', 300_000, 100_000],
    ['stat=500000 (stat says more)', '/payload/zero/0/300000,stat=500000', 500_000, 300_000],
    ['stat=1000 (stat says less)', '/payload/zero/0/300000,stat=1000', 1000, 1001],
  ])('%s: TransferLengthError and no file', async (_name, path, expected, received) => {
    const c = await f.connect();
    const out = join(tmp.dir, 'x');
    const err = await c.download(path, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferLengthError);
    expect([(err as TransferLengthError).expectedBytes, (err as TransferLengthError).receivedBytes]).toEqual([expected, received]);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it.each([
    ['drop=100000 (channel closed)', '/payload/zero/0/1MiB,drop=100000'],
    ['drop-conn=100000 (connection cut)', '/payload/zero/0/1MiB,drop-conn=100000'],
  ])('%s: TransferError and no file', async (_name, path) => {
    const c = await f.connect();
    const err = await c.download(path, join(tmp.dir, 'x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect(err).not.toBeInstanceOf(TransferLengthError);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('delay and rate: slower, complete', async () => {
    const c = await f.connect();
    const r = await c.download('/payload/lines/0/200000,delay=2,rate=4MiB', 'buffer');
    expect(r.data).toEqual(referenceBytes({ size: 200_000, pattern: 'lines' }));
  });

  it('a missing remote file: TransferError with SSH_FX_NO_SUCH_FILE, no file; cancelling mid-transfer: no file', async () => {
    const c = await f.connect();
    const err = await c.download('/payload/nope/1/1', join(tmp.dir, 'x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as TransferError).status).toBe(2);
    const abort = new AbortController();
    const pending = c.download('/payload/zero/0/1GiB,rate=8MiB', join(tmp.dir, 'y'), { signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    await expect(pending).rejects.toThrow(/cancelled/);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });
});

describe('upload() to loopssh', () => {
  it('0 B, 1 B, 32 KiB + 1, 8 MiB + 1 from a file and from bytes: server.seen has length and SHA-256', async () => {
    const c = await f.connect();
    const want: [string, number, string][] = [];
    for (const n of [0, 1, 32769, 8 * MiB + 1]) {
      const data = randomBytes(n);
      const path = join(tmp.dir, `u${n}`);
      writeFileSync(path, data);
      const r = await c.upload(n % 2 ? path : data, `/sink/c${n}`);
      expect([r.bytes, r.sha256]).toEqual([n, sha256(data)]);
      want.push([`/sink/c${n}`, n, sha256(data)]);
    }
    expect(f.server.seen.transfers.map((t) => [t.path, t.bytes, t.sha256])).toEqual(want);
  });

  it('to a read-only path: TransferError with SSH_FX_PERMISSION_DENIED; a drop fault: TransferError', async () => {
    const c = await f.connect();
    const err = await c.upload(Buffer.from('x'), '/payload/zero/0/1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as TransferError).status).toBe(3);
    const dropped = await c.upload(randomBytes(MiB), '/sink/d,drop=100000').catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(TransferError);
    expect(existsSync(join(tmp.dir, 'x'))).toBe(false);
  });
});
