/**
 * loopssh issue 11 (server): fault options per file, the limits, and hostile
 * SFTP input. Raw ssh2 SFTP requests show what each fault does on the wire;
 * OpenSSH's sftp shows what a real client makes of it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { peer } from '../helpers/peers.ts';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { referenceBytes, referenceDigest, sha256 } from '../helpers/oracle.ts';
import { call, packet, rawClient, rawSftp, rawSubsystem } from './sftp-raw.ts';
import { sftpBatch } from './sftp-helpers.ts';

const sftpPath = peer('sftp');
const KiB = 1024;

let f: Fixture;
let tmp: { dir: string; remove: () => void };
beforeEach(async () => {
  f = await startFixture({ limits: { maxSftpHandles: 8, uploadWindowBytes: 64 * KiB, uploadHeldBytesPerSession: 96 * KiB } });
  tmp = tempDir('loopssh-sftp-faults-');
});
afterEach(async () => {
  await f.stop();
  tmp.remove();
});

/** One SFTP reply: type, request id, and for STATUS the code and message, for HANDLE the handle. */
interface Reply {
  type: number;
  id: number;
  code?: number;
  message?: string;
  handle?: Buffer;
}

/** Reads a raw SFTP channel's replies in order: each call resolves to the next one. */
function replyReader(channel: NodeJS.EventEmitter): () => Promise<Reply> {
  const ready: Reply[] = [];
  const waiting: ((r: Reply) => void)[] = [];
  let buf = Buffer.alloc(0);
  channel.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const body = buf.subarray(4, 4 + buf.readUInt32BE(0));
      buf = buf.subarray(4 + body.length);
      const type = body[0] as number;
      const r: Reply = type === 2 ? { type, id: -1 } : { type, id: body.readUInt32BE(1) };
      if (type === 101) Object.assign(r, { code: body.readUInt32BE(5), message: body.subarray(13, 13 + body.readUInt32BE(9)).toString() });
      if (type === 102) r.handle = body.subarray(9, 9 + body.readUInt32BE(5));
      const w = waiting.shift();
      if (w) w(r);
      else ready.push(r);
    }
  });
  return () => {
    const r = ready.shift();
    return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
  };
}

describe('fault options on the wire (ssh2 SFTP client)', () => {
  it('short=N answers at most N bytes per READ; the bytes are the right ones at any offset', async () => {
    const { client, sftp } = await rawSftp(f.server);
    const h = await call.open(sftp, '/payload/random/7/100000,short=1000', 'r');
    const buf = Buffer.alloc(32 * KiB);
    const n = await new Promise<number>((res, rej) => sftp.read(h, buf, 0, buf.length, 50_001, (e, got) => (e ? rej(e) : res(got))));
    expect(n).toBe(1000);
    expect(buf.subarray(0, n)).toEqual(referenceBytes({ size: 100_000, pattern: 'random', seed: '7' }).subarray(50_001, 51_001));
    expect((await call.stat(sftp, '/payload/random/7/100000,short=1000')).size).toBe(100_000);
    client.end();
  });

  it('eof=N: EOF at N while stat says the full size; stat=N: stat lies, the bytes do not', async () => {
    const { client, sftp } = await rawSftp(f.server);
    expect((await call.stat(sftp, '/payload/zero/0/4096,eof=100')).size).toBe(4096);
    const h = await call.open(sftp, '/payload/zero/0/4096,eof=100', 'r');
    expect(await call.read(sftp, h, 0, 4096)).toBe(100);
    await expect(call.read(sftp, h, 100, 4096)).resolves.toBe(0);
    expect((await call.stat(sftp, '/payload/zero/0/4096,stat=9999')).size).toBe(9999);
    const h2 = await call.open(sftp, '/payload/zero/0/4096,stat=9999', 'r');
    expect(await call.read(sftp, h2, 0, 8192)).toBe(4096);
    client.end();
    const records = f.server.seen.transfers.map((t) => [t.path, t.faults, t.bytes]);
    expect(records).toEqual([
      ['/payload/zero/0/4096,eof=100', 'eof=100', 100],
      ['/payload/zero/0/4096,stat=9999', 'stat=9999', 4096],
    ]);
  });

  it('drop=N closes the SFTP channel after N bytes, drop-conn=N the connection; both recorded', async () => {
    const a = await rawSftp(f.server);
    const h = await call.open(a.sftp, '/payload/zero/0/1MiB,drop=50000', 'r');
    expect(await call.read(a.sftp, h, 0, 32 * KiB)).toBe(32 * KiB);
    expect(await call.read(a.sftp, h, 32 * KiB, 32 * KiB)).toBe(50000 - 32 * KiB);
    await expect(call.read(a.sftp, h, 50000, 32 * KiB)).rejects.toThrow();
    const clientClosed = new Promise<void>((res) => a.client.once('close', () => res()));
    const b = await rawSftp(f.server);
    const h2 = await call.open(b.sftp, '/payload/zero/0/1MiB,drop-conn=1000', 'r');
    expect(await call.read(b.sftp, h2, 0, 32 * KiB)).toBe(1000);
    const bClosed = new Promise<void>((res) => b.client.once('close', () => res()));
    await expect(call.read(b.sftp, h2, 1000, 32 * KiB)).rejects.toThrow();
    await bClosed;
    a.client.end();
    await clientClosed;
    expect(f.server.seen.transfers.map((t) => [t.faults, t.bytes, t.outcome])).toEqual([
      ['drop=50000', 50000, 'dropped'],
      ['drop-conn=1000', 1000, 'dropped'],
    ]);
  });

  it('delay and rate still deliver every byte, in order, and are recorded', async () => {
    const { client, sftp } = await rawSftp(f.server);
    const h = await call.open(sftp, '/payload/lines/0/70000,delay=5,rate=1MiB', 'r');
    const reads = await Promise.all([0, 32768, 65536].map((pos) => call.read(sftp, h, pos, 32768)));
    expect(reads).toEqual([32768, 32768, 70000 - 65536]);
    client.end();
    expect(f.server.seen.transfers[0]?.faults).toBe('delay=5,rate=1048576');
  });
});

describe.skipIf(!sftpPath)('what OpenSSH sftp makes of each fault', () => {
  it('short reads: it re-requests and gets the whole file', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/random/7/200000,short=777 out\n', tmp.dir);
    expect(r.code).toBe(0);
    const got = readFileSync(join(tmp.dir, 'out'));
    expect([got.length, sha256(got)]).toEqual([200_000, referenceDigest({ size: 200_000, pattern: 'random', seed: '7' })]);
  });

  it('stat larger than the content (eof=N or stat=N): it stops at EOF, keeps the short file and exits 0 (silent truncation)', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/random/7/200000,eof=100000 out\n', tmp.dir);
    expect(r.code).toBe(0);
    const got = readFileSync(join(tmp.dir, 'out'));
    expect(got.length).toBe(100_000);
    expect(sha256(got)).toBe(sha256(referenceBytes({ size: 200_000, pattern: 'random', seed: '7' }).subarray(0, 100_000)));
  });

  it('stat smaller than the content: it reads to EOF and keeps the whole file (exit 0)', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/random/7/200000,stat=1000 out\n', tmp.dir);
    expect(r.code).toBe(0);
    const got = readFileSync(join(tmp.dir, 'out'));
    expect([got.length, sha256(got)]).toEqual([200_000, referenceDigest({ size: 200_000, pattern: 'random', seed: '7' })]);
  });

  it('stat larger than the content (stat=N): it keeps the real length and exits 0 (no error for the lying stat)', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/random/7/200000,stat=500000 out\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(statSync(join(tmp.dir, 'out')).size).toBe(200_000);
  });

  it('delay and rate: complete', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/lines/0/100000,delay=3,rate=2MiB out\n', tmp.dir);
    expect(r.code).toBe(0);
    expect(sha256(readFileSync(join(tmp.dir, 'out')))).toBe(referenceDigest({ size: 100_000, pattern: 'lines' }));
  });

  it('drop-conn after N bytes: non-zero exit, partial file left', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/zero/0/1MiB,drop-conn=300000 out\n', tmp.dir);
    expect(r.code).not.toBe(0);
    expect(statSync(join(tmp.dir, 'out')).size).toBeLessThanOrEqual(300_000);
  });

  it('drop after N bytes: non-zero exit, and a partial file is left at the target', async () => {
    const r = await sftpBatch(sftpPath as string, f.server, 'get /payload/zero/0/1MiB,drop=300000 out\n', tmp.dir);
    expect(r.code).not.toBe(0);
    expect(existsSync(join(tmp.dir, 'out'))).toBe(true);
    expect(statSync(join(tmp.dir, 'out')).size).toBeLessThanOrEqual(300_000);
  });
});

describe('uploads out of order and limits', () => {
  it('reorders writes within the window; beyond it a FAILURE status; a gap fails the CLOSE', async () => {
    const { client, sftp } = await rawSftp(f.server);
    const data = randomBytes(48 * KiB);
    const h = await call.open(sftp, '/sink/reordered', 'w');
    await call.write(sftp, h, 32 * KiB, data.subarray(32 * KiB));
    await call.write(sftp, h, 16 * KiB, data.subarray(16 * KiB, 32 * KiB));
    await call.write(sftp, h, 0, data.subarray(0, 16 * KiB));
    await call.close(sftp, h);
    const h2 = await call.open(sftp, '/sink/too-far', 'w');
    await expect(call.write(sftp, h2, 64 * KiB, Buffer.alloc(1))).rejects.toThrow(/reorder window exceeded/);
    const h3 = await call.open(sftp, '/sink/gap', 'w');
    await call.write(sftp, h3, 10, Buffer.alloc(10));
    await expect(call.close(sftp, h3)).rejects.toThrow(/gap after byte 0/);
    client.end();
    expect(f.server.seen.transfers.map((t) => [t.path, t.bytes, t.sha256, t.outcome])).toEqual([
      ['/sink/reordered', 48 * KiB, sha256(data), 'complete'],
      ['/sink/too-far', 0, undefined, 'failed'],
      ['/sink/gap', 0, undefined, 'failed'],
    ]);
  });

  // loopssh issue 11 (review finding): overlapping held writes could grow memory to N × window.
  it('raw packets: overlap, window and session budget refusals are FAILURE statuses with the reason; the channel keeps serving', async () => {
    const client = await rawClient(f.server);
    const ch = await rawSubsystem(client);
    const next = replyReader(ch);
    let id = 0;
    /** Sends one request and returns its reply. */
    const ask = async (type: number, ...parts: (Buffer | number | string)[]): Promise<Reply> => {
      const reqid = ++id;
      ch.write(packet(type, reqid, ...parts));
      const r = await next();
      expect(r.id).toBe(reqid);
      return r;
    };
    const open = async (path: string): Promise<Buffer> => (await ask(3, path, 0x1a, 0)).handle as Buffer; // WRITE|CREAT|TRUNC, no attrs
    const write = (h: Buffer, offset: number, data: Buffer): Promise<Reply> => ask(6, h, 0, offset, data);
    ch.write(packet(1, 3)); // INIT v3
    expect((await next()).type).toBe(2);
    const a = await open('/sink/overlap');
    expect(await write(a, 1, Buffer.alloc(40 * KiB))).toEqual({ type: 101, id, code: 0, message: '' });
    expect(await write(a, 2, Buffer.alloc(10))).toEqual({ type: 101, id, code: 4, message: `write at offset 2 (10 bytes) overlaps a held write at offset 1 (${40 * KiB} bytes)` });
    const data = randomBytes(60 * KiB + 1);
    const b = await open('/sink/held');
    expect((await write(b, 1, data.subarray(1))).code).toBe(0);
    const c = await open('/sink/over-budget');
    expect(await write(c, 1, Buffer.alloc(40 * KiB))).toMatchObject({ code: 4, message: expect.stringMatching(/would hold more than 98304 bytes across this session's uploads \(61440 held\)/) });
    const d = await open('/sink/too-far');
    expect(await write(d, 1, Buffer.alloc(64 * KiB))).toMatchObject({ code: 4, message: expect.stringMatching(/reorder window exceeded/) });
    // The same channel still serves: a stat, then the held upload completes.
    expect((await ask(17, '/payload/zero/0/5')).type).toBe(105);
    expect((await write(b, 0, data.subarray(0, 1))).code).toBe(0);
    expect((await ask(4, b)).code).toBe(0);
    client.end();
    expect(f.server.seen.transfers.map((t) => [t.path, t.bytes, t.sha256, t.outcome])).toEqual([
      ['/sink/overlap', 0, undefined, 'failed'],
      ['/sink/held', data.length, sha256(data), 'complete'],
      ['/sink/over-budget', 0, undefined, 'failed'],
      ['/sink/too-far', 0, undefined, 'failed'],
    ]);
  });

  it('READs queued beyond maxSftpPendingRequests get SSH_FX_FAILURE; the queued ones are all answered', async () => {
    await f.stop();
    f = await startFixture({ limits: { maxSftpPendingRequests: 4 } });
    const { client, sftp } = await rawSftp(f.server);
    // delay=100 holds the pump on its timer, so the READs pile up in the queue.
    const h = await call.open(sftp, '/payload/zero/0/1MiB,delay=100', 'r');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call.read(sftp, h, i * 1000, 1000).then(
          (n) => `ok ${n}`,
          (e: Error) => e.message,
        ),
      ),
    );
    // The queue holds four (the head among them, waiting out its delay); the other four are refused.
    expect(results.slice(0, 4)).toEqual(Array(4).fill('ok 1000'));
    expect(results.slice(4).every((r) => /too many READs in flight \(limit 4\)/.test(r))).toBe(true);
    client.end();
  });

  it('open handles are limited per session; closing one frees a slot; a path over maxPathBytes is refused', async () => {
    const { client, sftp } = await rawSftp(f.server);
    const handles = await Promise.all(Array.from({ length: 8 }, () => call.open(sftp, '/README', 'r')));
    await expect(call.open(sftp, '/README', 'r')).rejects.toThrow(/too many open handles \(limit 8\)/);
    await call.close(sftp, handles[0] as Buffer);
    await expect(call.open(sftp, '/README', 'r')).resolves.toBeInstanceOf(Buffer);
    await expect(call.stat(sftp, `/${'a'.repeat(5000)}`)).rejects.toThrow(/path longer than 4096 bytes/);
    client.end();
  });
});

describe('hostile SFTP input', () => {
  /** Collects the SFTP replies (type, request id, status code) from a raw channel. */
  function replies(channel: NodeJS.EventEmitter): { type: number; id: number; code?: number }[] {
    const out: { type: number; id: number; code?: number }[] = [];
    let buf = Buffer.alloc(0);
    channel.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const type = buf[4] as number;
        const id = type === 2 ? -1 : buf.readUInt32BE(5);
        out.push({ type, id, code: type === 101 ? buf.readUInt32BE(9) : undefined });
        buf = buf.subarray(4 + len);
      }
    });
    return out;
  }

  it('answers bogus handles and unknown requests with a status, and a malformed packet closes only that channel', async () => {
    const client = await rawClient(f.server);
    const ch = await rawSubsystem(client);
    const got = replies(ch);
    const closed = new Promise((res) => ch.once('close', res));
    ch.write(packet(1, 3)); // INIT v3
    ch.write(packet(5, 1, 'nope', 0, 0, 100)); // READ bogus handle (uint64 offset as two uint32)
    ch.write(packet(6, 2, Buffer.alloc(4, 0xff), 0, 0, 'x')); // WRITE bogus handle
    ch.write(packet(4, 3, Buffer.alloc(300))); // CLOSE with a 300-byte handle: malformed → channel closed
    await closed;
    expect(got).toEqual([
      { type: 2, id: -1, code: undefined },
      { type: 101, id: 1, code: 4 },
      { type: 101, id: 2, code: 4 },
    ]);
    // The connection and server go on: a new channel works.
    const { sftp } = await rawSftp(f.server);
    expect((await call.stat(sftp, '/payload/zero/0/5')).size).toBe(5);
    client.end();
  });

  it('fuzz: 2000 random packets after INIT over 20 channels; the server answers or closes the channel, never crashes', async () => {
    const client = await rawClient(f.server);
    let answered = 0;
    for (let round = 0; round < 20; round++) {
      const ch = await rawSubsystem(client);
      const got = replies(ch);
      const closed = new Promise((res) => ch.once('close', res));
      ch.write(packet(1, 3));
      for (let i = 0; i < 100; i++) {
        const type = 3 + Math.floor(Math.random() * 18); // OPEN … SYMLINK, and a few unknown ones
        ch.write(packet(type, round * 1000 + i, randomBytes(Math.floor(Math.random() * 64))));
      }
      ch.end();
      await closed;
      answered += got.length;
    }
    expect(answered).toBeGreaterThan(20);
    const { sftp } = await rawSftp(f.server);
    expect((await call.stat(sftp, '/README')).size).toBeGreaterThan(100);
    client.end();
  });
});
