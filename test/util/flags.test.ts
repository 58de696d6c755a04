import { describe, expect, it } from 'vitest';
import { parseFlags, parseInteger, UsageError, type FlagSpec } from '../../src/util/flags.ts';

const SPEC: FlagSpec = {
  flags: { port: 'value', output: 'value', naive: 'boolean', verbose: 'boolean' },
  alias: { p: 'port', o: 'output', v: 'verbose' },
};

/** The UsageError `fn` throws (fails the test if it throws nothing or something else). */
function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).name).toBe('UsageError');
    return err as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

const entries = (m: Map<string, string | true>): [string, string | true][] => [...m.entries()];

describe('parseFlags', () => {
  it('no arguments: no values, no positionals', () => {
    const r = parseFlags([], SPEC);
    expect(r.values.size).toBe(0);
    expect(r.positionals).toEqual([]);
  });

  it('takes values from the next word and booleans as true, in order', () => {
    const r = parseFlags(['--port', '22', '--naive', 'host', '--output', 'out.bin', 'cmd'], SPEC);
    expect(entries(r.values)).toEqual([
      ['port', '22'],
      ['naive', true],
      ['output', 'out.bin'],
    ]);
    expect(r.positionals).toEqual(['host', 'cmd']);
  });

  it('--x=v takes the inline value, which may be empty or contain = and spaces', () => {
    const r = parseFlags(['--port=2222', '--output=a=b c'], SPEC);
    expect(entries(r.values)).toEqual([
      ['port', '2222'],
      ['output', 'a=b c'],
    ]);
    expect(parseFlags(['--output='], SPEC).values.get('output')).toBe('');
  });

  it('a value may look like a flag (getopt style)', () => {
    const r = parseFlags(['--output', '--naive'], SPEC);
    expect(entries(r.values)).toEqual([['output', '--naive']]);
    expect(r.positionals).toEqual([]);
  });

  it('short aliases map to long names and take their value from the next word', () => {
    const r = parseFlags(['-p', '22', '-o', 'f', '-v', 'x'], SPEC);
    expect(entries(r.values)).toEqual([
      ['port', '22'],
      ['output', 'f'],
      ['verbose', true],
    ]);
    expect(r.positionals).toEqual(['x']);
  });

  it('`--` ends flags: everything after it is positional', () => {
    const r = parseFlags(['--naive', '--', '--port', '22', '-p', '--', 'x'], SPEC);
    expect(entries(r.values)).toEqual([['naive', true]]);
    expect(r.positionals).toEqual(['--port', '22', '-p', '--', 'x']);
    expect(parseFlags(['--'], SPEC).positionals).toEqual([]);
  });

  it('flags may come between positionals', () => {
    const r = parseFlags(['a', '--naive', 'b', '-p', '1', 'c'], SPEC);
    expect(r.positionals).toEqual(['a', 'b', 'c']);
    expect(entries(r.values)).toEqual([
      ['naive', true],
      ['port', '1'],
    ]);
  });

  it('stopAtPositional: the first positional and everything after it are left alone', () => {
    const spec: FlagSpec = { ...SPEC, stopAtPositional: true };
    const r = parseFlags(['-p', '2222', 'host', 'payload', '--pattern', 'random', '-x', '--'], spec);
    expect(entries(r.values)).toEqual([['port', '2222']]);
    expect(r.positionals).toEqual(['host', 'payload', '--pattern', 'random', '-x', '--']);
    // Without it, the same words are an error.
    expect(usageError(() => parseFlags(['-p', '2222', 'host', 'payload', '--pattern'], SPEC)).message).toBe("unknown option '--pattern'");
  });

  it('negative numbers and a lone - are positionals, not options', () => {
    const r = parseFlags(['-1', '-42', '-1.5', '-0', '-'], SPEC);
    expect(r.positionals).toEqual(['-1', '-42', '-1.5', '-0', '-']);
    expect(r.values.size).toBe(0);
    // ...and values.
    expect(parseFlags(['--port', '-5'], SPEC).values.get('port')).toBe('-5');
  });

  describe('errors', () => {
    it.each([
      [['--bogus'], "unknown option '--bogus'"],
      [['--bogus=1'], "unknown option '--bogus'"],
      [['-x'], "unknown option '-x'"],
      [['-xyz'], "unknown option '-xyz'"],
      [['-pp'], "unknown option '-pp'"],
      [['--port'], 'option --port needs a value'],
      [['-p'], 'option --port needs a value'],
      [['a', '--output'], 'option --output needs a value'],
      [['--naive=yes'], 'option --naive takes no value'],
      [['--naive='], 'option --naive takes no value'],
      [['--port', '1', '--port', '2'], 'option --port given twice'],
      [['--port=1', '-p', '2'], 'option --port given twice'],
      [['--naive', '--naive'], 'option --naive given twice'],
      [['-v', '--verbose'], 'option --verbose given twice'],
    ])('%j → %j', (args, message) => {
      expect(usageError(() => parseFlags(args, SPEC)).message).toBe(message);
    });

    it('names the context', () => {
      expect(usageError(() => parseFlags(['--bogus'], SPEC, 'payload')).message).toBe("unknown option '--bogus' for payload");
      expect(usageError(() => parseFlags(['-p'], SPEC, 'run')).message).toBe('option --port needs a value for run');
      expect(usageError(() => parseFlags(['-v', '-v'], SPEC, 'get')).message).toBe('option --verbose given twice for get');
    });

    it('an alias pointing at a flag that does not exist is an unknown option', () => {
      const spec: FlagSpec = { flags: { port: 'value' }, alias: { q: 'quiet' } };
      expect(usageError(() => parseFlags(['-q'], spec)).message).toBe("unknown option '--quiet'");
    });

    it('a huge or multi-line unknown option is echoed clipped, on one line', () => {
      const err = usageError(() => parseFlags([`--${'a'.repeat(1_000_000)}\nrm -rf /`], SPEC, 'payload'));
      expect(err.message).not.toMatch(/[\r\n]/);
      expect(err.message.length).toBeLessThan(100);
      expect(err.message).toBe(`unknown option '--${'a'.repeat(40)}…' for payload`);
      const err2 = usageError(() => parseFlags(['--a\nb'], SPEC));
      expect(err2.message).toBe("unknown option '--a\\nb'");
    });

    // Regression: `spec.flags[name]` reads inherited Object.prototype
    // members, so these are taken as value flags instead of being rejected.
    it('--constructor, --toString, --__proto__ … are unknown options, not inherited properties', () => {
      const accepted: string[] = [];
      for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
        try {
          parseFlags([`--${name}`, 'x'], SPEC);
          accepted.push(name);
        } catch (err) {
          expect(err).toBeInstanceOf(UsageError);
          expect((err as Error).message).toBe(`unknown option '--${name}'`);
        }
      }
      expect(accepted).toEqual([]);
    });
  });
});

describe('parseInteger', () => {
  it.each([
    ['0', 0, 255, 0],
    ['255', 0, 255, 255],
    ['007', 0, 255, 7],
    ['-5', -10, 10, -5],
    ['3600000', 0, 3_600_000, 3_600_000],
    [String(Number.MAX_SAFE_INTEGER), 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ])('parses %j in [%d, %d] as %d', (text, min, max, n) => {
    expect(parseInteger(text, '--n', min, max)).toBe(n);
  });

  it.each([
    ['256', 0, 255],
    ['-1', 0, 255],
    ['1000', 1, 999],
    ['0', 1, 10],
  ])('rejects %j outside [%d, %d], naming the flag and the bounds', (text, min, max) => {
    expect(usageError(() => parseInteger(text, '--exit', min, max)).message).toBe(`--exit must be between ${min} and ${max}, not ${text}`);
  });

  it('rejects integers beyond the safe range even when max allows them', () => {
    const big = '9007199254740993'; // 2^53 + 1
    expect(usageError(() => parseInteger(big, '--n', 0, Number.POSITIVE_INFINITY)).message).toBe(`--n must be between 0 and Infinity, not ${big}`);
  });

  it.each(['', ' 1', '1 ', '1.0', '1e3', '0x10', '+1', '--1', 'abc', '١', '1\n'])('rejects %j as not a whole number', (text) => {
    const err = usageError(() => parseInteger(text, '--delay-ms', 0, 100));
    expect(err.message.startsWith('--delay-ms must be a whole number, not ')).toBe(true);
    expect(err.message).not.toMatch(/[\r\n]/);
  });

  it('clips a long non-number in the message', () => {
    const err = usageError(() => parseInteger('x'.repeat(10_000), '--n', 0, 1));
    expect(err.message).toBe(`--n must be a whole number, not '${'x'.repeat(40)}…'`);
  });

  it('clips a long out-of-range number in the message', () => {
    const digits = '9'.repeat(500);
    const err = usageError(() => parseInteger(digits, '--n', 0, 1));
    expect(err.message).toBe(`--n must be between 0 and 1, not ${'9'.repeat(40)}…`);
  });
});
