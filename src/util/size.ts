/**
 * Byte-size parsing and formatting shared by the CLI and the payload tools.
 *
 * Parsing follows the suffixes `head -c` understands (minus the obscure
 * ones), so a size written for loopssh can be pasted into a shell pipeline
 * that reproduces the same payload.
 */
import { clip } from './text.js';

/** Multipliers for every accepted suffix; case-sensitive on purpose (`kB` ≠ `KB` in some tools, `k` is ambiguous). */
const SUFFIXES: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['K', 1024n],
  ['KiB', 1024n],
  ['kB', 1000n],
  ['KB', 1000n],
  ['M', 1024n ** 2n],
  ['MiB', 1024n ** 2n],
  ['MB', 1000n ** 2n],
  ['G', 1024n ** 3n],
  ['GiB', 1024n ** 3n],
  ['GB', 1000n ** 3n],
  ['T', 1024n ** 4n],
  ['TiB', 1024n ** 4n],
  ['TB', 1000n ** 4n],
]);

const SUFFIX_LIST = 'K, KiB, kB, KB, M, MiB, MB, G, GiB, GB, T, TiB, TB';

// ASCII digits only (so no fullwidth or other-script digits).
// JS `$` (without the `m` flag) matches only at the very end, so a trailing newline is rejected.
const SIZE_RE = /^([0-9]+)(K|KiB|kB|KB|M|MiB|MB|G|GiB|GB|T|TiB|TB)?$/;

/** Longest prefix of the offending input echoed in an error message. */
const ECHO_LIMIT = 40;

/** Thrown by {@link parseSize} for any input that is not a valid size. */
export class SizeError extends Error {
  /** The rejected input, verbatim. */
  readonly input: string;

  /**
   * @param input - the rejected text (echoed, escaped and truncated, in the message)
   * @param reason - what was expected, appended after the echoed input
   */
  constructor(input: string, reason: string) {
    super(`invalid size '${clip(input, ECHO_LIMIT)}': ${reason}`);
    this.name = 'SizeError';
    this.input = input;
  }
}


/**
 * Parses a byte count the way `head -c` takes it: decimal digits, optionally
 * followed by one of `K`/`KiB` (1024), `kB`/`KB` (1000), `M`/`MiB`, `MB`,
 * `G`/`GiB`, `GB`, `T`/`TiB`, `TB`. Suffixes are case-sensitive.
 *
 * @param text - e.g. `"4096"`, `"160KiB"`, `"2GB"`
 * @returns the size in bytes, at most `Number.MAX_SAFE_INTEGER`
 * @throws {@link SizeError} for empty input, signs, whitespace, decimals,
 *   hex, unknown suffixes, or results above `Number.MAX_SAFE_INTEGER`
 */
export function parseSize(text: string): number {
  // Guard against untyped callers (argv parsers, JSON) so they also get a SizeError.
  if (typeof text !== 'string') throw new SizeError(String(text), 'expected a string');
  const match = SIZE_RE.exec(text);
  if (match === null) {
    throw new SizeError(text, `expected a whole number of bytes with an optional suffix (${SUFFIX_LIST})`);
  }
  const digits = (match[1] ?? '').replace(/^0+(?=.)/, '');
  const multiplier = SUFFIXES.get(match[2] ?? '') ?? 1n;
  // BigInt keeps the overflow check exact; the length cut-off avoids converting absurdly long digit strings.
  const tooLong = digits.length > String(Number.MAX_SAFE_INTEGER).length;
  const bytes = tooLong ? 0n : BigInt(digits) * multiplier;
  if (tooLong || bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SizeError(text, `exceeds the maximum of ${Number.MAX_SAFE_INTEGER} bytes`);
  }
  return Number(bytes);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/**
 * Formats a byte count for humans with binary units and at most one decimal,
 * dropping a trailing `.0`: `0 B`, `1023 B`, `160 KiB`, `1.5 MiB`.
 * Values that round up to 1024 of a unit move to the next unit (`1 MiB`, not `1024 KiB`).
 *
 * @param bytes - a finite, non-negative number (fractions below 1 KiB are rounded)
 * @throws RangeError for negative, NaN or infinite input
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`formatSize: invalid byte count ${bytes}`);
  if (Math.round(bytes) < 1024) return `${Math.round(bytes)} B`;
  let unit = 1;
  let value = bytes / 1024;
  while (unit < UNITS.length - 1 && Math.round(value * 10) / 10 >= 1024) {
    value /= 1024;
    unit += 1;
  }
  const rounded = Math.round(value * 10) / 10;
  return `${rounded.toFixed(1).replace(/\.0$/, '')} ${UNITS[unit]}`;
}
