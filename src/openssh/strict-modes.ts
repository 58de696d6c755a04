/**
 * OpenSSH's StrictModes for the key folder: a folder or file that decides
 * who may log in, or which host key the client trusts, is used only if its
 * owner is the current user or root and neither group nor others may write
 * it. Otherwise anyone who can write there could plant a key.
 *
 * @module
 */
import { statSync } from 'node:fs';
import { errCode, errMessage } from '../util/errors.js';
import { KeyFileError, readKeyFile } from './key-format.js';

/** The parts of a stat that StrictModes looks at. */
export interface Ownership {
  uid: number;
  mode: number;
}

/**
 * What is wrong with a file's owner or mode under StrictModes.
 *
 * @param st - the file's owner and mode
 * @param uid - the current user (default `process.getuid()`); without one
 *   (Windows) nothing is checked
 * @returns a one-line problem, or undefined when the file may be trusted
 */
export function strictModesProblem(st: Ownership, uid: number | undefined = process.getuid?.()): string | undefined {
  if (uid === undefined) return undefined;
  if (st.uid !== uid && st.uid !== 0) return `owned by uid ${st.uid}, not by you (uid ${uid}) or root`;
  if ((st.mode & 0o022) !== 0) {
    const perms = (st.mode & 0o7777).toString(8).padStart(4, '0');
    return `permissions ${perms} let group or others write it (chmod go-w)`;
  }
  return undefined;
}

/**
 * Checks the key folder itself under StrictModes.
 *
 * @returns the folder's owner and mode
 * @throws KeyFileError `key folder <dir>: refused: <problem>` (or: missing, not a folder)
 */
export function checkKeyFolder(dir: string): Ownership {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw new KeyFileError(dir, `key folder ${dir}: cannot read it (${errCode(err) ?? errMessage(err)})`);
  }
  if (!st.isDirectory()) throw new KeyFileError(dir, `key folder ${dir}: is not a folder`);
  const problem = strictModesProblem(st);
  if (problem !== undefined) throw new KeyFileError(dir, `key folder ${dir}: refused: ${problem}`);
  return st;
}

/**
 * Reads a file of the key folder (e.g. `authorized_keys`) after checking it
 * under StrictModes on the open descriptor.
 *
 * @param label - how messages name the file, e.g. `authorized_keys /x/authorized_keys`
 * @throws KeyFileError `<label>: refused: <problem>`, or for a missing/unreadable file
 */
export function readStrictFile(path: string, label: string): Buffer {
  return readKeyFile(path, label, strictFileCheck);
}

/** {@link strictModesProblem} as a check for {@link readKeyFile} and `readPrivateKey`. */
export function strictFileCheck(st: Ownership): string | undefined {
  const problem = strictModesProblem(st);
  return problem === undefined ? undefined : `refused: ${problem}`;
}
