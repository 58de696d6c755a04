/**
 * Whether ssh2's native crypto binding was built at install time. Without it
 * ssh2 falls back to pure-JS crypto, silently and 3–4× slower. The flag is
 * not public API: `ssh2/lib/protocol/crypto.js` exports `bindingAvailable`
 * in ssh2 1.17 (checked here; any other shape reads as "unknown").
 */
import { createRequire } from 'node:module';

/** true/false when ssh2 says, undefined when its shape is not the one known. */
export function nativeCryptoAvailable(): boolean | undefined {
  try {
    const crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: unknown };
    return typeof crypto.bindingAvailable === 'boolean' ? crypto.bindingAvailable : undefined;
  } catch {
    return undefined;
  }
}

/** The one line `npm start` prints when the binding is missing, else undefined. */
export function nativeCryptoWarning(): string | undefined {
  if (nativeCryptoAvailable() !== false) return undefined;
  return (
    "note: ssh2's native crypto binding was not built (its install script did not run or failed), " +
    'so ssh2 uses pure-JS crypto: same bytes, 3-4x slower. Rebuild it with `npm rebuild ssh2`.'
  );
}
