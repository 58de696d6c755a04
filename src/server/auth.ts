/**
 * Who may log in: public keys from `authorized_keys` (with their options
 * enforced and, optionally, bound to user names) and configured passwords.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthContext } from 'ssh2';
import { parseAuthorizedKeys, type AuthorizedKey } from '../openssh/authorized-keys.js';
import { fingerprint } from '../openssh/key-format.js';
import { optionsRefusal } from '../openssh/key-options.js';
import type { ServerOptions } from './types.js';

/** An authorized key and the one user name it is bound to, if any. */
export interface ServerKey extends AuthorizedKey {
  /** The only user name this key logs in as; undefined: any name. */
  user?: string;
}

/** What the server authenticates against. */
export interface AuthPolicy {
  readonly authorized: readonly ServerKey[];
  readonly passwords?: ServerOptions['passwords'];
  readonly users?: ServerOptions['users'];
}

/** The outcome of one authentication request. */
export interface AuthOutcome {
  accepted: boolean;
  /** The `authorized_keys` entry that let a key in (for its forced command). */
  key?: ServerKey;
  /** Why a known key was refused by its options (`from=`, `expiry-time=`), for one log line. */
  refusal?: string;
}

/**
 * Parses `authorizedKeys` as {@link ServerOptions} takes it: one text or a
 * list of lines (the keys log in as any user name), or a record from user
 * name to that user's keys (each key logs in as that name only). Only the
 * record's own properties count, so `__proto__` is a name like any other.
 *
 * @param refused - receives a one-line message per line whose options cannot be honoured
 */
export function parseServerKeys(
  authorizedKeys: NonNullable<ServerOptions['authorizedKeys']>,
  source: string,
  refused: (message: string) => void,
): ServerKey[] {
  const text = (keys: string | readonly string[]): string => (typeof keys === 'string' ? keys : keys.join('\n'));
  const parse = (keys: string | readonly string[], label: string, user?: string): ServerKey[] => {
    const found = parseAuthorizedKeys(text(keys), label);
    for (const line of found.refused) refused(line.message);
    return found.keys.map((k) => (user === undefined ? k : { ...k, user }));
  };
  if (typeof authorizedKeys === 'string' || Array.isArray(authorizedKeys)) return parse(authorizedKeys as string | readonly string[], source);
  return Object.entries(authorizedKeys as Readonly<Record<string, string | readonly string[]>>).flatMap(([user, keys]) =>
    parse(keys, `${source} of user ${JSON.stringify(user)}`, user),
  );
}

/**
 * Decides one authentication request: a key that is authorized for this
 * user name, allowed by its options from `address` now, and (once the client
 * signs) whose signature verifies; or a password configured for exactly this
 * name. `none` is never accepted.
 *
 * @param address - the client's IP address, for `from=`
 */
export function authenticate(policy: AuthPolicy, ctx: AuthContext, address: string, now: Date = new Date()): AuthOutcome {
  if (policy.users && !policy.users.includes(ctx.username)) return { accepted: false };
  if (ctx.method === 'publickey') {
    let refusal: string | undefined;
    // As OpenSSH: the first line whose key matches and whose options allow this login counts.
    for (const entry of policy.authorized) {
      if (entry.user !== undefined && entry.user !== ctx.username) continue;
      if (entry.key.type !== ctx.key.algo || !sameBytes(entry.key.getPublicSSH(), ctx.key.data)) continue;
      const why = optionsRefusal(entry.options, address, now);
      if (why !== undefined) {
        refusal ??= `key ${fingerprint(ctx.key.data)} (line ${entry.line}) refused: ${why}`;
        continue;
      }
      if (!ctx.signature) return { accepted: true, key: entry };
      return entry.key.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo) === true ? { accepted: true, key: entry } : { accepted: false };
    }
    return { accepted: false, refusal };
  }
  if (ctx.method === 'password' && policy.passwords) {
    // Own properties only: `__proto__` or `constructor` must not find Object.prototype's.
    const expected = Object.hasOwn(policy.passwords, ctx.username) ? policy.passwords[ctx.username] : undefined;
    return { accepted: typeof expected === 'string' && samePassword(ctx.password, expected) };
  }
  return { accepted: false };
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time password check: hashing first makes the lengths equal. */
function samePassword(given: string, expected: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}
