/**
 * loopssh issue 11 (SFTP speed): WRITEs built in a reused frame
 * (src/ssh2/sftp-write.ts) instead of ssh2's buffer per request. Pinned:
 * the bytes on the channel are exactly what ssh2's own write() sends, the
 * server's answers reach the caller, the frame is free once the call
 * returns, and every case ssh2 must handle itself goes through write().
 */
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { assertSsh2Shape, sftpWriteFrameSize, sftpWriteFramed } from '../../src/ssh2/index.ts';
import { startFixture, type Fixture } from '../helpers/fixture.ts';
import { sha256 } from '../helpers/oracle.ts';

const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()?.();
});

async function sinkSession(f: Fixture, name: string): Promise<{ sftp: SFTPWrapper; handle: Buffer }> {
  const o = f.server.clientOptions();
  const client = new ssh2.Client();
  stops.push(() => void client.end());
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
    client.once('error', reject);
    client.once('ready', () => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    client.connect({ host: o.host, port: o.port, username: o.user, privateKey: o.privateKey });
  });
  const handle = await new Promise<Buffer>((res, rej) => sftp.open(name, 'w', (e, h) => (e ? rej(e) : res(h))));
  return { sftp, handle };
}

/** Records what goes to the channel (the test reaches the field the module under test uses). */
function tap(sftp: SFTPWrapper): Buffer[] {
  const proto = (sftp as unknown as { _protocol: { channelData(id: number, data: Buffer): void } })._protocol;
  const real = proto.channelData.bind(proto);
  const seen: Buffer[] = [];
  proto.channelData = (id, data) => {
    seen.push(Buffer.from(data));
    real(id, data);
  };
  return seen;
}

describe('sftpWriteFramed against loopssh serve', () => {
  it("sends the bytes ssh2's write() sends (but the request id); answers come back; the frame is reusable at once; the upload is byte-exact", async () => {
    const f = await startFixture();
    stops.push(() => f.stop());
    const { sftp, handle } = await sinkSession(f, '/sink/framed');
    const seen = tap(sftp);
    const a = Buffer.from(Array.from({ length: 31_000 }, (_, i) => (i * 13) % 256));
    const b = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7) % 256));
    // ssh2's own write() of a at 0, ours of a at a.length, then ours of b with the frame scribbled over at once.
    const viaSsh2 = new Promise<void>((res, rej) => sftp.write(handle, a, 0, a.length, 0, (e) => (e ? rej(e) : res())));
    const ssh2Bytes = Buffer.concat(seen.splice(0));
    const frame = Buffer.alloc(sftpWriteFrameSize(handle, 31_000));
    const ours = new Promise<void>((res, rej) => sftpWriteFramed(sftp, handle, a, a.length, frame, (e) => (e ? rej(e) : res())));
    const ourBytes = Buffer.concat(seen.splice(0));
    frame.fill(0xff);
    const second = new Promise<void>((res, rej) => sftpWriteFramed(sftp, handle, b, 2 * a.length, frame, (e) => (e ? rej(e) : res())));
    frame.fill(0xee);
    await Promise.all([viaSsh2, ours, second]);
    // Same length, type, handle, data length and data; the request id (bytes 5..8) is the next one; the uint64 offset is ours.
    const at = 13 + handle.length;
    const without = (m: Buffer): Buffer => Buffer.concat([m.subarray(0, 5), m.subarray(9, at), m.subarray(at + 8)]);
    expect(ourBytes.length).toBe(ssh2Bytes.length);
    expect(without(ourBytes)).toEqual(without(ssh2Bytes));
    expect([ourBytes.readUInt32BE(5), ourBytes.readBigUInt64BE(at), ssh2Bytes.readBigUInt64BE(at)]).toEqual([ssh2Bytes.readUInt32BE(5) + 1, 31_000n, 0n]);
    await new Promise<void>((res, rej) => sftp.close(handle, (e) => (e ? rej(e) : res())));
    const t = f.server.seen.transfers.find((x) => x.path === '/sink/framed');
    const whole = Buffer.concat([a, a, b]);
    expect([t?.bytes, t?.sha256, t?.outcome]).toEqual([whole.length, sha256(whole), 'complete']);
  });

  it('a refused WRITE reaches the callback as an error with its status code', async () => {
    const f = await startFixture();
    stops.push(() => f.stop());
    const { sftp, handle } = await sinkSession(f, '/sink/refused');
    const bad = Buffer.from(handle);
    bad[0] = (bad[0] as number) ^ 0xff;
    const err = await new Promise<Error | undefined>((res) => sftpWriteFramed(sftp, bad, Buffer.alloc(100), 0, Buffer.alloc(sftpWriteFrameSize(bad, 100)), res));
    expect(err).toMatchObject({ code: 4 });
  });
});

describe('sftpWriteFramed: what goes through ssh2 write()', () => {
  function fake(window: number, parked: unknown[] = []) {
    const calls: string[] = [];
    const sftp = {
      _requests: {},
      _writeReqid: 41,
      _maxWriteLen: 1000,
      _buffer: parked,
      outgoing: { id: 3, window, state: 'open', packetSize: 100 },
      _protocol: { channelData: (_id: number, d: Buffer) => calls.push(`channel ${d.length}`) },
      write: (_h: Buffer, _b: Buffer, _o: number, len: number, pos: number) => calls.push(`write ${len}@${pos}`),
    };
    return { sftp, calls };
  }
  const handle = Buffer.alloc(4);

  it('room to spare: the message in packet-size pieces, the window charged, the request registered under the next id', () => {
    const f = fake(10_000);
    sftpWriteFramed(f.sftp, handle, Buffer.alloc(250), 5, Buffer.alloc(500), () => {});
    expect(f.calls).toEqual(['channel 100', 'channel 100', 'channel 79']);
    expect([f.sftp.outgoing.window, f.sftp._writeReqid, Object.keys(f.sftp._requests)]).toEqual([10_000 - 279, 42, ['42']]);
  });

  it.each([
    ['a window of exactly the message', 279, [], 500, 250],
    ['ssh2 has parked messages', 10_000, [Buffer.alloc(1)], 500, 250],
    ['longer than ssh2 sends at once', 10_000, [], 2000, 1001],
    ['a frame too small', 10_000, [], 200, 250],
  ])('%s: write()', (_what, window, parked, frameSize, len) => {
    const f = fake(window as number, parked as unknown[]);
    sftpWriteFramed(f.sftp, handle, Buffer.alloc(len as number), 9, Buffer.alloc(frameSize as number), () => {});
    expect(f.calls).toEqual([`write ${len}@9`]);
  });
});

describe('the shape check covers write()', () => {
  it('a write() that registers its requests differently fails start-up with one line', () => {
    const real = assertSsh2Shape();
    const changed = { ...real, sftpSource: real.sftpSource.replace('this._requests[reqid] = {\n      cb: (err) => {', 'this._pending.set(reqid, {\n      cb: (err) => {') };
    expect(changed.sftpSource).not.toBe(real.sftpSource);
    expect(() => assertSsh2Shape(() => changed)).toThrow(/^loopssh: ssh2 1\.17\.\d+ has an unexpected shape: SFTP\.js write\(\) no longer numbers requests/);
  });
});
