import { describe, expect, it } from 'vitest';
import { clip } from '../../src/util/text.ts';

describe('clip', () => {
  it('returns short text unchanged', () => {
    expect(clip('')).toBe('');
    expect(clip('hello')).toBe('hello');
    expect(clip('x'.repeat(40))).toBe('x'.repeat(40));
  });

  it('cuts long text to max characters plus an ellipsis', () => {
    expect(clip('x'.repeat(41))).toBe(`${'x'.repeat(40)}…`);
    expect(clip('x'.repeat(1_000_000))).toHaveLength(41);
    expect(clip('abcdef', 3)).toBe('abc…');
  });

  it('escapes C0 control characters and backslashes, keeping one line', () => {
    expect(clip('a\nb\rc\td')).toBe('a\\nb\\rc\\td');
    expect(clip('\u001b[31mred')).toBe('\\x1b[31mred');
    expect(clip('\0')).toBe('\\x00');
    expect(clip('"\\')).toBe('"\\\\');
    const long = clip('line1\n'.repeat(100_000));
    expect(long).not.toMatch(/[\r\n]/);
    // 40 input characters, each escape at most 6 output characters, then '…'.
    expect(long).toBe(`${'line1\\n'.repeat(6)}line…`);
  });

  it('keeps printable unicode', () => {
    expect(clip('héllo 日本 🎉')).toBe('héllo 日本 🎉');
  });

  // Regression: JSON.stringify escapes only U+0000–U+001F, so U+0085
  // (NEL), U+2028 and U+2029 (line/paragraph separators) pass through raw:
  // the message is not one line for anything that honours Unicode line breaks.
  it('escapes the Unicode line breaks NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR', () => {
    const shown = clip('a\u0085b\u2028c\u2029d');
    expect(shown.split(/\r\n|[\n\r\u0085\u2028\u2029]/)).toHaveLength(1);
  });

  // Regression (same cause): DEL and C1 controls (e.g. U+009B, the 8-bit CSI that
  // some terminals honour) are echoed raw; util/size.ts escapes them.
  it('escapes DEL and C1 control characters', () => {
    expect(clip('a\u007fb\u009b31mc\u0080d')).not.toMatch(/[\u007f-\u009f]/);
  });
});
