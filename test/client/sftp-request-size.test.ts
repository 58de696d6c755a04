/**
 * loopssh issue 11 (bench: `sftp put` ~49 MB/s): the default SFTP request
 * size. ssh2's client cuts a READ/WRITE above `_maxReadLen`/`_maxWriteLen`
 * (31 952 bytes for a server that is not OpenSSH, loopssh serve among them)
 * into two requests answered one after the other, so 32 KiB chunks cost two
 * round trips and two server operations each. The default now fits one
 * request and one SSH packet; uploads cut from a stream are whole requests
 * but the last, never a sliver at each source chunk's end.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SftpWriteStream } from '../../src/client/sftp/write-stream.ts';
import { sftpPacketFit } from '../../src/ssh2/index.ts';
import { startFixture, type Fixture } from '../helpers/fixture.ts';

describe('sftpPacketFit', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await startFixture();
  });
  afterEach(() => f.stop());

  it('against loopssh serve: 31 952 bytes both ways, the most ssh2 sends as one request, and one 32 KiB packet with the header', async () => {
    const o = f.server.clientOptions();
    const client = new ssh2.Client();
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
      client.once('error', reject);
      client.once('ready', () => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
      client.connect({ host: o.host, port: o.port, username: o.user, privateKey: o.privateKey });
    });
    try {
      const handle = Buffer.alloc(4);
      const fit = sftpPacketFit(sftp, handle);
      expect(fit).toEqual({ read: 31_952, write: 31_952, writeLimit: 31_952 });
      // A DATA reply (13-byte header) and a WRITE (25 bytes + the handle) stay within one 32 KiB packet.
      expect(fit.read + 13).toBeLessThanOrEqual(32 * 1024);
      expect(fit.write + 25 + handle.length).toBeLessThanOrEqual(32 * 1024);
    } finally {
      client.end();
    }
  });

  it("an OpenSSH-sized ssh2 limit leaves the packet as the bound: 32 KiB less each message's header", () => {
    const fake = { _maxReadLen: 256 * 1024 - 2048, _maxWriteLen: 256 * 1024 - 2048, incoming: { packetSize: 32_768 }, outgoing: { packetSize: 32_768 } };
    expect(sftpPacketFit(fake, Buffer.alloc(4))).toEqual({ read: 32_768 - 13, write: 32_768 - 25 - 4, writeLimit: 256 * 1024 - 2048 });
  });
});

/**
 * The private fields src/ssh2/sftp-write.ts reads, with a spent window: every
 * WRITE then takes ssh2's write() path, which the stand-ins below emulate
 * (the framed path is tested in test/ssh2/sftp-write.test.ts).
 */
const ssh2Fields = (maxWriteLen?: number): object => ({ _requests: {}, _writeReqid: -1, _maxWriteLen: maxWriteLen ?? Infinity, _buffer: [], outgoing: { id: 0, window: 0, state: 'open', packetSize: 32_768 } });

/** An ssh2 SFTP client stand-in that records WRITEs and answers them on the next tick. */
function recordingSftp(): { sftp: SFTPWrapper; writes: [number, number][]; closed: () => boolean } {
  const writes: [number, number][] = [];
  let closed = false;
  const fake = Object.assign(new EventEmitter(), ssh2Fields(), {
    write(_h: Buffer, buf: Buffer, off: number, len: number, position: number, cb: (err?: Error) => void) {
      expect(off).toBe(0);
      expect(len).toBe(buf.length);
      writes.push([position, len]);
      setImmediate(() => cb());
    },
    close(_h: Buffer, cb: (err?: Error) => void) {
      closed = true;
      setImmediate(() => cb());
    },
  });
  return { sftp: fake as unknown as SFTPWrapper, writes, closed: () => closed };
}

describe('SftpWriteStream', () => {
  // Review finding (loopssh issue 11): every full piece of one source chunk
  // went out at once, so a 1 MiB file read or a whole Buffer put thousands of
  // WRITEs in flight and loopssh serve refused those past its queue limit.
  it('one large source chunk: never more than `requests` WRITEs in flight; byte-exact, in order', async () => {
    const image = Buffer.alloc(100_000);
    let inFlight = 0;
    let most = 0;
    const fake = Object.assign(new EventEmitter(), ssh2Fields(), {
      write(_h: Buffer, buf: Buffer, off: number, len: number, position: number, cb: (err?: Error) => void) {
        buf.copy(image, position, off, off + len);
        most = Math.max(most, ++inFlight);
        setImmediate(() => {
          inFlight--;
          cb();
        });
      },
      close(_h: Buffer, cb: (err?: Error) => void) {
        setImmediate(() => cb());
      },
    });
    const w = new SftpWriteStream(fake as unknown as SFTPWrapper, Buffer.alloc(4), 64, 4);
    const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 31) % 253));
    await new Promise<void>((resolve, reject) => w.once('finish', resolve).once('error', reject).end(data));
    expect(most).toBe(4);
    expect([w.acknowledged, createHash('sha256').update(image).digest('hex')]).toEqual([data.length, createHash('sha256').update(data).digest('hex')]);
  });

  it('cuts 100-byte source chunks into whole 64-byte WRITEs, in order, the short one last; CLOSE after the last ack', async () => {
    const { sftp, writes, closed } = recordingSftp();
    const w = new SftpWriteStream(sftp, Buffer.alloc(4), 64, 4);
    for (let i = 0; i < 10; i++) w.write(Buffer.alloc(100, i));
    w.end();
    await new Promise<void>((resolve, reject) => w.once('finish', resolve).once('error', reject));
    expect(writes.map(([, len]) => len)).toEqual([...Array<number>(15).fill(64), 40]);
    expect(writes.map(([pos]) => pos)).toEqual(writes.map((_, i) => i * 64));
    expect(w.acknowledged).toBe(1000);
    expect(closed()).toBe(true);
  });

  /**
   * A stand-in that keeps the file's bytes: like ssh2, it copies a WRITE's
   * bytes when write() is called, except past `maxWriteLen`, where ssh2 reads
   * the rest of the caller's buffer only after the first part's answer.
   */
  function fileSftp(maxWriteLen?: number): { sftp: SFTPWrapper; image: Buffer[]; buffersSeen: Set<ArrayBufferLike> } {
    const image: Buffer[] = [];
    const buffersSeen = new Set<ArrayBufferLike>();
    const put = (buf: Buffer, position: number): void => {
      for (let i = 0; i < buf.length; i++) image[position + i] = Buffer.from([buf[i] as number]);
    };
    const fake = Object.assign(new EventEmitter(), ssh2Fields(maxWriteLen), {
      write(_h: Buffer, buf: Buffer, off: number, len: number, position: number, cb: (err?: Error) => void) {
        buffersSeen.add(buf.buffer);
        const now = Math.min(len, maxWriteLen ?? len);
        put(Buffer.from(buf.subarray(off, off + now)), position);
        setImmediate(() => {
          if (now < len) put(Buffer.from(buf.subarray(off + now, off + len)), position + now);
          cb();
        });
      },
      close(_h: Buffer, cb: (err?: Error) => void) {
        setImmediate(() => cb());
      },
    });
    return { sftp: fake as unknown as SFTPWrapper, image, buffersSeen };
  }
  const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  /** Chunk i of the sources below: 100 bytes of (7·i + k) mod 251. */
  const fill = (buf: Buffer, i: number): Buffer => {
    for (let k = 0; k < buf.length; k++) buf[k] = (7 * i + k) % 251;
    return buf;
  };
  // The oracle, built apart from the stream: the 300 chunks one after the other.
  const ORACLE = Buffer.concat(Array.from({ length: 300 }, (_, i) => fill(Buffer.alloc(100), i)));
  /** Writes the 300 chunks from one 100-byte buffer refilled after each write callback, then ends; returns that buffer. */
  async function uploadRefilling(w: SftpWriteStream): Promise<Buffer> {
    const buf = Buffer.alloc(100);
    for (let i = 0; i < 300; i++) await new Promise<void>((resolve, reject) => w.write(fill(buf, i), (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => w.once('finish', resolve).once('error', reject).end());
    return buf;
  }

  it('a source that refills one buffer after each write callback: byte-exact, and the straddling WRITEs all come from one reused buffer', async () => {
    const { sftp, image, buffersSeen } = fileSftp();
    const w = new SftpWriteStream(sftp, Buffer.alloc(4), 64, 4);
    const buf = await uploadRefilling(w);
    const got = Buffer.concat(image);
    expect([got.length, sha256(got)]).toEqual([ORACLE.length, sha256(ORACLE)]);
    // The source's buffer and one carry buffer for the whole upload, not one per source chunk.
    expect(buffersSeen.has(buf.buffer)).toBe(true);
    expect(buffersSeen.size).toBe(2);
    expect(w.acknowledged).toBe(ORACLE.length);
  });

  it('a chunk size above what ssh2 sends at once is cut to it: a source refilling one buffer after each callback stays byte-exact', async () => {
    // ssh2 would read the rest of a longer WRITE only after the first part's
    // answer, when this source has already refilled its buffer.
    const { sftp, image } = fileSftp(50);
    const w = new SftpWriteStream(sftp, Buffer.alloc(4), 64, 4);
    await uploadRefilling(w);
    const got = Buffer.concat(image);
    expect([got.length, sha256(got)]).toEqual([ORACLE.length, sha256(ORACLE)]);
    expect(w.acknowledged).toBe(ORACLE.length);
  });
});
