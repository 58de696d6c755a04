/**
 * The audit's judge: verdicts from bytes and exit statuses, checked against
 * the independent `lines` oracle (test/helpers/oracle.ts).
 */
import { describe, expect, it } from 'vitest';
import { StreamJudge, byteVerdict, exitMatches, runVerdict } from '../../src/audit/judge.ts';
import type { PayloadSpec } from '../../src/payload/patterns.ts';
import { referenceBytes, sha256 as sha } from '../helpers/oracle.ts';

const oracle = (size: number): Buffer => referenceBytes({ size, pattern: 'lines' });
const spec = (size: number): PayloadSpec => ({ size, pattern: 'lines', seed: '0', stream: 'stdout' });

/** Feeds `data` to a judge in pieces of `piece` bytes. */
function judge(size: number, data: Buffer, piece = 7000) {
  const j = new StreamJudge(spec(size));
  for (let off = 0; off < data.length; off += piece) j.update(data.subarray(off, off + piece));
  return j.facts();
}

describe('StreamJudge and verdicts', () => {
  const size = 100_000;
  const sent = oracle(size);

  it('exact: every byte, same SHA-256 as the oracle', () => {
    const f = judge(size, sent);
    expect(f).toEqual({ expectedBytes: size, expectedSha256: sha(sent), receivedBytes: size, receivedSha256: sha(sent), firstDifference: undefined });
    expect(byteVerdict(f)).toBe('exact');
  });

  it('truncated: an exact prefix, and where it stopped', () => {
    const f = judge(size, sent.subarray(0, 65_536));
    expect([f.receivedBytes, f.receivedSha256, f.firstDifference]).toEqual([65_536, sha(sent.subarray(0, 65_536)), undefined]);
    expect(byteVerdict(f)).toBe('truncated');
  });

  it('corrupted: the first differing offset', () => {
    const bad = Buffer.from(sent);
    bad[40_001] = 0x41;
    const f = judge(size, bad);
    expect([f.receivedBytes, f.firstDifference]).toEqual([size, 40_001]);
    expect(byteVerdict(f)).toBe('corrupted');
  });

  it('duplicated: a replayed piece makes it longer than what was sent', () => {
    const replayed = Buffer.concat([sent.subarray(0, 50_000), sent.subarray(30_000, 50_000), sent.subarray(50_000)]);
    const f = judge(size, replayed);
    // Records 30,000 and 50,000 share their first ten digits ("0000000000"),
    // so the first byte that differs is 10 past the replay.
    expect([f.receivedBytes, f.firstDifference]).toEqual([size + 20_000, 50_010]);
    expect(byteVerdict(f)).toBe('duplicated');
    // Exactly twice the data, no byte wrong: still duplicated.
    expect(byteVerdict(judge(size, Buffer.concat([sent, sent])))).toBe('duplicated');
  });

  it('exit statuses: exact code, any failure for nonzero, a timeout never matches', () => {
    expect(exitMatches({ code: 7 }, { code: 7, timedOut: false })).toBe(true);
    expect(exitMatches({ code: 7 }, { code: 0, timedOut: false })).toBe(false);
    expect(exitMatches('nonzero', { code: 255, timedOut: false })).toBe(true);
    expect(exitMatches('nonzero', { code: 0, timedOut: false })).toBe(false);
    expect(exitMatches('nonzero', { signal: 'SIGKILL', timedOut: false })).toBe(true);
    expect(exitMatches({ code: 0 }, { code: 0, timedOut: true })).toBe(false);
  });

  it('run verdict: hung first, then the worse stream, then the exit status', () => {
    const ok = judge(size, sent);
    const short = judge(size, sent.subarray(0, 10));
    expect(runVerdict(ok, undefined, { code: 0 }, { code: 0, timedOut: false })).toBe('exact');
    expect(runVerdict(ok, undefined, { code: 0 }, { code: 3, timedOut: false })).toBe('wrong exit status');
    expect(runVerdict(ok, short, { code: 0 }, { code: 3, timedOut: false })).toBe('truncated');
    expect(runVerdict(short, undefined, { code: 0 }, { code: 0, timedOut: true })).toBe('hung');
  });

  it('failureOk (SFTP early EOF, lying stat): a non-zero exit with no file or an exact prefix is exact; exit 0 with a short file is not', () => {
    const none = judge(size, Buffer.alloc(0));
    const short = judge(size, sent.subarray(0, 10));
    const bad = judge(size, Buffer.concat([sent.subarray(0, 9), Buffer.from([sent[9]! ^ 1])]));
    expect(runVerdict(none, undefined, { code: 0 }, { code: 1, timedOut: false }, true)).toBe('exact');
    expect(runVerdict(short, undefined, { code: 0 }, { code: 1, timedOut: false }, true)).toBe('exact');
    expect(runVerdict(short, undefined, { code: 0 }, { code: 0, timedOut: false }, true)).toBe('truncated');
    expect(runVerdict(bad, undefined, { code: 0 }, { code: 1, timedOut: false }, true)).toBe('corrupted');
    expect(runVerdict(none, undefined, { code: 0 }, { code: 1, timedOut: true }, true)).toBe('hung');
    expect(runVerdict(none, undefined, { code: 0 }, { code: 1, timedOut: false })).toBe('truncated');
  });
});
