/**
 * OpenSSH `authorized_keys` files: which public keys may log in, and on
 * what terms (the options field; see ./key-options.ts).
 *
 * @module
 */
import { KeyFileError, parseFirstKey, type ParsedKey } from './key-format.js';
import { parseKeyOptions, type KeyOptions } from './key-options.js';

/** Key type names that can start an `authorized_keys` key (rather than options). */
const KEY_TYPE_RE = /^(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)|sk-[a-z0-9-]+@openssh\.com|[a-z0-9-]+-cert-v0[01]@openssh\.com)$/;

/** One usable line of an `authorized_keys` file. */
export interface AuthorizedKey {
  key: ParsedKey;
  /** Its options (none: `{ restrict: false }`). */
  options: KeyOptions;
  /** 1-based line number in the source. */
  line: number;
}

/** A line whose key is not usable because of its options, and why. */
export interface RefusedKeyLine {
  line: number;
  /** One line, e.g. `authorized_keys line 2: environment= is not supported (...)`. */
  message: string;
}

/** What {@link parseAuthorizedKeys} found. */
export interface AuthorizedKeys {
  keys: AuthorizedKey[];
  /** Lines skipped for options loopssh cannot honour: the caller logs each. */
  refused: RefusedKeyLine[];
}

/**
 * Splits the leading options field of an `authorized_keys` line
 * (`opt,opt="quoted value, with spaces",...`) from the rest.
 * Returns `undefined` when a quote is left open.
 */
function splitOptions(line: string): { options: string; rest: string } | undefined {
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
  return { options: line.slice(0, i), rest: line.slice(i).trimStart() };
}

/**
 * Parses an OpenSSH `authorized_keys` file.
 *
 * Blank lines and `#` comments are skipped. A leading options field is
 * parsed (see ./key-options.ts): a line with an option loopssh cannot honour
 * is not used and is listed in `refused` with the reason, so it never grants
 * more than it says. Every other line must hold a public key that ssh2 can
 * parse.
 *
 * @param text - file contents
 * @param source - name used in messages and as {@link KeyFileError.path}
 * @returns the usable keys in file order, and the refused lines
 * @throws KeyFileError naming the line number, e.g.
 *   `authorized_keys line 3: cannot parse ssh-ed25519 public key (ssh2: Unsupported key format)`
 */
export function parseAuthorizedKeys(text: string, source = 'authorized_keys'): AuthorizedKeys {
  const found: AuthorizedKeys = { keys: [], refused: [] };
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
    let options: KeyOptions | string = { restrict: false };
    if (!KEY_TYPE_RE.test(first)) {
      const split = splitOptions(line);
      if (split === undefined) return fail('unterminated quote in options');
      keyText = split.rest;
      const next = keyText.split(/\s+/, 1)[0] ?? '';
      if (!KEY_TYPE_RE.test(next)) {
        fail(`no known key type (e.g. ssh-ed25519) at the start of the line or after its options`);
      }
      options = parseKeyOptions(split.options);
    }
    const type = keyText.split(/\s+/, 1)[0] ?? '';
    const parsed = parseFirstKey(keyText);
    if (parsed instanceof Error) {
      fail(`cannot parse ${type} public key (ssh2: ${parsed.message})`);
    } else if (parsed.isPrivateKey()) {
      fail('is a private key, expected a public key');
    } else if (typeof options === 'string') {
      found.refused.push({ line: lineNo, message: `${source} line ${lineNo}: key not used: ${options}` });
    } else {
      found.keys.push({ key: parsed, options, line: lineNo });
    }
  }
  return found;
}
