import { describe, it, expect } from 'vitest';
import { formatSize, parseSize, SizeError } from '../../src/util/size.ts';

const MAX = Number.MAX_SAFE_INTEGER;

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['007', 7],
    ['4096', 4096],
    ['1K', 1024],
    ['1KiB', 1024],
    ['1kB', 1000],
    ['1KB', 1000],
    ['3M', 3 * 1024 ** 2],
    ['3MiB', 3 * 1024 ** 2],
    ['3MB', 3_000_000],
    ['5G', 5 * 1024 ** 3],
    ['5GiB', 5 * 1024 ** 3],
    ['5GB', 5_000_000_000],
    ['7T', 7 * 1024 ** 4],
    ['7TiB', 7 * 1024 ** 4],
    ['7TB', 7_000_000_000_000],
    ['160KiB', 163_840],
    ['0K', 0],
    ['0TB', 0],
  ])('parses %j as %d', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('accepts exactly Number.MAX_SAFE_INTEGER and the largest multiple of each suffix below it', () => {
    expect(parseSize(String(MAX))).toBe(MAX);
    expect(parseSize(`000${MAX}`)).toBe(MAX);
    expect(parseSize('8191T')).toBe(8191 * 1024 ** 4);
    expect(parseSize('8191TiB')).toBe(8191 * 1024 ** 4);
    expect(parseSize('9007TB')).toBe(9007 * 1000 ** 4);
    expect(parseSize('8388607G')).toBe(8_388_607 * 1024 ** 3);
    expect(parseSize('9007199GB')).toBe(9_007_199 * 1000 ** 3);
    expect(parseSize('8589934591M')).toBe(8_589_934_591 * 1024 ** 2);
    expect(parseSize('9007199254MB')).toBe(9_007_199_254 * 1000 ** 2);
    expect(parseSize('8796093022207K')).toBe(8_796_093_022_207 * 1024);
    expect(parseSize('9007199254740kB')).toBe(9_007_199_254_740 * 1000);
  });

  it.each([
    String(MAX + 1),
    '9007199254740993',
    '99999999999999999999999999999999',
    '8192T',
    '8192TiB',
    '9008TB',
    '8388608G',
    '9007200GB',
    '8589934592M',
    '9007199255MB',
    '8796093022208K',
    '9007199254741kB',
  ])('rejects %j as too large', (text) => {
    expect(() => parseSize(text)).toThrow(SizeError);
    expect(() => parseSize(text)).toThrow(/exceeds the maximum of 9007199254740991 bytes/);
  });

  it.each([
    '',
    ' ',
    ' 1',
    '1 ',
    '1 K',
    '\t1',
    '1\n',
    '\n1',
    '+1',
    '-1',
    '-0',
    '1.5M',
    '1.0',
    '.5',
    '1,000',
    '1_000',
    '1e3',
    '0x10',
    '0b1',
    'Infinity',
    'NaN',
    'K',
    'KiB',
    '1k',
    '1kb',
    '1Kb',
    '1kiB',
    '1KIB',
    '1Ki',
    '1m',
    '1mb',
    '1Mb',
    '1g',
    '1t',
    '1B',
    '1b',
    '1P',
    '1PiB',
    '1E',
    '1KK',
    '1K1',
    '1KiBs',
    '１',
    '١',
  ])('rejects %j', (text) => {
    let error: unknown;
    try {
      parseSize(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SizeError);
    expect(error).toBeInstanceOf(Error);
    const err = error as SizeError;
    expect(err.name).toBe('SizeError');
    expect(err.input).toBe(text);
    expect(err.message).not.toMatch(/[\n\r]/);
    expect(err.message).toMatch(/^invalid size '.*': expected a whole number of bytes with an optional suffix \(K, KiB, kB, KB, M, MiB, MB, G, GiB, GB, T, TiB, TB\)$/);
  });

  it('names the bad input in the message', () => {
    expect(() => parseSize('1.5M')).toThrow(
      "invalid size '1.5M': expected a whole number of bytes with an optional suffix (K, KiB, kB, KB, M, MiB, MB, G, GiB, GB, T, TiB, TB)",
    );
  });

  it('escapes control characters so the message stays on one line', () => {
    expect(() => parseSize('1\nK')).toThrow("invalid size '1\\nK':");
    expect(() => parseSize('a\u0000b\u2028')).toThrow("invalid size 'a\\x00b\\u2028':");
  });

  it('truncates long input to 40 characters', () => {
    const long = 'x'.repeat(39) + 'ABCDEFG';
    expect(() => parseSize(long)).toThrow(`invalid size '${'x'.repeat(39)}A…':`);
    const exactly40 = 'y'.repeat(40);
    expect(() => parseSize(exactly40)).toThrow(`invalid size '${exactly40}':`);
    const hugeNumber = '9'.repeat(100);
    expect(() => parseSize(hugeNumber)).toThrow(`invalid size '${'9'.repeat(40)}…': exceeds`);
  });

  it('throws SizeError for non-string input from untyped callers', () => {
    expect(() => parseSize(undefined as unknown as string)).toThrow(SizeError);
    expect(() => parseSize(12 as unknown as string)).toThrow(SizeError);
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [1075, '1 KiB'], // 1.0498 KiB rounds to 1.0
    [1076, '1.1 KiB'],
    [163_840, '160 KiB'],
    [1_048_575, '1 MiB'], // 1023.999 KiB rounds up into the next unit
    [1_048_576, '1 MiB'],
    [1_572_864, '1.5 MiB'],
    [1_000_000, '976.6 KiB'],
    [2 * 1024 ** 3, '2 GiB'],
    [1024 ** 4 * 3.25, '3.3 TiB'],
    [1024 ** 5, '1 PiB'],
    [Number.MAX_SAFE_INTEGER, '8 PiB'],
    [1024 ** 6 * 5, '5 EiB'],
    [1024 ** 7, '1024 EiB'],
  ])('formats %d as %j', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it('round-trips with parseSize for whole binary units', () => {
    for (const [text, unit] of [
      ['1K', 'KiB'],
      ['17M', 'MiB'],
      ['3G', 'GiB'],
      ['2T', 'TiB'],
    ] as const) {
      expect(formatSize(parseSize(text))).toBe(`${text.slice(0, -1)} ${unit}`);
    }
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects %d', (bytes) => {
    expect(() => formatSize(bytes)).toThrow(RangeError);
  });
});
