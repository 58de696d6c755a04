/**
 * A plain ssh2 SFTP client on a loopssh server, for tests that need requests
 * no friendly client sends (offsets out of order, bogus handles, raw bytes).
 */
import ssh2, { type ClientChannel, type SFTPWrapper } from 'ssh2';
import type { ServerHandle } from '../../src/server/index.ts';

/** A logged-in ssh2 client. */
export async function rawClient(server: ServerHandle, limits: Partial<ssh2.ConnectConfig> = {}): Promise<ssh2.Client> {
  const o = server.clientOptions();
  const c = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    c.once('ready', resolve).once('error', reject);
    c.connect({ host: o.host, port: o.port, username: o.user, privateKey: o.privateKey, ...limits });
  });
  return c;
}

/** ssh2's SFTP client on a fresh connection. */
export async function rawSftp(server: ServerHandle): Promise<{ client: ssh2.Client; sftp: SFTPWrapper }> {
  const client = await rawClient(server);
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  return { client, sftp };
}

/** The bare `sftp` subsystem channel, for writing packets by hand. */
export async function rawSubsystem(client: ssh2.Client): Promise<ClientChannel> {
  return new Promise((resolve, reject) => client.subsys('sftp', (err, s) => (err ? reject(err) : resolve(s))));
}

/** One SFTP packet: uint32 length, type, body. */
export function packet(type: number, ...parts: (Buffer | number | string)[]): Buffer {
  const body = Buffer.concat(
    parts.map((p) => {
      if (typeof p === 'number') {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(p >>> 0);
        return b;
      }
      const data = typeof p === 'string' ? Buffer.from(p) : p;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      return Buffer.concat([len, data]);
    }),
  );
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1);
  head[4] = type;
  return Buffer.concat([head, body]);
}

/** Promisified calls of ssh2's SFTP client. */
export const call = {
  open: (s: SFTPWrapper, path: string, flags: 'r' | 'w') => new Promise<Buffer>((res, rej) => s.open(path, flags, (e, h) => (e ? rej(e) : res(h)))),
  read: (s: SFTPWrapper, h: Buffer, pos: number, len: number) =>
    new Promise<number>((res, rej) => s.read(h, Buffer.alloc(len), 0, len, pos, (e, n) => (e ? rej(e) : res(n)))),
  write: (s: SFTPWrapper, h: Buffer, pos: number, data: Buffer) => new Promise<void>((res, rej) => s.write(h, data, 0, data.length, pos, (e) => (e ? rej(e) : res()))),
  close: (s: SFTPWrapper, h: Buffer) => new Promise<void>((res, rej) => s.close(h, (e) => (e ? rej(e) : res()))),
  stat: (s: SFTPWrapper, path: string) => new Promise<ssh2.Stats>((res, rej) => s.stat(path, (e, st) => (e ? rej(e) : res(st)))),
};
