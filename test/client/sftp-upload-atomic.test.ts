/**
 * loopssh issue 11 (client review finding): upload() writes a temporary name
 * in the target's folder and renames it over the target only on success, so
 * a failed or cancelled upload leaves no truncated file at the target path
 * (and the file that was there stays whole) and no temporary file. Against
 * loopssh's /sink (the record moves to the final name) and a writable /disk.
 * Bytes checked against the source's own SHA-256 and the file on disk.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransferError } from '../../src/client/index.ts';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { sha256 } from '../helpers/oracle.ts';
import { endlessSource, failingSource, until } from '../helpers/upload-sources.ts';

const TEMP = /^\/(sink|disk)\/\.loopssh-[0-9a-f]{8}\./;

let f: Fixture;
let tmp: { dir: string; remove: () => void };
let root: string;
beforeEach(async () => {
  tmp = tempDir('loopssh-atomic-');
  root = join(tmp.dir, 'root');
  mkdirSync(root);
  f = await startFixture({ sftpDirectory: { path: root, writable: true } });
});
afterEach(async () => {
  await f.stop();
  tmp.remove();
});

describe('upload() to /sink', () => {
  it('seen shows the upload under its final name, renamedFrom the temporary one; atomic: false writes the name itself', async () => {
    const c = await f.connect();
    const data = randomBytes(300_001);
    const r = await c.upload(data, '/sink/a.bin');
    expect([r.bytes, r.sha256]).toEqual([300_001, sha256(data)]);
    await c.upload(data, '/sink/b.bin', { atomic: false });
    const seen = f.server.seen.transfers.map((t) => [t.path, t.bytes, t.sha256, t.outcome]);
    expect(seen).toEqual([
      ['/sink/a.bin', 300_001, sha256(data), 'complete'],
      ['/sink/b.bin', 300_001, sha256(data), 'complete'],
    ]);
    const [atomic, inPlace] = f.server.seen.transfers;
    expect(atomic?.renamedFrom).toMatch(TEMP);
    expect(atomic?.renamedFrom?.endsWith('.a.bin')).toBe(true);
    expect(inPlace?.renamedFrom).toBeUndefined();
  });

  it('the temporary name keeps the fault options: a drop fault fails the upload and nothing is complete', async () => {
    const c = await f.connect();
    const err = await c.upload(randomBytes(1024 * 1024), '/sink/d,drop=100000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransferError);
    const [t] = f.server.seen.transfers;
    expect([f.server.seen.transfers.length, t?.outcome, t?.faults]).toEqual([1, 'dropped', 'drop=100000']);
    expect(t?.path).toMatch(TEMP);
  });

  // The client closes the cancelled temporary upload, then removes it. Its WRITEs arrive
  // whole and in order (ssh2 no longer splits each one in two: test/client/sftp-request-size.test.ts),
  // so the server may see a gap-free prefix closed and call that temporary upload complete;
  // what a cancel guarantees is that nothing reaches the target name.
  it('cancelled mid-upload: rejects, nothing recorded at the target, only the temporary name was written', async () => {
    const c = await f.connect();
    const abort = new AbortController();
    const pending = c.upload(endlessSource(), '/sink/c.bin', { signal: abort.signal });
    await until(() => (f.server.seen.transfers[0]?.bytes ?? 0) > 0);
    abort.abort();
    await expect(pending).rejects.toThrow(/cancelled/);
    const t = f.server.seen.transfers;
    expect(t.map((x) => x.path).filter((p) => !TEMP.test(p))).toEqual([]);
    expect(t).toHaveLength(1);
    expect(t[0]?.renamedFrom).toBeUndefined();
  });
});

describe('upload() to a writable /disk', () => {
  it('replaces an existing file byte-exact (posix-rename@openssh.com, which loopssh serve advertises) and leaves no temporary file', async () => {
    writeFileSync(join(root, 'x.bin'), 'old content\n');
    const c = await f.connect();
    const data = randomBytes(1024 * 1024 + 1);
    const r = await c.upload(data, '/disk/x.bin');
    expect([r.bytes, r.sha256]).toEqual([data.length, sha256(data)]);
    expect([statSync(join(root, 'x.bin')).size, sha256(readFileSync(join(root, 'x.bin')))]).toEqual([data.length, sha256(data)]);
    expect(readdirSync(root)).toEqual(['x.bin']);
    const [t] = f.server.seen.transfers;
    expect([t?.path, t?.bytes, t?.outcome]).toEqual(['/disk/x.bin', data.length, 'complete']);
    expect(t?.renamedFrom).toMatch(TEMP);
  });

  it('cancelled: the old file is whole while the temporary one grows and after; no temporary file remains', async () => {
    writeFileSync(join(root, 'x.bin'), 'old content\n');
    const c = await f.connect();
    const abort = new AbortController();
    const pending = c.upload(endlessSource(), '/disk/x.bin', { signal: abort.signal });
    const temp = (): string | undefined => readdirSync(root).find((n) => n !== 'x.bin');
    await until(() => {
      const name = temp();
      return name !== undefined && statSync(join(root, name)).size > 0;
    });
    expect(readFileSync(join(root, 'x.bin'), 'utf8')).toBe('old content\n');
    abort.abort();
    await expect(pending).rejects.toThrow(/cancelled/);
    expect(readdirSync(root)).toEqual(['x.bin']);
    expect(readFileSync(join(root, 'x.bin'), 'utf8')).toBe('old content\n');
  });

  it('a source failing after 1 MiB: TransferError, no file at a new target, no temporary file', async () => {
    const c = await f.connect();
    const err = await c.upload(failingSource(1024 * 1024), '/disk/new.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/local read failed/);
    expect(readdirSync(root)).toEqual([]);
  });

  it('atomic: false writes the target itself (no rename); a failure removes it', async () => {
    const c = await f.connect();
    const data = randomBytes(100_000);
    await c.upload(data, '/disk/p.bin', { atomic: false });
    expect(sha256(readFileSync(join(root, 'p.bin')))).toBe(sha256(data));
    expect(f.server.seen.transfers.map((t) => [t.path, t.renamedFrom])).toEqual([['/disk/p.bin', undefined]]);
    await c.upload(failingSource(200_000), '/disk/q.bin', { atomic: false }).catch(() => {});
    expect(readdirSync(root)).toEqual(['p.bin']);
  });
});
