/**
 * loopssh issue 11 (SFTP speed): zero-copy READs. ssh2's `sftp.read()`
 * copied every DATA reply into a fresh 32 KiB buffer per request;
 * src/ssh2/sftp-read.ts registers the READ without a buffer so ssh2 hands
 * over a view of the packet. These tests pin that the views stay intact
 * while later packets arrive, that every odd answer is an error (never a
 * silent end), and that the shape check names a changed SFTP.js.
 */
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { assertSsh2Shape, sftpReadView } from '../../src/ssh2/index.ts';
import { startFixture, type Fixture } from '../helpers/fixture.ts';
import { referenceDigest, sha256 } from '../helpers/oracle.ts';

const { Client, Server, utils } = ssh2;
const MiB = 1024 * 1024;

const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()?.();
});

function openSftp(host: string, port: number, username: string, privateKey?: Buffer | string): Promise<SFTPWrapper> {
  const client = new Client();
  stops.push(() => void client.end());
  return new Promise((resolve, reject) => {
    client.once('error', reject);
    client.once('ready', () => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    client.connect({ host, port, username, ...(privateKey ? { privateKey } : { password: 'x' }) });
  });
}

/** One view-read as a promise: the bytes, or undefined at EOF. */
function readView(sftp: SFTPWrapper, handle: Buffer, offset: number, length: number, scratch: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => sftpReadView(sftp, handle, offset, length, scratch, (err, data) => (err ? reject(err) : resolve(data))));
}

describe('sftpReadView against loopssh serve', () => {
  let f: Fixture;

  it('128 READs in flight, every view held until the last reply: byte-exact against the oracle; EOF at the size', async () => {
    f = await startFixture();
    stops.push(() => f.stop());
    const o = f.server.clientOptions();
    const sftp = await openSftp(o.host, o.port, o.user, o.privateKey);
    const size = 4 * MiB;
    const handle = await new Promise<Buffer>((res, rej) => sftp.open('/payload/random/7/4MiB', 'r', (e, h) => (e ? rej(e) : res(h))));
    const chunk = 31_952;
    const scratch = Buffer.alloc(chunk);
    const reads: Promise<Buffer | undefined>[] = [];
    for (let at = 0; at < size; at += chunk) reads.push(readView(sftp, handle, at, Math.min(chunk, size - at), scratch));
    // All held at once: a view into a buffer ssh2 reused would show later bytes here.
    const views = await Promise.all(reads);
    expect(views.every((v) => v !== undefined && v.length > 0)).toBe(true);
    const got = Buffer.concat(views as Buffer[]);
    expect([got.length, sha256(got)]).toEqual([size, referenceDigest({ size, pattern: 'random', seed: '7' })]);
    // Nothing was written into the scratch buffer ssh2's read() insists on.
    expect(scratch.equals(Buffer.alloc(chunk))).toBe(true);
    expect(await readView(sftp, handle, size, chunk, scratch)).toBeUndefined();
  });
});

/** An ssh2 server whose SFTP READ answers are scripted: `answer(sftp, reqid, length)`. */
async function scriptedServer(answer: (sftp: ssh2.SFTPWrapper, reqid: number, length: number) => void): Promise<number> {
  const hostKey = utils.generateKeyPairSync('ed25519').private;
  const server = new Server({ hostKeys: [hostKey] }, (conn) => {
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('ready', () =>
      conn.on('session', (accept) =>
        accept().on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          sftp.on('OPEN', (reqid) => sftp.handle(reqid, Buffer.from([0, 0, 0, 1])));
          sftp.on('READ', (reqid, _h, _offset, length: number) => answer(sftp, reqid, length));
        }),
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

async function scriptedRead(answer: (sftp: ssh2.SFTPWrapper, reqid: number, length: number) => void, length = 1000): Promise<Buffer | undefined> {
  const port = await scriptedServer(answer);
  const sftp = await openSftp('127.0.0.1', port, 'u');
  const handle = await new Promise<Buffer>((res, rej) => sftp.open('/f', 'r', (e, h) => (e ? rej(e) : res(h))));
  return readView(sftp, handle, 0, length, Buffer.alloc(length));
}

describe('sftpReadView: odd answers', () => {
  it('a short DATA reply is passed on as it is (the caller asks for the rest)', async () => {
    const got = await scriptedRead((s, id) => s.data(id, Buffer.from('abc')));
    expect(got?.toString()).toBe('abc');
  });

  it('SSH_FX_EOF: undefined, not an error', async () => {
    expect(await scriptedRead((s, id) => s.status(id, 1))).toBeUndefined();
  });

  it('status OK to a READ is an error naming it, never an empty end', async () => {
    await expect(scriptedRead((s, id) => s.status(id, 0))).rejects.toThrow('server answered a READ at offset 0 with status OK instead of data');
  });

  it('more bytes than asked is an error', async () => {
    await expect(scriptedRead((s, id, length) => s.data(id, Buffer.alloc(length + 5)))).rejects.toThrow('server sent 1005 bytes for a READ of 1000 at offset 0');
  });

  it('another status is an error carrying its code', async () => {
    await expect(scriptedRead((s, id) => s.status(id, 4, 'disk on fire'))).rejects.toMatchObject({ message: 'disk on fire', code: 4 });
  });
});

describe('the shape check covers SFTP.js', () => {
  it('a DATA handler that no longer hands over a view fails start-up with one line', () => {
    const real = assertSsh2Shape();
    expect(real.sftpSource).toMatch(/\} else \{\s*const data = bufferParser\.readString\(\);/);
    const changed = { ...real, sftpSource: real.sftpSource.replace(/(\} else \{\s*)const data = bufferParser\.readString\(\);/, '$1const data = Buffer.from(bufferParser.readString());') };
    expect(() => assertSsh2Shape(() => changed)).toThrow(/^loopssh: ssh2 1\.17\.\d+ has an unexpected shape: SFTP\.js DATA handler no longer hands a request without a buffer a view .* — loopssh was checked against 1\.17\.0$/);
    const unregistered = { ...real, sftpSource: real.sftpSource.replace('self._requests[reqid] = req;', 'self._pending.set(reqid, req);') };
    expect(() => assertSsh2Shape(() => unregistered)).toThrow(/SFTP\.js read_ no longer registers its request/);
  });
});
