/**
 * authorized_keys options against OpenSSH: the same line decides the same
 * login in loopssh's server as in OpenSSH's sshd, and OpenSSH's ssh gets the
 * forced command for exec and shell requests.
 */
// Pins loopssh issue 15, point 8 (options were ignored) against an
// independent implementation: sshd reads the line, loopssh reads the line,
// both must say the same for a client on 127.0.0.1.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, connect } from '../../src/client/index.ts';
import { opensshArgs } from '../../src/openssh/ssh-args.ts';
import { startServer, type CommandHandler } from '../../src/server/index.ts';
import { createLogger } from '../../src/server/log.ts';
import { keyFolder, peer, peerVersion, startSshd, type KeyFolder, type Sshd } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const SSHD = peer('sshd');
const SSH = peer('ssh');

/** Options fields whose decision for a client on 127.0.0.1 both servers must agree on. */
const CASES = [
  '',
  'restrict',
  'no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc',
  'from="127.0.0.1"',
  'from="10.9.9.9"',
  'from="127.0.0.0/8"',
  'from="10.0.0.0/8,127.0.0.2"',
  'from="127.0.0.*"',
  'from="127.0.0.?"',
  'from="*,!127.0.0.1"',
  'from="!127.0.0.1"',
  'from="!10.0.0.1,127.*"',
  'from="::1"',
  'from="::ffff:127.0.0.1"',
  'from="localhost"',
  'from="127.0.0.1/8"',
  'expiry-time="19700101"',
  'expiry-time="99991231"',
  'expiry-time="209912312359Z"',
  'from="10.9.9.9",expiry-time="19700101",command="echo denied",restrict',
];

/** Whether a login with `folder`'s key is accepted (AuthenticationError: refused; anything else fails the test). */
async function loginAccepted(port: number, user: string, folder: KeyFolder, hostKey: string): Promise<boolean> {
  try {
    const conn = await connect({ port, user, identityFile: folder.clientKeyPath, knownHosts: `[127.0.0.1]:${port} ${hostKey}\n` });
    await conn.close();
    return true;
  } catch (err) {
    if (err instanceof AuthenticationError) return false;
    throw err;
  }
}

describe.skipIf(!SSHD)(`authorized_keys options: loopssh decides as ${peerVersion('sshd')}`, () => {
  let folder: KeyFolder;
  let sshd: Sshd;
  beforeAll(async () => {
    folder = keyFolder();
    sshd = await startSshd(SSHD as string, folder);
  });
  afterAll(async () => {
    await sshd?.stop();
    folder?.remove();
  });

  it('accepts and refuses the same lines', { timeout: 120_000 }, async () => {
    const decisions: [string, boolean, boolean][] = [];
    for (const options of CASES) {
      const line = options ? `${options} ${folder.client.publicKey}` : folder.client.publicKey;
      // sshd reads its AuthorizedKeysFile afresh for every login.
      writeFileSync(join(folder.dir, 'authorized_keys'), `${line}\n`, { mode: 0o600 });
      const bySshd = await loginAccepted(sshd.port, sshd.user, folder, sshd.hostPublicKey);
      const server = await startServer({ port: 0, authorizedKeys: line, logger: createLogger('silent') });
      try {
        decisions.push([options, bySshd, await loginAccepted(server.port, 'tester', folder, server.hostPublicKey)]);
      } finally {
        await server.stop();
      }
    }
    // Both columns equal, and the cases do cover both outcomes.
    expect(decisions.map(([o, , loopssh]) => [o, loopssh])).toEqual(decisions.map(([o, sshdSaid]) => [o, sshdSaid]));
    expect(new Set(decisions.map(([, s]) => s))).toEqual(new Set([true, false]));
  });
});

describe.skipIf(!SSH)(`forced command with ${peerVersion('ssh')}`, () => {
  const show: CommandHandler = (ctx) => {
    ctx.stdout.write(`forced for [${ctx.env.SSH_ORIGINAL_COMMAND ?? ''}]\n`);
  };

  it('ssh host CMD and ssh host (a shell request) both run command=', async () => {
    const folder = keyFolder();
    const server = await startServer({ port: 0, commands: { show }, authorizedKeys: `restrict,command="show" ${folder.client.publicKey}`, logger: createLogger('silent') });
    try {
      const knownHostsFile = join(folder.dir, 'known_hosts');
      writeFileSync(knownHostsFile, `[127.0.0.1]:${server.port} ${server.hostPublicKey}\n`);
      const args = opensshArgs({ host: '127.0.0.1', port: server.port, user: 'tester', identityFile: folder.clientKeyPath, knownHostsFile }, ['-T']);
      const exec = await runProcess(SSH as string, [...args, 'payload 1GiB']);
      expect(exec.stderr).toBe('');
      expect(exec.code).toBe(0);
      expect(exec.stdoutHead).toBe('forced for [payload 1GiB]\n');
      const shell = await runProcess(SSH as string, args, { input: '' });
      expect(shell.code).toBe(0);
      expect(shell.stdoutHead).toBe('forced for []\n');
      expect(server.seen.commands.map((c) => c.command)).toEqual(['show', 'show']);
    } finally {
      await server.stop();
      folder.remove();
    }
  });
});
