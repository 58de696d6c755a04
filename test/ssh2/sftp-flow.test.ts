/**
 * endSftpWithStatus (src/ssh2/sftp-flow.ts) on a connection already gone.
 * Found in loopssh issue 11 while testing zero-copy reads: on a socket's
 * 'close' ssh2 tears down the protocol (zlib included) before it ends each
 * channel, so the exit-status loopssh sends from the SFTP 'end' handler
 * threw "Invalid Zlib instance" out of that event: a compressed client that
 * dropped its connection mid-session took loopssh serve down.
 */
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { startFixture } from '../helpers/fixture.ts';
import { referenceDigest } from '../helpers/oracle.ts';

const MiB = 1024 * 1024;
const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()?.();
});

describe('endSftpWithStatus on a connection already gone', () => {
  it('a zlib client dropping its socket mid-session: the server stays up and serves the next client byte-exact', async () => {
    const f = await startFixture({ algorithms: { compress: ['zlib@openssh.com', 'zlib', 'none'] } });
    stops.push(() => f.stop());
    const o = f.server.clientOptions();
    for (let round = 0; round < 3; round++) {
      const client = new ssh2.Client();
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
        client.once('error', reject);
        client.once('ready', () => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
        client.connect({ host: o.host, port: o.port, username: o.user, privateKey: o.privateKey, algorithms: { compress: ['zlib@openssh.com'] } });
      });
      const handle = await new Promise<Buffer>((res, rej) => sftp.open('/payload/lines/0/1MiB', 'r', (e, h) => (e ? rej(e) : res(h))));
      const n = await new Promise<number>((res, rej) => sftp.read(handle, Buffer.alloc(1000), 0, 1000, 0, (e, nb) => (e ? rej(e) : res(nb))));
      expect(n).toBe(1000);
      client.on('error', () => {});
      (client as unknown as { _sock: { destroy(): void } })._sock.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const c = await f.connect();
    const got = await c.download('/payload/lines/0/1MiB', 'buffer');
    expect([got.data?.length, got.sha256]).toEqual([MiB, referenceDigest({ size: MiB, pattern: 'lines' })]);
  });
});
