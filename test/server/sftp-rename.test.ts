/**
 * loopssh issue 11 (server, for uploaders that write a temporary name and
 * rename it): REMOVE, RENAME (SFTP v3: never replaces) and
 * posix-rename@openssh.com (replaces) on /sink names this session uploaded
 * and on regular files of a writable /disk; links, folders, the rest of the
 * tree and a read-only /disk refused.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { call, packet, rawClient, rawSftp, rawSubsystem } from './sftp-raw.ts';

let f: Fixture | undefined;
let tmp: { dir: string; remove: () => void };
let root: string;
beforeEach(() => {
  tmp = tempDir('loopssh-sftp-rename-');
  root = join(tmp.dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'A');
  writeFileSync(join(root, 'b.txt'), 'B');
  writeFileSync(join(tmp.dir, 'secret'), 'outside\n');
  symlinkSync(join(tmp.dir, 'secret'), join(root, 'trap'));
});
afterEach(async () => {
  await f?.stop();
  f = undefined;
  tmp.remove();
});

/** The SSH_FX status code a request ended with (0 for success). */
function status(run: (done: (err?: Error | null) => void) => void): Promise<number> {
  return new Promise((resolve) => run((err) => resolve(err ? ((err as Error & { code: number }).code ?? -1) : 0)));
}
const rename = (s: SFTPWrapper, from: string, to: string): Promise<number> => status((done) => s.rename(from, to, done));
const remove = (s: SFTPWrapper, path: string): Promise<number> => status((done) => s.unlink(path, done));

/**
 * A raw SFTP channel (INIT sent) that sends posix-rename@openssh.com by hand
 * (whatever the VERSION advertised: test/ssh2/sftp-version.test.ts checks
 * that) and returns each request's status code.
 */
async function posixRenamer(channel: ClientChannel): Promise<(from: string, to: string) => Promise<number>> {
  let buf = Buffer.alloc(0);
  channel.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  const reply = async (): Promise<Buffer> => {
    while (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) await new Promise((r) => channel.once('data', r));
    const packetBytes = buf.subarray(0, 4 + buf.readUInt32BE(0));
    buf = buf.subarray(packetBytes.length);
    return packetBytes;
  };
  channel.write(packet(1, 3)); // INIT v3
  expect((await reply())[4]).toBe(2); // VERSION
  let id = 0;
  return async (from, to) => {
    const reqid = ++id;
    channel.write(packet(200, reqid, 'posix-rename@openssh.com', from, to));
    const status = await reply();
    expect([status[4], status.readUInt32BE(5)]).toEqual([101, reqid]); // STATUS for this request
    return status.readUInt32BE(9);
  };
}

describe('/sink', () => {
  it('RENAME moves this session’s upload (and its seen record), never over an existing name; REMOVE forgets it; the rest of the tree refuses', async () => {
    f = await startFixture();
    const { client, sftp } = await rawSftp(f.server);
    for (const name of ['a', 'b']) {
      const h = await call.open(sftp, `/sink/${name}`, 'w');
      await call.write(sftp, h, 0, Buffer.from(name === 'a' ? 'aaa' : 'bb'));
      await call.close(sftp, h);
    }
    expect(await rename(sftp, '/sink/a', '/sink/b')).toBe(4); // v3: the target exists
    expect(await remove(sftp, '/sink/b')).toBe(0);
    expect(await remove(sftp, '/sink/b')).toBe(2);
    expect(await rename(sftp, '/sink/a', '/sink/b')).toBe(0);
    expect((await call.stat(sftp, '/sink/b')).size).toBe(3);
    expect(await status((done) => sftp.stat('/sink/a', (err) => done(err)))).toBe(2);
    expect(await rename(sftp, '/sink/never', '/sink/c')).toBe(2);
    expect(await rename(sftp, '/sink/b', '/payload/zero/0/3')).toBe(3);
    expect(await remove(sftp, '/payload/zero/0/3')).toBe(3);
    expect(await remove(sftp, '/README')).toBe(3);
    expect(f.server.seen.transfers.map((t) => [t.path, t.renamedFrom, t.bytes])).toEqual([
      ['/sink/b', '/sink/a', 3],
      ['/sink/b', undefined, 2],
    ]);
    client.end();
  });

  it('an upload under /payload is refused as read-only whatever the name', async () => {
    f = await startFixture();
    const { client, sftp } = await rawSftp(f.server);
    expect(await status((done) => sftp.open('/payload/zero/0/.loopssh-0.3', 'w', (err) => done(err)))).toBe(3);
    client.end();
  });
});

describe('/disk', () => {
  it('writable: RENAME never replaces, posix-rename does; links, folders and crossing into /sink refused; REMOVE files only', async () => {
    f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    const { client, sftp } = await rawSftp(f.server);
    expect(await rename(sftp, '/disk/a.txt', '/disk/b.txt')).toBe(4);
    expect(await rename(sftp, '/disk/a.txt', '/disk/trap')).toBe(3);
    expect(await rename(sftp, '/disk/trap', '/disk/t2')).toBe(3);
    expect(await rename(sftp, '/disk/sub', '/disk/sub2')).toBe(3);
    expect(await rename(sftp, '/disk/a.txt', '/disk/sub')).toBe(3);
    expect(await rename(sftp, '/disk/a.txt', '/sink/x')).toBe(4);
    expect(await rename(sftp, '/disk/a.txt', '/disk/sub/../../x')).toBe(4); // `..` is applied first: /x is outside /disk
    expect(await remove(sftp, '/disk/trap')).toBe(3);
    expect(await remove(sftp, '/disk/sub')).toBe(3);
    expect(await remove(sftp, '/disk')).toBe(3);
    expect(await rename(sftp, '/disk/a.txt', '/disk/sub/a.txt')).toBe(0);
    const posixRename = await posixRenamer(await rawSubsystem(await rawClient(f.server)));
    expect(await posixRename('/disk/sub/a.txt', '/disk/b.txt')).toBe(0);
    expect(await posixRename('/disk/b.txt', '/disk/trap')).toBe(3);
    expect(await posixRename('/disk/b.txt', '/payload/zero/0/1')).toBe(4);
    expect(readFileSync(join(root, 'b.txt'), 'utf8')).toBe('A');
    expect(await remove(sftp, '/disk/b.txt')).toBe(0);
    expect(readdirSync(root).sort()).toEqual(['sub', 'trap']);
    expect(lstatSync(join(root, 'trap')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(tmp.dir, 'secret'), 'utf8')).toBe('outside\n');
    client.end();
  });

  it('read-only: RENAME and REMOVE refused, nothing changes', async () => {
    f = await startFixture({ sftpDirectory: { path: root } });
    const { client, sftp } = await rawSftp(f.server);
    expect(await rename(sftp, '/disk/a.txt', '/disk/c.txt')).toBe(3);
    expect(await remove(sftp, '/disk/a.txt')).toBe(3);
    expect([existsSync(join(root, 'a.txt')), existsSync(join(root, 'c.txt'))]).toEqual([true, false]);
    client.end();
  });
});
