/**
 * loopssh issue 11 (server): a real directory at /disk, read-only or
 * writable, jailed: `..` and symbolic links never reach outside it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransferError } from '../../src/client/index.ts';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { sha256 } from '../helpers/oracle.ts';
import { peer } from '../helpers/peers.ts';
import { sftpBatch } from './sftp-helpers.ts';
import { rawSftp } from './sftp-raw.ts';

const sftpPath = peer('sftp');
const FILE = randomBytes(100_000);

let f: Fixture | undefined;
let tmp: { dir: string; remove: () => void };
let root: string;
beforeEach(() => {
  tmp = tempDir('loopssh-sftp-disk-');
  root = join(tmp.dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'a.bin'), FILE);
  writeFileSync(join(root, 'sub', 'b.txt'), 'inside\n');
  writeFileSync(join(tmp.dir, 'secret'), 'outside\n');
  symlinkSync(tmp.dir, join(root, 'out')); // a link to the folder above the root
  symlinkSync(join(tmp.dir, 'secret'), join(root, 'trap')); // a link to a file outside
  symlinkSync(join(root, 'a.bin'), join(root, 'inlink')); // a link that stays inside
});
afterEach(async () => {
  await f?.stop();
  f = undefined;
  tmp.remove();
});

/** The error a download rejects with. */
async function failure(p: Promise<unknown>): Promise<TransferError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TransferError);
  return err as TransferError;
}

describe('/disk read-only', () => {
  it('serves files and links that stay inside; refuses links out, .. above the root and any write', async () => {
    f = await startFixture({ sftpDirectory: { path: root } });
    const c = await f.connect();
    expect(sha256((await c.download('/disk/a.bin', 'buffer')).data as Buffer)).toBe(sha256(FILE));
    expect((await c.download('/disk/sub/../sub/b.txt', 'buffer')).data?.toString()).toBe('inside\n');
    expect(sha256((await c.download('/disk/inlink', 'buffer')).data as Buffer)).toBe(sha256(FILE));
    expect((await failure(c.download('/disk/out/secret', 'buffer'))).status).toBe(3);
    expect((await failure(c.download('/disk/trap', 'buffer'))).status).toBe(3);
    // `..` is applied in the tree first: /disk/../secret is /secret, which does not exist.
    expect((await failure(c.download('/disk/../secret', 'buffer'))).status).toBe(2);
    expect((await failure(c.upload(Buffer.from('x'), '/disk/new'))).status).toBe(3);
    expect(existsSync(join(root, 'new'))).toBe(false);
  });

  it.skipIf(!sftpPath)('OpenSSH sftp lists / and /disk', async () => {
    f = await startFixture({ sftpDirectory: { path: root } });
    const r = await sftpBatch(sftpPath as string, f.server, 'ls /\nls -l /disk\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdoutHead).toMatch(/\/disk/);
    expect(r.stdoutHead).toMatch(/\s100000 Jan {2}1 {2}1970 a\.bin/);
    expect(r.stdoutHead).toMatch(/dr-xr-xr-x .* sub/);
  });
});

describe('/disk writable', () => {
  it('takes uploads inside the root byte-exact; never through a link out', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    const c = await f.connect();
    const data = randomBytes(300_001);
    await c.upload(data, '/disk/sub/new.bin');
    expect(sha256(readFileSync(join(root, 'sub', 'new.bin')))).toBe(sha256(data));
    expect((await failure(c.upload(Buffer.from('x'), '/disk/out/evil'))).status).toBe(3);
    expect(existsSync(join(tmp.dir, 'evil'))).toBe(false);
    expect((await failure(c.upload(Buffer.from('x'), '/disk/trap'))).status).toBe(3);
    expect(readFileSync(join(tmp.dir, 'secret'), 'utf8')).toBe('outside\n');
    // The link's upload was written under its temporary name, then its rename over the link refused (and the temporary file removed).
    expect(f.server.seen.transfers.filter((t) => t.direction === 'upload').map((t) => [t.path, t.bytes, t.outcome])).toEqual([
      ['/disk/sub/new.bin', 300_001, 'complete'],
      [expect.stringMatching(/^\/disk\/\.loopssh-[0-9a-f]{8}\.trap$/), 1, 'complete'],
    ]);
    expect(readdirSync(root).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  // Review finding (loopssh issue 11): the client sent every full piece of a
  // source chunk at once (a whole Buffer here), past the server's WRITE queue
  // limit, and the upload failed with "too many WRITEs in flight".
  it('an upload from one Buffer in small WRITEs stays within the server queue limit: byte-exact', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true }, limits: { maxSftpPendingRequests: 100 } });
    const c = await f.connect();
    const data = randomBytes(1024 * 1024 + 5);
    const r = await c.upload(data, '/disk/small-writes.bin', { chunkSize: 1000 });
    const got = readFileSync(join(root, 'small-writes.bin'));
    expect([r.bytes, got.length, sha256(got)]).toEqual([data.length, data.length, sha256(data)]);
  });

  // loopssh issue 11 (put speed): WRITEs queued behind a write in flight go out batched (src/server/sftp/disk-writer.ts).
  it('pipelined WRITEs out of order, overlapping, past the upload limit, then CLOSE at once: answered in request order, the file as writing them in order gives', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true }, limits: { maxUploadBytes: 1_000_000 } });
    const { client, sftp } = await rawSftp(f.server);
    try {
      const handle = await new Promise<Buffer>((res, rej) => sftp.open('/disk/pipelined.bin', 'w', (e, h) => (e ? rej(e) : res(h))));
      const size = 20_000;
      const parts = Array.from({ length: 40 }, () => randomBytes(size));
      // In order, but 5 and 6 swapped, 20 written again over 19–20 with other bytes, and one past the limit.
      const writes = parts.map((data, i) => ({ offset: i * size, data }));
      [writes[5], writes[6]] = [writes[6] as (typeof writes)[number], writes[5] as (typeof writes)[number]];
      writes.splice(21, 0, { offset: 19 * size + size / 2, data: randomBytes(size) });
      writes.push({ offset: 999_999, data: Buffer.from('xy') });
      const oracle = Buffer.alloc(40 * size);
      for (const w of writes.slice(0, -1)) w.data.copy(oracle, w.offset);
      const answers: string[] = [];
      const done = writes.map(
        (w, i) =>
          new Promise<void>((resolve) =>
            sftp.write(handle, w.data, 0, w.data.length, w.offset, (err) => {
              answers.push(err ? `${i}: ${(err as Error & { code?: number }).code} ${err.message}` : `${i}: ok`);
              resolve();
            }),
          ),
      );
      const closed = new Promise<string>((resolve) => sftp.close(handle, (err) => resolve(err ? err.message : `closed after ${answers.length}`)));
      await Promise.all(done);
      expect(await closed).toBe(`closed after ${writes.length}`);
      expect(answers).toEqual([...writes.slice(0, -1).map((_, i) => `${i}: ok`), `${writes.length - 1}: 4 upload exceeds 1000000 bytes`]);
      const written = readFileSync(join(root, 'pipelined.bin'));
      expect([written.length, sha256(written)]).toEqual([oracle.length, sha256(oracle)]);
    } finally {
      client.end();
    }
  });

  it.skipIf(!sftpPath)('OpenSSH sftp puts 24 MiB + 1 into /disk byte-exact (32 KiB WRITEs spanning channel packets, 64 in flight)', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    const data = randomBytes(24 * 1024 * 1024 + 1);
    writeFileSync(join(tmp.dir, 'big.bin'), data);
    const r = await sftpBatch(sftpPath as string, f.server, 'put big.bin /disk/big.bin\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(statSync(join(root, 'big.bin')).size).toBe(data.length);
    expect(sha256(readFileSync(join(root, 'big.bin')))).toBe(sha256(data));
    const upload = f.server.seen.transfers.find((t) => t.direction === 'upload');
    expect([upload?.path, upload?.bytes, upload?.outcome]).toEqual(['/disk/big.bin', data.length, 'complete']);
  });
});
