/**
 * OpenSSH `known_hosts`: writing lines, parsing files and verifying a host
 * key against them.
 *
 * Supports the OpenSSH format: comma-separated host patterns with `*` and `?`
 * wildcards and `!` negation, `[host]:port` names for ports other than 22,
 * hashed names (`|1|salt|hmac`), `@revoked` and `@cert-authority` markers,
 * comments and blank lines.
 *
 * @module
 */
import { createHmac } from 'node:crypto';
import { blobKeyType, fingerprint, publicKeyBlob } from './key-format.js';
import { wildcardMatch } from './patterns.js';

/** One comma-separated element of a plain host field. */
export interface HostPattern {
  /** Pattern text without the leading `!`, lower-cased; may contain `*` and `?`. */
  pattern: string;
  /** True for `!pattern`: a matching name excludes the whole entry. */
  negated: boolean;
}

/** How an entry names its hosts. */
export type HostMatcher =
  | {
      /** Plain comma-separated patterns. */
      kind: 'patterns';
      patterns: HostPattern[];
    }
  | {
      /** Hashed name: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. */
      kind: 'hashed';
      salt: Buffer;
      hash: Buffer;
    };

/** A parsed `known_hosts` line. */
export interface KnownHostEntry {
  /** 1-based line number in the parsed text. */
  line: number;
  /** `@revoked` / `@cert-authority` marker, or null for a plain host key. */
  marker: 'revoked' | 'cert-authority' | null;
  /** The host field as written (patterns or hashed name). */
  hostField: string;
  /** Parsed form of {@link KnownHostEntry.hostField}. */
  hosts: HostMatcher;
  /** Key type, e.g. `ssh-ed25519`. */
  keyType: string;
  /** SSH wire-format public key blob. */
  key: Buffer;
  /** Text after the key, if any. */
  comment: string;
}

/** Result of {@link verifyHostKey}. */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Host label used in messages: `host:port`, `[v6addr]:port`. */
function hostLabel(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function parseHostField(field: string): HostMatcher | undefined {
  if (field.startsWith('|')) {
    const m = /^\|1\|([A-Za-z0-9+/]+={0,2})\|([A-Za-z0-9+/]+={0,2})$/.exec(field);
    if (m === null) return undefined;
    const salt = Buffer.from(m[1] ?? '', 'base64');
    const hash = Buffer.from(m[2] ?? '', 'base64');
    if (salt.length === 0 || hash.length !== 20) return undefined;
    return { kind: 'hashed', salt, hash };
  }
  const patterns: HostPattern[] = [];
  for (const part of field.split(',')) {
    const negated = part.startsWith('!');
    const pattern = (negated ? part.slice(1) : part).toLowerCase();
    if (pattern === '') return undefined;
    patterns.push({ pattern, negated });
  }
  return patterns.length > 0 ? { kind: 'patterns', patterns } : undefined;
}

/**
 * Parses the text of an OpenSSH `known_hosts` file.
 *
 * Blank lines and `#` comments are skipped. Malformed lines (unknown marker,
 * missing fields, bad base64, a key blob whose type differs from the key type
 * field, bad hashed names) are skipped too, as OpenSSH does.
 *
 * @param text - file contents
 * @returns the entries, in file order
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const trimmed = (lines[n] ?? '').trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [hostField, keyType, b64, ...rest] = fields;
    if (hostField === undefined || keyType === undefined || b64 === undefined) continue;
    const hosts = parseHostField(hostField);
    if (hosts === undefined) continue;
    let key: Buffer;
    try {
      key = publicKeyBlob(`${keyType} ${b64}`);
    } catch {
      continue;
    }
    entries.push({ line: n + 1, marker, hostField, hosts, keyType, key, comment: rest.join(' ') });
  }
  return entries;
}

/** Whether an entry's host field matches a lookup name (already lower-cased). */
function hostsMatch(hosts: HostMatcher, name: string): boolean {
  if (hosts.kind === 'hashed') {
    return createHmac('sha1', hosts.salt).update(name).digest().equals(hosts.hash);
  }
  // As OpenSSH's match_hostname: any matching negated pattern rejects the
  // entry; otherwise at least one positive pattern must match.
  let positive = false;
  for (const { pattern, negated } of hosts.patterns) {
    if (wildcardMatch(name, pattern)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

/**
 * Finds the keys `known_hosts` lists for a host, looked up as `host` when
 * `port` is 22 and as `[host]:port` otherwise, as OpenSSH does.
 * `@cert-authority` entries are ignored.
 *
 * @param entries - parsed `known_hosts` (see {@link parseKnownHosts})
 * @param host - host name or address as used to connect
 * @param port - TCP port
 * @returns wire-format blobs of the accepted keys and of the `@revoked` keys
 */
export function lookupHostKeys(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
): { keys: Buffer[]; revoked: Buffer[] } {
  const name = knownHostsName(host, port);
  const keys: Buffer[] = [];
  const revoked: Buffer[] = [];
  for (const e of entries) {
    if (e.marker === 'cert-authority') continue;
    if (!hostsMatch(e.hosts, name)) continue;
    (e.marker === 'revoked' ? revoked : keys).push(e.key);
  }
  return { keys, revoked };
}

/**
 * Decides whether a server's host key is acceptable.
 *
 * The key is refused if `known_hosts` marks it `@revoked` for this host.
 * Otherwise it is accepted if its fingerprint equals `pin` (exact comparison;
 * a trailing `=` padding on the pin is ignored) or if `known_hosts` lists it
 * for this host. With neither a pin nor known_hosts, the key is refused.
 *
 * @param opts.host - host name or address as used to connect
 * @param opts.port - TCP port
 * @param opts.key - wire-format host key blob (what ssh2's `hostVerifier` receives)
 * @param opts.pin - expected fingerprint, `SHA256:...`
 * @param opts.knownHosts - parsed `known_hosts` entries
 * @returns `{ ok: true }`, or `{ ok: false, reason }` with a one-line reason
 *   naming the presented and the expected fingerprints, e.g.
 *   `host key for 127.0.0.1:2222 is SHA256:abc, expected SHA256:def (pinned)`
 */
export function verifyHostKey(opts: {
  host: string;
  port: number;
  key: Buffer;
  pin?: string;
  knownHosts?: readonly KnownHostEntry[];
}): VerifyResult {
  const { host, port, key, pin, knownHosts } = opts;
  const label = hostLabel(host, port);
  let fp: string;
  try {
    fp = fingerprint(key);
  } catch (err) {
    return { ok: false, reason: `host key for ${label} is not a valid SSH public key (${(err as Error).message})` };
  }
  const found = knownHosts ? lookupHostKeys(knownHosts, host, port) : { keys: [], revoked: [] };
  if (found.revoked.some((k) => k.equals(key))) {
    return { ok: false, reason: `host key for ${label} is ${fp}, which is revoked in known_hosts` };
  }
  const normPin = pin?.trim().replace(/=+$/, '');
  if (normPin !== undefined && normPin === fp) return { ok: true };
  if (found.keys.some((k) => k.equals(key))) return { ok: true };

  const known = [...new Set(found.keys.map((k) => fingerprint(k)))];
  const knownList = `known: ${known.length > 0 ? known.join(', ') : 'none'}`;
  let reason: string;
  if (normPin !== undefined && knownHosts !== undefined) {
    reason = `host key for ${label} is ${fp}, expected ${normPin} (pinned) or a known_hosts key (${knownList})`;
  } else if (normPin !== undefined) {
    reason = `host key for ${label} is ${fp}, expected ${normPin} (pinned)`;
  } else if (knownHosts !== undefined) {
    reason = `host key for ${label} is ${fp}, not in known_hosts (${knownList})`;
  } else {
    reason = `host key for ${label} is ${fp}, but there is no pin or known_hosts to check it against`;
  }
  if (normPin !== undefined && !normPin.startsWith('SHA256:')) {
    reason += `; the pin should look like SHA256:<base64>`;
  }
  return { ok: false, reason };
}

/**
 * The name OpenSSH looks up in `known_hosts` for a host and port:
 * `host` for port 22, `[host]:port` otherwise (lower-cased, as ssh does).
 */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/**
 * A known_hosts line OpenSSH accepts for `host:port` and a public key given
 * as an OpenSSH line or its wire blob (the comment is dropped).
 */
export function knownHostsLine(host: string, port: number, publicKey: string | Buffer): string {
  const blob = publicKeyBlob(publicKey);
  const type = blobKeyType(blob) ?? '';
  return `${knownHostsName(host, port)} ${type} ${blob.toString('base64')}`;
}
