// Pins loopssh issue 15, point 8: authorized_keys options were skipped and
// ignored, so a key restricted by from=/expiry-time=/command= logged in anywhere
// and ran anything.
import { BlockList } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { parseAuthorizedKeys } from '../../src/openssh/authorized-keys.ts';
import { optionsRefusal, parseExpiryTime, parseKeyOptions, type KeyOptions } from '../../src/openssh/key-options.ts';
import { addressAllowed, addressBytes, parseAddressList, type AddressList } from '../../src/openssh/patterns.ts';

function opts(text: string): KeyOptions {
  const o = parseKeyOptions(text);
  if (typeof o === 'string') throw new Error(`expected options, got: ${o}`);
  return o;
}
function list(text: string): AddressList {
  const l = parseAddressList(text);
  if (typeof l === 'string') throw new Error(`expected a list, got: ${l}`);
  return l;
}

describe('parseKeyOptions', () => {
  it('reads from=, expiry-time=, command= and restrict, names case-insensitively', () => {
    const o = opts('FROM="10.9.9.9",expiry-time="19700101",Command="echo \\"denied\\"",restrict,no-pty');
    expect(o.from?.text).toBe('10.9.9.9');
    expect(o.expiresAt?.getTime()).toBe(new Date(1970, 0, 1).getTime());
    expect(o.command).toBe('echo "denied"');
    expect(o.restrict).toBe(true);
  });

  it('keeps a backslash that does not escape a quote', () => {
    expect(opts('command="printf a\\\\nb"').command).toBe('printf a\\\\nb');
  });

  it('refuses options it cannot honour, with the reason', () => {
    const cases: [string, RegExp][] = [
      ['environment="A=b"', /^environment= is not supported/],
      ['cert-authority', /^cert-authority is not supported/],
      ['principals="alice"', /^principals= is not supported/],
      ['verify-required', /^verify-required is not supported/],
      ['frobnicate', /^unknown option "frobnicate"/],
      ['from="10.0.0.1",from="10.0.0.2"', /^more than one from=/],
      ['command="a",command="b"', /^more than one command=/],
      ['from=10.0.0.1', /^from= needs a quoted value/],
      ['command', /^command= needs a quoted value/],
      ['restrict="yes"', /^restrict takes no value/],
      ['expiry-time="2024-01-01"', /^expiry-time="2024-01-01" is not YYYYMMDD/],
      ['from="10.0.0.1/8"', /^from=: "10.0.0.1\/8" has address bits set past \/8/],
      ['from="10.0.0.0/33"', /^from=: bad prefix length/],
      ['from="a,,b"', /^from=: empty element/],
      ['no-pty,,restrict', /^bad option syntax/],
    ];
    for (const [text, re] of cases) {
      const got = parseKeyOptions(text);
      expect(typeof got, text).toBe('string');
      expect(got, text).toMatch(re);
    }
  });

  it('takes the earliest of several expiry-time= options, as OpenSSH', () => {
    expect(opts('expiry-time="20300101Z",expiry-time="20290101Z"').expiresAt?.toISOString()).toBe('2029-01-01T00:00:00.000Z');
  });
});

describe('parseExpiryTime', () => {
  it('reads the three lengths, local or UTC', () => {
    expect(parseExpiryTime('20240229')?.getTime()).toBe(new Date(2024, 1, 29).getTime());
    expect(parseExpiryTime('202402291330')?.getTime()).toBe(new Date(2024, 1, 29, 13, 30).getTime());
    expect(parseExpiryTime('20240229133005Z')?.toISOString()).toBe('2024-02-29T13:30:05.000Z');
  });
  it('refuses dates that do not exist and other shapes', () => {
    for (const bad of ['20230229', '20241301', '20240100', '2024022913', '202402291360', 'tomorrow', '']) {
      expect(parseExpiryTime(bad), bad).toBeUndefined();
    }
  });
});

describe('from= address lists', () => {
  it('matches addresses, CIDR blocks, wildcards and negation as OpenSSH', () => {
    const cases: [string, string, boolean][] = [
      ['10.9.9.9', '127.0.0.1', false],
      ['127.0.0.1', '127.0.0.1', true],
      ['127.0.0.0/8', '127.3.2.1', true],
      ['127.0.0.0/8', '::ffff:127.0.0.1', true], // what a dual-stack socket reports
      ['127.0.0.*', '127.0.0.1', true],
      ['127.0.0.*', '::ffff:127.0.0.1', true],
      ['::ffff:127.0.0.1', '127.0.0.1', false], // as sshd: an IPv6 pattern never matches an IPv4 client
      ['*,!127.0.0.1', '127.0.0.1', false],
      ['!127.0.0.1', '10.0.0.1', false], // negation alone never allows
      ['::1', '::1', true],
      ['fd00::/8', 'fd12:3456::1', true],
      ['fd00::/8', 'fe80::1', false],
      ['localhost', '127.0.0.1', false], // no DNS: names do not match addresses
    ];
    for (const [patterns, address, expected] of cases) {
      expect(addressAllowed(list(patterns), address), `${patterns} vs ${address}`).toBe(expected);
    }
  });

  it('agrees with Node BlockList on random IPv4 and IPv6 blocks', () => {
    // The address shares a random number of leading bits with the block, so
    // both hits and misses near the boundary come up.
    const sample = (size: number) =>
      fc.tuple(fc.uint8Array({ minLength: size, maxLength: size }), fc.uint8Array({ minLength: size, maxLength: size }), fc.integer({ min: 0, max: size * 8 }), fc.integer({ min: 0, max: size * 8 }));
    const bitOf = (b: Uint8Array, i: number): number => ((b[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
    const setBit = (b: Uint8Array, i: number, v: number): void => {
      const mask = 0x80 >> (i & 7);
      b[i >> 3] = v ? (b[i >> 3] ?? 0) | mask : (b[i >> 3] ?? 0) & ~mask;
    };
    const text = (b: Uint8Array): string =>
      b.length === 4 ? Array.from(b).join('.') : Array.from({ length: 8 }, (_, i) => (((b[2 * i] ?? 0) << 8) | (b[2 * i + 1] ?? 0)).toString(16)).join(':');
    for (const size of [4, 16]) {
      fc.assert(
        fc.property(sample(size), ([net, noise, bits, shared]) => {
          for (let i = bits; i < size * 8; i++) setBit(net, i, 0);
          const addr = Uint8Array.from(noise);
          for (let i = 0; i < shared; i++) setBit(addr, i, bitOf(net, i));
          const family = size === 4 ? 'ipv4' : 'ipv6';
          // An IPv4-mapped client address is compared as IPv4 (cases above); keep it out here.
          if (size === 16 && (addressBytes(text(addr)) as Uint8Array).length === 4) return;
          const oracle = new BlockList();
          oracle.addSubnet(text(net), bits, family);
          expect(addressAllowed(list(`${text(net)}/${bits}`), text(addr))).toBe(oracle.check(text(addr), family));
        }),
        { numRuns: 500 },
      );
    }
  });

  it('reads compressed and dotted-quad IPv6 forms', () => {
    expect(Array.from(addressBytes('::1') as Uint8Array)).toEqual([...new Array(15).fill(0), 1]);
    expect(Array.from(addressBytes('64:ff9b::1.2.3.4') as Uint8Array)).toEqual([0, 0x64, 0xff, 0x9b, ...new Array(8).fill(0), 1, 2, 3, 4]);
    expect(Array.from(addressBytes('::ffff:10.1.2.3') as Uint8Array)).toEqual([10, 1, 2, 3]);
    expect(addressBytes('fe80::1%eth0')).toBeUndefined();
    expect(addressBytes('not-an-ip')).toBeUndefined();
  });
});

describe('optionsRefusal', () => {
  it('refuses a key outside from= or past expiry-time=, naming why', () => {
    const o = opts('from="10.9.9.9",expiry-time="19700101"');
    expect(optionsRefusal(o, '127.0.0.1')).toBe('from="10.9.9.9" does not allow 127.0.0.1');
    expect(optionsRefusal(o, '10.9.9.9')).toBe('key expired (expiry-time="19700101")');
    expect(optionsRefusal(o, '10.9.9.9', new Date(1969, 11, 31))).toBeUndefined();
    expect(optionsRefusal(opts('restrict'), '127.0.0.1')).toBeUndefined();
  });
});

describe('parseAuthorizedKeys with options', () => {
  it('lists lines with unusable options as refused instead of using their keys', () => {
    const a = generateKeyPair('a');
    const b = generateKeyPair('b');
    const found = parseAuthorizedKeys(`environment="X=1" ${a.publicKey}\nrestrict,command="id" ${b.publicKey}\n`, 'keys/authorized_keys');
    expect(found.refused).toEqual([
      { line: 1, message: 'keys/authorized_keys line 1: key not used: environment= is not supported (loopssh takes no environment from authorized_keys)' },
    ]);
    expect(found.keys.map((e) => [e.line, e.key.comment, e.options.command])).toEqual([[2, 'b', 'id']]);
  });
});
