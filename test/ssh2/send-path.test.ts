/**
 * The send-path levers of src/ssh2/ (loopssh issue 14): pooled padding
 * randomness, reused packet buffers, one writev per burst. Unit tests of the
 * pool and the slabs, and a real ssh2 server and client over an in-memory
 * wire whose writes complete late, checking every byte that was handed to
 * the socket is unchanged until its write called back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import ssh2, { type CipherAlgorithm, type CompressionAlgorithm } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { assertSsh2Shape, MIN_SLAB_PACKET, PacketSlabs, PaddingPool, SLAB_BYTES, packetSlabs, parseSendLevers, patchConnectionSendPath, type SendLevers } from '../../src/ssh2/index.ts';
import { execDigest, type ExecDigest } from '../helpers/hostile-ssh2.ts';
import { MiB, within } from '../helpers/stress.ts';

describe('PaddingPool: CSPRNG bytes, each handed out once, refilled when used up', () => {
  it('hands out consecutive unused bytes, skips a too-short rest and refills', () => {
    // A counter as the "CSPRNG": fill k writes bytes k*64 + i, so every byte says where it came from.
    let fills = 0;
    const pool = new PaddingPool(64, (b) => {
      for (let i = 0; i < b.length; i++) b[i] = (fills * 64 + i) & 0xff;
      fills++;
    });
    expect(fills).toBe(0); // nothing drawn before the first packet
    const got: number[] = [];
    const dst = Buffer.alloc(40);
    for (const n of [4, 19, 16, 19, 8]) {
      pool.take(dst, 3, n);
      got.push(...dst.subarray(3, 3 + n));
    }
    // 4+19+16+19 = 58 bytes from fill 0; 8 more do not fit in the 6 left: fill 1 starts at its byte 0.
    expect(fills).toBe(2);
    expect(got).toEqual([...Array.from({ length: 58 }, (_, i) => i), ...Array.from({ length: 8 }, (_, i) => 64 + i)]);
  });

  it('with the real CSPRNG, 4,000 paddings of 16 bytes across several refills are all different', () => {
    const pool = new PaddingPool(4096);
    const seen = new Set<string>();
    const dst = Buffer.alloc(16);
    for (let i = 0; i < 4000; i++) {
      pool.take(dst, 0, 16);
      seen.add(dst.toString('hex'));
    }
    expect(seen.size).toBe(4000);
  });
});

describe('PacketSlabs: a buffer comes back only through its write callback', () => {
  it('is reused after done(), not before; an errored or doubly written one is never reused', () => {
    const slabs = new PacketSlabs(4);
    expect(slabs.take(MIN_SLAB_PACKET - 1)).toBeUndefined();
    expect(slabs.take(SLAB_BYTES + 1)).toBeUndefined();
    const a = slabs.take(32_800) as Buffer;
    expect(a.length).toBe(32_800);
    const slabA = slabs.claimForWrite(a);
    expect(slabA).toBeDefined();
    // Not returned yet: the next packet gets a different buffer.
    const b = slabs.take(32_800) as Buffer;
    expect(b.buffer).not.toBe(a.buffer);
    slabA?.done();
    const c = slabs.take(32_800) as Buffer;
    expect(c.buffer).toBe(a.buffer);
    expect(c).toBe(a); // same size: the same view object, no allocation
    expect(slabs.stats).toEqual({ created: 2, reused: 1 });
    // An errored write: the slab is dropped.
    slabs.claimForWrite(c)?.done(new Error('EPIPE'));
    // Written twice before the first completed: retired, not reused.
    const slabB = slabs.claimForWrite(b);
    expect(slabs.claimForWrite(b)).toBeUndefined();
    slabB?.done();
    const d = slabs.take(32_800) as Buffer;
    expect([d.buffer === a.buffer, d.buffer === b.buffer]).toEqual([false, false]);
    expect(slabs.claimForWrite(Buffer.alloc(32_800))).toBeUndefined();
  });
});

describe('the start-up shape check covers what the send path relies on', () => {
  it.each([
    ['cryptoSource', 'randomFillSync(packet, 5 + payloadLen, padLen);', 'randomFillSync(packet, 6 + payloadLen, padLen);', /crypto\.js allocPacket is no longer a pure function of payloadLen/],
    ['cryptoSource', 'this._onWrite(packet);', 'this._onWrite(Buffer.from(packet));', /crypto\.js ChaChaPolyCipherBinding\/AESGCMCipherBinding\/GenericCipherBinding no longer encrypt in place/],
    ['serverSource', 'socket.write(data);', 'socket.write(data, cb);', /server\.js\/client\.js onWrite no longer is/],
    ['kexSource', 'onWrite: this._protocol._onWrite,', 'onWrite: other,', /kex\.js no longer replaces protocol\._cipher/],
  ] as const)('%s: %s changed → one line', (field, from, to, message) => {
    const real = assertSsh2Shape();
    expect(real[field].includes(from)).toBe(true);
    const changed = { ...real, [field]: real[field].replaceAll(from, to) };
    expect(() => assertSsh2Shape(() => changed)).toThrow(message);
    expect(() => assertSsh2Shape(() => changed)).toThrow(/^loopssh: ssh2 1\.17\.\d+ has an unexpected shape: .* — loopssh was checked against 1\.17\.0$/);
  });
});

describe('LOOPSSH_SEND_PATH', () => {
  it('parses lever lists; a bad word is one line naming it', () => {
    expect(parseSendLevers('none')).toEqual({ pad: false, reuse: false, cork: false });
    expect(parseSendLevers('all')).toEqual({ pad: true, reuse: true, cork: true });
    expect(parseSendLevers(' pad, cork ')).toEqual({ pad: true, reuse: false, cork: true });
    expect(() => parseSendLevers('pad,turbo')).toThrow(/^loopssh: LOOPSSH_SEND_PATH: unknown lever 'turbo' \(a comma list of pad, reuse, cork, or all, none\)$/);
  });
});

/**
 * Two connected in-memory stream ends. The server end counts its writes as a
 * socket would make them (one per _write or _writev call), and checks each
 * buffer handed to its write() is unchanged when written and again just
 * before the callback; with `late`, callbacks come a setImmediate later.
 */
function wire(late: boolean): { server: Duplex; client: Duplex; checked: { writes: number; bytes: number; changed: number } } {
  const checked = { writes: 0, bytes: 0, changed: 0 };
  const snapshots: Buffer[] = [];
  const client: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      const copy = Buffer.from(chunk);
      setImmediate(() => server.push(copy));
      cb();
    },
  });
  const take = (chunks: Buffer[], cb: (err?: Error | null) => void): void => {
    const snaps = chunks.map((chunk) => {
      const snap = snapshots.shift() as Buffer;
      if (!snap.equals(chunk)) checked.changed++;
      return snap;
    });
    const complete = (): void => {
      chunks.forEach((chunk, i) => {
        if (!(snaps[i] as Buffer).equals(chunk)) checked.changed++;
        checked.bytes += chunk.length;
        const copy = Buffer.from(chunk); // the kernel copies too
        setImmediate(() => client.push(copy)); // the peer reads later, never inside our write
      });
      checked.writes++;
      cb();
    };
    if (late) setImmediate(complete);
    else complete();
  };
  const server: Duplex = new Duplex({
    read() {},
    write: (chunk: Buffer, _enc, cb) => take([chunk], cb),
    writev: (chunks, cb) => take(chunks.map((c) => c.chunk as Buffer), cb),
  });
  const write = server.write.bind(server) as (chunk: Buffer, ...rest: unknown[]) => boolean;
  (server as { write: unknown }).write = (chunk: Buffer, ...rest: unknown[]): boolean => {
    snapshots.push(Buffer.from(chunk));
    return write(chunk, ...rest);
  };
  return { server, client, checked };
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A plain ssh2 server with `levers`, over {@link wire}, sending `data` on one exec channel in 256 KiB writes. */
async function sendThroughWire(data: Buffer, levers: SendLevers, cipher: CipherAlgorithm, compress: CompressionAlgorithm, late = true): Promise<ExecDigest & { checked: ReturnType<typeof wire>['checked'] }> {
  const hostKey = generateKeyPair('send-path-host');
  const { server: serverEnd, client: clientEnd, checked } = wire(late);
  const server = new ssh2.Server({ hostKeys: [hostKey.privateKey], algorithms: { cipher: [cipher], compress: [compress] } }, (conn) => {
    patchConnectionSendPath(conn, levers);
    conn.on('error', () => {});
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('session', (accept) => {
      accept().on('exec', (acceptExec) => {
        const channel = acceptExec();
        const next = (offset: number): void => {
          if (offset >= data.length) {
            channel.exit(0);
            channel.end();
            return;
          }
          channel.write(data.subarray(offset, offset + 256 * 1024), () => next(offset + 256 * 1024));
        };
        next(0);
      });
    });
  });
  server.injectSocket(serverEnd as never);
  const client = new ssh2.Client();
  closers.push(() => client.end());
  const result = new Promise<ExecDigest>((resolve, reject) => {
    client.on('error', reject);
    client.on('ready', () => execDigest(client, 'send').then(resolve, reject));
  });
  client.connect({ sock: clientEnd as never, username: 'x', password: 'y', algorithms: { cipher: [cipher], compress: [compress] } });
  return { ...(await within(result, 30_000, 'transfer')), checked };
}

describe('a real ssh2 server with the levers, writes completing late (loopssh issue 14)', () => {
  const data = randomBytes(6 * MiB);
  // The oracle: node's SHA-256 of the buffer the server was given, not of anything the patch touched.
  const expected = createHash('sha256').update(data).digest('hex');
  const cases: [CipherAlgorithm, CompressionAlgorithm][] = [
    ['aes128-gcm@openssh.com', 'none'],
    ['chacha20-poly1305@openssh.com', 'none'],
    ['aes128-ctr', 'none'],
    ['aes128-gcm@openssh.com', 'zlib@openssh.com'],
  ];
  it.each(cases)('%s, compression %s: every byte, no buffer changed before its write called back, slabs reused', async (cipher, compress) => {
    const before = packetSlabs.stats.reused;
    const r = await sendThroughWire(data, { pad: true, reuse: true, cork: true }, cipher, compress);
    expect([r.code, r.bytes, r.sha256]).toEqual([0, data.length, expected]);
    expect(r.checked.changed).toBe(0);
    // The check had something to catch: many writes, and packets were served from reused slabs.
    expect(r.checked.bytes).toBeGreaterThan(data.length);
    expect(packetSlabs.stats.reused - before).toBeGreaterThan(100);
  });

  it('with cork, the packets of one 256 KiB channel write leave in one socket write, not one each', async () => {
    // Writes completing at once, as on loopback: without cork each packet is its own write.
    const corked = await sendThroughWire(data, { pad: false, reuse: false, cork: true }, 'aes128-gcm@openssh.com', 'none', false);
    const plain = await sendThroughWire(data, { pad: false, reuse: false, cork: false }, 'aes128-gcm@openssh.com', 'none', false);
    expect([corked.code, corked.sha256, plain.code, plain.sha256]).toEqual([0, expected, 0, expected]);
    expect(corked.checked.changed + plain.checked.changed).toBe(0);
    // 6 MiB in 32 KiB packets: at least 192 writes without cork; 8 packets per 256 KiB write with it.
    expect(plain.checked.writes).toBeGreaterThanOrEqual(192);
    expect(corked.checked.writes).toBeLessThanOrEqual(plain.checked.writes / 4);
  });
});
