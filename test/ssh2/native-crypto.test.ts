/**
 * ssh2's native crypto binding: built by `npm install` (package.json's
 * allowScripts lets npm 11 run ssh2's install script; loopssh issue 9).
 */
import { describe, expect, it } from 'vitest';
import { nativeCryptoAvailable, nativeCryptoWarning } from '../../src/ssh2/native-crypto.ts';

describe('native crypto check', () => {
  it('reads a boolean from ssh2 1.17', () => {
    expect(typeof nativeCryptoAvailable()).toBe('boolean');
  });

  it('under CI the install built the binding, so npm start prints no warning', (ctx) => {
    if (!process.env.CI) ctx.skip('only CI guarantees a full npm ci with install scripts');
    expect(nativeCryptoAvailable()).toBe(true);
    expect(nativeCryptoWarning()).toBeUndefined();
  });

  it('the warning, when the binding is missing, is one line naming the fix', () => {
    const warning = nativeCryptoWarning();
    if (nativeCryptoAvailable()) {
      expect(warning).toBeUndefined();
    } else {
      expect(warning).toMatch(/^note: ssh2's native crypto binding was not built.*npm rebuild ssh2`\.$/);
      expect(warning).not.toContain('\n');
    }
  });
});
