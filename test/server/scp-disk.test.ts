/**
 * loopssh issue 11 (server): legacy SCP (`scp -O`, the `scp -f`/`scp -t`
 * exec protocol) over the real directory behind /disk, through the same jail
 * as SFTP. Bytes are checked against the seq/openssl pipeline (length and
 * SHA-256); escapes by `..` and symbolic links are refused with the scp error
 * byte and one line; an interrupted upload leaves the target as it was.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { sha256, toolsCommand, type ReferenceSpec } from '../helpers/oracle.ts';
import { peer } from '../helpers/peers.ts';
import { pipelineDigest } from '../helpers/run-process.ts';
import { fileDigest, scp } from './sftp-helpers.ts';
import { rawClient } from './sftp-raw.ts';

const scpPath = peer('scp');
const MiB = 1024 ** 2;
/** 5 MiB + 1 of the `lines` pattern and 3 MiB + 7 of `random`: made by seq/openssl, never by loopssh. */
const LINES: ReferenceSpec = { size: 5 * MiB + 1, pattern: 'lines' };
const RANDOM: ReferenceSpec = { size: 3 * MiB + 7, pattern: 'random', seed: '5' };

let f: Fixture | undefined;
let tmp: { dir: string; remove: () => void };
let root: string;
beforeEach(() => {
  tmp = tempDir('loopssh-scp-disk-');
  root = join(tmp.dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  execFileSync('sh', ['-c', `${toolsCommand(LINES)} > root/lines.txt && ${toolsCommand(RANDOM)} > random.bin`], { cwd: tmp.dir });
  writeFileSync(join(root, 'old.txt'), 'old content\n');
  writeFileSync(join(tmp.dir, 'secret'), 'outside\n');
  symlinkSync(tmp.dir, join(root, 'out')); // a link to the folder above the root
  symlinkSync(join(tmp.dir, 'secret'), join(root, 'trap')); // a link to a file outside
});
afterEach(async () => {
  await f?.stop();
  f = undefined;
  tmp.remove();
});

/** Runs `scp -f`/`scp -t` by hand on an exec channel: sends `input`, then EOF; resolves to all the server sent. */
async function rawScp(client: ssh2.Client, command: string, input: Buffer): Promise<Buffer> {
  const ch = await new Promise<ssh2.ClientChannel>((res, rej) => client.exec(command, (e, c) => (e ? rej(e) : res(c))));
  const got: Buffer[] = [];
  ch.on('data', (d: Buffer) => got.push(d));
  ch.stderr.resume();
  const closed = new Promise((res) => ch.once('close', res));
  ch.end(input);
  await closed;
  return Buffer.concat(got);
}

describe.skipIf(!scpPath)('OpenSSH scp -O with /disk', () => {
  it('downloads a file of the directory byte-exact (length and SHA-256 from seq)', async () => {
    f = await startFixture({ sftpDirectory: { path: root } });
    const out = join(tmp.dir, 'got.txt');
    const r = await scp(scpPath as string, f.server, ['-O'], ':/disk/lines.txt', out, tmp.dir);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const want = await pipelineDigest(toolsCommand(LINES));
    expect(fileDigest(out)).toEqual([want.bytes, want.sha256]);
    expect(f.server.seen.transfers.map((t) => [t.protocol, t.direction, t.path, t.bytes, t.outcome])).toEqual([['scp', 'download', '/disk/lines.txt', LINES.size, 'complete']]);
  });

  it('uploads to a file name and into a folder when writable: byte-exact (SHA-256 from openssl), replacing a file, recorded in seen', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    const want = await pipelineDigest(toolsCommand(RANDOM));
    const named = await scp(scpPath as string, f.server, ['-O'], join(tmp.dir, 'random.bin'), ':/disk/old.txt', tmp.dir);
    expect([named.code, named.stderr]).toEqual([0, '']);
    expect(fileDigest(join(root, 'old.txt'))).toEqual([want.bytes, want.sha256]);
    const into = await scp(scpPath as string, f.server, ['-O'], join(tmp.dir, 'random.bin'), ':/disk/sub/', tmp.dir);
    expect([into.code, into.stderr]).toEqual([0, '']);
    expect(fileDigest(join(root, 'sub', 'random.bin'))).toEqual([want.bytes, want.sha256]);
    expect(f.server.seen.transfers.map((t) => [t.direction, t.path, t.bytes, t.sha256, t.outcome])).toEqual([
      ['upload', '/disk/old.txt', RANDOM.size, want.sha256, 'complete'],
      ['upload', '/disk/sub/random.bin', RANDOM.size, want.sha256, 'complete'],
    ]);
    // Only the two files: no temporary name is left behind.
    expect(readdirSync(root).sort()).toEqual(['lines.txt', 'old.txt', 'out', 'sub', 'trap']);
    expect(readdirSync(join(root, 'sub'))).toEqual(['random.bin']);
  });

  it('refuses an upload to a read-only /disk with one line, exit 1, nothing written', async () => {
    f = await startFixture({ sftpDirectory: { path: root } });
    const r = await scp(scpPath as string, f.server, ['-O'], join(tmp.dir, 'random.bin'), ':/disk/new.bin', tmp.dir);
    expect([r.code, r.stderr]).toEqual([1, 'scp: /disk/new.bin: read-only (the server shares /disk read-only)\n']);
    expect(existsSync(join(root, 'new.bin'))).toBe(false);
  });

  it('escapes by a link or .. are refused both ways with one line; nothing outside is read or written', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    const cases: [string, string, string][] = [
      [':/disk/out/secret', join(tmp.dir, 'x1'), 'scp: /disk/out/secret: outside the shared directory\n'],
      [':/disk/trap', join(tmp.dir, 'x2'), 'scp: /disk/trap: outside the shared directory\n'],
      // `..` is applied in the tree first: /disk/../secret is /secret, which the tree has not.
      [':/disk/../secret', join(tmp.dir, 'x3'), 'scp: /secret: No such file or directory (see /README)\n'],
      [join(tmp.dir, 'random.bin'), ':/disk/out/evil', 'scp: /disk/out/evil: outside the shared directory\n'],
      [join(tmp.dir, 'random.bin'), ':/disk/trap', 'scp: /disk/trap: outside the shared directory\n'],
      [join(tmp.dir, 'random.bin'), ':/disk/../evil', 'scp: /evil: No such file or directory (see /README)\n'],
    ];
    for (const [from, to, message] of cases) {
      const r = await scp(scpPath as string, f.server, ['-O'], from, to, tmp.dir);
      expect([from, to, r.code, r.stderr]).toEqual([from, to, 1, message]);
    }
    expect(['x1', 'x2', 'x3', 'evil'].filter((n) => existsSync(join(tmp.dir, n)))).toEqual([]);
    expect(readFileSync(join(tmp.dir, 'secret'), 'utf8')).toBe('outside\n');
    expect(f.server.seen.transfers).toEqual([]);
  });
});

describe('scp -f/-t on /disk by hand', () => {
  it('an escape gets the error byte \\x01 and one line, and the channel exits 1', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    const client = await rawClient(f.server);
    expect((await rawScp(client, 'scp -f /disk/trap', Buffer.from([0]))).toString('latin1')).toBe('\x01scp: /disk/trap: outside the shared directory\n');
    expect((await rawScp(client, 'scp -t /disk/out/evil', Buffer.alloc(0))).toString('latin1')).toBe('\x01scp: /disk/out/evil: outside the shared directory\n');
    client.end();
  });

  it('an upload cut short leaves the target file as it was and no temporary file', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    const client = await rawClient(f.server);
    // Announces 1000 bytes, sends 500, then EOF: the server must not replace old.txt.
    const got = await rawScp(client, 'scp -t /disk/old.txt', Buffer.concat([Buffer.from('C0644 1000 old.txt\n'), Buffer.alloc(500, 0x61)]));
    // Ready, the C line accepted, then the fatal error byte and one line.
    expect(got.toString('latin1')).toBe('\0\0\x02scp: the client ended 500 bytes short\n');
    expect(readFileSync(join(root, 'old.txt'), 'utf8')).toBe('old content\n');
    expect(readdirSync(root).sort()).toEqual(['lines.txt', 'old.txt', 'out', 'sub', 'trap']);
    expect(f.server.seen.transfers.map((t) => [t.path, t.bytes, t.outcome])).toEqual([['/disk/old.txt', 500, 'failed']]);
    // The same connection and server go on: a complete upload by hand replaces it.
    const data = Buffer.from('new content\n');
    await rawScp(client, 'scp -t /disk/old.txt', Buffer.concat([Buffer.from(`C0644 ${data.length} old.txt\n`), data, Buffer.from([0])]));
    expect(sha256(readFileSync(join(root, 'old.txt')))).toBe(sha256(data));
    client.end();
  });
});
