/**
 * loopssh client → OpenSSH's sshd (the test's own, on a free loopback port,
 * with a temporary config, host key and authorized_keys; stopped by its pid).
 * Payloads are made by the remote shell and checked against the remote's own
 * sha256sum, or made with the README's openssl pipeline (test/helpers/oracle.ts).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelLostError, connect, HostKeyError, type Connection } from '../../src/client/index.ts';
import { expectedDigest, sha256 } from '../helpers/fixture.ts';
import { toolsCommand } from '../helpers/oracle.ts';
import { keyFolder, peer, peerVersion, startSshd, type KeyFolder, type Sshd } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const SSHD = peer('sshd');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BIN = fileURLToPath(new URL('../../bin/loopssh.js', import.meta.url));

/** A remote script: N random bytes on stdout, their sha256sum (from the remote) on stderr. */
function urandomWithDigest(size: number): string {
  return `f=$(mktemp) && head -c ${size} /dev/urandom > "$f" && sha256sum < "$f" >&2 && cat "$f"; rc=$?; rm -f "$f"; exit $rc`;
}

/** The remote's sha256sum line on stderr → the hex digest. */
function remoteDigest(stderr: string | Buffer | undefined): string {
  return String(stderr ?? '').trim().split(/\s+/)[0] ?? '';
}

/** The random pattern, made remotely by the README's openssl pipeline (independent of loopssh's generator). */
function opensslRandom(size: number, stream: 'stdout' | 'stderr'): string {
  return toolsCommand({ size, pattern: 'random', seed: '0', stream });
}

/** Kills a process and all its descendants (sshd forks one child per connection). */
function killTree(pid: number): void {
  const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const doomed = [pid];
  for (let i = 0; i < doomed.length; i++) for (const [p, pp] of table) if (pp === doomed[i]) doomed.push(p);
  for (const p of doomed) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

class HashingWritable extends Writable {
  bytes = 0;
  readonly hash = createHash('sha256');
  sawClose = false;
  constructor() {
    super({ highWaterMark: MiB });
    this.on('close', () => (this.sawClose = true));
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    cb();
  }
}

describe.skipIf(!SSHD)(`loopssh client → ${peerVersion('sshd')}`, () => {
  let keys: KeyFolder;
  let sshd: Sshd;
  let conn: Connection | undefined;
  const open = async (): Promise<Connection> => {
    conn = await connect({
      port: sshd.port,
      user: sshd.user,
      privateKey: keys.client.privateKey,
      knownHosts: `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`,
    });
    return conn;
  };

  beforeEach(async () => {
    keys = keyFolder();
    sshd = await startSshd(SSHD as string, keys);
  });
  afterEach(async () => {
    await conn?.close().catch(() => {});
    conn = undefined;
    await sshd.stop();
    keys.remove();
  });

  it.each([160 * 1024, 16 * MiB, GiB])('%i random bytes to a file match the remote sha256sum', async (size) => {
    const c = await open();
    const path = join(keys.dir, 'out.bin');
    const r = await c.run(urandomWithDigest(size), { stdout: path, hash: true });
    expect([r.exitCode, r.stdoutBytes, statSync(path).size]).toEqual([0, size, size]);
    expect(r.stdoutSha256).toBe(remoteDigest(r.stderr));
    const onDisk = await runProcess('sha256sum', [path]);
    expect(remoteDigest(onDisk.stdoutHead)).toBe(remoteDigest(r.stderr));
  }, 120_000);

  it.each([160 * 1024, 16 * MiB, GiB])('%i random bytes to a Writable, ended and closed', async (size) => {
    const c = await open();
    const sink = new HashingWritable();
    const r = await c.run(urandomWithDigest(size), { stdout: sink });
    expect([r.exitCode, sink.bytes, sink.sawClose]).toEqual([0, size, true]);
    expect(sink.hash.digest('hex')).toBe(remoteDigest(r.stderr));
  }, 120_000);

  it.each([160 * 1024, 16 * MiB, GiB])('%i bytes through the CLI into a stalled stdout pipe', async (size) => {
    const knownHosts = join(keys.dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const cli = [process.execPath, BIN, 'exec', '--port', String(sshd.port), '--identity', keys.clientKeyPath, '--known-hosts', knownHosts, '--', opensslRandom(size, 'stdout')];
    // The reader takes one byte, then sleeps 2 s before reading the rest.
    const r = await runProcess('sh', ['-c', '"$@" | { dd bs=1 count=1 status=none; sleep 2; exec cat; }', 'sh', ...cli], { timeoutMs: 120_000 });
    expect([r.stdoutBytes, r.stdoutSha256]).toEqual([size, expectedDigest(size, 'random')]);
  }, 120_000);

  it('64 MiB on stdout and 64 MiB on stderr at the same time', async () => {
    const c = await open();
    const both = `${opensslRandom(64 * MiB, 'stdout')} & ${opensslRandom(64 * MiB, 'stderr')} >&2; wait`;
    const r = await c.run(both, { stdout: 'ignore', stderr: 'ignore', hash: true });
    expect([r.exitCode, r.stdoutBytes, r.stderrBytes]).toEqual([0, 64 * MiB, 64 * MiB]);
    expect([r.stdoutSha256, r.stderrSha256]).toEqual([expectedDigest(64 * MiB, 'random'), expectedDigest(64 * MiB, 'random', 'stderr')]);
  }, 60_000);

  it('uploads 256 MiB of stdin to sha256sum', async () => {
    const path = join(keys.dir, 'upload.bin');
    const data = Buffer.alloc(256 * MiB);
    for (let i = 0; i < data.length; i += 512) data.writeUInt32LE(i, i);
    writeFileSync(path, data);
    const c = await open();
    const r = await c.run('sha256sum', { stdin: path });
    expect([r.exitCode, remoteDigest(r.stdout)]).toEqual([0, sha256(data)]);
  }, 60_000);

  it('passes remote exit codes and signals through', async () => {
    const c = await open();
    for (const code of [0, 1, 2, 42, 255]) expect((await c.run(`exit ${code}`)).exitCode).toBe(code);
    const killed = await c.run('echo before; kill -TERM $$');
    expect([killed.exitCode, killed.signal, killed.stdout?.toString()]).toEqual([null, 'TERM', 'before\n']);
  });

  it('sshd killed mid-transfer: the run rejects with ChannelLostError and no file appears', async () => {
    const c = await open();
    const path = join(keys.dir, 'cut.bin');
    const running = c.run('while :; do head -c 1048576 /dev/zero; sleep 0.05; done', { stdout: path });
    // Wait until bytes are landing in the temporary file, then kill sshd and its children.
    const partial = (): string | undefined => readdirSync(keys.dir).find((f) => f.includes('loopssh-partial'));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const f = partial();
      if (f && statSync(join(keys.dir, f)).size > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    killTree(sshd.process.pid as number);
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelLostError);
    expect((err as ChannelLostError).exitCode).toBeNull();
    expect((err as ChannelLostError).stdoutBytes).toBeGreaterThan(0);
    expect(existsSync(path)).toBe(false);
    expect(partial()).toBeUndefined();
  }, 60_000);

  it('refuses a host key that does not match, naming both fingerprints', async () => {
    const other = keyFolder();
    try {
      const wrong = other.client.publicKey.split(' ').slice(0, 2).join(' ');
      const err = await connect({
        port: sshd.port,
        user: sshd.user,
        privateKey: keys.client.privateKey,
        knownHosts: `[127.0.0.1]:${sshd.port} ${wrong}\n`,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostKeyError);
      expect((err as HostKeyError).expected).toHaveLength(1);
      expect((err as Error).message).toContain((err as HostKeyError).actual);
      expect((err as Error).message).toContain((err as HostKeyError).expected[0]);
    } finally {
      other.remove();
    }
  });

  it('the remote shell really ran (sanity: this is OpenSSH, not loopssh)', async () => {
    const c = await open();
    const r = await c.run('echo $((6 * 7)); echo oops >&2; exit 3');
    expect([r.exitCode, r.stdout?.toString(), r.stderr?.toString()]).toEqual([3, '42\n', 'oops\n']);
  });
});
