import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChannelLostError, ExitStatusError, RunAbortedError, TargetError } from '../../src/client/index.ts';
import type { CommandHandler } from '../../src/server/index.ts';
import { expectedDigest, sha256, startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';

const MiB = 1024 * 1024;

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A Writable that takes `bytesPerSecond` and logs its lifecycle events into `events`. */
class SlowWritable extends Writable {
  taken = 0;
  readonly hash = createHash('sha256');
  constructor(
    readonly events: string[],
    readonly bytesPerSecond: number,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.on('finish', () => events.push('finish'));
    this.on('close', () => events.push('close'));
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    setTimeout(() => {
      this.taken += chunk.length;
      this.hash.update(chunk);
      cb();
    }, (chunk.length / this.bytesPerSecond) * 1000);
  }
  override _final(cb: (err?: Error | null) => void): void {
    // Like a file: flushing its last bytes takes a while after end().
    setTimeout(cb, 50);
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Like fs.WriteStream: 'finish' comes first, 'close' only once the fd is
    // closed, later. Without this gap 'finish' and 'close' arrive together
    // and a run done at 'finish' would pass (loopssh issue 17, point 5).
    setTimeout(() => cb(err), 50);
  }
}

/** A FlushTracker run holds until the target's own 'close', a naive one does not. */
describe('client: run() settles only when every target is done', () => {
  let fx: Fixture;
  let tmp: ReturnType<typeof tempDir>;
  const commands: Record<string, CommandHandler> = {
    'drop-after': async (ctx) => {
      const n = Number(ctx.argv[1]);
      await ctx.output.write('stdout', Buffer.alloc(n, 0x61));
      ctx.drop();
    },
  };
  beforeEach(async () => {
    fx = await startFixture({ commands });
    tmp = tempDir();
  });
  afterEach(async () => {
    await fx.stop();
    tmp.remove();
  });

  it('tracked: an owned slow Writable has emitted finish and close before run() resolves', async () => {
    const conn = await fx.connect();
    const events: string[] = [];
    const sink = new SlowWritable(events, 8_000_000);
    const r = await conn.run('payload 1MiB', { stdout: sink });
    events.push('resolved');
    expect(events).toEqual(['finish', 'close', 'resolved']);
    expect([r.stdoutBytes, sink.taken, sink.hash.digest('hex')]).toEqual([MiB, MiB, expectedDigest(MiB)]);
  });

  it('naive: run() resolves at the channel close while the slow sink still holds bytes (the bug, on request)', async () => {
    const conn = await fx.connect();
    const events: string[] = [];
    const sink = new SlowWritable(events, 4_000_000);
    const r = await conn.run('payload 1MiB', { stdout: sink, naive: true });
    events.push('resolved');
    expect(r.naive).toBe(true);
    expect(r.stdoutBytes).toBe(MiB);
    expect(events[0]).toBe('resolved');
    expect(sink.taken).toBeLessThan(MiB);
    await new Promise((resolve) => sink.once('close', resolve));
    expect(sink.taken).toBe(MiB);
  });

  it('a borrowed stream ({ end: false }) is flushed, never ended', async () => {
    const conn = await fx.connect();
    const events: string[] = [];
    const sink = new SlowWritable(events, 16_000_000);
    const r = await conn.run('payload 512KiB', { stdout: { stream: sink, end: false } });
    expect(sink.taken).toBe(512 * 1024);
    expect([sink.writableEnded, sink.destroyed, events]).toEqual([false, false, []]);
    expect(sink.hash.copy().digest('hex')).toBe(expectedDigest(512 * 1024));
    expect(r.exitCode).toBe(0);
    sink.end();
  });

  it('a file target appears complete and only once done: no temporary file is left', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'out.bin');
    const r = await conn.run('payload 16MiB --pattern random --stderr 1MiB', { stdout: path, stderr: join(tmp.dir, 'err.bin') });
    expect(r.exitCode).toBe(0);
    expect(statSync(path).size).toBe(16 * MiB);
    expect(await fileDigest(path)).toBe(expectedDigest(16 * MiB, 'random'));
    expect(await fileDigest(join(tmp.dir, 'err.bin'))).toBe(expectedDigest(MiB, 'random', 'stderr'));
    expect(readdirSync(tmp.dir).sort()).toEqual(['err.bin', 'out.bin']);
  });

  it('256 MiB to a file, byte-exact', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'big.bin');
    const r = await conn.run('payload 256MiB --pattern random --seed 3', { stdout: path });
    expect([r.exitCode, r.stdoutBytes, statSync(path).size]).toEqual([0, 256 * MiB, 256 * MiB]);
    expect(await fileDigest(path)).toBe(expectedDigest(256 * MiB, 'random', 'stdout', '3'));
  }, 120_000);

  it('a device path (/dev/null) is written in place, never replaced by a renamed file', async () => {
    const conn = await fx.connect();
    const r = await conn.run('payload 1MiB', { stdout: '/dev/null' });
    expect(r.stdoutBytes).toBe(MiB);
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('a channel lost mid-transfer rejects, and no file appears at the target path', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'lost.bin');
    const err = await conn.run('drop-after 3000000', { stdout: path }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelLostError);
    expect((err as ChannelLostError).stdoutBytes).toBe(3_000_000);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('an existing file is replaced only on success', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'keep.bin');
    writeFileSync(path, 'previous contents');
    await conn.run('drop-after 1000', { stdout: path }).catch(() => {});
    expect(readFileSync(path, 'utf8')).toBe('previous contents');
    await conn.run('payload 1000', { stdout: path });
    expect(sha256(readFileSync(path))).toBe(expectedDigest(1000));
  });

  it("'ignore' counts what it drops; an fd target is written and kept open", async () => {
    const conn = await fx.connect();
    const ignored = await conn.run('payload 3MiB', { stdout: 'ignore', hash: true });
    expect([ignored.stdoutBytes, ignored.stdoutSha256, ignored.stdout]).toEqual([3 * MiB, expectedDigest(3 * MiB), undefined]);
    const path = join(tmp.dir, 'fd.bin');
    const fd = openSync(path, 'w');
    try {
      const r = await conn.run('payload 2MiB', { stdout: fd });
      expect(r.stdoutBytes).toBe(2 * MiB);
      expect(sha256(readFileSync(path))).toBe(expectedDigest(2 * MiB));
    } finally {
      closeSync(fd); // still open: closing it does not throw EBADF
    }
  });

  it("'buffer' above maxBuffer rejects with a TargetError", async () => {
    const conn = await fx.connect();
    const err = await conn.run('payload 3MiB', { maxBuffer: MiB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetError);
    expect((err as TargetError).code).toBe('EMAXBUFFER');
    expect((err as TargetError).message).toMatch(/maxBuffer/);
  });

  it('a target that fails (ENOSPC) rejects naming it; the connection goes on', async () => {
    const conn = await fx.connect();
    let written = 0;
    const full = new Writable({
      write(chunk: Buffer, _e, cb) {
        written += chunk.length;
        if (written > MiB) cb(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
        else cb();
      },
    });
    const err = await conn.run('payload 8MiB', { stdout: full }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetError);
    expect((err as TargetError).code).toBe('ENOSPC');
    expect((err as TargetError).target).toMatch(/^stdout/);
    expect(full.destroyed).toBe(true);
    const ok = await conn.run('payload 100');
    expect(ok.exitCode).toBe(0);
  });

  it('stdin from a path, a Readable, a Buffer and text', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'in.bin');
    const data = Buffer.alloc(3 * MiB + 7, 0x5a);
    writeFileSync(path, data);
    const expected = `${data.length} ${sha256(data)}\n`;
    expect((await conn.run('sink', { stdin: path })).stdout?.toString()).toBe(expected);
    expect((await conn.run('sink', { stdin: { file: path } })).stdout?.toString()).toBe(expected);
    const pass = new PassThrough();
    pass.end(data);
    expect((await conn.run('sink', { stdin: pass })).stdout?.toString()).toBe(expected);
    expect((await conn.run('sink', { stdin: data })).stdout?.toString()).toBe(expected);
    expect((await conn.run('sink', { input: 'hello' })).stdout?.toString()).toBe(`5 ${sha256('hello')}\n`);
    expect((await conn.run('sink')).stdout?.toString()).toBe(`0 ${sha256('')}\n`);
  });

  it('a missing stdin file or an unwritable target fails before the command runs', async () => {
    const conn = await fx.connect();
    await expect(conn.run('sink', { stdin: join(tmp.dir, 'missing') })).rejects.toBeInstanceOf(TargetError);
    await expect(conn.run('payload 1', { stdout: join(tmp.dir, 'no', 'such', 'dir') })).rejects.toThrow(/cannot open stdout/);
    expect(fx.server.seen.commands).toEqual([]);
  });

  it('check: true turns a non-zero exit into ExitStatusError with the facts', async () => {
    const conn = await fx.connect();
    const err = await conn.run('payload 10 --exit 4', { check: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExitStatusError);
    expect([(err as ExitStatusError).exitCode, (err as ExitStatusError).stdoutBytes]).toEqual([4, 10]);
  });

  it('an AbortSignal cancels the run, and the target file never appears', async () => {
    const conn = await fx.connect();
    const path = join(tmp.dir, 'aborted.bin');
    const controller = new AbortController();
    const running = conn.run('payload 100MiB --rate 10MB', { stdout: path, signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunAbortedError);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('runs on one connection may overlap, each byte-exact', async () => {
    const conn = await fx.connect();
    const sizes = [MiB, 3 * MiB + 1, 5 * MiB - 1, 7];
    const results = await Promise.all(sizes.map((n, i) => conn.run(`payload ${n} --pattern random --seed ${i}`, { hash: true, stdout: 'ignore' })));
    expect(results.map((r) => r.stdoutSha256)).toEqual(sizes.map((n, i) => expectedDigest(n, 'random', 'stdout', String(i))));
  });

  // Regression: the exit status can be parsed from the same TCP read as the
  // exec reply; a listener attached after an await missed it (seen with
  // ssh2's pure-JS crypto in the installed-package test).
  it('200 instant commands in a row all report their exit status', async () => {
    const conn = await fx.connect();
    const codes: (number | null)[] = [];
    for (let i = 0; i < 200; i++) codes.push((await conn.run(`payload 0 --exit ${i % 256}`)).exitCode);
    expect(codes).toEqual(Array.from({ length: 200 }, (_, i) => i % 256));
  });
});
