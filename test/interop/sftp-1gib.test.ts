/**
 * loopssh issue 11: 1 GiB byte-exact SFTP proofs, in their own file so vitest
 * runs them beside the rest of the suite. Every side is stream-hashed (never
 * buffered) and compared, length and SHA-256, with the README's openssl
 * pipeline (toolsCommand), computed once per file.
 *
 * - OpenSSH `sftp -b` get and put against the loopssh server;
 * - OpenSSH `scp` (SFTP mode) get against the loopssh server;
 * - the loopssh client's download()/upload() against OpenSSH's sftp-server.
 * AsyncSSH's and paramiko's clients have files of their own
 * (sftp-1gib-asyncssh.test.ts, sftp-1gib-paramiko.test.ts), so the three run
 * side by side.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Connection } from '../../src/client/index.ts';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { toolsCommand } from '../helpers/oracle.ts';
import { keyFolder, peer, peerVersion, startSshd, type KeyFolder, type Sshd } from '../helpers/peers.ts';
import { pipelineDigest } from '../helpers/run-process.ts';
import { scp, sftpBatch } from '../server/sftp-helpers.ts';
import { GiB, HANG_MS, SPEC, streamDigest, writeReference } from './sftp-1gib-helpers.ts';

const sftpPath = peer('sftp');
const scpPath = peer('scp');
const SSHD = peer('sshd');
const SFTP_SERVER = peer('sftp-server');

let want: [number, string];
beforeAll(async () => {
  const d = await pipelineDigest(toolsCommand(SPEC));
  want = [d.bytes, d.sha256];
  expect(d.bytes).toBe(GiB);
}, HANG_MS);

describe.skipIf(!sftpPath || !scpPath)('OpenSSH sftp/scp against loopssh at 1 GiB', () => {
  let f: Fixture;
  let tmp: { dir: string; remove: () => void };
  beforeEach(async () => {
    f = await startFixture();
    tmp = tempDir('loopssh-sftp-1gib-');
  });
  afterEach(async () => {
    await f.stop();
    tmp.remove();
  });

  it('sftp -b gets 1 GiB byte-exact', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/random/7/1GiB big\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(await streamDigest(join(tmp.dir, 'big'))).toEqual(want);
    const t = f.server.seen.transfers.find((x) => x.direction === 'download');
    expect([t?.path, t?.bytes, t?.outcome]).toEqual(['/payload/random/7/1GiB', GiB, 'complete']);
  }, HANG_MS);

  it('sftp -b puts 1 GiB: server.seen has its length and SHA-256', async () => {
    await writeReference(join(tmp.dir, 'up'));
    const r = await sftpBatch(sftpPath as string, f.server, 'put up /sink/up\n', tmp.dir);
    expect(r.code).toBe(0);
    const t = f.server.seen.transfers.find((x) => x.direction === 'upload');
    expect([t?.path, t?.bytes, t?.sha256, t?.outcome]).toEqual(['/sink/up', ...want, 'complete']);
  }, HANG_MS);

  it('scp (SFTP mode) gets 1 GiB byte-exact', async () => {
    const r = await scp(scpPath as string, f.server, [], ':/payload/random/7/1GiB', join(tmp.dir, 'd'), tmp.dir);
    expect(r.code).toBe(0);
    expect(await streamDigest(join(tmp.dir, 'd'))).toEqual(want);
  }, HANG_MS);
});

describe.skipIf(!SSHD || !SFTP_SERVER)(`loopssh client → ${peerVersion('sshd')} sftp-server at 1 GiB`, () => {
  let keys: KeyFolder;
  let sshd: Sshd;
  let conn: Connection;
  beforeAll(async () => {
    keys = keyFolder();
    sshd = await startSshd(SSHD as string, keys);
    conn = await connect({ port: sshd.port, user: sshd.user, privateKey: keys.client.privateKey, knownHosts: `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n` });
  }, HANG_MS);
  afterAll(async () => {
    await conn?.close().catch(() => {});
    await sshd?.stop();
    keys?.remove();
  });

  it('download() then upload() 1 GiB byte-exact', async () => {
    const remote = join(keys.dir, 'remote');
    await writeReference(remote);
    const local = join(keys.dir, 'local');
    const got = await conn.download(remote, local);
    expect([got.bytes, got.sha256]).toEqual(want);
    expect(await streamDigest(local)).toEqual(want);
    const put = await conn.upload(local, `${remote}.up`);
    expect(put.bytes).toBe(GiB);
    expect(await streamDigest(`${remote}.up`)).toEqual(want);
  }, HANG_MS);
});
