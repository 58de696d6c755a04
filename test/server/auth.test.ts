/**
 * Who may log in, and as whom: authorized_keys options and user binding.
 */
import { appendFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthenticationError } from '../../src/client/index.ts';
import { ensureKeyDir } from '../../src/openssh/key-dir.ts';
import { fingerprint, generateKeyPair, KeyFileError } from '../../src/openssh/key-format.ts';
import { startServer } from '../../src/server/index.ts';
import type { CommandHandler } from '../../src/server/index.ts';
import { startFixture, type Fixture } from '../helpers/fixture.ts';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});

/** A pino logger whose lines land in `lines` (parsed). */
function capture(): { logger: pino.Logger; lines: { level: number; msg: string; user?: string }[] } {
  const lines: { level: number; msg: string; user?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

/** Prints what the server passed as SSH_ORIGINAL_COMMAND, and the user. */
const show: CommandHandler = (ctx) => {
  ctx.stdout.write(`${ctx.user} ran ${ctx.command} for ${ctx.env.SSH_ORIGINAL_COMMAND ?? '(none)'}\n`);
};

describe('authorized_keys options are enforced (issue 15.8)', () => {
  // loopssh issue 15, point 8: a key with these options logged in from
  // 127.0.0.1 and ran `payload`: the options were skipped silently.
  it('the issue line: from= that excludes 127.0.0.1 refuses the key, with one log line saying why', async () => {
    const key = generateKeyPair('restricted');
    const { logger, lines } = capture();
    fx = await startFixture({ logger, authorizedKeys: `from="10.9.9.9",expiry-time="19700101",command="echo denied",restrict ${key.publicKey}` });
    const err = await fx.connect({ privateKey: key.privateKey }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(fx.server.seen.commands).toEqual([]);
    const why = lines.filter((l) => l.msg.includes('refused: from='));
    expect(why.length).toBeGreaterThanOrEqual(1);
    expect(why[0]?.msg).toBe(`key ${fingerprint(key.publicKey)} (line 1) refused: from="10.9.9.9" does not allow 127.0.0.1`);
  });

  it('expiry-time= in the past refuses the key; in the future it logs in', async () => {
    const key = generateKeyPair('dated');
    const { logger, lines } = capture();
    fx = await startFixture({ logger, authorizedKeys: `expiry-time="20000101" ${key.publicKey}` });
    await expect(fx.connect({ privateKey: key.privateKey })).rejects.toBeInstanceOf(AuthenticationError);
    expect(lines.some((l) => l.msg.endsWith('refused: key expired (expiry-time="20000101")'))).toBe(true);
    await fx.stop();
    fx = await startFixture({ authorizedKeys: `expiry-time="99991231Z",from="127.0.0.0/8,::1" ${key.publicKey}` });
    const conn = await fx.connect({ privateKey: key.privateKey });
    const r = await conn.run('payload 10');
    expect(r.exitCode).toBe(0);
    expect(r.stdout?.length).toBe(10);
  });

  it('command= runs instead of what the client asked, which arrives as SSH_ORIGINAL_COMMAND', async () => {
    const key = generateKeyPair('forced');
    fx = await startFixture({ commands: { show }, authorizedKeys: `restrict,command="show --forced" ${key.publicKey}` });
    const conn = await fx.connect({ privateKey: key.privateKey });
    const r = await conn.run('payload 1000');
    expect(r.exitCode).toBe(0);
    expect(r.stdout?.toString()).toBe('tester ran show --forced for payload 1000\n');
    expect(fx.server.seen.commands.map((c) => c.command)).toEqual(['show --forced']);
  });

  it('a client cannot send its own SSH_ORIGINAL_COMMAND, and a shell request runs the forced command', async () => {
    const key = generateKeyPair('forced');
    fx = await startFixture({ commands: { show }, authorizedKeys: `command="show" ${key.publicKey}` });
    const raw = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      raw.once('ready', resolve).once('error', reject);
      raw.connect({ host: '127.0.0.1', port: fx!.server.port, username: 'tester', privateKey: key.privateKey });
    });
    const read = (open: (cb: (err: Error | undefined, ch: ssh2.ClientChannel) => void) => void): Promise<string> =>
      new Promise((resolve, reject) =>
        open((err, ch) => {
          if (err) return reject(err);
          const out: Buffer[] = [];
          ch.on('data', (d: Buffer) => out.push(d)).on('close', () => resolve(Buffer.concat(out).toString()));
          ch.stderr.resume();
        }),
      );
    expect(await read((cb) => raw.exec('payload 5', { env: { SSH_ORIGINAL_COMMAND: 'spoofed' } }, cb))).toBe('tester ran show for payload 5\n');
    expect(await read((cb) => raw.shell(false, cb))).toBe('tester ran show for (none)\n');
    raw.end();
  });

  it('a line with an option loopssh cannot honour is not used, and the server says why once', async () => {
    const key = generateKeyPair('env');
    const { logger, lines } = capture();
    fx = await startFixture({ logger, authorizedKeys: `environment="LD_PRELOAD=/tmp/x.so" ${key.publicKey}` });
    expect(lines.map((l) => l.msg)).toEqual([
      'authorizedKeys line 1: key not used: environment= is not supported (loopssh takes no environment from authorized_keys)',
    ]);
    await expect(fx.connect({ privateKey: key.privateKey })).rejects.toBeInstanceOf(AuthenticationError);
  });
});

describe('keys bound to user names; own-property lookups (issue 15.9)', () => {
  // loopssh issue 15, point 9: any authorized key logged in as any user name.
  it('with authorizedKeys per user, a key logs in as its user only, and ctx.user is that name', async () => {
    const alice = generateKeyPair('alice');
    const bob = generateKeyPair('bob');
    fx = await startFixture({ commands: { show }, authorizedKeys: { alice: alice.publicKey, bob: [bob.publicKey] } });
    const asAlice = await fx.connect({ privateKey: alice.privateKey, user: 'alice' });
    expect((await asAlice.run('show')).stdout?.toString()).toBe('alice ran show for (none)\n');
    await expect(fx.connect({ privateKey: alice.privateKey, user: 'bob' })).rejects.toBeInstanceOf(AuthenticationError);
    await expect(fx.connect({ privateKey: bob.privateKey, user: 'alice' })).rejects.toBeInstanceOf(AuthenticationError);
    await expect(fx.connect({ privateKey: alice.privateKey, user: 'root' })).rejects.toBeInstanceOf(AuthenticationError);
    expect(fx.server.seen.authAttempts.filter((a) => a.accepted).map((a) => a.user)).toEqual(['alice']);
  });

  it('a per-user record is read by own properties: a key listed under "__proto__" is that name only', async () => {
    const k = generateKeyPair('proto');
    const record = JSON.parse(`{"__proto__": ${JSON.stringify(k.publicKey)}}`) as Record<string, string>;
    fx = await startFixture({ authorizedKeys: record });
    await expect(fx.connect({ privateKey: k.privateKey, user: 'tester' })).rejects.toBeInstanceOf(AuthenticationError);
    const conn = await fx.connect({ privateKey: k.privateKey, user: '__proto__' });
    expect((await conn.run('payload 3')).stdout?.length).toBe(3);
  });

  // loopssh issue 15, point 9: user names `__proto__`/`constructor` reached
  // Object.prototype's properties in the password table.
  it('user names that are Object.prototype properties never match a password, and the server keeps serving', async () => {
    fx = await startFixture({ passwords: { alice: 'right' } });
    for (const user of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      await expect(fx.connect({ user, password: '[object Object]', privateKey: undefined })).rejects.toBeInstanceOf(AuthenticationError);
    }
    const ok = await fx.connect({ user: 'alice', password: 'right', privateKey: undefined });
    expect((await ok.run('payload 4')).stdout?.length).toBe(4);
  });
});

describe('the keys folder is trusted only under StrictModes (issue 15.7)', () => {
  // loopssh issue 15, point 7: a 0777 folder with a 0666 authorized_keys let a planted key in.
  it('a server on a folder where others could plant a key does not start, and says why in one line', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'loopssh-auth-'));
    try {
      const files = await ensureKeyDir(join(tmp, 'keys'));
      appendFileSync(files.authorizedKeysPath, `${generateKeyPair('planted').publicKey}\n`);
      chmodSync(files.authorizedKeysPath, 0o666);
      chmodSync(files.dir, 0o777);
      const start = (): Promise<unknown> => startServer({ port: 0, keysDir: files.dir }).then(async (s) => s.stop());
      const folderErr = await start().then(() => undefined, (e: unknown) => e);
      expect(folderErr).toBeInstanceOf(KeyFileError);
      expect((folderErr as Error).message).toBe(`key folder ${files.dir}: refused: permissions 0777 let group or others write it (chmod go-w)`);
      chmodSync(files.dir, 0o700);
      const fileErr = await start().then(() => undefined, (e: unknown) => e);
      expect(fileErr).toBeInstanceOf(KeyFileError);
      expect((fileErr as Error).message).toBe(`key file ${files.authorizedKeysPath}: refused: permissions 0666 let group or others write it (chmod go-w)`);
      chmodSync(files.authorizedKeysPath, 0o600);
      await expect(start()).resolves.toBeUndefined();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
