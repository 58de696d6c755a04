import { describe, expect, it } from 'vitest';
import { CommandLineError, joinCommand, MAX_COMMAND_LENGTH, quoteWord, splitCommand } from '../../src/openssh/command-line.ts';

describe('splitCommand', () => {
  it('an empty or blank string has no words', () => {
    expect(splitCommand('')).toEqual([]);
    expect(splitCommand('   ')).toEqual([]);
    expect(splitCommand(' \t\r\n ')).toEqual([]);
  });

  it.each([
    ['payload 1MiB', ['payload', '1MiB']],
    ['  payload   1MiB  ', ['payload', '1MiB']],
    ['a\tb\nc\r\nd', ['a', 'b', 'c', 'd']],
    ['one', ['one']],
  ])('splits %j on whitespace', (command, words) => {
    expect(splitCommand(command)).toEqual(words);
  });

  it.each([
    // single quotes: everything literal, including backslashes and double quotes
    [`'a b'`, ['a b']],
    [`'a\\b'`, ['a\\b']],
    [`'say "hi"'`, ['say "hi"']],
    [`'$HOME' '\`id\`'`, ['$HOME', '`id`']],
    [`''`, ['']],
    [`a '' b`, ['a', '', 'b']],
    [`'multi\nline'`, ['multi\nline']],
    // double quotes: only \" \\ \$ \` are escapes
    [`"a b"`, ['a b']],
    [`"a\\"b"`, ['a"b']],
    [`"a\\\\b"`, ['a\\b']],
    [`"\\$HOME"`, ['$HOME']],
    [`"\\\`id\\\`"`, ['`id`']],
    [`"a\\nb"`, ['a\\nb']],
    [`"it's"`, ["it's"]],
    [`""`, ['']],
    // adjacent pieces form one word
    [`a'b'"c"d`, ['abcd']],
    [`--name='x y'`, ['--name=x y']],
  ])('quotes: %j → %j', (command, words) => {
    expect(splitCommand(command)).toEqual(words);
  });

  it.each([
    ['a\\ b', ['a b']],
    ['\\"', ['"']],
    ["\\'", ["'"]],
    ['\\\\', ['\\']],
    ['\\$x', ['$x']],
    ['\\n', ['n']],
    ['a\\\tb', ['a\tb']],
  ])('a backslash outside quotes escapes the next character: %j → %j', (command, words) => {
    expect(splitCommand(command)).toEqual(words);
  });

  it.each([
    ['ab\\\ncd', ['abcd']],
    ['a \\\nb', ['a', 'b']],
    ['a\\\n b', ['a', 'b']],
    ['\\\n', []],
    ['\\\n\\\n', []],
    ['payload \\\n  1MiB \\\n  --pattern random', ['payload', '1MiB', '--pattern', 'random']],
  ])('backslash-newline is a line continuation: %j → %j', (command, words) => {
    expect(splitCommand(command)).toEqual(words);
  });

  it.each([
    [`'abc`, /unterminated single quote/],
    [`a 'b c`, /unterminated single quote/],
    [`"abc`, /unterminated double quote/],
    [`"abc\\"`, /unterminated double quote/],
    [`abc\\`, /lone backslash/],
  ])('rejects %j', (command, message) => {
    expect(() => splitCommand(command)).toThrow(CommandLineError);
    expect(() => splitCommand(command)).toThrow(message);
  });

  it('rejects a NUL byte anywhere, even inside quotes', () => {
    for (const command of ['a\0b', "'a\0b'", '"\0"', '\0']) {
      let caught: unknown;
      try {
        splitCommand(command);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(command)).toBeInstanceOf(CommandLineError);
      expect((caught as Error).name).toBe('CommandLineError');
      expect((caught as Error).message).toBe('command contains a NUL byte');
    }
  });

  it(`accepts exactly ${MAX_COMMAND_LENGTH} characters and rejects one more`, () => {
    expect(MAX_COMMAND_LENGTH).toBe(32768);
    const max = 'x'.repeat(MAX_COMMAND_LENGTH);
    expect(splitCommand(max)).toEqual([max]);
    expect(splitCommand(max)[0]?.length).toBe(32768);
    expect(() => splitCommand(`${max}y`)).toThrow(CommandLineError);
    expect(() => splitCommand(`${max}y`)).toThrow('command is too long (32769 characters, at most 32768)');
    // The message stays short however long the input.
    let caught: Error | undefined;
    try {
      splitCommand('z'.repeat(10 * MAX_COMMAND_LENGTH));
    } catch (err) {
      caught = err as Error;
    }
    expect(caught?.message.length).toBeLessThan(100);
  });

  it('shell operators stay words: `; touch /tmp/x`', () => {
    expect(splitCommand('echo hi; touch /tmp/x')).toEqual(['echo', 'hi;', 'touch', '/tmp/x']);
    expect(splitCommand('; touch /tmp/x')).toEqual([';', 'touch', '/tmp/x']);
    expect(splitCommand('a && b || c | d > e < f & g')).toEqual(['a', '&&', 'b', '||', 'c', '|', 'd', '>', 'e', '<', 'f', '&', 'g']);
  });

  it('nothing is expanded: $(id), `id`, $HOME, globs and ~ stay literal', () => {
    expect(splitCommand('echo $(id)')).toEqual(['echo', '$(id)']);
    expect(splitCommand('"$(id)"')).toEqual(['$(id)']);
    expect(splitCommand('`id` $HOME ${HOME} *.txt ~ ~root')).toEqual(['`id`', '$HOME', '${HOME}', '*.txt', '~', '~root']);
    expect(splitCommand('# not a comment')).toEqual(['#', 'not', 'a', 'comment']);
  });

  it('keeps unicode as is', () => {
    expect(splitCommand('héllo wörld 日本 🎉')).toEqual(['héllo', 'wörld', '日本', '🎉']);
    // Non-ASCII spaces do not separate words.
    expect(splitCommand('a\u00a0b a\u3000b')).toEqual(['a\u00a0b', 'a\u3000b']);
  });
});

describe('quoteWord', () => {
  it.each([
    ['payload', 'payload'],
    ['--pattern=random', '--pattern=random'],
    ['/tmp/a-b_c.txt', '/tmp/a-b_c.txt'],
    ['user@host:22', 'user@host:22'],
  ])('leaves the safe word %j bare', (word, quoted) => {
    expect(quoteWord(word)).toBe(quoted);
  });

  it.each([
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ['$(id)', "'$(id)'"],
    [';', "';'"],
    ['a\nb', "'a\nb'"],
    ['~', "'~'"],
    ['*', "'*'"],
  ])('quotes %j as %j', (word, quoted) => {
    expect(quoteWord(word)).toBe(quoted);
  });
});

/** mulberry32: a tiny deterministic PRNG so failures reproduce. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters the generator draws from: the troublesome ones are over-represented. */
const ALPHABET = [
  ...'abcXYZ019',
  ...'_@%+=:,./-',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r',
  "'",
  "''",
  '"',
  '\\',
  '\\\n',
  '$',
  '`',
  '$(id)',
  ';',
  '&',
  '|',
  '*',
  '?',
  '~',
  '#',
  '!',
  '{',
  '}',
  '(',
  ')',
  '<',
  '>',
  'é',
  'ß',
  '日本',
  '🎉',
  '\u00a0',
  '\u2028',
  '\u0085',
  '\u001b',
  '\u007f',
  '\ufeff',
];

function generateWords(rand: () => number): string[] {
  const count = Math.floor(rand() * 8); // 0..7 words, including none
  const words: string[] = [];
  for (let w = 0; w < count; w++) {
    const r = rand();
    if (r < 0.1) {
      words.push('');
      continue;
    }
    const len = 1 + Math.floor(rand() * 12);
    let word = '';
    for (let i = 0; i < len; i++) word += ALPHABET[Math.floor(rand() * ALPHABET.length)];
    words.push(word);
  }
  return words;
}

describe('joinCommand ⇄ splitCommand', () => {
  it('round-trips 5000 generated word lists (quotes, spaces, empty words, unicode, newlines)', () => {
    const rand = mulberry32(0x5eed);
    let empties = 0;
    let withQuote = 0;
    let withNewline = 0;
    let withUnicode = 0;
    let emptyLists = 0;
    for (let n = 0; n < 5000; n++) {
      const words = generateWords(rand);
      if (words.length === 0) emptyLists++;
      for (const w of words) {
        if (w === '') empties++;
        if (w.includes("'") || w.includes('"')) withQuote++;
        if (w.includes('\n')) withNewline++;
        if ([...w].some((c) => c.charCodeAt(0) > 0x7f)) withUnicode++;
      }
      const joined = joinCommand(words);
      expect(splitCommand(joined), `case ${n}: ${JSON.stringify(words)} joined as ${JSON.stringify(joined)}`).toEqual(words);
    }
    // The generator really produced the hard cases.
    expect(emptyLists).toBeGreaterThan(100);
    expect(empties).toBeGreaterThan(500);
    expect(withQuote).toBeGreaterThan(1000);
    expect(withNewline).toBeGreaterThan(500);
    expect(withUnicode).toBeGreaterThan(1000);
  });

  it('round-trips hand-picked nasty words', () => {
    const words = ['', "'", "''", '"', '\\', '\\\n', "'\\''", ' ', '\n', '$(id)', '; touch /tmp/x', '🎉', '-', '--', 'a=b'];
    expect(splitCommand(joinCommand(words))).toEqual(words);
    for (const w of words) expect(splitCommand(joinCommand([w]))).toEqual([w]);
  });

  it('joins with single spaces and no quoting for safe words', () => {
    expect(joinCommand([])).toBe('');
    expect(joinCommand(['payload', '1MiB', '--pattern', 'random'])).toBe('payload 1MiB --pattern random');
    expect(joinCommand(['echo', 'a b', ''])).toBe("echo 'a b' ''");
  });
});
