/**
 * loopssh issue 11 (server): legacy SCP (`scp -O`, the `scp -f`/`scp -t`
 * exec protocol) over the virtual tree, both ways, byte-exact against the
 * independent oracle and server.seen; errors as OpenSSH's scp shows them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peer } from '../helpers/peers.ts';
import { fixtureAndFolderPerTest, sha256, type Fixture } from '../helpers/fixture.ts';
import { referenceDigest, toolsCommand } from '../helpers/oracle.ts';
import { pipelineDigest } from '../helpers/run-process.ts';
import { scp } from './sftp-helpers.ts';

const scpPath = peer('scp');
const MiB = 1024 ** 2;

let f: Fixture;
let tmp: { dir: string; remove: () => void };
fixtureAndFolderPerTest('loopssh-scp-', (fixture, folder) => {
  f = fixture;
  tmp = folder;
});

describe.skipIf(!scpPath)('OpenSSH scp -O (legacy protocol) against loopssh', () => {
  it('downloads 0 B, 1 B, 32 KiB ± 1 and 64 MiB byte-exact (-p too)', async () => {
    for (const n of [0, 1, 32767, 32768, 32769]) {
      const out = join(tmp.dir, `d${n}`);
      const r = await scp(scpPath as string, f.server, ['-O', ...(n === 1 ? ['-p'] : [])], `:/payload/random/3/${n}`, out, tmp.dir);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect([statSync(out).size, sha256(readFileSync(out))]).toEqual([n, referenceDigest({ size: n, pattern: 'random', seed: '3' })]);
    }
    const big = join(tmp.dir, 'big');
    const r = await scp(scpPath as string, f.server, ['-O'], ':/payload/lines/0/64MiB', big, tmp.dir);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const want = await pipelineDigest(toolsCommand({ size: 64 * MiB, pattern: 'lines' }));
    expect([statSync(big).size, sha256(readFileSync(big))]).toEqual([want.bytes, want.sha256]);
    expect(f.server.seen.transfers.map((t) => [t.protocol, t.direction, t.bytes, t.outcome])).toEqual(
      [0, 1, 32767, 32768, 32769, 64 * MiB].map((n) => ['scp', 'download', n, 'complete']),
    );
  });

  it('uploads 0 B, 1 B, 32 KiB + 1 and 8 MiB + 1 to /sink/NAME and into /sink: seen has length and SHA-256', async () => {
    const want: [string, number, string][] = [];
    for (const n of [0, 1, 32769, 8 * MiB + 1]) {
      const data = randomBytes(n);
      writeFileSync(join(tmp.dir, `u${n}`), data);
      const r = await scp(scpPath as string, f.server, ['-O'], join(tmp.dir, `u${n}`), n === 1 ? ':/sink/' : `:/sink/named${n}`, tmp.dir);
      expect([r.code, r.stderr]).toEqual([0, '']);
      want.push([n === 1 ? '/sink/u1' : `/sink/named${n}`, n, sha256(data)]);
    }
    const uploads = f.server.seen.transfers.map((t) => [t.path, t.bytes, t.sha256]);
    expect(uploads).toEqual(want);
    expect(f.server.seen.transfers.every((t) => t.protocol === 'scp' && t.outcome === 'complete')).toBe(true);
  });

  it('errors: a missing file, an upload to /payload, a directory; scp prints the message and exits 1', async () => {
    const missing = await scp(scpPath as string, f.server, ['-O'], ':/payload/nope/1/1', join(tmp.dir, 'x'), tmp.dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/scp: \/payload\/nope\/1\/1: unknown payload pattern 'nope'/);
    expect(existsSync(join(tmp.dir, 'x'))).toBe(false);
    writeFileSync(join(tmp.dir, 'u'), 'data');
    const ro = await scp(scpPath as string, f.server, ['-O'], join(tmp.dir, 'u'), ':/payload/zero/0/4', tmp.dir);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toMatch(/read-only \(uploads go to \/sink\/NAME\)/);
    const dir = await scp(scpPath as string, f.server, ['-O'], ':/payload', join(tmp.dir, 'y'), tmp.dir);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toMatch(/\/payload: not a regular file/);
  });

  it('a drop fault mid-download: scp exits non-zero (it leaves its partial file)', async () => {
    const out = join(tmp.dir, 'p');
    const r = await scp(scpPath as string, f.server, ['-O'], ':/payload/zero/0/4MiB,drop=1MiB', out, tmp.dir);
    expect(r.code).not.toBe(0);
    expect(statSync(out).size).toBeLessThanOrEqual(MiB);
    expect(f.server.seen.transfers[0]?.outcome).toBe('dropped');
  });
});
