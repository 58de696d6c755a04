/**
 * What the send-path patches (src/ssh2/send-path.ts) rely on in ssh2 1.17,
 * as [description, check] pairs for the start-up shape check in internals.ts.
 * Most of it lives inside closures and class bodies ssh2 does not export, so
 * the checks read its source text.
 */
import type { ProtocolInternals, Ssh2Modules } from './internals.js';

/** Cipher classes whose `encrypt` seals the packet in place and writes exactly that packet (or a view of it) once. */
export const IN_PLACE_CIPHERS = ['ChaChaPolyCipherBinding', 'AESGCMCipherBinding', 'GenericCipherBinding'] as const;

/** The body of `class name {` in `source`, up to the next top-level class. */
function classBody(source: string, name: string): string | undefined {
  const start = source.indexOf(`\nclass ${name} {`);
  if (start < 0) return undefined;
  const end = source.indexOf('\nclass ', start + 1);
  return source.slice(start, end < 0 ? undefined : end);
}

/** Every `allocPacket(payloadLen)` body in crypto.js. */
function allocPacketBodies(source: string): string[] {
  return [...source.matchAll(/\n {2}allocPacket\(payloadLen\) \{[\s\S]*?\n {2}\}\n/g)].map((m) => m[0]);
}

/**
 * allocPacket must be a pure function of payloadLen (the patch learns each
 * size's layout from one call): length at 0, padding length at 4, padding
 * from randomFillSync right after the payload, no state changed.
 */
function allocPacketIsPure(source: string): boolean {
  const bodies = allocPacketBodies(source);
  return (
    bodies.length === (source.match(/allocPacket\(payloadLen\) \{/g) ?? []).length &&
    bodies.length >= 7 &&
    bodies.every(
      (b) =>
        b.includes('writeUInt32BE(packet, pktLen - 4, 0);') &&
        b.includes('packet[4] = padLen;') &&
        b.includes('randomFillSync(packet, 5 + payloadLen, padLen);') &&
        b.includes('Buffer.allocUnsafe(pktLen') &&
        !/this\.\w+\s*=[^=]/.test(b),
    )
  );
}

/** The in-place classes write `packet` once, after sealing it in place, and get `_onWrite` from their config. */
function inPlaceCiphersWriteThePacketOnce(source: string): boolean {
  return IN_PLACE_CIPHERS.every((name) => {
    const body = classBody(source, name);
    if (body === undefined) return false;
    const encrypt = /\n {2}encrypt\(packet\) \{[\s\S]*?\n {2}\}\n/.exec(body)?.[0] ?? '';
    return (
      body.includes('this._onWrite = enc.onWrite;') &&
      /this\._instance\.encrypt\(packet[,)]/.test(encrypt) &&
      (encrypt.match(/this\._onWrite\(/g) ?? []).length === 1 &&
      encrypt.includes('this._onWrite(packet);')
    );
  });
}

/** The checks; `proto` makes a fresh Protocol. */
export function sendPathChecks(m: Ssh2Modules, proto: () => ProtocolInternals): [string, () => boolean][] {
  return [
    ['crypto.js allocPacket is no longer a pure function of payloadLen (length, padding length, randomFillSync padding)', () => allocPacketIsPure(m.cryptoSource)],
    [`crypto.js ${IN_PLACE_CIPHERS.join('/')} no longer encrypt in place and write the packet once`, () => inPlaceCiphersWriteThePacketOnce(m.cryptoSource)],
    [
      'a new Protocol has no _cipher with allocPacket/encrypt/_onWrite',
      () => {
        const c = proto()._cipher;
        return typeof c.allocPacket === 'function' && typeof c.encrypt === 'function' && typeof c._onWrite === 'function';
      },
    ],
    [
      "kex.js no longer replaces protocol._cipher via createCipher with the Protocol's _onWrite",
      () => m.kexSource.includes('this._protocol._cipher = createCipher(hsCipherConfig);') && m.kexSource.includes('onWrite: this._protocol._onWrite,'),
    ],
    [
      'server.js/client.js onWrite no longer is `if (isWritable(sock)) sock.write(data)`',
      () => /onWrite: \(data\) => \{\s*if \(isWritable\(socket\)\)\s*socket\.write\(data\);\s*\}/.test(m.serverSource) && /onWrite: \(data\) => \{\s*if \(isWritable\(sock\)\)\s*sock\.write\(data\);\s*\}/.test(m.clientSource),
    ],
    ['utils.js no longer exports isWritable', () => typeof m.isWritable === 'function'],
  ];
}
