/**
 * loopssh issue 11 (server): files a test author registers
 * (`startServer({ sftpFiles })`) at /files/NAME: bytes, and an async
 * `{ size, read }` that answers short; fetched by the loopssh client,
 * OpenSSH's sftp and scp -O byte-exact; a failing reader gets a status.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransferError } from '../../src/client/index.ts';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { referenceBytes, sha256 } from '../helpers/oracle.ts';
import { peer } from '../helpers/peers.ts';
import { scp, sftpBatch } from './sftp-helpers.ts';

const sftpPath = peer('sftp');
const scpPath = peer('scp');
const SIZE = 3 * 1024 * 1024 + 5;
const WANT = referenceBytes({ size: SIZE, pattern: 'lines' });

let f: Fixture;
let tmp: { dir: string; remove: () => void };
let reads = 0;
beforeEach(async () => {
  reads = 0;
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
});
