import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peer } from '../helpers/peers.ts';
import { thrownBy } from '../helpers/thrown.ts';
import { parseAuthorizedKeys } from '../../src/openssh/authorized-keys.ts';
import { ensureKeyDir } from '../../src/openssh/key-dir.ts';
import { fingerprint, generateKeyPair, KeyFileError, publicKeyBlob, readPrivateKey } from '../../src/openssh/key-format.ts';

const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const KEYS_MODULE = join(PROJECT_ROOT, 'src/openssh/key-dir.ts');

// ssh-keygen is the independent witness here; CI fails without it (test/helpers/peers.ts).
const SSH_KEYGEN = peer('ssh-keygen');
const HAS_KEYGEN = SSH_KEYGEN !== undefined;
/** An OpenSSH private key armor line, built so no such line sits in the repository. */
const ARMOR = (edge: 'BEGIN' | 'END'): string => `${'-'.repeat(5)}${edge} OPENSSH ${'PRIVATE'} KEY${'-'.repeat(5)}`;

function keygen(...args: string[]): string {
  if (SSH_KEYGEN === undefined) throw new Error('ssh-keygen not available');
  return execFileSync(SSH_KEYGEN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `ssh-keygen -lf file` → the `SHA256:...` field. */
function keygenFingerprint(file: string): string {
  const fp = keygen('-lf', file).trim().split(/\s+/)[1];
  if (!fp?.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen -lf output for ${file}`);
  return fp;
}

/** `ssh-keygen -y -f privfile` → `type base64` (comment dropped). */
function keygenPublicOf(privFile: string): string {
  return keygen('-y', '-f', privFile).trim().split(/\s+/).slice(0, 2).join(' ');
}

/** Independent fingerprint: sha256 over the base64-decoded blob of a `.pub` line. */
function cryptoFingerprint(pubLine: string): string {
  const b64 = pubLine.trim().split(/\s+/)[1] ?? '';
  return 'SHA256:' + createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '');
}

function typeAndBlob(pubLine: string): string {
  return pubLine.trim().split(/\s+/).slice(0, 2).join(' ');
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

let tmp: string;
let seq = 0;
function freshDir(name: string): string {
  return join(tmp, `${name}-${++seq}`);
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'loopssh-keys-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Generates a key with ssh-keygen (no passphrase); returns [privPath, pubLine]. */
function sshKeygenKey(type: string, extra: string[] = []): [string, string] {
  const path = join(tmp, `kg-${type}-${++seq}`);
  keygen('-q', '-t', type, ...extra, '-N', '', '-C', `test-${type}`, '-f', path);
  return [path, readFileSync(`${path}.pub`, 'utf8').trim()];
}

describe('fingerprint', () => {
  const generated = generateKeyPair('fp test');

  it('matches an independent sha256 of the base64-decoded blob', () => {
    const fp = fingerprint(generated.publicKey);
    expect(fp).toBe(cryptoFingerprint(generated.publicKey));
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('gives the same result for the wire blob, the line, and a Buffer of the .pub text', () => {
    const blob = Buffer.from(generated.publicKey.split(' ')[1] ?? '', 'base64');
    const expected = cryptoFingerprint(generated.publicKey);
    expect(fingerprint(blob)).toBe(expected);
    expect(fingerprint(`${generated.publicKey}\n`)).toBe(expected);
    expect(fingerprint(Buffer.from(`${generated.publicKey}\n`))).toBe(expected);
  });

  it.skipIf(!HAS_KEYGEN).each(['ed25519', 'rsa', 'ecdsa'])('matches ssh-keygen -lf for a %s key', (type) => {
    const [priv, pubLine] = sshKeygenKey(type, type === 'rsa' ? ['-b', '2048'] : []);
    const expected = keygenFingerprint(`${priv}.pub`);
    expect(fingerprint(pubLine)).toBe(expected);
    expect(fingerprint(Buffer.from(pubLine.split(' ')[1] ?? '', 'base64'))).toBe(expected);
  });

  it.skipIf(!HAS_KEYGEN)('matches ssh-keygen -lf for an ssh2-generated key', () => {
    const pub = join(tmp, `gen-${++seq}.pub`);
    writeFileSync(pub, `${generated.publicKey}\n`);
    expect(fingerprint(generated.publicKey)).toBe(keygenFingerprint(pub));
  });

  it('rejects input that is not a public key', () => {
    expect(() => fingerprint('not a key')).toThrow(/public key/);
    expect(() => fingerprint('ssh-ed25519 !!!notbase64!!!')).toThrow(/base64/);
    expect(() => fingerprint(Buffer.from('garbage bytes'))).toThrow(/not an SSH public key/);
    // Type field disagreeing with the blob's embedded type.
    const b64 = generated.publicKey.split(' ')[1] ?? '';
    expect(() => fingerprint(`ssh-rsa ${b64}`)).toThrow(/ssh-ed25519/);
  });

  it('publicKeyBlob returns the decoded wire blob', () => {
    const b64 = generated.publicKey.split(' ')[1] ?? '';
    expect(publicKeyBlob(generated.publicKey).toString('base64')).toBe(b64);
  });
});

describe('generateKeyPair', () => {
  it('produces an OpenSSH ed25519 pair with the comment', () => {
    const kp = generateKeyPair('me@here');
    expect(kp.privateKey).toMatch(new RegExp(`^${ARMOR('BEGIN')}\\n[\\s\\S]+${ARMOR('END')}\\n?$`));
    expect(kp.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/]+=* me@here$/);
  });

  it('omits the comment when none is given and makes distinct keys', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.publicKey.split(' ')).toHaveLength(2);
    expect(a.publicKey).not.toBe(b.publicKey);
  });

  it.skipIf(!HAS_KEYGEN)('writes keys ssh-keygen can read (ssh-keygen -y gives the same public key)', () => {
    const kp = generateKeyPair('keygen check');
    const priv = join(tmp, `gen-priv-${++seq}`);
    writeFileSync(priv, kp.privateKey, { mode: 0o600 });
    expect(keygenPublicOf(priv)).toBe(typeAndBlob(kp.publicKey));
    expect(keygen('-lf', priv)).toContain('(ED25519)');
  });
});

describe('readPrivateKey', () => {
  it('returns the contents of a valid 0600 key', () => {
    const kp = generateKeyPair();
    const p = join(tmp, `ok-${++seq}`);
    writeFileSync(p, kp.privateKey, { mode: 0o600 });
    expect(readPrivateKey(p).toString('utf8')).toBe(kp.privateKey);
  });

  it.skipIf(!HAS_KEYGEN).each(['ed25519', 'rsa', 'ecdsa'])('accepts an ssh-keygen %s key', (type) => {
    const [priv] = sshKeygenKey(type);
    expect(readPrivateKey(priv).equals(readFileSync(priv))).toBe(true);
  });

  it('reports a missing file', () => {
    const p = join(tmp, 'does-not-exist');
    const err = thrownBy(() => readPrivateKey(p));
    expect(err).toBeInstanceOf(KeyFileError);
    expect((err as KeyFileError).path).toBe(p);
    expect((err as KeyFileError).message).toBe(`identity file ${p}: no such file`);
  });

  it.skipIf(process.platform === 'win32')('refuses a 0644 key like OpenSSH', () => {
    const p = join(tmp, `open-${++seq}`);
    writeFileSync(p, generateKeyPair().privateKey);
    chmodSync(p, 0o644);
    expect(() => readPrivateKey(p)).toThrow(
      new KeyFileError(p, `identity file ${p}: permissions 0644 are too open (must not be readable by group or others)`),
    );
    chmodSync(p, 0o640);
    expect(() => readPrivateKey(p)).toThrow(/permissions 0640 are too open/);
    chmodSync(p, 0o604);
    expect(() => readPrivateKey(p)).toThrow(/permissions 0604 are too open/);
    chmodSync(p, 0o400);
    expect(readPrivateKey(p).length).toBeGreaterThan(0);
  });

  it('says when content cannot be parsed', () => {
    const p = join(tmp, `garbage-${++seq}`);
    writeFileSync(p, 'this is not a key\n', { mode: 0o600 });
    const err = thrownBy(() => readPrivateKey(p));
    expect(err).toBeInstanceOf(KeyFileError);
    const msg = (err as Error).message;
    expect(msg).toMatch(new RegExp(`^identity file ${p}: cannot parse private key \\(ssh2: .+\\)$`));
    expect(msg).not.toContain('\n');
  });

  it('refuses a public key given as identity file', () => {
    const p = join(tmp, `pub-${++seq}`);
    writeFileSync(p, generateKeyPair().publicKey, { mode: 0o600 });
    expect(() => readPrivateKey(p)).toThrow(`identity file ${p}: is a public key, not a private key`);
  });

  it('refuses a directory', () => {
    const p = join(tmp, `dir-${++seq}`);
    mkdirSync(p, { mode: 0o700 });
    expect(() => readPrivateKey(p)).toThrow(/is a directory/);
  });

  it('reports an unreadable path (a folder: unreadable as a file even for root)', () => {
    const p = join(tmp, `unreadable-${++seq}`);
    mkdirSync(p, { mode: 0o700 });
    expect(() => readPrivateKey(p)).toThrow(KeyFileError);
    expect(() => readPrivateKey(p)).toThrow(p);
  });
});

describe('parseAuthorizedKeys', () => {
  const a = generateKeyPair('a');
  const b = generateKeyPair('b');

  it('parses keys, skipping blank and comment lines (LF and CRLF)', () => {
    const text = `# header\n\n${a.publicKey}\r\n   \n  # indented comment\n${b.publicKey}\n`;
    const keys = parseAuthorizedKeys(text).keys.map((e) => e.key);
    expect(keys.map((k) => k.getPublicSSH().toString('base64'))).toEqual([
      a.publicKey.split(' ')[1],
      b.publicKey.split(' ')[1],
    ]);
    expect(keys.map((k) => k.comment)).toEqual(['a', 'b']);
  });

  it('reads leading options, including quoted values with spaces and escaped quotes', () => {
    const text = [
      `from="10.0.0.1,192.168.*" ${a.publicKey}`,
      `command="echo \\"hello world\\"",no-pty ${b.publicKey}`,
      `restrict ${a.publicKey}`,
    ].join('\n');
    const { keys, refused } = parseAuthorizedKeys(text);
    expect(refused).toEqual([]);
    expect(keys.map((e) => e.line)).toEqual([1, 2, 3]);
    expect(keys[0]?.options.from?.text).toBe('10.0.0.1,192.168.*');
    expect(keys[1]?.key.getPublicSSH().toString('base64')).toBe(b.publicKey.split(' ')[1]);
    expect(keys[1]?.options.command).toBe('echo "hello world"');
    expect(keys[2]?.key.getPublicSSH().toString('base64')).toBe(a.publicKey.split(' ')[1]);
    expect(keys[2]?.options).toEqual({ restrict: true });
  });

  it.skipIf(!HAS_KEYGEN)('parses ssh-keygen rsa and ecdsa keys', () => {
    const [, rsa] = sshKeygenKey('rsa', ['-b', '2048']);
    const [, ecdsa] = sshKeygenKey('ecdsa');
    const keys = parseAuthorizedKeys(`${rsa}\nno-agent-forwarding ${ecdsa}\n`).keys.map((e) => e.key);
    expect(keys.map((k) => k.type)).toEqual(['ssh-rsa', 'ecdsa-sha2-nistp256']);
    expect(fingerprint(keys[0]!.getPublicSSH())).toBe(cryptoFingerprint(rsa));
  });

  it('names the line number of a line that does not parse', () => {
    const truncated = (a.publicKey.split(' ')[1] ?? '').slice(0, 30);
    const cases: [string, number, RegExp][] = [
      [`${a.publicKey}\n\nthis is garbage\n`, 3, /^authorized_keys line 3: no known key type/],
      [`# c\nssh-ed25519 ${truncated}\n`, 2, /^authorized_keys line 2: cannot parse ssh-ed25519 public key \(ssh2: .+\)$/],
      [`command="unterminated ${a.publicKey}\n`, 1, /^authorized_keys line 1: unterminated quote/],
      [`${a.publicKey}\nfrom="x"\n`, 2, /^authorized_keys line 2: no known key type/],
    ];
    for (const [text, line, re] of cases) {
      const err = thrownBy(() => parseAuthorizedKeys(text));
      expect(err, text).toBeInstanceOf(KeyFileError);
      expect((err as KeyFileError).line).toBe(line);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('uses the given source label in errors', () => {
    expect(() => parseAuthorizedKeys('junk', '/etc/keys')).toThrow(/^\/etc\/keys line 1: /);
  });

  it('rejects a PEM private key pasted in place of public keys', () => {
    expect(() => parseAuthorizedKeys(a.privateKey)).toThrow(/^authorized_keys line 1: /);
  });
});

describe('ensureKeyDir', () => {
  const NAMES = ['host_ed25519', 'host_ed25519.pub', 'client_ed25519', 'client_ed25519.pub', 'authorized_keys'];

  /** Checks the invariants of a key folder; returns file contents by name. */
  function checkConsistent(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    for (const n of NAMES) files[n] = readFileSync(join(dir, n), 'utf8');
    expect(readdirSync(dir).sort()).toEqual([...NAMES].sort()); // no temp files left
    for (const side of ['host', 'client']) {
      const priv = join(dir, `${side}_ed25519`);
      const pub = files[`${side}_ed25519.pub`] ?? '';
      expect(mode(priv)).toBe(0o600);
      expect(readPrivateKey(priv).length).toBeGreaterThan(0);
      if (HAS_KEYGEN) expect(keygenPublicOf(priv)).toBe(typeAndBlob(pub));
    }
    const auth = parseAuthorizedKeys(files['authorized_keys'] ?? '').keys.map((e) => e.key);
    expect(auth).toHaveLength(1);
    expect(auth[0]!.getPublicSSH().toString('base64')).toBe(files['client_ed25519.pub']!.split(' ')[1]);
    expect(mode(join(dir, 'authorized_keys'))).toBe(0o600);
    expect(typeAndBlob(files['host_ed25519.pub']!)).not.toBe(typeAndBlob(files['client_ed25519.pub']!));
    return files;
  }

  it('creates the folder (0700) and all files (private 0600) in a fresh location', async () => {
    const dir = freshDir('fresh');
    const res = await ensureKeyDir(dir);
    expect(res.dir).toBe(resolve(dir));
    expect(res.hostKeyPath).toBe(join(dir, 'host_ed25519'));
    expect(res.clientKeyPath).toBe(join(dir, 'client_ed25519'));
    expect(res.clientPublicKeyPath).toBe(join(dir, 'client_ed25519.pub'));
    expect(res.authorizedKeysPath).toBe(join(dir, 'authorized_keys'));
    expect(mode(dir)).toBe(0o700);
    expect(res.created).toEqual([dir, ...NAMES.map((n) => join(dir, n))]);
    const files = checkConsistent(dir);
    expect(files['host_ed25519']).toMatch(new RegExp(`^${ARMOR('BEGIN')}`));
  });

  it('is idempotent: a second call creates nothing and changes nothing', async () => {
    const dir = freshDir('idem');
    await ensureKeyDir(dir);
    const before = checkConsistent(dir);
    const mtimes = NAMES.map((n) => statSync(join(dir, n)).mtimeMs);
    const again = await ensureKeyDir(dir);
    expect(again.created).toEqual([]);
    expect(checkConsistent(dir)).toEqual(before);
    expect(NAMES.map((n) => statSync(join(dir, n)).mtimeMs)).toEqual(mtimes);
  });

  it('never overwrites existing files and derives a missing .pub from its private key', async () => {
    const dir = freshDir('existing');
    mkdirSync(dir, { mode: 0o700 });
    const host = generateKeyPair('my own host key');
    writeFileSync(join(dir, 'host_ed25519'), host.privateKey, { mode: 0o600 });
    writeFileSync(join(dir, 'authorized_keys'), '# mine\n', { mode: 0o600 });
    const res = await ensureKeyDir(dir);
    expect(res.created.sort()).toEqual(
      ['host_ed25519.pub', 'client_ed25519', 'client_ed25519.pub'].map((n) => join(dir, n)).sort(),
    );
    expect(readFileSync(join(dir, 'host_ed25519'), 'utf8')).toBe(host.privateKey);
    expect(readFileSync(join(dir, 'host_ed25519.pub'), 'utf8')).toBe(`${host.publicKey}\n`);
    expect(readFileSync(join(dir, 'authorized_keys'), 'utf8')).toBe('# mine\n');
  });

  it('refuses a .pub whose private key is missing instead of generating a mismatched pair', async () => {
    const dir = freshDir('orphan');
    mkdirSync(dir, { mode: 0o700 });
    const pub = generateKeyPair().publicKey;
    writeFileSync(join(dir, 'client_ed25519.pub'), pub);
    await expect(ensureKeyDir(dir)).rejects.toThrow(/client_ed25519 is missing but .*client_ed25519\.pub exists/);
    expect(readFileSync(join(dir, 'client_ed25519.pub'), 'utf8')).toBe(pub);
    expect(existsSync(join(dir, 'client_ed25519'))).toBe(false);
  });

  it.skipIf(process.platform === 'win32')('refuses an existing private key with open permissions', async () => {
    const dir = freshDir('openperm');
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'host_ed25519'), generateKeyPair().privateKey);
    chmodSync(join(dir, 'host_ed25519'), 0o644);
    await expect(ensureKeyDir(dir)).rejects.toThrow(/permissions 0644 are too open/);
  });

  it('concurrent calls (Promise.all) agree on one consistent set of keys', async () => {
    const dir = freshDir('concurrent');
    const results = await Promise.all(Array.from({ length: 8 }, () => ensureKeyDir(dir)));
    checkConsistent(dir);
    // Every file was created by exactly one of the calls.
    const created = results.flatMap((r) => r.created).sort();
    expect(created).toEqual([dir, ...NAMES.map((n) => join(dir, n))].sort());
  });

  // loopssh issue 17 (point 6): the processes race for sure. Each says
  // 'ready' once loaded, and all are released together by one line on stdin,
  // so a slow start-up cannot serialise them.
  it('concurrent processes agree on one consistent set of keys', async () => {
    const dir = freshDir('procs');
    const script = join(tmp, `race-${++seq}.mjs`);
    writeFileSync(
      script,
      `const { ensureKeyDir } = await import(${JSON.stringify(pathToFileURL(KEYS_MODULE).href)});
const { once } = await import('node:events');
process.stdout.write('ready\\n');
process.stdin.setEncoding('utf8');
await once(process.stdin, 'data');
const res = await ensureKeyDir(process.argv[2]);
process.stdout.write(JSON.stringify(res.created));
process.stdin.destroy();
`,
    );
    const children = Array.from({ length: 4 }, () => spawn(process.execPath, ['--import', 'tsx', script, dir], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'inherit'] }));
    const outputs = children.map((c) => {
      let text = '';
      c.stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
      const exited = new Promise<number | null>((r) => c.once('close', (code) => r(code)));
      return { text: () => text, exited };
    });
    const deadline = Date.now() + 30_000;
    while (!outputs.every((o) => o.text().startsWith('ready\n'))) {
      if (Date.now() > deadline) throw new Error('the key-folder processes did not load within 30 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const c of children) c.stdin.write('go\n');
    expect(await Promise.all(outputs.map((o) => o.exited))).toEqual([0, 0, 0, 0]);
    checkConsistent(dir);
    const created = outputs.flatMap((o) => JSON.parse(o.text().slice('ready\n'.length)) as string[]).sort();
    expect(created).toEqual([dir, ...NAMES.map((n) => join(dir, n))].sort());
  });
});

describe('generateKeyPair: ssh2 1.17 key encoding bug', () => {
  // ssh2's generateKeyPairSync('ed25519') drops a leading zero byte of the
  // public key about once in 200 pairs; the result does not parse. Measured
  // here: 8-10 bad pairs in 2000 straight from ssh2.
  it('every one of 1500 generated pairs parses and has a 32-byte public key', async () => {
    const ssh2 = (await import('ssh2')).default;
    let bad = 0;
    for (let i = 0; i < 1500; i++) {
      const pair = generateKeyPair();
      const priv = ssh2.utils.parseKey(pair.privateKey);
      const blob = Buffer.from(pair.publicKey.split(' ')[1] as string, 'base64');
      // blob: string "ssh-ed25519" (4+11) then string key (4+32) = 51 bytes.
      if (priv instanceof Error || blob.length !== 51) bad++;
    }
    expect(bad).toBe(0);
  });
});
