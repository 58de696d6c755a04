/**
 * Exec request strings ⇄ argument vectors, without a shell.
 *
 * An SSH exec request carries one string. OpenSSH's sshd hands it to the
 * user's shell; loopssh never does: it splits the string into words with the
 * quoting rules of a POSIX shell (quotes and backslashes only, no expansion,
 * no globbing, no operators), so `; touch /tmp/x` is just three more words.
 */

/** A command string that cannot be split (unbalanced quote, NUL byte, too long). */
export class CommandLineError extends Error {
  override readonly name = 'CommandLineError';
}

/**
 * Longest exec request accepted, in UTF-16 code units. ssh2 refuses packets
 * over 35,000 bytes before we see them, so longer ones never arrive anyway.
 */
export const MAX_COMMAND_LENGTH = 32 * 1024;

/**
 * Splits an exec request into words: whitespace separates; `'...'` is literal;
 * `"..."` honours `\"`, `\\`, `\$` and `` \` ``; a backslash outside quotes
 * escapes the next character. Nothing is expanded.
 */
export function splitCommand(command: string): string[] {
  if (command.length > MAX_COMMAND_LENGTH) {
    throw new CommandLineError(`command is too long (${command.length} characters, at most ${MAX_COMMAND_LENGTH})`);
  }
  if (command.includes('\0')) throw new CommandLineError('command contains a NUL byte');
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new CommandLineError('unterminated single quote in command');
      word += command.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; ; i++) {
        if (i >= command.length) throw new CommandLineError('unterminated double quote in command');
        const d = command[i] as string;
        if (d === '"') break;
        const next = command[i + 1];
        if (d === '\\' && (next === '"' || next === '\\' || next === '$' || next === '`')) {
          word += next;
          i++;
        } else {
          word += d;
        }
      }
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= command.length) throw new CommandLineError('command ends with a lone backslash');
      i++;
      // Backslash-newline is a line continuation, as in a shell.
      if (command[i] !== '\n') word += command[i];
      inWord = inWord || command[i] !== '\n';
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word so that {@link splitCommand} (and a POSIX shell) reads it back unchanged. */
export function quoteWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Joins words into one exec request string; the inverse of {@link splitCommand}. */
export function joinCommand(words: readonly string[]): string {
  return words.map(quoteWord).join(' ');
}
