/**
 * loopssh issue 12: the audit's server behaviours do what their names say,
 * seen from the client side: exit-status ahead of every data byte, a
 * CHANNEL_CLOSE with no EOF, no exit status at all, a second key exchange in
 * the middle of the data, exit-status after EOF, a rekey with a guessed
 * packet. (The audit's verdicts rest on these orders.)
 */
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_COMMANDS, takeOverAuditExec } from '../../src/audit/behaviours.ts';
import { kexinitWithWrongGuess, NEVER_CHOSEN_KEX } from '../../src/ssh2/server-sends.ts';
import { expectedDigest, sha256, startFixture, type Fixture } from '../helpers/fixture.ts';
import { peer } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const MiB = 1024 * 1024;

interface Seen {
  /** 'data:<bytes so far>' at the first data, 'exit:<code>', 'close'. */
  events: string[];
  stdout: Buffer;
  handshakes: number;
}

/** Runs `command` with ssh2's client (stdin left open) and records the event order (`eof`: the end of stdout too); `debug` gets ssh2's debug lines. */
function execWithSsh2(fx: Fixture, command: string, { eof = false, debug }: { eof?: boolean; debug?: (line: string) => void } = {}): Promise<Seen> {
  const opts = fx.server.clientOptions();
  const client = new ssh2.Client();
  const seen: Seen = { events: [], stdout: Buffer.alloc(0), handshakes: 0 };
  const chunks: Buffer[] = [];
  let bytes = 0;
  return new Promise((resolve, reject) => {
    client.on('handshake', () => seen.handshakes++);
    client.on('error', reject);
    client.on('ready', () => {
      client.exec(command, (err, channel) => {
        if (err) return reject(err);
        channel.on('data', (d: Buffer) => {
          if (bytes === 0) seen.events.push('data');
          bytes += d.length;
          chunks.push(d);
        });
        channel.stderr.resume();
        if (eof) channel.on('end', () => seen.events.push('eof'));
        channel.on('exit', (...args: unknown[]) => seen.events.push(`exit:${args.join(',')}`));
        channel.on('close', () => {
          seen.events.push('close');
          seen.stdout = Buffer.concat(chunks);
          client.end();
          resolve(seen);
        });
      });
    });
    client.connect({ host: opts.host, port: opts.port, username: 'tester', privateKey: opts.privateKey, debug });
  });
}

describe('audit server behaviours', () => {
  let fx: Fixture;
  beforeEach(async () => {
    fx = await startFixture({ commands: AUDIT_COMMANDS, takeOverExec: takeOverAuditExec });
  });
  afterEach(async () => {
    await fx.stop();
  });

  it('audit-exit-first: exit-status 7 reaches the client before the first data byte, then every byte', async () => {
    const seen = await execWithSsh2(fx, 'audit-exit-first 1MiB 7');
    expect(seen.events).toEqual(['exit:7', 'data', 'close']);
    expect([seen.stdout.length, sha256(seen.stdout)]).toEqual([MiB, expectedDigest(MiB)]);
  });

  it('audit-rekey: a second key exchange completes during the transfer, every byte arrives', async () => {
    const seen = await execWithSsh2(fx, 'audit-rekey 8MiB');
    expect(seen.handshakes).toBe(2);
    expect(seen.events).toEqual(['data', 'exit:0', 'close']);
    expect([seen.stdout.length, sha256(seen.stdout)]).toEqual([8 * MiB, expectedDigest(8 * MiB)]);
  });

  it('audit-no-exit-status: every byte, then close with no exit status', async () => {
    const seen = await execWithSsh2(fx, 'audit-no-exit-status 1MiB');
    expect(seen.events).toEqual(['data', 'close']);
    expect([seen.stdout.length, sha256(seen.stdout)]).toEqual([MiB, expectedDigest(MiB)]);
  });

  // loopssh issue 12 ("EOF then a delay then exit-status"): ssh2's channel.exit() sends nothing after eof(); src/ssh2 sendExitStatus does.
  it('audit-eof-delay-exit: EOF first, exit-status 7 only after the delay, then close', async () => {
    const seen = await execWithSsh2(fx, 'audit-eof-delay-exit 1MiB 7 300', { eof: true });
    expect(seen.events).toEqual(['data', 'eof', 'exit:7', 'close']);
    expect([seen.stdout.length, sha256(seen.stdout)]).toEqual([MiB, expectedDigest(MiB)]);
  });

  // loopssh issue 12 (found by the eof-delay-exit scenario): ssh2's Channel.destroy() sends CHANNEL_CLOSE and Node's
  // autoDestroy called it at the server's EOF once stdin was done, so run() reported "closed before an exit status".
  it('the loopssh client waits past the EOF for the exit status (exit 7, every byte)', async () => {
    const conn = await fx.connect();
    const r = await conn.run('audit-eof-delay-exit 1MiB 7 300', { stdout: 'buffer', hash: true });
    expect([r.exitCode, r.stdoutBytes, r.stdoutSha256]).toEqual([7, MiB, expectedDigest(MiB)]);
  });

  it('audit-rekey-guess: the second KEXINIT lists the never-chosen kex first; the client drops the guess and gets every byte', async () => {
    const remoteKex: string[] = [];
    const seen = await execWithSsh2(fx, 'audit-rekey-guess 4MiB', {
      debug: (line) => {
        const m = /^Handshake: \(remote\) KEX method: (.*)$/.exec(line);
        if (m) remoteKex.push(m[1] as string);
      },
    });
    expect(seen.handshakes).toBe(2);
    expect(remoteKex.map((list) => list.startsWith(`${NEVER_CHOSEN_KEX},`))).toEqual([false, true]);
    expect(seen.events).toEqual(['data', 'exit:0', 'close']);
    expect([seen.stdout.length, sha256(seen.stdout)]).toEqual([4 * MiB, expectedDigest(4 * MiB)]);
  });

  it('audit-stderr-after-stdout: the first stderr byte comes after the last stdout byte', async () => {
    const opts = fx.server.clientOptions();
    const client = new ssh2.Client();
    const order: string[] = [];
    await new Promise<void>((resolve, reject) => {
      client.on('error', reject);
      client.on('ready', () =>
        client.exec('audit-stderr-after-stdout 1MiB', (err, channel) => {
          if (err) return reject(err);
          // One entry per run of the same stream: ['stdout', 'stderr'] means no interleaving.
          const note = (s: string) => order.at(-1) !== s && order.push(s);
          channel.on('data', () => note('stdout'));
          channel.stderr.on('data', () => note('stderr'));
          channel.on('close', () => {
            client.end();
            resolve();
          });
        }),
      );
      client.connect({ host: opts.host, port: opts.port, username: 'tester', privateKey: opts.privateKey });
    });
    expect(order).toEqual(['stdout', 'stderr']);
  });

  const SSH = peer('ssh');
  it.skipIf(!SSH)('audit-exit-no-eof: OpenSSH sees exit-status and CHANNEL_CLOSE but no EOF', async () => {
    const r = await runProcess(SSH as string, [...fx.server.sshArgs(['-vv']), 'audit-exit-no-eof 1MiB 7'], { timeoutMs: 30_000 });
    expect([r.code, r.stdoutBytes, r.stdoutSha256]).toEqual([7, MiB, expectedDigest(MiB)]);
    expect(r.stderr).toMatch(/channel 0: rcvd close/);
    expect(r.stderr).toMatch(/rtype exit-status/);
    expect(r.stderr).not.toMatch(/channel 0: rcvd eof/);
    // The same ssh, the same server, a normal ending: it does log the EOF.
    const normal = await runProcess(SSH as string, [...fx.server.sshArgs(['-vv']), 'payload 1MiB'], { timeoutMs: 30_000 });
    expect(normal.stderr).toMatch(/channel 0: rcvd eof/);
  });
});

describe('kexinitWithWrongGuess', () => {
  it('puts the never-chosen name first in the kex list, keeps every other byte, sets first_kex_packet_follows', () => {
    const list = (names: string): Buffer => Buffer.concat([Buffer.from([0, 0, 0, names.length]), Buffer.from(names, 'latin1')]);
    const cookie = Buffer.alloc(16, 7);
    const rest = Buffer.concat([list('ssh-ed25519'), ...Array.from({ length: 8 }, () => list(''))]);
    const kexinit = Buffer.concat([Buffer.from([20]), cookie, list('curve25519-sha256,ecdh-sha2-nistp256'), rest, Buffer.from([0, 0, 0, 0, 0])]);
    const flagged = kexinitWithWrongGuess(kexinit);
    const expected = Buffer.concat([Buffer.from([20]), cookie, list(`${NEVER_CHOSEN_KEX},curve25519-sha256,ecdh-sha2-nistp256`), rest, Buffer.from([1, 0, 0, 0, 0])]);
    expect(flagged.toString('hex')).toBe(expected.toString('hex'));
    expect(kexinit.at(-5)).toBe(0);
  });
});
