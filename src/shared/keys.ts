/**
 * SSH key helpers shared by the loopssh server and client.
 *
 * This module knows nothing about either side: it computes fingerprints,
 * generates ed25519 key pairs, creates the default key folder, reads private
 * key files with OpenSSH-like safety checks and parses `authorized_keys`.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { chmod, link, lstat, mkdir, open, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import ssh2 from 'ssh2';
import type { ParsedKey as Ssh2ParsedKey } from 'ssh2';

const { utils } = ssh2;

/** A key as returned by ssh2's `utils.parseKey` (public or private). */
export type ParsedKey = Ssh2ParsedKey;

/**
 * Error about a key file or key text, with a one-line message that names the
 * file (and line, when there is one).
 */
export class KeyFileError extends Error {
  override name = 'KeyFileError';
  /** The file (or source label, e.g. `authorized_keys`) the error is about. */
  readonly path: string;
  /** 1-based line number inside {@link KeyFileError.path}, when relevant. */
  readonly line: number | undefined;

  /**
   * @param path - file or source label the problem is in
   * @param message - complete one-line message (should already name `path`)
   * @param line - optional 1-based line number
   */
  constructor(path: string, message: string, line?: number) {
    super(message);
    this.path = path;
    this.line = line;
  }
}

/** An ed25519 key pair in OpenSSH text formats. */
export interface KeyPair {
  /** Private key in OpenSSH's PEM format (its armor line names an OPENSSH private key). */
  privateKey: string;
  /** Public key as an OpenSSH line: `ssh-ed25519 AAAA... comment`. */
  publicKey: string;
}

/** Paths of the files in a key folder prepared by {@link ensureKeyDir}. */
export interface KeyFiles {
  /** Absolute path of the key folder. */
  dir: string;
  /** Server host private key (`host_ed25519`). */
  hostKeyPath: string;
  /** Server host public key (`host_ed25519.pub`). */
  hostPublicKeyPath: string;
  /** Client identity private key (`client_ed25519`). */
  clientKeyPath: string;
  /** Client identity public key (`client_ed25519.pub`). */
  clientPublicKeyPath: string;
  /** `authorized_keys` file (initially containing the client public key). */
  authorizedKeysPath: string;
  /**
   * Absolute paths created by this call (the folder itself first, if it was
   * created, then files). Empty when everything already existed.
   */
  created: string[];
}

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Reads the key type string at the start of an SSH wire-format public key
 * blob (`string keytype, ...`).
 *
 * @param blob - SSH wire-format public key blob
 * @returns the key type (e.g. `ssh-ed25519`), or `undefined` when `blob` does
 *   not start with a plausible length-prefixed key type string
 */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 256 || 4 + len > blob.length) return undefined;
  const type = blob.toString('latin1', 4, 4 + len);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/**
 * Decodes the wire-format blob of an OpenSSH public key line
 * (`type base64 [comment]`), checking that the base64 is well formed and that
 * the blob's embedded key type equals the line's key type.
 *
 * @throws Error when the line is not a public key line
 */
function blobFromLine(line: string): Buffer {
  const fields = line.trim().split(/\s+/);
  const type = fields[0] ?? '';
  const b64 = fields[1] ?? '';
  if (!type || !b64) {
    throw new Error(`not an OpenSSH public key line (expected "<type> <base64> [comment]")`);
  }
  if (!BASE64_RE.test(b64)) {
    throw new Error(`not an OpenSSH public key line (invalid base64 after "${type}")`);
  }
  const blob = Buffer.from(b64, 'base64');
  const inner = blobKeyType(blob);
  if (inner === undefined) {
    throw new Error(`not an OpenSSH public key line (base64 after "${type}" is not an SSH key blob)`);
  }
  if (inner !== type) {
    throw new Error(`public key line says "${type}" but its key blob is "${inner}"`);
  }
  return blob;
}

/**
 * Returns the SSH wire-format public key blob of a key.
 *
 * @param publicKey - a wire-format blob (as ssh2's `hostVerifier` receives),
 *   or an OpenSSH public key line `ssh-ed25519 AAAA... comment` (as a string,
 *   or as a Buffer holding that text, e.g. a `.pub` file's contents)
 * @returns the wire-format blob
 * @throws Error when the input is neither a key blob nor a public key line
 */
export function publicKeyBlob(publicKey: Buffer | string): Buffer {
  if (typeof publicKey === 'string') return blobFromLine(publicKey);
  if (blobKeyType(publicKey) !== undefined) return publicKey;
  try {
    return blobFromLine(publicKey.toString('utf8'));
  } catch {
    throw new Error('not an SSH public key (neither a wire-format blob nor an OpenSSH public key line)');
  }
}

/**
 * Computes the OpenSSH-style SHA-256 fingerprint of a public key, as printed
 * by `ssh-keygen -lf`: `SHA256:` followed by the unpadded base64 of the
 * SHA-256 of the wire-format key blob.
 *
 * @param publicKey - wire-format key blob, or an OpenSSH public key line
 *   (`ssh-ed25519 AAAA... comment`)
 * @returns e.g. `SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s`
 * @throws Error when the input is not a public key (see {@link publicKeyBlob})
 */
export function fingerprint(publicKey: Buffer | string): string {
  const digest = createHash('sha256').update(publicKeyBlob(publicKey)).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/**
 * Generates a new ed25519 key pair with ssh2.
 *
 * @param comment - comment stored in both keys (and appended to the public line)
 * @returns the private key (OpenSSH PEM) and the public key line
 */
export function generateKeyPair(comment?: string): KeyPair {
  // ssh2 1.17 drops leading zero bytes of the ed25519 public key when it
  // encodes the pair (~1 key in 200 comes out 31 bytes long, and its own
  // parseKey then calls it malformed): draw again until the pair parses.
  for (let attempt = 0; attempt < 64; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', comment === undefined ? {} : { comment });
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) {
      return { privateKey: pair.private, publicKey: pair.public };
    }
  }
  throw new Error('could not generate a well-formed ed25519 key pair');
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reads and validates a private key file (an "identity file"), the way
 * OpenSSH does before using one.
 *
 * Checks, each failing with a one-line {@link KeyFileError}:
 * the file exists and is readable; on POSIX systems it is not accessible by
 * group or others (`mode & 0o077`, OpenSSH's "UNPROTECTED PRIVATE KEY FILE");
 * ssh2's `utils.parseKey` can parse it; and it is a private (not public) key.
 *
 * @param path - path of the private key file
 * @returns the file contents, ready to pass to ssh2 as `privateKey`/`hostKeys`
 * @throws KeyFileError e.g.
 *   `identity file /x/y: permissions 0644 are too open (must not be readable by group or others)`
 */
export function readPrivateKey(path: string): Buffer {
  const label = `identity file ${path}`;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') throw new KeyFileError(path, `${label}: no such file`);
    if (code === 'EACCES' || code === 'EPERM') throw new KeyFileError(path, `${label}: not readable (permission denied)`);
    if (code === 'ENOTDIR') throw new KeyFileError(path, `${label}: no such file (a parent is not a directory)`);
    throw new KeyFileError(path, `${label}: cannot open (${code ?? errMessage(err)})`);
  }
  let data: Buffer;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new KeyFileError(path, `${label}: is a directory, not a key file`);
    if (!st.isFile()) throw new KeyFileError(path, `${label}: is not a regular file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const perms = (st.mode & 0o7777).toString(8).padStart(4, '0');
      throw new KeyFileError(
        path,
        `${label}: permissions ${perms} are too open (must not be readable by group or others)`,
      );
    }
    try {
      data = readFileSync(fd);
    } catch (err) {
      const code = errCode(err);
      if (code === 'EISDIR') throw new KeyFileError(path, `${label}: is a directory, not a key file`);
      throw new KeyFileError(path, `${label}: cannot read (${code ?? errMessage(err)})`);
    }
  } finally {
    closeSync(fd);
  }
  const parsed = parseOne(data);
  if (parsed instanceof Error) {
    throw new KeyFileError(path, `${label}: cannot parse private key (ssh2: ${parsed.message})`);
  }
  if (!parsed.isPrivateKey()) {
    throw new KeyFileError(path, `${label}: is a public key, not a private key`);
  }
  return data;
}

/** `utils.parseKey`, tolerating the array ssh2 returns for multi-key files. */
function parseOne(data: Buffer | string): ParsedKey | Error {
  let parsed: ParsedKey | Error | ParsedKey[];
  try {
    parsed = utils.parseKey(data) as ParsedKey | Error | ParsedKey[];
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  if (Array.isArray(parsed)) {
    const first = parsed[0];
    return first ?? new Error('no key found');
  }
  return parsed;
}

/** Key type names that can start an `authorized_keys` key (rather than options). */
const KEY_TYPE_RE = /^(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)|sk-[a-z0-9-]+@openssh\.com|[a-z0-9-]+-cert-v0[01]@openssh\.com)$/;

/**
 * Skips the leading options field of an `authorized_keys` line
 * (`opt,opt="quoted value, with spaces",...`) and returns the rest.
 * Returns `undefined` when a quote is left open.
 */
function skipOptions(line: string): string | undefined {
  let inQuote = false;
  let i = 0;
  for (; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === '\\' && line[i + 1] === '"') i++;
      else if (c === '"') inQuote = false;
    } else if (c === '"') {
      inQuote = true;
    } else if (c === ' ' || c === '\t') {
      break;
    }
  }
  if (inQuote) return undefined;
  return line.slice(i).trimStart();
}

/**
 * Parses an OpenSSH `authorized_keys` file.
 *
 * Blank lines and `#` comments are skipped; a leading options field
 * (e.g. `from="10.0.0.0/8",no-pty ssh-ed25519 AAAA...`) is skipped (the
 * options are not enforced). Every other line must hold a public key that
 * ssh2 can parse.
 *
 * @param text - file contents
 * @param source - name used in error messages and as {@link KeyFileError.path}
 * @returns the parsed public keys, in file order
 * @throws KeyFileError naming the line number, e.g.
 *   `authorized_keys line 3: cannot parse ssh-ed25519 public key (ssh2: Unsupported key format)`
 */
export function parseAuthorizedKeys(text: string, source = 'authorized_keys'): ParsedKey[] {
  const keys: ParsedKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const line = (lines[n] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const fail = (why: string): never => {
      throw new KeyFileError(source, `${source} line ${lineNo}: ${why}`, lineNo);
    };
    const first = line.split(/\s+/, 1)[0] ?? '';
    let keyText = line;
    if (!KEY_TYPE_RE.test(first)) {
      const rest = skipOptions(line);
      if (rest === undefined) fail('unterminated quote in options');
      keyText = rest as string;
      const next = keyText.split(/\s+/, 1)[0] ?? '';
      if (!KEY_TYPE_RE.test(next)) {
        fail(`no known key type (e.g. ssh-ed25519) at the start of the line or after its options`);
      }
    }
    const type = keyText.split(/\s+/, 1)[0] ?? '';
    const parsed = parseOne(keyText);
    if (parsed instanceof Error) {
      fail(`cannot parse ${type} public key (ssh2: ${parsed.message})`);
    } else if (parsed.isPrivateKey()) {
      fail('is a private key, expected a public key');
    } else {
      keys.push(parsed);
    }
  }
  return keys;
}

const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Creates `path` with `content` only if it does not exist yet, atomically:
 * the content is written and synced to a temporary file which is then
 * hard-linked to `path` (link fails with EEXIST instead of replacing), so a
 * concurrent reader never sees a partial file and a concurrent writer never
 * overwrites. Falls back to an exclusive (`wx`) create where hard links are
 * not supported.
 *
 * @returns true if this call created the file, false if it already existed
 */
async function writeFileIfAbsent(path: string, content: string, mode: number): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = errCode(err);
    if (code === 'EEXIST') return false;
    if (code === undefined || !LINK_UNSUPPORTED.has(code)) throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  // No hard links on this file system: exclusive create is the next best thing.
  let out;
  try {
    out = await open(path, 'wx', mode);
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await out.chmod(mode);
    await out.writeFile(content);
    await out.sync();
  } finally {
    await out.close();
  }
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** The OpenSSH public key line for a parsed key. */
function publicLineOf(key: ParsedKey, fallbackComment: string): string {
  const comment = key.comment || fallbackComment;
  const line = `${key.type} ${key.getPublicSSH().toString('base64')}`;
  return comment ? `${line} ${comment}` : line;
}

/**
 * Makes sure the private key `privPath` and its public key `pubPath` exist
 * and match, creating them if absent, never overwriting.
 *
 * @returns the public key line of the private key that ended up on disk
 */
async function ensurePair(privPath: string, pubPath: string, comment: string, created: string[]): Promise<string> {
  // The private key is always created before its .pub, so a .pub seen here
  // implies its private key existed before this check (unless deleted).
  const pubExisted = await exists(pubPath);
  let publicLine: string | undefined;
  if (!(await exists(privPath))) {
    if (pubExisted) {
      throw new KeyFileError(
        privPath,
        `key file ${privPath} is missing but ${pubPath} exists; restore the private key or remove the .pub file`,
      );
    }
    const pair = generateKeyPair(comment);
    if (await writeFileIfAbsent(privPath, pair.privateKey, 0o600)) {
      created.push(privPath);
      publicLine = pair.publicKey;
    }
  }
  if (publicLine === undefined) {
    // Existing key (possibly created concurrently by another process).
    const parsed = parseOne(readPrivateKey(privPath));
    if (parsed instanceof Error) throw parsed; // unreachable: readPrivateKey parsed it
    publicLine = publicLineOf(parsed, comment);
  }
  if (await writeFileIfAbsent(pubPath, `${publicLine}\n`, 0o644)) created.push(pubPath);
  return publicLine;
}

/**
 * Prepares the default key folder: creates `dir` (mode 0700) if absent, and
 * in it, each only if absent:
 * `host_ed25519` + `host_ed25519.pub` (server host key),
 * `client_ed25519` + `client_ed25519.pub` (client identity) and
 * `authorized_keys` (containing the client public key).
 *
 * Private keys and `authorized_keys` get mode 0600, `.pub` files 0644.
 * Existing files are never overwritten; a missing `.pub` is derived from its
 * existing private key. Every file is written to a temporary name and then
 * linked into place only if absent, so concurrent calls (e.g. two processes
 * starting at once) agree on one set of keys and never see partial files.
 *
 * @param dir - the key folder
 * @returns the paths of the key files and which ones this call created
 * @throws KeyFileError if an existing private key is unusable (see
 *   {@link readPrivateKey}) or a `.pub` exists without its private key
 */
export async function ensureKeyDir(dir: string): Promise<KeyFiles> {
  const abs = resolve(dir);
  const created: string[] = [];
  const made = await mkdir(abs, { recursive: true, mode: 0o700 });
  if (made !== undefined) {
    await chmod(abs, 0o700);
    created.push(abs);
  }
  const files: KeyFiles = {
    dir: abs,
    hostKeyPath: join(abs, 'host_ed25519'),
    hostPublicKeyPath: join(abs, 'host_ed25519.pub'),
    clientKeyPath: join(abs, 'client_ed25519'),
    clientPublicKeyPath: join(abs, 'client_ed25519.pub'),
    authorizedKeysPath: join(abs, 'authorized_keys'),
    created,
  };
  const host = hostname();
  await ensurePair(files.hostKeyPath, files.hostPublicKeyPath, `loopssh-host@${host}`, created);
  const clientLine = await ensurePair(files.clientKeyPath, files.clientPublicKeyPath, `loopssh-client@${host}`, created);
  if (await writeFileIfAbsent(files.authorizedKeysPath, `${clientLine}\n`, 0o600)) {
    created.push(files.authorizedKeysPath);
  }
  return files;
}
