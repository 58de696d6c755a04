/**
 * Untrusted input echoed in one-line error messages.
 */

/** One code point as shown: control and invisible line-breaking characters escaped. */
function shownChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (ch === '\\') return '\\\\';
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  // C0, DEL, C1 (U+0085 is a line break, U+009B a terminal escape), and the Unicode line/paragraph separators.
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) {
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  }
  return ch;
}

/**
 * Renders untrusted input for a one-line message: at most `max` code points
 * (whole characters, never half a surrogate pair), control and other
 * invisible line-breaking characters escaped, so the message never spans
 * lines or hides what was typed.
 */
export function clip(input: string, max = 40): string {
  const points = Array.from(input);
  return points.slice(0, max).map(shownChar).join('') + (points.length > max ? '…' : '');
}

/**
 * Renders a whole line that may hold peer-supplied text (a server's
 * DISCONNECT message, a signal name) for a terminal: nothing cut, but no
 * character that could move the cursor, start an escape sequence or break
 * the line (C0, DEL, C1, CR, LF, U+2028/9) gets through unescaped.
 */
export function escapeText(input: string): string {
  return Array.from(input, shownChar).join('');
}
