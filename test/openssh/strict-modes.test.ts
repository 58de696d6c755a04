// Pins loopssh issue 15, point 7: the key folder and authorized_keys were
// trusted whatever their owner and mode (a 0777 folder with a 0666
// authorized_keys let a planted key in), the shipped keys/ stayed 0755, and
// the client trusted host_ed25519.pub without checking it against host_ed25519.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureKeyDir, folderHostPublicKey } from '../../src/openssh/key-dir.ts';
import { generateKeyPair, KeyFileError } from '../../src/openssh/key-format.ts';
import { strictModesProblem } from '../../src/openssh/strict-modes.ts';

const IS_ROOT = process.getuid?.() === 0;
/** A uid that is neither root nor (when we are not root) us: `nobody`. */
const OTHER_UID = 65534;

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'loopssh-strict-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function keyFileError(fn: () => unknown): KeyFileError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeyFileError);
    expect((err as Error).message).not.toContain('\n');
    return err as KeyFileError;
  }
  throw new Error('expected a KeyFileError');
}
async function keyFileErrorAsync(p: Promise<unknown>): Promise<KeyFileError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeyFileError);
  expect((err as Error).message).not.toContain('\n');
  return err as KeyFileError;
}

describe('strictModesProblem', () => {
  it('allows the user or root as owner, without group/other write', () => {
    expect(strictModesProblem({ uid: 1000, mode: 0o40755 }, 1000)).toBeUndefined();
    expect(strictModesProblem({ uid: 0, mode: 0o100644 }, 1000)).toBeUndefined();
    expect(strictModesProblem({ uid: 1000, mode: 0o100600 }, 1000)).toBeUndefined();
  });
  it('refuses another owner, or group or other write', () => {
    expect(strictModesProblem({ uid: 1001, mode: 0o40700 }, 1000)).toBe('owned by uid 1001, not by you (uid 1000) or root');
    expect(strictModesProblem({ uid: 1000, mode: 0o40775 }, 1000)).toBe('permissions 0775 let group or others write it (chmod go-w)');
    expect(strictModesProblem({ uid: 0, mode: 0o100602 }, 0)).toBe('permissions 0602 let group or others write it (chmod go-w)');
  });
});

describe('ensureKeyDir under StrictModes', () => {
  it('refuses a folder others can write, before using anything in it', async () => {
    const dir = join(tmp, 'keys');
    await ensureKeyDir(dir);
    chmodSync(dir, 0o777);
    const err = await keyFileErrorAsync(ensureKeyDir(dir));
    expect(err.message).toBe(`key folder ${dir}: refused: permissions 0777 let group or others write it (chmod go-w)`);
  });

  it('refuses an authorized_keys others can write (a planted key would log in)', async () => {
    const dir = join(tmp, 'keys');
    const files = await ensureKeyDir(dir);
    chmodSync(files.authorizedKeysPath, 0o666);
    const err = await keyFileErrorAsync(ensureKeyDir(dir));
    expect(err.message).toBe(`key file ${files.authorizedKeysPath}: refused: permissions 0666 let group or others write it (chmod go-w)`);
  });

  it('refuses a host_ed25519.pub others can write', async () => {
    const dir = join(tmp, 'keys');
    const files = await ensureKeyDir(dir);
    chmodSync(files.hostPublicKeyPath, 0o646);
    const err = await keyFileErrorAsync(ensureKeyDir(dir));
    expect(err.message).toMatch(/^key file .*host_ed25519\.pub: refused: permissions 0646/);
  });

  it.skipIf(!IS_ROOT)('refuses files and folders owned by someone else (needs root to chown)', async () => {
    const dir = join(tmp, 'keys');
    const files = await ensureKeyDir(dir);
    chownSync(files.authorizedKeysPath, OTHER_UID, OTHER_UID);
    expect((await keyFileErrorAsync(ensureKeyDir(dir))).message).toBe(
      `key file ${files.authorizedKeysPath}: refused: owned by uid ${OTHER_UID}, not by you (uid 0) or root`,
    );
    chownSync(files.authorizedKeysPath, 0, 0);
    chownSync(files.clientKeyPath, OTHER_UID, OTHER_UID);
    expect((await keyFileErrorAsync(ensureKeyDir(dir))).message).toBe(
      `identity file ${files.clientKeyPath}: refused: owned by uid ${OTHER_UID}, not by you (uid 0) or root`,
    );
    chownSync(files.clientKeyPath, 0, 0);
    chownSync(dir, OTHER_UID, OTHER_UID);
    expect((await keyFileErrorAsync(ensureKeyDir(dir))).message).toBe(`key folder ${dir}: refused: owned by uid ${OTHER_UID}, not by you (uid 0) or root`);
  });

  it('narrows an existing 0755 folder (as the package ships keys/) to the promised 0700', async () => {
    const dir = join(tmp, 'shipped');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'README.md'), '# keys\n');
    await ensureKeyDir(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });
});

describe('folderHostPublicKey', () => {
  it('derives the key from host_ed25519 and ignores a host_ed25519.pub that says otherwise', async () => {
    const dir = join(tmp, 'keys');
    const files = await ensureKeyDir(dir);
    const real = readFileSync(files.hostPublicKeyPath, 'utf8').split(' ').slice(0, 2).join(' ');
    const planted = generateKeyPair('planted').publicKey;
    writeFileSync(files.hostPublicKeyPath, `${planted}\n`);
    expect(folderHostPublicKey(dir)).toBe(real);
    expect(real).not.toBe(planted.split(' ').slice(0, 2).join(' '));
  });

  it('is undefined without a host key, and refuses a folder others can write', async () => {
    expect(folderHostPublicKey(join(tmp, 'none'))).toBeUndefined();
    const dir = join(tmp, 'keys');
    await ensureKeyDir(dir);
    chmodSync(dir, 0o757);
    expect(keyFileError(() => folderHostPublicKey(dir)).message).toBe(`key folder ${dir}: refused: permissions 0757 let group or others write it (chmod go-w)`);
  });
});
