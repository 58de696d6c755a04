/**
 * The key folder: host key, client identity and `authorized_keys`, created
 * on first use and never overwritten.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, link, lstat, mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errCode } from '../util/errors.js';
import { generateKeyPair, KeyFileError, parseFirstKey, readPrivateKey, type ParsedKey } from './key-format.js';
import { checkKeyFolder, strictFileCheck } from './strict-modes.js';

/** Where the default keys live: `keys/` at the package root. */
export const DEFAULT_KEYS_DIR = fileURLToPath(new URL('../../keys/', import.meta.url));

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

const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Sets `mode` (open's mode is masked by the umask), writes `content`, syncs
 * it to disk and closes `fh`, also when a step fails.
 */
async function writeSyncedAndClose(fh: FileHandle, content: string, mode: number): Promise<void> {
  try {
    await fh.chmod(mode);
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

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
  await writeSyncedAndClose(await open(tmp, 'wx', mode), content, mode);
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
  await writeSyncedAndClose(out, content, mode);
  return true;
}

/** StrictModes for an existing file of the folder (see ./strict-modes.ts). */
async function checkStrict(path: string): Promise<void> {
  const problem = strictFileCheck(await stat(path));
  if (problem !== undefined) throw new KeyFileError(path, `key file ${path}: ${problem}`);
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
    const parsed = parseFirstKey(readPrivateKey(privPath, strictFileCheck));
    if (parsed instanceof Error) throw parsed; // unreachable: readPrivateKey parsed it
    publicLine = publicLineOf(parsed, comment);
  }
  if (await writeFileIfAbsent(pubPath, `${publicLine}\n`, 0o644)) created.push(pubPath);
  else await checkStrict(pubPath);
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
 * The folder and every file in it must pass OpenSSH's StrictModes (owner is
 * the current user or root, no group or other write; see ./strict-modes.ts),
 * else nothing is used. A folder of the current user's that others can read
 * (e.g. the package's `keys/`, unpacked 0755) is narrowed to 0700.
 *
 * @param dir - the key folder
 * @returns the paths of the key files and which ones this call created
 * @throws KeyFileError if the folder or a file fails StrictModes, an existing
 *   private key is unusable (see {@link readPrivateKey}) or a `.pub` exists
 *   without its private key
 */
export async function ensureKeyDir(dir: string): Promise<KeyFiles> {
  const abs = resolve(dir);
  const created: string[] = [];
  const made = await mkdir(abs, { recursive: true, mode: 0o700 });
  if (made !== undefined) {
    await chmod(abs, 0o700);
    created.push(abs);
  }
  const folder = checkKeyFolder(abs);
  if (folder.uid === process.getuid?.() && (folder.mode & 0o077) !== 0) await chmod(abs, folder.mode & 0o700);
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
  } else await checkStrict(files.authorizedKeysPath);
  return files;
}

/**
 * The public key of the key folder's own host key (`host_ed25519`), derived
 * from the private key: the client trusts it for loopback hosts, and a
 * `host_ed25519.pub` that says otherwise must not decide what is trusted.
 * The folder and the key must pass StrictModes (see ./strict-modes.ts).
 *
 * @param dir - the key folder
 * @returns `type base64`, or undefined when the folder has no host key this
 *   user may read (then nothing is trusted from it)
 * @throws KeyFileError when the folder or the key fails StrictModes or the key does not parse
 */
export function folderHostPublicKey(dir: string): string | undefined {
  const path = join(resolve(dir), 'host_ed25519');
  try {
    accessSync(path, constants.R_OK);
  } catch {
    return undefined;
  }
  checkKeyFolder(resolve(dir));
  const parsed = parseFirstKey(readPrivateKey(path, strictFileCheck));
  if (parsed instanceof Error) throw parsed; // unreachable: readPrivateKey parsed it
  return `${parsed.type} ${parsed.getPublicSSH().toString('base64')}`;
}
