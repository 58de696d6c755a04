/**
 * The options field of an `authorized_keys` line (sshd(8) "AUTHORIZED_KEYS
 * FILE FORMAT"): parsed, and checked for one login.
 *
 * What loopssh does with each option:
 * - enforced: `from="pattern-list"` (client address; no DNS, as `UseDNS no`),
 *   `expiry-time="timespec"`, `command="..."` (a forced command: it runs
 *   instead of what the client asked, which is passed in the environment as
 *   `SSH_ORIGINAL_COMMAND`);
 * - accepted, already true of loopssh: `restrict`, `no-pty`,
 *   `no-port-forwarding`, `no-agent-forwarding`, `no-X11-forwarding`,
 *   `no-user-rc` (loopssh offers no pty, forwarding, agent, X11 or rc files);
 * - accepted, granting nothing here: `pty`, `port-forwarding`,
 *   `agent-forwarding`, `X11-forwarding`, `user-rc`, `permitopen=`,
 *   `permitlisten=`, `tunnel=`;
 * - refused (the line's key cannot log in, and the server says why):
 *   `environment=`, `cert-authority`, `principals=`, `no-touch-required`,
 *   `verify-required`, and any other option.
 *
 * @module
 */
import { addressAllowed, parseAddressList, type AddressList } from './patterns.js';

/** The options of one `authorized_keys` line that loopssh acts on. */
export interface KeyOptions {
  /** `from=`: addresses the key may log in from. */
  from?: AddressList;
  /** `expiry-time=`: the key is refused after this instant. */
  expiresAt?: Date;
  /** The `expiry-time=` value as written, for messages. */
  expiryText?: string;
  /** `command=`: the forced command. */
  command?: string;
  /** `restrict` was given (everything it turns off is off in loopssh anyway). */
  restrict: boolean;
}

/** Options that only turn off what loopssh never offers, or grant what it never offers. */
const NO_EFFECT_FLAGS = new Set([
  'restrict',
  'no-pty',
  'no-port-forwarding',
  'no-agent-forwarding',
  'no-x11-forwarding',
  'no-user-rc',
  'pty',
  'port-forwarding',
  'agent-forwarding',
  'x11-forwarding',
  'user-rc',
]);
const NO_EFFECT_VALUES = new Set(['permitopen', 'permitlisten', 'tunnel']);
/** Options loopssh cannot honour, with the reason a line carrying one is refused. */
const REFUSED: Record<string, string> = {
  environment: 'environment= is not supported (loopssh takes no environment from authorized_keys)',
  'cert-authority': 'cert-authority is not supported (loopssh does not accept certificates)',
  principals: 'principals= is not supported (loopssh does not accept certificates)',
  'no-touch-required': 'no-touch-required is not supported (no security keys)',
  'verify-required': 'verify-required is not supported (no security keys)',
};
const VALUE_OPTIONS = new Set(['from', 'expiry-time', 'command', 'environment', 'principals', 'permitopen', 'permitlisten', 'tunnel']);

/**
 * Parses `expiry-time`'s timespec: `YYYYMMDD[HHMM[SS]]`, local time, or UTC
 * with a trailing `Z`, as OpenSSH does.
 *
 * @returns the instant, or undefined when the text is not such a time
 */
export function parseExpiryTime(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/i.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((v) => (v === undefined ? 0 : Number(v))) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const date = m[7] ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : new Date(y, mo - 1, d, h, mi, s);
  // Date rolls 20240231 over to March: refuse days a month does not have.
  const day = m[7] ? date.getUTCDate() : date.getDate();
  return day === d ? date : undefined;
}

/**
 * Parses the options field of an `authorized_keys` line (the text before the
 * key type, e.g. `from="10.0.0.0/8",command="uptime",restrict`). Names are
 * case-insensitive; inside a quoted value `\"` is a quote.
 *
 * @returns the options, or a one-line reason the line's key must not be used
 */
export function parseKeyOptions(text: string): KeyOptions | string {
  const options: KeyOptions = { restrict: false };
  let i = 0;
  while (i < text.length) {
    const nameMatch = /^[A-Za-z0-9-]+/.exec(text.slice(i));
    const name = (nameMatch?.[0] ?? '').toLowerCase();
    if (name === '') return `bad option syntax at "${text.slice(i, i + 20)}"`;
    i += name.length;
    let value: string | undefined;
    if (text[i] === '=') {
      if (text[i + 1] !== '"') return `${name}= needs a quoted value`;
      let j = i + 2;
      let out = '';
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && text[j + 1] === '"') j++;
        out += text[j];
      }
      if (j >= text.length) return `unterminated quote in ${name}=`;
      value = out;
      i = j + 1;
    }
    if (i < text.length) {
      if (text[i] !== ',') return `bad option syntax after ${name}`;
      i++;
    }
    if (Object.hasOwn(REFUSED, name)) return REFUSED[name] as string;
    if (VALUE_OPTIONS.has(name) !== (value !== undefined)) {
      return VALUE_OPTIONS.has(name) ? `${name}= needs a quoted value` : `${name} takes no value`;
    }
    if (NO_EFFECT_FLAGS.has(name)) {
      if (name === 'restrict') options.restrict = true;
    } else if (NO_EFFECT_VALUES.has(name)) {
      // Forwarding and tunnel limits: loopssh forwards nothing.
    } else if (name === 'from') {
      if (options.from) return 'more than one from= option';
      const list = parseAddressList(value as string);
      if (typeof list === 'string') return `from=: ${list}`;
      options.from = list;
    } else if (name === 'expiry-time') {
      const at = parseExpiryTime(value as string);
      if (!at) return `expiry-time="${value}" is not YYYYMMDD[HHMM[SS]][Z]`;
      // As OpenSSH: of several, the earliest counts.
      if (!options.expiresAt || at < options.expiresAt) {
        options.expiresAt = at;
        options.expiryText = value;
      }
    } else if (name === 'command') {
      if (options.command !== undefined) return 'more than one command= option';
      options.command = value;
    } else {
      return `unknown option "${name}"`;
    }
  }
  return options;
}

/**
 * Whether the options let a key log in now from `address`.
 *
 * @returns undefined when they do, else a one-line reason
 */
export function optionsRefusal(options: KeyOptions, address: string, now: Date = new Date()): string | undefined {
  if (options.from && !addressAllowed(options.from, address)) return `from="${options.from.text}" does not allow ${address}`;
  if (options.expiresAt && now > options.expiresAt) return `key expired (expiry-time="${options.expiryText}")`;
  return undefined;
}
