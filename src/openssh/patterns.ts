/**
 * OpenSSH pattern lists: `*`/`?` wildcards (ssh_config(5) "PATTERNS") and the
 * address lists of `from=` in `authorized_keys`, where an element may also be
 * a CIDR block (`10.0.0.0/8`, `fd00::/8`) and `!` negates.
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * OpenSSH wildcard match (`*` = any sequence, `?` = any one character) of a
 * whole string; both sides are expected lower-cased.
 */
export function wildcardMatch(s: string, p: string): boolean {
  let si = 0;
  let pi = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    const pc = p[pi];
    if (pc === '*') {
      starP = pi++;
      starS = si;
    } else if (pc !== undefined && (pc === '?' || pc === s[si])) {
      pi++;
      si++;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/** The bytes of an IP address as written (4 for IPv4, 16 for IPv6), or undefined. */
function rawAddressBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let body = text;
  const tail: number[] = [];
  // An embedded dotted quad is the last 32 bits.
  const quad = /:(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (quad) {
    tail.push(...(quad[1] ?? '').split('.').map(Number));
    body = `${body.slice(0, quad.index)}:0:0`;
  }
  const [head = '', rest] = body.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return bytes;
}

/**
 * The bytes of a client's IP address (4 for IPv4, 16 for IPv6). An
 * IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what a dual-stack socket
 * reports) gives its 4 IPv4 bytes, as sshd normalises it, so IPv4 patterns
 * match it. (Patterns are taken as written: `::ffff:…` in a pattern is IPv6.)
 *
 * @returns undefined when `text` is not an IP address
 */
export function addressBytes(text: string): Uint8Array | undefined {
  const bytes = rawAddressBytes(text);
  if (bytes === undefined || bytes.length === 4) return bytes;
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

/** A parsed `addr/len` block. */
interface Cidr {
  network: Uint8Array;
  bits: number;
}

/**
 * Parses `addr` or `addr/len`.
 *
 * @returns the block; undefined when `text` is not an address (then it is a
 *   wildcard pattern); a string saying what is wrong when it is an address
 *   with a bad length or with bits set past the length (OpenSSH refuses
 *   "inconsistent mask length" too)
 */
function parseCidr(text: string): Cidr | string | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const network = rawAddressBytes(addr);
  if (network === undefined) return undefined;
  const max = network.length * 8;
  if (slash < 0) return { network, bits: max };
  const lenText = text.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(bits >= 0 && bits <= max)) return `bad prefix length in "${text}"`;
  for (let bit = bits; bit < max; bit++) {
    if ((network[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) return `"${text}" has address bits set past /${bits}`;
  }
  return { network, bits };
}

function inCidr(addr: Uint8Array, { network, bits }: Cidr): boolean {
  if (addr.length !== network.length) return false;
  for (let bit = 0; bit < bits; bit++) {
    const mask = 0x80 >> (bit & 7);
    if (((addr[bit >> 3] ?? 0) & mask) !== ((network[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

/** One element of an address pattern list. */
interface AddressPattern {
  negated: boolean;
  /** A CIDR block, or a lower-cased wildcard pattern matched against the address text. */
  match: Cidr | string;
}

/** A parsed `from=` list; see {@link parseAddressList}. */
export interface AddressList {
  /** The list as written. */
  readonly text: string;
  readonly patterns: readonly AddressPattern[];
}

/**
 * Parses a comma-separated address pattern list as `from=` takes it:
 * elements are addresses, CIDR blocks or wildcard patterns, each optionally
 * negated with `!`.
 *
 * @returns the list, or a one-line reason it is unusable
 */
export function parseAddressList(text: string): AddressList | string {
  const patterns: AddressPattern[] = [];
  for (const part of text.split(',')) {
    const negated = part.startsWith('!');
    const body = (negated ? part.slice(1) : part).trim().toLowerCase();
    if (body === '') return `empty element in "${text}"`;
    const cidr = parseCidr(body);
    if (typeof cidr === 'string') return cidr;
    patterns.push({ negated, match: cidr ?? body });
  }
  return { text, patterns };
}

/**
 * Whether a client address passes an address list, as OpenSSH's
 * `match_host_and_ip` with `UseDNS no`: a matching negated element refuses,
 * otherwise some element must match. Host names are never looked up, so
 * only wildcard elements (e.g. `127.0.0.*`) match against the address text.
 */
export function addressAllowed(list: AddressList, address: string): boolean {
  const bytes = addressBytes(address);
  // A mapped IPv4 address is matched by its plain IPv4 text too.
  const textForm = bytes?.length === 4 ? Array.from(bytes).join('.') : address.toLowerCase();
  let allowed = false;
  for (const { negated, match } of list.patterns) {
    const hit = typeof match === 'string' ? wildcardMatch(textForm, match) : bytes !== undefined && inCidr(bytes, match);
    if (!hit) continue;
    if (negated) return false;
    allowed = true;
  }
  return allowed;
}
