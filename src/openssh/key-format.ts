/**
 * OpenSSH key formats: public key lines and wire blobs, SHA-256
 * fingerprints, ed25519 key generation and reading private key files with
 * OpenSSH's safety checks. Knows nothing about the loopssh server or client.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import ssh2 from 'ssh2';
import type { ParsedKey as Ssh2ParsedKey } from 'ssh2';
import { errCode, errMessage } from '../util/errors.js';

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

/**
 * Opens `path`, checks what it is on the open descriptor (so a swap between
 * the check and the read cannot slip another file in) and reads it.
 *
 * @param label - how messages name the file, e.g. `identity file /x/y`
 * @param check - extra check of the opened file's stat: a one-line problem or undefined
 * @throws KeyFileError `<label>: <problem>` for a missing, unreadable or
 *   non-regular file, or when `check` names a problem
 */
export function readKeyFile(path: string, label: string, check?: (st: Stats) => string | undefined): Buffer {
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
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new KeyFileError(path, `${label}: is a directory, not a key file`);
    if (!st.isFile()) throw new KeyFileError(path, `${label}: is not a regular file`);
    const problem = check?.(st);
    if (problem !== undefined) throw new KeyFileError(path, `${label}: ${problem}`);
    try {
      return readFileSync(fd);
    } catch (err) {
      const code = errCode(err);
      if (code === 'EISDIR') throw new KeyFileError(path, `${label}: is a directory, not a key file`);
      throw new KeyFileError(path, `${label}: cannot read (${code ?? errMessage(err)})`);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads and validates a private key file (an "identity file"), the way
 * OpenSSH does before using one.
 *
 * Checks, each failing with a one-line {@link KeyFileError}:
 * the file exists and is readable; on POSIX systems it is not accessible by
 * group or others (`mode & 0o077`, OpenSSH's "UNPROTECTED PRIVATE KEY FILE");
 * `check`, if given, finds no problem; ssh2's `utils.parseKey` can parse it;
 * and it is a private (not public) key.
 *
 * @param path - path of the private key file
 * @param check - extra check of the opened file (e.g. its owner), see {@link readKeyFile}
 * @returns the file contents, ready to pass to ssh2 as `privateKey`/`hostKeys`
 * @throws KeyFileError e.g.
 *   `identity file /x/y: permissions 0644 are too open (must not be readable by group or others)`
 */
export function readPrivateKey(path: string, check?: (st: Stats) => string | undefined): Buffer {
  const label = `identity file ${path}`;
  const data = readKeyFile(path, label, (st) => {
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      const perms = (st.mode & 0o7777).toString(8).padStart(4, '0');
      return `permissions ${perms} are too open (must not be readable by group or others)`;
    }
    return check?.(st);
  });
  const parsed = parseFirstKey(data);
  if (parsed instanceof Error) {
    throw new KeyFileError(path, `${label}: cannot parse private key (ssh2: ${parsed.message})`);
  }
  if (!parsed.isPrivateKey()) {
    throw new KeyFileError(path, `${label}: is a public key, not a private key`);
  }
  return data;
}

/** `utils.parseKey`, tolerating the array ssh2 returns for multi-key files. */
export function parseFirstKey(data: Buffer | string): ParsedKey | Error {
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
