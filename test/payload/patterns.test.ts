import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { sha256 } from '../helpers/oracle.ts';
import {
  createPayloadReader,
  LINES_MAX_SIZE,
  LINES_RECORD_BYTES,
  opensslCommand,
  PATTERNS,
  payloadDigest,
  randomPatternKey,
  type PatternName,
  type PayloadReader,
  type PayloadSpec,
} from '../../src/payload/patterns.ts';

const OPENSSL = '/usr/bin/openssl';
const MiB = 1024 * 1024;
const ZERO_IV = '0'.repeat(32);
/** 12345 full records plus 9 bytes of the next one. */
const PARTIAL_LINES_SIZE = 16 * 12_345 + 9;
const SIZES = [0, 1, 15, 16, 17, 1000, 999_999, 1_000_000, 1_000_001, 2 * MiB + 5, PARTIAL_LINES_SIZE];
const STREAMS = ['stdout', 'stderr'] as const;

function spec(pattern: PatternName, size: number, stream: 'stdout' | 'stderr' = 'stdout', seed = 'test-seed'): PayloadSpec {
  return { pattern, size, seed, stream };
}

/**
 * Drains a reader with a fixed target size. Checks on every call that read()
 * returns min(target, remaining), advances position, and leaves the tail of
 * the target untouched (plain throws: this loop may run millions of times).
 */
function readAll(reader: PayloadReader, chunkSize = 256 * 1024): Buffer {
  const out = Buffer.alloc(reader.remaining);
  const chunk = Buffer.alloc(chunkSize);
  const start = reader.position;
  let filled = 0;
  for (;;) {
    const before = reader.remaining;
    const guardAt = Math.min(chunkSize, before);
    // Poison the whole target so a read that skips bytes cannot pass on leftovers.
    chunk.fill(0xa5);
    const n = reader.read(chunk);
    if (n !== guardAt) throw new Error(`read returned ${n}, expected ${guardAt}`);
    if (reader.remaining !== before - n) throw new Error('remaining did not shrink by n');
    if (reader.position !== start + filled + n) throw new Error('position did not advance by n');
    if (guardAt < chunkSize && chunk.subarray(guardAt).some((b) => b !== 0xa5)) {
      throw new Error('read wrote past the returned count');
    }
    if (n === 0) break;
    chunk.copy(out, filled, 0, n);
    filled += n;
  }
  if (filled !== out.length) throw new Error(`read ${filled} bytes, expected ${out.length}`);
  return out;
}

/** Asserts equal length, equal SHA-256 and reports the first differing offset. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  let firstDiff = -1;
  if (!actual.equals(expected)) {
    firstDiff = 0;
    while (actual[firstDiff] === expected[firstDiff]) firstDiff++;
  }
  expect(firstDiff, `first differing byte at offset ${firstDiff}`).toBe(-1);
  expect(sha256(actual)).toBe(sha256(expected));
}

/** Reference `lines` bytes [start, end): a plain per-record loop. */
function expectedLines(start: number, end: number): Buffer {
  const first = Math.floor(start / 16);
  const last = Math.ceil(end / 16);
  const parts: string[] = [];
  for (let k = first; k < last; k++) parts.push(`${String(16 * k).padStart(15, '0')}\n`);
  const base = first * 16;
  return Buffer.from(parts.join(''), 'latin1').subarray(start - base, end - base);
}

/** Reference key, derived here without the module under test. */
function referenceKeyHex(seed: string, stream: 'stdout' | 'stderr'): string {
  const label = stream === 'stderr' ? `loopssh-seed:${seed}:stderr` : `loopssh-seed:${seed}`;
  return createHash('sha256').update(label).digest().subarray(0, 16).toString('hex');
}

/** The real openssl pipeline; `counter` selects the initial counter block (default 0). */
function opensslKeystream(size: number, keyHex: string, counter = 0n): Buffer {
  const iv = counter.toString(16).padStart(32, '0');
  return execFileSync('sh', ['-c', `head -c ${size} /dev/zero | ${OPENSSL} enc -aes-128-ctr -K ${keyHex} -iv ${iv}`], {
    maxBuffer: size + MiB,
  });
}

function runShell(command: string, size: number): Buffer {
  return execFileSync('sh', ['-c', command], { maxBuffer: size + MiB });
}

describe('PATTERNS', () => {
  it('lists every pattern once', () => {
    expect([...PATTERNS]).toEqual(['zero', 'lines', 'random']);
    expect(Object.isFrozen(PATTERNS)).toBe(true);
  });
});

describe('zero pattern', () => {
  it.each(SIZES)('matches Buffer.alloc at size %d (stdout and stderr)', (size) => {
    for (const stream of STREAMS) {
      expectSameBytes(readAll(createPayloadReader(spec('zero', size, stream))), Buffer.alloc(size));
    }
  });

  it('overwrites whatever the target held', () => {
    const target = Buffer.alloc(100, 0xff);
    expect(createPayloadReader(spec('zero', 60)).read(target)).toBe(60);
    expectSameBytes(target.subarray(0, 60), Buffer.alloc(60));
    expectSameBytes(target.subarray(60), Buffer.alloc(40, 0xff));
  });
});

describe('lines pattern', () => {
  it('starts with the documented records', () => {
    const bytes = readAll(createPayloadReader(spec('lines', 32)));
    expect(bytes.toString('latin1')).toBe('000000000000000\n000000000000016\n');
  });

  it.each(SIZES)('matches a per-record loop at size %d (stdout and stderr)', (size) => {
    const expected = expectedLines(0, size);
    for (const stream of STREAMS) {
      expectSameBytes(readAll(createPayloadReader(spec('lines', size, stream))), expected);
    }
  });

  it('cuts the last record at size', () => {
    const bytes = readAll(createPayloadReader(spec('lines', PARTIAL_LINES_SIZE)));
    expect(bytes.length).toBe(PARTIAL_LINES_SIZE);
    expect(bytes.subarray(-25).toString('latin1')).toBe('000000000197504\n000000000');
  });

  it('matches the loop across 12 consecutive blocks (including the 9 -> 10 carry)', () => {
    const size = 12_000_003;
    expectSameBytes(readAll(createPayloadReader(spec('lines', size)), 1_048_573), expectedLines(0, size));
  });

  it.each([
    [1_000_000 - 40_000, 1_000_000 + 40_008],
    [10_000_000 - 40_007, 10_000_000 + 40_000],
    [999_000_000 - 1_000, 1_001_000_000 + 1_000], // high digits 000000999 -> 000001000 -> 000001001
    [99_999_999_999_000 - 17, 100_000_001_000_000 + 3],
  ])('matches the loop for a reader started at %d and read up to %d', (start, end) => {
    const reader = createPayloadReader(spec('lines', end), start);
    expect(reader.position).toBe(start);
    expectSameBytes(readAll(reader, 65_537), expectedLines(start, end));
  });

  it('gives the same bytes for odd target sizes as for one big read', () => {
    const size = 2 * MiB + 5;
    const whole = readAll(createPayloadReader(spec('lines', size)), size);
    expectSameBytes(whole, expectedLines(0, size));
    for (const chunk of [7, 4097, MiB]) {
      expectSameBytes(readAll(createPayloadReader(spec('lines', size)), chunk), whole);
    }
    // 1-byte reads around the first block boundary (kept short: one call per byte).
    const start = 1_000_000 - 70_001;
    expectSameBytes(readAll(createPayloadReader(spec('lines', 1_000_000 + 70_003), start), 1), whole.subarray(start, 1_070_003));
  });

  it('odd target sizes around 10^7 match one big read', () => {
    const start = 10_000_000 - 1_500_003;
    const end = 10_000_000 + 1_500_001;
    const whole = readAll(createPayloadReader(spec('lines', end), start), end - start);
    expectSameBytes(whole, expectedLines(start, end));
    for (const chunk of [7, 4097, MiB]) {
      expectSameBytes(readAll(createPayloadReader(spec('lines', end), start), chunk), whole);
    }
    expectSameBytes(readAll(createPayloadReader(spec('lines', 10_000_000 + 20_000), 10_000_000 - 20_000), 1), expectedLines(10_000_000 - 20_000, 10_000_000 + 20_000));
  });

  it('has the right record at offset 16*123456789 when streamed from 0 in big chunks', () => {
    const target = 16 * 123_456_789;
    const size = target + 16;
    const reader = createPayloadReader(spec('lines', size));
    const chunk = Buffer.alloc(4 * MiB + 3);
    const record = (offset: number) => `${String(offset).padStart(15, '0')}\n`;
    let pos = 0;
    let checked = 0;
    let lastN = 0;
    for (let n = reader.read(chunk); n > 0; n = reader.read(chunk)) {
      lastN = n;
      // Spot-check the first, middle and last whole record of every chunk.
      const firstRec = Math.ceil(pos / 16) * 16;
      const lastRec = Math.floor((pos + n) / 16) * 16 - 16;
      const midRec = firstRec + Math.floor((lastRec - firstRec) / 32) * 16;
      for (const at of [firstRec, midRec, lastRec]) {
        if (at < pos || at + 16 > pos + n) continue;
        const got = chunk.toString('latin1', at - pos, at - pos + 16);
        if (got !== record(at)) expect(got, `record at ${at}`).toBe(record(at));
        checked++;
      }
      pos += n;
    }
    expect(pos).toBe(size);
    expect(checked).toBeGreaterThan(3 * 400);
    const last = chunk.toString('latin1', lastN - 16, lastN);
    expect(last).toBe('000001975308624\n');
    expect(last).toBe(record(target));
    // Same record via the start offset.
    expect(readAll(createPayloadReader(spec('lines', size), target)).toString('latin1')).toBe(record(target));
  });

  it('reaches exactly LINES_MAX_SIZE and rejects one byte more', () => {
    expect(LINES_MAX_SIZE).toBe(10 ** 15);
    const reader = createPayloadReader(spec('lines', LINES_MAX_SIZE), LINES_MAX_SIZE - 48);
    expect(readAll(reader).toString('latin1')).toBe('999999999999952\n999999999999968\n999999999999984\n');
    expect(() => createPayloadReader(spec('lines', LINES_MAX_SIZE + 1))).toThrow(RangeError);
    expect(() => payloadDigest(spec('lines', LINES_MAX_SIZE + 1))).toThrow(RangeError);
    expect(() => opensslCommand(spec('lines', LINES_MAX_SIZE + 1))).toThrow(RangeError);
  });
});

describe('random pattern', () => {
  it('derives the documented keys', () => {
    for (const seed of ['', 'test-seed', 'ünïcødé']) {
      for (const stream of STREAMS) {
        const key = randomPatternKey(seed, stream);
        expect(key.length).toBe(16);
        expect(key.toString('hex')).toBe(referenceKeyHex(seed, stream));
      }
    }
    expect(randomPatternKey('a', 'stdout').equals(randomPatternKey('a', 'stderr'))).toBe(false);
  });

  it.each(SIZES)('matches the openssl enc -aes-128-ctr pipeline at size %d (stdout and stderr)', (size) => {
    for (const stream of STREAMS) {
      const expected = opensslKeystream(size, referenceKeyHex('test-seed', stream));
      expect(expected.length).toBe(size);
      expectSameBytes(readAll(createPayloadReader(spec('random', size, stream))), expected);
      expect(payloadDigest(spec('random', size, stream))).toBe(sha256(expected));
    }
  });

  it('differs between streams and seeds', () => {
    const size = 4096;
    const a = readAll(createPayloadReader(spec('random', size, 'stdout', 'one')));
    const b = readAll(createPayloadReader(spec('random', size, 'stderr', 'one')));
    const c = readAll(createPayloadReader(spec('random', size, 'stdout', 'two')));
    expect(sha256(a)).not.toBe(sha256(b));
    expect(sha256(a)).not.toBe(sha256(c));
    expect(sha256(b)).not.toBe(sha256(c));
  });

  it('gives the same bytes for odd target sizes as for one big read', () => {
    const size = 2 * MiB + 5;
    const whole = opensslKeystream(size, referenceKeyHex('test-seed', 'stdout'));
    for (const chunk of [7, 4097, MiB, size]) {
      expectSameBytes(readAll(createPayloadReader(spec('random', size)), chunk), whole);
    }
    expectSameBytes(readAll(createPayloadReader(spec('random', 100_003)), 1), whole.subarray(0, 100_003));
  });

  it('seeks with a start offset (counter = offset / 16, big-endian) like openssl -iv', () => {
    const keyHex = referenceKeyHex('test-seed', 'stderr');
    const whole = opensslKeystream(200_000, keyHex);
    for (const start of [1, 15, 16, 17, 12_345, 65_536, 65_537, 199_999, 200_000]) {
      const reader = createPayloadReader(spec('random', 200_000, 'stderr'), start);
      expectSameBytes(readAll(reader, 4097), whole.subarray(start));
    }
    for (const counter of [0xffff_fffen, 0x1234_5678_9abn, BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 16)) - 4n]) {
      const expected = opensslKeystream(64, keyHex, counter);
      const start = Number(counter) * 16 + 5;
      const reader = createPayloadReader(spec('random', start + 59, 'stderr'), start);
      expectSameBytes(readAll(reader), expected.subarray(5));
    }
  });
});

describe('start offset (all patterns)', () => {
  it.each(PATTERNS)('%s: a reader from start yields the tail of the full stream', (pattern) => {
    const size = 2 * MiB + 5;
    const whole = readAll(createPayloadReader(spec(pattern, size)));
    for (const start of [0, 1, 15, 16, 17, 999_999, 1_000_000, 1_000_001, size - 1, size]) {
      const reader = createPayloadReader(spec(pattern, size), start);
      expect(reader.size).toBe(size);
      expect(reader.position).toBe(start);
      expect(reader.remaining).toBe(size - start);
      expectSameBytes(readAll(reader, 300_001), whole.subarray(start));
    }
  });

  it('accepts sizes up to Number.MAX_SAFE_INTEGER for zero and random', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expectSameBytes(readAll(createPayloadReader(spec('zero', max), max - 33)), Buffer.alloc(33));
    const counter = BigInt(Math.floor((max - 33) / 16));
    const keystream = opensslKeystream(64, referenceKeyHex('test-seed', 'stdout'), counter);
    const skip = (max - 33) % 16;
    expectSameBytes(readAll(createPayloadReader(spec('random', max), max - 33)), keystream.subarray(skip, skip + 33));
  });
});

describe('PayloadReader bookkeeping', () => {
  it.each(PATTERNS)('%s: tracks position/remaining and returns 0 at the end', (pattern) => {
    const reader = createPayloadReader(spec(pattern, 40));
    expect([reader.size, reader.position, reader.remaining]).toEqual([40, 0, 40]);
    expect(reader.read(Buffer.alloc(0))).toBe(0);
    expect(reader.position).toBe(0);
    expect(reader.read(Buffer.alloc(25))).toBe(25);
    expect([reader.position, reader.remaining]).toEqual([25, 15]);
    const big = Buffer.alloc(64, 0xee);
    expect(reader.read(big)).toBe(15);
    expectSameBytes(big.subarray(15), Buffer.alloc(49, 0xee));
    expect([reader.position, reader.remaining]).toEqual([40, 0]);
    expect(reader.read(big)).toBe(0);
    expect(reader.read(big)).toBe(0);
    expect(reader.position).toBe(40);
  });

  it('rejects invalid specs and start offsets', () => {
    for (const size of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => createPayloadReader(spec('zero', size))).toThrow(RangeError);
      expect(() => payloadDigest(spec('random', size))).toThrow(RangeError);
      expect(() => opensslCommand(spec('zero', size))).toThrow(RangeError);
    }
    expect(() => createPayloadReader(spec('ones' as PatternName, 1))).toThrow(TypeError);
    expect(() => createPayloadReader({ ...spec('zero', 1), stream: 'stdin' as 'stdout' })).toThrow(TypeError);
    for (const start of [-1, 11, 0.5, Number.NaN]) {
      expect(() => createPayloadReader(spec('lines', 10), start)).toThrow(RangeError);
    }
    expect(createPayloadReader(spec('lines', 10), 10).read(Buffer.alloc(4))).toBe(0);
  });
});

describe('payloadDigest', () => {
  it('is the SHA-256 of the empty string for size 0', () => {
    for (const pattern of PATTERNS) {
      expect(payloadDigest(spec(pattern, 0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    }
  });

  it.each(PATTERNS)('%s: equals sha256 of the bytes read', (pattern) => {
    for (const size of [1, 17, 1_000_001, 2 * MiB + 5]) {
      for (const stream of STREAMS) {
        const digest = payloadDigest(spec(pattern, size, stream));
        expect(digest).toMatch(/^[0-9a-f]{64}$/);
        expect(digest).toBe(sha256(readAll(createPayloadReader(spec(pattern, size, stream)))));
      }
    }
  });

  it('matches independent references for zero and lines', () => {
    const size = 3_000_007;
    expect(payloadDigest(spec('zero', size))).toBe(sha256(Buffer.alloc(size)));
    expect(payloadDigest(spec('lines', size))).toBe(sha256(expectedLines(0, size)));
  });
});

describe('opensslCommand', () => {
  it('prints the documented command lines', () => {
    const key = referenceKeyHex('test-seed', 'stderr');
    expect(opensslCommand(spec('zero', 17))).toBe('head -c 17 /dev/zero');
    expect(opensslCommand(spec('lines', 17))).toBe("seq -f '%015.0f' 0 16 16 | head -c 17");
    expect(opensslCommand(spec('lines', 32))).toBe("seq -f '%015.0f' 0 16 16 | head -c 32");
    expect(opensslCommand(spec('random', 17, 'stderr'))).toBe(
      `head -c 17 /dev/zero | openssl enc -aes-128-ctr -K ${key} -iv ${ZERO_IV}`,
    );
  });

  it.each(PATTERNS)('%s: the command reproduces the stream in a shell', (pattern) => {
    for (const size of [0, 1, 15, 16, 17, 1_000_001, PARTIAL_LINES_SIZE]) {
      for (const stream of STREAMS) {
        const s = spec(pattern, size, stream);
        const output = runShell(opensslCommand(s), size);
        expect(output.length).toBe(size);
        expect(sha256(output)).toBe(payloadDigest(s));
      }
    }
  });
});

describe('record geometry', () => {
  it('uses 16-byte records', () => {
    expect(LINES_RECORD_BYTES).toBe(16);
  });
});
