/**
 * loopssh issue 11 (speed of puts into /disk): the server holds a WRITE
 * request's `data` uncopied until its bytes are written
 * (src/server/sftp/disk-writer.ts), relying on ssh2 1.17 never rewriting an
 * inbound payload (docs/ssh2-traps.md, "ssh2 SFTP server stream"). This pins
 * that fact on a plain ssh2 server over TCP: it keeps every WRITE's `data`
 * to the end of the upload, with its SHA-256 taken on arrival, then checks
 * that none changed. OpenSSH's sftp sends 32 KiB WRITEs that span two
 * channel packets (ssh2 reassembles them); ssh2's client sends one per
 * packet. Ciphers cover each decipher class, and zlib@openssh.com the
 * inflated path.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ssh2, { type CipherAlgorithm, type CompressionAlgorithm } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { endSftpWithStatus } from '../../src/ssh2/index.ts';
import { tempDir } from '../helpers/fixture.ts';
import { peer } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sftpPath = peer('sftp');
const DATA = randomBytes(8 * 1024 * 1024 + 1234);
const EXPECTED = sha256(DATA);

/** A WRITE as the server got it, kept to the end. */
interface Held {
  offset: number;
  data: Buffer;
  digestOnArrival: string;
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A plain ssh2 SFTP server accepting any login, answering each WRITE at once and holding its data. */
async function holdingServer(cipher: CipherAlgorithm, compress: CompressionAlgorithm): Promise<{ port: number; held: Held[] }> {
  const held: Held[] = [];
  const { STATUS_CODE } = ssh2.utils.sftp;
  const server = new ssh2.Server({ hostKeys: [generateKeyPair('held-writes').privateKey], algorithms: { cipher: [cipher], compress: [compress, 'none'] } }, (conn) => {
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('session', (accept) => {
      accept().on('sftp', (acceptSftp) => {
        const sftp = acceptSftp();
        const handle = Buffer.from([0, 0, 0, 1]);
        sftp.on('REALPATH', (id) => sftp.name(id, [{ filename: '/', longname: '/', attrs: {} as never }]));
        sftp.on('STAT', (id) => sftp.status(id, STATUS_CODE.NO_SUCH_FILE));
        sftp.on('LSTAT', (id) => sftp.status(id, STATUS_CODE.NO_SUCH_FILE));
        sftp.on('OPEN', (id) => sftp.handle(id, handle));
        sftp.on('WRITE', (id, _h, offset: number, data: Buffer) => {
          held.push({ offset, data, digestOnArrival: sha256(data) });
          sftp.status(id, STATUS_CODE.OK);
        });
        sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS_CODE.OK));
        sftp.on('CLOSE', (id) => sftp.status(id, STATUS_CODE.OK));
        // ssh2 does not answer the client's EOF on an SFTP channel; sshd's way: exit-status 0, EOF, CLOSE.
        sftp.on('end', () => endSftpWithStatus(sftp, 0));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return { port: (server.address() as AddressInfo).port, held };
}

/** Every held WRITE unchanged since it arrived, and the file they make exactly DATA. */
function checkHeld(held: Held[]): void {
  const changed = held.filter((h) => sha256(h.data) !== h.digestOnArrival).length;
  const file = Buffer.alloc(DATA.length);
  let bytes = 0;
  for (const h of held) {
    h.data.copy(file, h.offset);
    bytes += h.data.length;
  }
  expect([changed, bytes, sha256(file)]).toEqual([0, DATA.length, EXPECTED]);
  // Enough requests that a reused buffer would have been caught.
  expect(held.length).toBeGreaterThanOrEqual(256);
}

const cases: [CipherAlgorithm, CompressionAlgorithm][] = [
  ['aes128-gcm@openssh.com', 'none'],
  ['chacha20-poly1305@openssh.com', 'none'],
  ['aes128-ctr', 'none'],
  ['aes128-gcm@openssh.com', 'zlib@openssh.com'],
];

describe('ssh2 1.17 server: a WRITE request\'s data is never rewritten after its event', () => {
  it.skipIf(!sftpPath).each(cases)('OpenSSH sftp put, %s, compression %s', async (cipher, compress) => {
    const { port, held } = await holdingServer(cipher, compress);
    const tmp = tempDir('loopssh-held-writes-');
    closers.push(tmp.remove);
    writeFileSync(join(tmp.dir, 'src.bin'), DATA);
    const args = ['-F', '/dev/null', '-P', String(port), '-c', cipher, '-o', 'MACs=hmac-sha2-256', '-o', `Compression=${compress === 'none' ? 'no' : 'yes'}`];
    args.push('-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=error', '-b', '-', 'x@127.0.0.1');
    const r = await runProcess(sftpPath as string, args, { cwd: tmp.dir, input: 'put src.bin /held.bin\n', timeoutMs: 120_000 });
    expect([r.code, r.stderr]).toEqual([0, '']);
    checkHeld(held);
  });

  it.each(cases)('ssh2 client sftp.write, %s, compression %s', async (cipher, compress) => {
    const { port, held } = await holdingServer(cipher, compress);
    const client = new ssh2.Client();
    closers.push(() => client.end());
    await new Promise<void>((resolve, reject) => {
      client.on('error', reject);
      client.on('ready', () => {
        client.sftp((err, sftp) => {
          if (err) return reject(err);
          sftp.open('/held.bin', 'w', (err2, handle) => {
            if (err2) return reject(err2);
            // All requests at once: the server holds everything while more packets arrive.
            let left = 0;
            for (let at = 0; at < DATA.length; at += 32_000) {
              left++;
              sftp.write(handle, DATA, at, Math.min(32_000, DATA.length - at), at, (err3) => {
                if (err3) return reject(err3);
                if (--left === 0) sftp.close(handle, () => resolve());
              });
            }
          });
        });
      });
      client.connect({ host: '127.0.0.1', port, username: 'x', password: 'y', algorithms: { cipher: [cipher], compress: [compress] } });
    });
    checkHeld(held);
  });
});
