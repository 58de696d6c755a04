/**
 * loopssh issue 11 (known gap: "loopssh serve cannot advertise
 * posix-rename@openssh.com"): ssh2's server answered INIT with a fixed
 * VERSION, so clients fell back to SFTP v3 RENAME, which never replaces.
 * src/ssh2/sftp-version.ts answers INIT itself with the extension listed.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { advertiseSftpExtensions, assertSsh2Shape } from '../../src/ssh2/index.ts';
import { startFixture, tempDir } from '../helpers/fixture.ts';
import { peer } from '../helpers/peers.ts';
import { rawSftp, rawSubsystem, rawClient, packet } from '../server/sftp-raw.ts';
import { sftpBatch } from '../server/sftp-helpers.ts';

const sftpPath = peer('sftp');
const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (stops.length > 0) await stops.pop()?.();
});

describe('loopssh serve advertises posix-rename@openssh.com', () => {
  it("ssh2's client sees it in VERSION and its ext_openssh_rename replaces a /disk file", async () => {
    const root = tempDir().dir;
    writeFileSync(join(root, 'a'), 'new\n');
    writeFileSync(join(root, 'b'), 'old\n');
    const f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    stops.push(() => f.stop());
    const { client, sftp } = await rawSftp(f.server);
    stops.push(() => void client.end());
    expect((sftp as unknown as { _extensions: Record<string, string> })._extensions).toEqual({ 'posix-rename@openssh.com': '1' });
    await new Promise<void>((res, rej) => sftp.ext_openssh_rename('/disk/a', '/disk/b', (e) => (e ? rej(e) : res())));
    expect([readdirSync(root), readFileSync(join(root, 'b'), 'utf8')]).toEqual([['b'], 'new\n']);
  });

  it.skipIf(!sftpPath)('OpenSSH sftp -b "rename" over an existing file succeeds (it uses posix-rename when advertised; v3 RENAME would fail)', async () => {
    const root = tempDir().dir;
    writeFileSync(join(root, 'a'), 'new\n');
    writeFileSync(join(root, 'b'), 'old\n');
    const f = await startFixture({ sftpDirectory: { path: root, writable: true } });
    stops.push(() => f.stop());
    const r = await sftpBatch(sftpPath as string, f.server, 'rename /disk/a /disk/b\n', root);
    expect(r.code, r.stderr).toBe(0);
    expect([readdirSync(root), readFileSync(join(root, 'b'), 'utf8')]).toEqual([['b'], 'new\n']);
  });

  it('a raw client: the VERSION packet carries exactly the pair, then requests are served as before', async () => {
    const f = await startFixture();
    stops.push(() => f.stop());
    const client = await rawClient(f.server);
    stops.push(() => void client.end());
    const channel = await rawSubsystem(client);
    let buf = Buffer.alloc(0);
    channel.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    // INIT and a STAT in one write: the STAT must still be answered.
    channel.write(Buffer.concat([packet(1, 3), packet(17, 5, '/payload/zero/0/1KiB')]));
    const expected = Buffer.concat([packet(2, 3, 'posix-rename@openssh.com', '1')]);
    while (buf.length < expected.length + 9) await new Promise((r) => channel.once('data', r));
    expect(buf.subarray(0, expected.length)).toEqual(expected);
    const attrs = buf.subarray(expected.length);
    expect([attrs[4], attrs.readUInt32BE(5)]).toEqual([105, 5]); // SSH_FXP_ATTRS for request 5
  });
});

describe('advertiseSftpExtensions on a scripted stream', () => {
  function stream(window = 10_000) {
    const passed: Buffer[] = [];
    const sent: Buffer[] = [];
    const events: string[] = [];
    const s = {
      _version: -1,
      _extensions: {},
      // ssh2's SFTP constructor starts with nothing parked.
      _buffer: [] as unknown[],
      outgoing: { id: 1, window, state: 'open', packetSize: 32_768 },
      _protocol: { channelData: (_id: number, d: Buffer) => sent.push(Buffer.from(d)) },
      emit: (e: string) => events.push(e),
      push(d: Buffer | null) {
        passed.push(d === null ? Buffer.from('null') : Buffer.from(d));
      },
    };
    return { s, passed, sent, events };
  }
  const init = packet(1, 3, 'x@example.com', 'v');

  it('an INIT in three pieces, with the next packet glued on: answered once whole, the rest passed on', () => {
    const t = stream();
    advertiseSftpExtensions(t.s, { 'posix-rename@openssh.com': '1' });
    const next = packet(17, 9, '/');
    const all = Buffer.concat([init, next]);
    t.s.push(all.subarray(0, 3));
    t.s.push(all.subarray(3, 10));
    expect([t.sent, t.passed, t.events]).toEqual([[], [], []]);
    t.s.push(all.subarray(10));
    expect(t.sent).toEqual([packet(2, 3, 'posix-rename@openssh.com', '1')]);
    expect([t.s._version, t.s._extensions, t.events]).toEqual([3, { 'x@example.com': 'v' }, ['ready']]);
    expect(t.passed).toEqual([next]);
    expect(t.s.outgoing.window).toBe(10_000 - (t.sent[0] as Buffer).length);
    // Later data goes straight to ssh2.
    t.s.push(next);
    expect(t.passed).toEqual([next, next]);
  });

  it.each([
    ['another packet first', () => packet(17, 1, '/'), 10_000],
    ['a malformed INIT (a string running past its end)', () => Buffer.concat([Buffer.from([0, 0, 0, 9, 1, 0, 0, 0, 3]), Buffer.from([0, 0, 0, 50])]), 10_000],
    ['no window for the reply', () => init, 5],
  ])('%s: everything left to ssh2 as it came', (_what, bytes, window) => {
    const t = stream(window);
    advertiseSftpExtensions(t.s, { 'posix-rename@openssh.com': '1' });
    const b = bytes();
    // A malformed INIT's declared length covers what follows; pad so the packet is whole.
    const whole = b[4] === 1 && b.length < 4 + b.readUInt32BE(0) ? Buffer.concat([b, Buffer.alloc(4 + b.readUInt32BE(0) - b.length)]) : b;
    t.s.push(whole);
    expect([t.sent, t.events, t.s._version]).toEqual([[], [], -1]);
    expect(t.passed).toEqual([whole]);
  });
});

describe('the shape check covers the INIT handler', () => {
  it("an INIT handler that no longer emits 'ready' after VERSION fails start-up with one line", () => {
    const real = assertSsh2Shape();
    const changed = { ...real, sftpSource: real.sftpSource.replace("sftp._extensions = extensions;\n    sftp.emit('ready');", "sftp._extensions = extensions;\n    sftp.emit('init');") };
    expect(changed.sftpSource).not.toBe(real.sftpSource);
    expect(() => assertSsh2Shape(() => changed)).toThrow(/^loopssh: ssh2 1\.17\.\d+ has an unexpected shape: SFTP\.js INIT handler no longer sends VERSION/);
  });
});
