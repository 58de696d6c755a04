/**
 * loopssh issue 11 (server): files a test author registers
 * (`startServer({ sftpFiles })`) at /files/NAME: bytes, and an async
 * `{ size, read }` that answers short; fetched by the loopssh client,
 * OpenSSH's sftp and scp -O byte-exact; a failing reader gets a status.
 * A function returning a Readable (with or without `size`) is read front to
 * back: OpenSSH's sftp gets it byte-exact, stat says `size` (or 0), and a READ
 * out of order gets a FAILURE status naming the offsets.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransferError } from '../../src/client/index.ts';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { referenceBytes, sha256 } from '../helpers/oracle.ts';
import { peer } from '../helpers/peers.ts';
import { scp, sftpBatch } from './sftp-helpers.ts';
import { call, rawSftp } from './sftp-raw.ts';

const sftpPath = peer('sftp');
const scpPath = peer('scp');
const SIZE = 3 * 1024 * 1024 + 5;
const WANT = referenceBytes({ size: SIZE, pattern: 'lines' });

let f: Fixture;
let tmp: { dir: string; remove: () => void };
let reads = 0;
let opened = 0;
/** WANT as a stream of odd-sized chunks (7 777 bytes), counting how often it is opened. */
function wantStream(): Readable {
  opened++;
  return Readable.from((function* () {
    for (let at = 0; at < SIZE; at += 7777) yield WANT.subarray(at, at + 7777);
  })());
}
beforeEach(async () => {
  reads = 0;
  opened = 0;
  f = await startFixture({
    sftpFiles: {
      hello: Buffer.from('hello, sftp\n'),
      // Async and at most 10 000 bytes per answer: every client must re-ask.
      lines: {
        size: SIZE,
        read: async (offset, length) => {
          reads++;
          await new Promise((r) => setImmediate(r));
          return WANT.subarray(offset, offset + Math.min(length, 10_000));
        },
      },
      streamed: Object.assign(() => wantStream(), { size: SIZE }),
      unsized: () => wantStream(),
      broken: { size: 100, read: () => Promise.reject(new Error('disk on fire')) },
    },
  });
  tmp = tempDir('loopssh-sftp-files-');
});
afterEach(async () => {
  await f.stop();
  tmp.remove();
});

describe('registered files at /files/NAME', () => {
  it('the loopssh client gets bytes and an async short-reading reader byte-exact; a failing reader is a TransferError', async () => {
    const c = await f.connect();
    expect((await c.download('/files/hello', 'buffer')).data?.toString()).toBe('hello, sftp\n');
    const r = await c.download('/files/lines', 'buffer');
    expect([r.data?.length, sha256(r.data as Buffer)]).toEqual([SIZE, sha256(WANT)]);
    expect(reads).toBeGreaterThanOrEqual(Math.ceil(SIZE / 10_000));
    const err = await c.download('/files/broken', 'buffer').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    expect((err as Error).message).toMatch(/read failed: disk on fire/);
  });

  it.skipIf(!sftpPath || !scpPath)('OpenSSH sftp lists and gets them; scp -O gets them', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'ls -l /files\nget /files/lines a\nget /files/hello,short=3 b\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdoutHead).toMatch(/\s3145733 Jan {2}1 {2}1970 lines/);
    expect(sha256(readFileSync(join(tmp.dir, 'a')))).toBe(sha256(WANT));
    expect(readFileSync(join(tmp.dir, 'b'), 'utf8')).toBe('hello, sftp\n');
    const s = await scp(scpPath as string, f.server, ['-O'], ':/files/lines', join(tmp.dir, 'c'), tmp.dir);
    expect([s.code, s.stderr]).toEqual([0, '']);
    expect(sha256(readFileSync(join(tmp.dir, 'c')))).toBe(sha256(WANT));
  });

  // loopssh issue 11: "files they register (bytes, a function returning a Readable, or { size, read(offset, length) })".
  it.skipIf(!sftpPath)('a function returning a Readable: OpenSSH sftp gets it byte-exact with and without size; stat says size or 0', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'ls -l /files\nget /files/streamed s\nget /files/unsized u\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdoutHead).toMatch(/\s3145733 Jan {2}1 {2}1970 streamed/);
    expect(r.stdoutHead).toMatch(/\s0 Jan {2}1 {2}1970 unsized/);
    for (const name of ['s', 'u']) {
      const got = readFileSync(join(tmp.dir, name));
      expect([got.length, sha256(got)]).toEqual([SIZE, sha256(WANT)]);
    }
    // ls and stat never open the stream; each get opens it once.
    expect(opened).toBe(2);
    if (scpPath) {
      // Legacy SCP must announce the length first: refused with a line saying why, nothing written.
      const s = await scp(scpPath, f.server, ['-O'], ':/files/unsized', join(tmp.dir, 'x'), tmp.dir);
      expect(s.code).not.toBe(0);
      expect(s.stderr).toMatch(/stream of unknown size cannot be sent over legacy SCP/);
      expect(existsSync(join(tmp.dir, 'x'))).toBe(false);
      expect(opened).toBe(2);
    }
  });

  it('a Readable file read out of order gets a FAILURE naming the offsets; in order from the start it still serves', async () => {
    const { client, sftp } = await rawSftp(f.server);
    try {
      const h = await call.open(sftp, '/files/streamed', 'r');
      await expect(call.read(sftp, h, 1000, 100)).rejects.toThrow(/reads only in order: asked for offset 1000, next is 0/);
      expect(await call.read(sftp, h, 0, 100)).toBe(100);
      await expect(call.read(sftp, h, 50, 100)).rejects.toThrow(/asked for offset 50, next is 100/);
      expect(await call.read(sftp, h, 100, 100)).toBe(100);
      await call.close(sftp, h);
    } finally {
      client.end();
    }
  });
});
