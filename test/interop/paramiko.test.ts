/**
 * paramiko (Debian's python3-paramiko) → loopssh server, offering a key the
 * server does not know before the right one.
 *
 * Regression: loopssh issue 10 point 3 — paramiko sends a fresh
 * `ssh-userauth` service request for each key it tries, and ssh2 1.17's
 * server answered the second one with DISCONNECT (SERVICE_NOT_AVAILABLE).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { serverPerTest } from '../helpers/per-test.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const PYTHON = peer('paramiko');

/** Logs in with key_filename=[keys...] (in that order), runs `payload 1000`, prints the byte count or the exception. */
const CLIENT_PY = String.raw`
import sys, paramiko
host, port, *keys = sys.argv[1:]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
try:
    c.connect(host, int(port), username='loopssh', key_filename=keys, look_for_keys=False, allow_agent=False, timeout=10, auth_timeout=10)
except Exception as e:
    print('login failed:', type(e).__name__)
    sys.exit(3)
_, out, _ = c.exec_command('payload 1000')
data = out.read()
print(len(data), out.channel.recv_exit_status())
c.close()
`;

describe.skipIf(!PYTHON)(`${peerVersion('paramiko')} → loopssh server`, () => {
  const owned = serverPerTest();

  async function login(maxAuthTries: number): Promise<{ code: number | null; stdout: string; attempts: { accepted: boolean }[] }> {
    const right = generateKeyPair('paramiko-right');
    const wrong = generateKeyPair('paramiko-wrong');
    const server = await owned.start({ port: 0, authorizedKeys: right.publicKey, limits: { maxAuthTries }, logger: pino({ level: 'silent' }) });
    const folder = owned.tempDir('loopssh-paramiko-');
    const files = [join(folder.dir, 'wrong'), join(folder.dir, 'right')];
    writeFileSync(files[0] as string, wrong.privateKey, { mode: 0o600 });
    writeFileSync(files[1] as string, right.privateKey, { mode: 0o600 });
    const script = join(folder.dir, 'client.py');
    writeFileSync(script, CLIENT_PY);
    const r = await runProcess(PYTHON as string, ['-W', 'ignore', script, '127.0.0.1', String(server.port), ...files], { timeoutMs: 30_000 });
    return { code: r.code, stdout: r.stdoutHead.trim(), attempts: server.seen.authAttempts };
  }

  it('logs in with key_filename=[unknown key, right key] and runs a command', async () => {
    const r = await login(6);
    expect([r.code, r.stdout]).toEqual([0, '1000 0']);
    expect(r.attempts.map((a) => a.accepted)).toEqual([false, true]);
  });

  it('the unknown key still counts toward maxAuthTries: with a limit of 1 the right key comes too late', async () => {
    const r = await login(1);
    // paramiko names the cut connection SSHException or EOFError, depending on timing.
    expect([r.code, r.stdout.startsWith('login failed: ')]).toEqual([3, true]);
    expect(r.attempts.map((a) => a.accepted)).toEqual([false]);
  });
});
