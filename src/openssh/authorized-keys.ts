/**
 * OpenSSH `authorized_keys` files: which public keys may log in.
 *
 * @module
 */
import { KeyFileError, parseFirstKey, type ParsedKey } from './key-format.js';

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
    const parsed = parseFirstKey(keyText);
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
