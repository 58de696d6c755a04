/**
 * loopssh issue 11 (server): the `sftp` subsystem's virtual tree, served to
 * OpenSSH's sftp -b (get/put/ls) and scp (SFTP mode). Downloads are checked
 * byte-exact (length + SHA-256) against the README's openssl/seq/head
 * pipelines; uploads through server.seen against the local file's digest.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peer } from '../helpers/peers.ts';
import { fixtureAndFolderPerTest, sha256, type Fixture } from '../helpers/fixture.ts';
import { referenceDigest, toolsCommand } from '../helpers/oracle.ts';
import { pipelineDigest } from '../helpers/run-process.ts';
import { fileDigest, scp, sftpBatch } from './sftp-helpers.ts';

const sftpPath = peer('sftp');
const scpPath = peer('scp');
const SMALL = [0, 1, 32767, 32768, 32769] as const;
const MiB = 1024 ** 2;

let f: Fixture;
let tmp: { dir: string; remove: () => void };
fixtureAndFolderPerTest('loopssh-sftp-', (fixture, folder) => {
  f = fixture;
  tmp = folder;
});

describe.skipIf(!sftpPath)('OpenSSH sftp -b against loopssh', () => {
  it('gets 0 B, 1 B, 32 KiB ± 1 byte-exact (random and lines), stat size exact', async () => {
    const gets = SMALL.flatMap((n) => [`get /payload/random/7/${n} r${n}`, `get /payload/lines/0/${n} l${n}`]).join('\n');
    const r = await sftpBatch(sftpPath as string, f.server, `${gets}\n`, tmp.dir);
    expect(r.stderr).not.toMatch(/error|fail/i);
    expect(r.code).toBe(0);
    for (const n of SMALL) {
      expect(fileDigest(join(tmp.dir, `r${n}`))).toEqual([n, referenceDigest({ size: n, pattern: 'random', seed: '7' })]);
      expect(fileDigest(join(tmp.dir, `l${n}`))).toEqual([n, referenceDigest({ size: n, pattern: 'lines' })]);
    }
    const downloads = f.server.seen.transfers.filter((t) => t.direction === 'download');
    expect(downloads.map((t) => [t.path, t.bytes, t.outcome])).toEqual(
      SMALL.flatMap((n) => [
        [`/payload/random/7/${n}`, n, 'complete'],
        [`/payload/lines/0/${n}`, n, 'complete'],
      ]),
    );
  });

  it('gets 64 MiB byte-exact against openssl', async () => {
    const size = 64 * MiB;
    const r = await sftpBatch(sftpPath as string, f.server, `get /payload/random/7/64MiB big\n`, tmp.dir);
    expect(r.code).toBe(0);
    const want = await pipelineDigest(toolsCommand({ size, pattern: 'random', seed: '7' }));
    expect(fileDigest(join(tmp.dir, 'big'))).toEqual([want.bytes, want.sha256]);
    expect(want.bytes).toBe(size);
  });

  it('puts 0 B, 1 B, 32 KiB ± 1 and 64 MiB: server.seen has each length and SHA-256', async () => {
    const sizes = [...SMALL, 64 * MiB];
    const want: [string, number, string][] = [];
    for (const n of sizes) {
      const data = randomBytes(n);
      writeFileSync(join(tmp.dir, `u${n}`), data);
      want.push([`/sink/u${n}`, n, sha256(data)]);
    }
    const r = await sftpBatch(sftpPath as string, f.server, sizes.map((n) => `put u${n} /sink/u${n}`).join('\n') + '\n', tmp.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const uploads = f.server.seen.transfers.filter((t) => t.direction === 'upload');
    expect(uploads.map((t) => [t.path, t.bytes, t.sha256])).toEqual(want);
    expect(uploads.every((t) => t.outcome === 'complete' && t.protocol === 'sftp')).toBe(true);
  });

  it('ls lists the root, the patterns and example sizes; README explains the grammar', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'ls /\nls /payload\nls -l /payload/random/7\nget /README readme\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdoutHead).toMatch(/\/README\s+\/payload\s+\/sink/);
    expect(r.stdoutHead).toMatch(/\/payload\/lines\s+\/payload\/random\s+\/payload\/zero/);
    // ls -l prints the longname: the exact size of each example.
    expect(r.stdoutHead).toMatch(/\s1073741824 Jan {2}1 {2}1970 1GiB/);
    expect(r.stdoutHead).toMatch(/\s32769 Jan {2}1 {2}1970 32769/);
    expect(readFileSync(join(tmp.dir, 'readme'), 'utf8')).toMatch(/\/payload\/PATTERN\/SEED\/SIZE/);
  });

  it('refuses a write to /payload, a read of /sink, an unknown pattern and a bad option, and goes on serving', async () => {
    writeFileSync(join(tmp.dir, 'x'), 'x');
    // -b stops at the first failing command unless it is prefixed with '-'.
    const r = await sftpBatch(
      sftpPath as string,
      f.server,
      '-put x /payload/random/7/1\n-get /sink/x y\n-get /payload/nope/7/1 z\n-get /payload/random/7/1,bogus=1 z\n-rm /README\nget /payload/zero/0/5 ok\n',
      tmp.dir,
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(r.stderr).toMatch(/"\/sink\/x" not found/);
    expect(r.stderr).toMatch(/"\/payload\/nope\/7\/1" not found/);
    expect(r.stderr).toMatch(/"\/payload\/random\/7\/1,bogus=1" not found/);
    expect(r.stderr).toMatch(/remote delete \/README: Permission denied/);
    expect(readFileSync(join(tmp.dir, 'ok'))).toEqual(Buffer.alloc(5));
  });
});

describe.skipIf(!scpPath)('OpenSSH scp (SFTP mode) against loopssh', () => {
  it('downloads 32 KiB + 1 and uploads 1 MiB + 1 byte-exact', async () => {
    const down = await scp(scpPath as string, f.server, [], ':/payload/lines/0/32769', join(tmp.dir, 'd'), tmp.dir);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(fileDigest(join(tmp.dir, 'd'))).toEqual([32769, referenceDigest({ size: 32769, pattern: 'lines' })]);
    const data = randomBytes(MiB + 1);
    writeFileSync(join(tmp.dir, 'u'), data);
    const up = await scp(scpPath as string, f.server, [], join(tmp.dir, 'u'), ':/sink/u', tmp.dir);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    const upload = f.server.seen.transfers.find((t) => t.direction === 'upload');
    expect([upload?.path, upload?.bytes, upload?.sha256, upload?.outcome]).toEqual(['/sink/u', MiB + 1, sha256(data), 'complete']);
  });
});
