/**
 * OpenSSH's `ssh` client → loopssh server (in-process, port 0, temporary keys
 * and known_hosts). Every transfer compares length and SHA-256.
 */
import { writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectedDigest, sha256, startFixture, type Fixture } from '../helpers/fixture.ts';
import { keyFolder, peer, peerVersion, type KeyFolder } from '../helpers/peers.ts';
import { toolsCommand, type ReferencePattern } from '../helpers/oracle.ts';
import { pipelineDigest, runProcess } from '../helpers/run-process.ts';

const SSH = peer('ssh');
const OPENSSL = peer('openssl');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe.skipIf(!SSH || !OPENSSL)(`${peerVersion('ssh')} → loopssh server`, () => {
  let fx: Fixture;
  let keys: KeyFolder;
  const ssh = (command: string, extra: string[] = [], options: Parameters<typeof runProcess>[2] = {}) =>
    runProcess(SSH as string, [...fx.server.sshArgs(extra), command], { timeoutMs: 120_000, ...options });

  beforeEach(async () => {
    keys = keyFolder();
    fx = await startFixture();
  });
  afterEach(async () => {
    await fx.stop();
    keys.remove();
  });

  const patterns: ReferencePattern[] = ['zero', 'lines', 'random'];
  for (const pattern of patterns) {
    it.each([0, 160 * 1024, 64 * MiB])(`payload %i bytes of ${pattern}`, async (size) => {
      const r = await ssh(`payload ${size} --pattern ${pattern} --seed 11`);
      expect([r.code, r.stdoutBytes, r.stdoutSha256, r.stderr]).toEqual([0, size, expectedDigest(size, pattern, 'stdout', '11'), '']);
    });

    it(`payload 1 GiB of ${pattern} into a file, checked against the standard tools`, async () => {
      const path = join(keys.dir, `big-${pattern}.bin`);
      // The witness is the README's own pipeline (head/seq/openssl), run by the shell.
      const spec = { size: GiB, pattern, seed: '11', stream: 'stdout' as const };
      const [r, witness] = await Promise.all([ssh(`payload 1GiB --pattern ${pattern} --seed 11`, [], { stdoutFile: path }), pipelineDigest(toolsCommand(spec))]);
      expect(r.code).toBe(0);
      expect(statSync(path).size).toBe(GiB);
      const file = await pipelineDigest(`cat '${path}'`);
      expect(witness.bytes).toBe(GiB);
      expect(file).toEqual(witness);
    }, 180_000);
  }

  it('stdout and stderr mixed: 8 MiB each, and 1 byte vs 16 MiB', async () => {
    const stderrPath = join(keys.dir, 'err.bin');
    const r = await runProcess('sh', ['-c', `"$0" "$@" 2>'${stderrPath}'`, SSH as string, ...fx.server.sshArgs(), 'payload 8MiB --stderr 8MiB --pattern random']);
    expect([r.code, r.stdoutBytes, r.stdoutSha256]).toEqual([0, 8 * MiB, expectedDigest(8 * MiB, 'random')]);
    expect(await pipelineDigest(`cat '${stderrPath}'`)).toEqual({ bytes: 8 * MiB, sha256: expectedDigest(8 * MiB, 'random', 'stderr') });
    const small = await ssh('payload 1 --stderr 16MiB');
    expect([small.code, small.stdoutBytes, small.stdoutSha256, small.stderr.length]).toEqual([0, 1, expectedDigest(1), 16 * MiB]);
    expect(sha256(small.stderr)).toBe(expectedDigest(16 * MiB, 'lines', 'stderr'));
  });

  it('sink takes a 256 MiB upload from a file', async () => {
    const path = join(keys.dir, 'upload.bin');
    const data = Buffer.alloc(256 * MiB);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    writeFileSync(path, data);
    const r = await ssh('sink', [], { stdinFile: path });
    expect([r.code, r.stdoutHead]).toEqual([0, `${256 * MiB} ${sha256(data)}\n`]);
  }, 120_000);

  it('echo round-trips 16 MiB', async () => {
    const data = Buffer.alloc(16 * MiB, 'loopssh ');
    const r = await ssh('echo', [], { input: data });
    expect([r.code, r.stdoutBytes, r.stdoutSha256]).toEqual([0, data.length, sha256(data)]);
  });

  it.each([0, 1, 2, 255])('exit code %i is ssh\'s own exit status', async (code) => {
    const r = await ssh(`payload 100 --exit ${code}`);
    expect([r.code, r.stdoutBytes, r.stdoutSha256]).toEqual([code, 100, expectedDigest(100)]);
  });

  it('--signal TERM is reported as ssh reports a remote signal: exit 255', async () => {
    const r = await ssh('payload 100 --signal TERM');
    expect([r.code, r.stdoutBytes, r.stdoutSha256]).toEqual([255, 100, expectedDigest(100)]);
    expect(fx.server.seen.commands[0]?.exit).toEqual({ signal: 'TERM' });
  });

  it('a bad command: one line on stderr, ssh exits 2', async () => {
    const r = await ssh('payload 1 --bogus');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("loopssh: unknown option '--bogus' for payload\n");
    const unknown = await ssh('rm -rf /');
    expect([unknown.code, unknown.stderr]).toEqual([2, "loopssh: unknown command 'rm' (try 'help')\n"]);
  });

  it.each([
    ['aes128-gcm@openssh.com', []],
    ['aes256-gcm@openssh.com', []],
    ['chacha20-poly1305@openssh.com', []],
    ['aes128-ctr', ['-m', 'hmac-sha2-256-etm@openssh.com']],
    ['aes192-ctr', ['-m', 'hmac-sha2-256-etm@openssh.com']],
    ['aes256-ctr', ['-m', 'hmac-sha2-512-etm@openssh.com']],
  ])('cipher %s (each of ssh2 1.17\'s six default ciphers) carries 32 MiB byte-exact', async (cipher, mac) => {
    const r = await ssh('payload 32MiB --pattern random', ['-c', cipher, ...mac, '-v']);
    expect([r.code, r.stdoutBytes, r.stdoutSha256]).toEqual([0, 32 * MiB, expectedDigest(32 * MiB, 'random')]);
    // ssh -v names the negotiated cipher: it really was this one.
    expect(r.stderr).toContain(`cipher: ${cipher}`);
  });

  // The seed scenario of https://github.com/ronf/asyncssh/issues/629, with a
  // real client: the reader sleeps before reading, and must still count all.
  it('ssh ... payload 160KiB | (sleep 1; wc -c) prints 163840, 20 times out of 20', async () => {
    const argv = [SSH as string, ...fx.server.sshArgs(), 'payload 160KiB'];
    const counts: string[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const runs = Array.from({ length: 5 }, () => runProcess('sh', ['-c', '"$@" | (sleep 1; wc -c)', 'sh', ...argv]));
      for (const r of await Promise.all(runs)) counts.push(r.stdoutHead.trim());
    }
    expect(counts).toEqual(Array(20).fill('163840'));
  }, 60_000);
});
