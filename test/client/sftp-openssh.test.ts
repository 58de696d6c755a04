/**
 * loopssh issue 11 (client): download()/upload() against OpenSSH's own
 * sftp-server (its own sshd on a free port). The remote files are real files
 * on this machine, so each side is checked against the other's bytes; sshd
 * killed mid-transfer gives a typed error and no file.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, TransferError, type Connection } from '../../src/client/index.ts';
import { sha256 } from '../helpers/oracle.ts';
import { keyFolder, peer, peerVersion, startSshd, type KeyFolder, type Sshd } from '../helpers/peers.ts';
import { endlessSource, failingSource, until } from '../helpers/upload-sources.ts';

const SSHD = peer('sshd');
const SFTP_SERVER = peer('sftp-server');
const MiB = 1024 ** 2;

describe.skipIf(!SSHD || !SFTP_SERVER)(`loopssh client → ${peerVersion('sshd')} sftp-server`, () => {
  let keys: KeyFolder;
  let sshd: Sshd;
  let conn: Connection;
  beforeEach(async () => {
    keys = keyFolder();
    sshd = await startSshd(SSHD as string, keys);
    conn = await connect({ port: sshd.port, user: sshd.user, privateKey: keys.client.privateKey, knownHosts: `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n` });
  });
  afterEach(async () => {
    await conn.close().catch(() => {});
    await sshd.stop();
    keys.remove();
  });

  it('gets and puts 0 B, 1 B, 32 KiB + 1 and 64 MiB byte-exact', async () => {
    for (const n of [0, 1, 32769, 64 * MiB]) {
      const data = randomBytes(n);
      const remote = join(keys.dir, `remote${n}`);
      writeFileSync(remote, data);
      const local = join(keys.dir, `local${n}`);
      const got = await conn.download(remote, local);
      expect([got.bytes, got.sha256]).toEqual([n, sha256(data)]);
      expect([statSync(local).size, sha256(readFileSync(local))]).toEqual([n, sha256(data)]);
      const put = await conn.upload(local, `${remote}.up`);
      expect(put.bytes).toBe(n);
      expect([statSync(`${remote}.up`).size, sha256(readFileSync(`${remote}.up`))]).toEqual([n, sha256(data)]);
    }
  });

  // loopssh issue 11 review finding: an upload never leaves a truncated file at its target.
  it('put over an existing file (posix-rename@openssh.com) is byte-exact; a cancelled or failed put leaves the old file whole and no temporary file', async () => {
    const dir = join(keys.dir, 'up');
    mkdirSync(dir);
    const target = join(dir, 'x.bin');
    writeFileSync(target, 'old content\n');
    const abort = new AbortController();
    const pending = conn.upload(endlessSource(), target, { signal: abort.signal });
    const temp = (): string | undefined => readdirSync(dir).find((n) => n !== 'x.bin');
    await until(() => {
      const name = temp();
      return name !== undefined && statSync(join(dir, name)).size > 0;
    });
    expect(temp()).toMatch(/^\.loopssh-[0-9a-f]{8}\.x\.bin$/);
    expect(readFileSync(target, 'utf8')).toBe('old content\n');
    abort.abort();
    await expect(pending).rejects.toThrow(/cancelled/);
    expect([readdirSync(dir), readFileSync(target, 'utf8')]).toEqual([['x.bin'], 'old content\n']);

    const failed = await conn.upload(failingSource(3 * MiB), target).catch((e: unknown) => e);
    expect((failed as Error).message).toMatch(/local read failed/);
    expect([readdirSync(dir), readFileSync(target, 'utf8')]).toEqual([['x.bin'], 'old content\n']);
    await conn.upload(failingSource(MiB), join(dir, 'new.bin')).catch(() => {});
    expect(readdirSync(dir)).toEqual(['x.bin']);

    const data = randomBytes(8 * MiB + 1);
    const put = await conn.upload(data, target);
    expect([put.bytes, put.sha256]).toEqual([data.length, sha256(data)]);
    expect([statSync(target).size, sha256(readFileSync(target)), readdirSync(dir)]).toEqual([data.length, sha256(data), ['x.bin']]);
  });

  it('sshd killed mid-download: TransferError, no file at the target', async () => {
    const remote = join(keys.dir, 'big');
    writeFileSync(remote, randomBytes(64 * MiB));
    const outDir = join(keys.dir, 'out');
    mkdirSync(outDir);
    // One 4 KiB request at a time: 16 384 round trips, so the download is
    // still running when its temp file has its first bytes; then this sshd
    // and its session children (by parent pid) are killed.
    const pending = conn.download(remote, join(outDir, 'x'), { chunkSize: 4096, requests: 1 });
    while (!readdirSync(outDir).some((name) => statSync(join(outDir, name)).size > 0)) await new Promise((r) => setImmediate(r));
    spawnSync('pkill', ['-KILL', '-P', String(sshd.process.pid)]);
    sshd.process.kill('SIGKILL');
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toMatch(/TransferError|ConnectionError/);
    expect(err instanceof TransferError || (err as Error).name === 'ConnectionError').toBe(true);
    expect(readdirSync(outDir)).toEqual([]);
  });
});
