/**
 * src/ssh2/sftp-flow.ts. endSftpWithStatus on a connection already gone.
 * Found in loopssh issue 11 while testing zero-copy reads: on a socket's
 * 'close' ssh2 tears down the protocol (zlib included) before it ends each
 * channel, so the exit-status loopssh sends from the SFTP 'end' handler
 * threw "Invalid Zlib instance" out of that event: a compressed client that
 * dropped its connection mid-session took loopssh serve down.
 */
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { startFixture } from '../helpers/fixture.ts';
import { referenceDigest, sha256 } from '../helpers/oracle.ts';
import { createRequire } from 'node:module';
import { SFTP_DATA_HEADER, assertSsh2Shape, sendSftpData, sendSftpOkStatuses, sftpBlocked, whenSftpWritable } from '../../src/ssh2/index.ts';
import { packet } from '../server/sftp-raw.ts';

const MiB = 1024 * 1024;
const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()?.();
});

describe('endSftpWithStatus on a connection already gone', () => {
  it('a zlib client dropping its socket mid-session: the server stays up and serves the next client byte-exact', async () => {
    const f = await startFixture({ algorithms: { compress: ['zlib@openssh.com', 'zlib', 'none'] } });
    stops.push(() => f.stop());
    const o = f.server.clientOptions();
    for (let round = 0; round < 3; round++) {
      const client = new ssh2.Client();
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
        client.once('error', reject);
        client.once('ready', () => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
        client.connect({ host: o.host, port: o.port, username: o.user, privateKey: o.privateKey, algorithms: { compress: ['zlib@openssh.com'] } });
      });
      const handle = await new Promise<Buffer>((res, rej) => sftp.open('/payload/lines/0/1MiB', 'r', (e, h) => (e ? rej(e) : res(h))));
      const n = await new Promise<number>((res, rej) => sftp.read(handle, Buffer.alloc(1000), 0, 1000, 0, (e, nb) => (e ? rej(e) : res(nb))));
      expect(n).toBe(1000);
      client.on('error', () => {});
      (client as unknown as { _sock: { destroy(): void } })._sock.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const c = await f.connect();
    const got = await c.download('/payload/lines/0/1MiB', 'buffer');
    expect([got.data?.length, got.sha256]).toEqual([MiB, referenceDigest({ size: MiB, pattern: 'lines' })]);
  });
});

/**
 * sendSftpData (loopssh issue 11, SFTP speed): a READ's DATA reply framed
 * in a reused buffer goes to the channel without ssh2's per-reply
 * allocation and copy; whatever would leave the window at 0 or park part of
 * the reply goes through ssh2's own data().
 */
describe('sendSftpData', () => {
  function fakeSftp(window: number, parked: unknown[] = []) {
    const sent: Buffer[] = [];
    const viaData: [number, Buffer][] = [];
    const sftp = {
      _buffer: parked,
      outgoing: { id: 7, window, state: 'open', packetSize: 100 },
      _protocol: { channelData: (id: number, data: Buffer) => sent.push(Buffer.from(data)) && expect(id).toBe(7), exitStatus() {}, channelEOF() {} },
      data: (reqid: number, data: Buffer) => viaData.push([reqid, Buffer.from(data)]),
    };
    return { sftp, sent, viaData };
  }
  const frameOf = (bytes: Buffer): Buffer => Buffer.concat([Buffer.alloc(SFTP_DATA_HEADER, 0xee), bytes]);

  it('window to spare: header written in front, sent in packet-size pieces, window charged; the same bytes as ssh2 would send', () => {
    const bytes = Buffer.from(Array.from({ length: 250 }, (_, i) => i));
    const f = fakeSftp(1000);
    sendSftpData(f.sftp, 0x01020304, frameOf(bytes), bytes.length);
    expect(f.sent.map((b) => b.length)).toEqual([100, 100, 63]);
    const wire = Buffer.concat(f.sent);
    // uint32 length (1 + 4 + 4 + 250), SSH_FXP_DATA 103, the request id, uint32 250, the bytes.
    expect(wire.subarray(0, 13)).toEqual(Buffer.from([0, 0, 1, 3, 103, 1, 2, 3, 4, 0, 0, 0, 250]));
    expect([wire.length, sha256(wire.subarray(13))]).toEqual([263, sha256(bytes)]);
    expect(f.sftp.outgoing.window).toBe(1000 - 263);
    expect(f.viaData).toEqual([]);
  });

  it.each([
    ['a window exactly the reply (ours would leave it at 0)', 263, []],
    ['a window smaller than the reply', 100, []],
    ['replies already parked by ssh2', 10_000, [Buffer.alloc(1)]],
  ])('%s: through ssh2 data() with the bytes alone', (_what, window, parked) => {
    const bytes = Buffer.alloc(250, 5);
    const f = fakeSftp(window as number, parked as unknown[]);
    sendSftpData(f.sftp, 9, frameOf(bytes), bytes.length);
    expect(f.sent).toEqual([]);
    expect(f.viaData.map(([id, b]) => [id, b.length, sha256(b)])).toEqual([[9, 250, sha256(bytes)]]);
    expect(f.sftp.outgoing.window).toBe(window);
  });
});

describe('the shape check covers the send path sendSftpData copies', () => {
  it('a tryWritePayload that no longer charges the window fails start-up with one line', () => {
    const real = assertSsh2Shape();
    const changed = { ...real, sftpSource: real.sftpSource.replace('outgoing.window -= actualLen;', 'outgoing.spend(actualLen);') };
    expect(changed.sftpSource).not.toBe(real.sftpSource);
    expect(() => assertSsh2Shape(() => changed)).toThrow(/^loopssh: ssh2 1\.17\.\d+ has an unexpected shape: SFTP\.js tryWritePayload no longer charges outgoing\.window/);
  });
});

/**
 * sendSftpOkStatuses (loopssh issue 11, SFTP put speed): a written batch of
 * /disk WRITEs is acknowledged in one channel message, the very bytes ssh2's
 * status(id, OK) sends for each; otherwise ssh2's status() per request.
 */
describe('sendSftpOkStatuses', () => {
  function fakeServer(window: number, packetSize = 32_768, parked: unknown[] = []) {
    const sent: Buffer[] = [];
    const viaStatus: [number, number][] = [];
    const sftp = {
      _buffer: parked,
      outgoing: { id: 2, window, state: 'open', packetSize },
      _protocol: { channelData: (_id: number, d: Buffer) => sent.push(Buffer.from(d)), exitStatus() {}, channelEOF() {} },
      data() {},
      status: (id: number, code: number) => viaStatus.push([id, code]),
    };
    return { sftp, sent, viaStatus };
  }

  it('three replies in one message: STATUS OK with empty message and language, per request id', () => {
    const f = fakeServer(10_000);
    sendSftpOkStatuses(f.sftp, [7, 8, 0xfffffffe]);
    expect(f.sent).toEqual([Buffer.concat([packet(101, 7, 0, '', ''), packet(101, 8, 0, '', ''), packet(101, 0xfffffffe, 0, '', '')])]);
    expect([f.sftp.outgoing.window, f.viaStatus]).toEqual([10_000 - 63, []]);
  });

  it.each([
    ['a window of exactly the batch', 63, 32_768, []],
    ['a batch longer than one packet', 10_000, 50, []],
    ['replies parked by ssh2', 10_000, 32_768, [Buffer.alloc(1)]],
  ])('%s: status() per request', (_what, window, packetSize, parked) => {
    const f = fakeServer(window as number, packetSize as number, parked as unknown[]);
    sendSftpOkStatuses(f.sftp, [1, 2, 3]);
    expect([f.sent, f.viaStatus]).toEqual([[], [[1, 0], [2, 0], [3, 0]]]);
  });
});

/**
 * whenSftpWritable on ssh2's real server-side SFTP stream (review finding,
 * loopssh issue 11): ssh2 reassigns `_chunkcb` on every reply sent while the
 * window is 0, so a wrapper set once was lost when another reply (a STATUS
 * for a /disk batch, "too many READs") went out while READs waited, and
 * the download never resumed.
 */
describe('whenSftpWritable', () => {
  const { SFTP } = createRequire(import.meta.url)('ssh2/lib/protocol/SFTP.js') as { SFTP: new (...a: unknown[]) => Record<string, unknown> & { status(id: number, code: number): void } };
  function blockedServerStream() {
    const sent: Buffer[] = [];
    const client = { _protocol: { _remoteIdentRaw: 'SSH-2.0-x', channelData: (_id: number, d: Buffer) => sent.push(Buffer.from(d)) } };
    const chan = { type: 'session', incoming: { id: 0, window: 1 << 20, packetSize: 32_768, state: 'open' }, outgoing: { id: 0, window: 42, packetSize: 32_768, state: 'open' } };
    const s = new SFTP(client, chan, { server: true }) as Record<string, unknown> & { status(id: number, code: number): void; outgoing: { window: number }; _buffer: unknown[] };
    // Two replies spend the 42-byte window: ssh2 now waits for a WINDOW_ADJUST.
    s.status(1, 0);
    s.status(2, 0);
    /** What ssh2's CHANNEL_WINDOW_ADJUST handler does (lib/server.js). */
    const adjust = (amount: number): void => {
      s.outgoing.window += amount;
      if (s._waitWindow) {
        s._waitWindow = false;
        (s._chunkcb as (() => void) | undefined)?.call(s);
      }
    };
    return { s, sent, adjust };
  }

  it.each([
    ['nothing else sent', (_s: ReturnType<typeof blockedServerStream>['s']) => {}],
    ['a STATUS sent while blocked (ssh2 reassigns _chunkcb)', (s: ReturnType<typeof blockedServerStream>['s']) => s.status(3, 0)],
    ['a batch of OKs sent while blocked', (s: ReturnType<typeof blockedServerStream>['s']) => sendSftpOkStatuses(s, [3, 4])],
  ])('%s: resumes once the window opens and the parked replies are out', async (_what, meanwhile) => {
    const { s, sent, adjust } = blockedServerStream();
    expect(sftpBlocked(s)).toBe(true);
    const order: string[] = [];
    whenSftpWritable(s, () => order.push('resumed'));
    meanwhile(s);
    const parked = s._buffer.length;
    adjust(10);
    await Promise.resolve();
    // 10 bytes are not enough for a 21-byte reply: still parked, still waiting.
    expect(order).toEqual(parked > 0 ? [] : ['resumed']);
    adjust(1 << 20);
    await Promise.resolve();
    expect([order, s._buffer.length, sftpBlocked(s)]).toEqual([['resumed'], 0, false]);
    // Every reply left, once each: 21 bytes per STATUS OK.
    expect(Buffer.concat(sent).length).toBe(21 * (2 + parked));
  });
});
