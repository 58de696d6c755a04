/**
 * loopssh issue 16: FlushTracker.owned() waited only for 'close' or 'error',
 * so a stream that never emits 'close' by itself (emitClose: false,
 * autoDestroy: false — ssh2's own SFTP WriteStream is both) made wait() hang.
 * Node's rule (willEmitClose() in lib/internal/streams/utils.js) decides what
 * "done" is per stream; these tests pin each case with its event order.
 * Every wait() here has a timeout, so the old behaviour fails with
 * FlushTimeoutError instead of hanging the suite.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, fstatSync, closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FlushTracker, willEmitClose } from '../../src/engine/flush-tracker.ts';
import { sha256 } from '../helpers/oracle.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loopssh-noclose-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


/** Records the stream's lifecycle events into `order`. */
function record(stream: Writable, order: string[]): void {
  for (const ev of ['finish', 'close', 'error'] as const) stream.on(ev, () => order.push(ev));
}

/** wait() with a deadline; pushes 'resolved' or 'rejected' into `order` when it settles. */
function waitInto(tracker: FlushTracker, order: string[], timeoutMs = 2000): Promise<unknown> {
  return tracker.wait({ timeoutMs }).then(
    () => {
      order.push('resolved');
      return undefined;
    },
    (err: unknown) => {
      order.push('rejected');
      return err;
    },
  );
}

function collecting(options: { emitClose?: boolean; autoDestroy?: boolean }, sink: Buffer[]): Writable {
  return new Writable({
    ...options,
    write(chunk: Buffer, _enc, cb) {
      sink.push(chunk);
      setImmediate(cb);
    },
  });
}

describe('willEmitClose(): Node’s rule', () => {
  it('is true only with autoDestroy and emitClose both true', () => {
    const sink: Buffer[] = [];
    expect(willEmitClose(collecting({}, sink))).toBe(true);
    expect(willEmitClose(collecting({ emitClose: false }, sink))).toBe(false);
    expect(willEmitClose(collecting({ autoDestroy: false }, sink))).toBe(false);
    const path = join(dir, 'rule.bin');
    const fsDefault = createWriteStream(path);
    const fsKeep = createWriteStream(path, { autoClose: false });
    expect(willEmitClose(fsDefault)).toBe(true);
    expect(willEmitClose(fsKeep)).toBe(false);
    fsDefault.destroy();
    fsKeep.destroy();
  });
});

describe("FlushTracker.owned(): streams that never emit 'close' by themselves", () => {
  it("emitClose: false — done at 'finish', every byte written, no 'close' ever", async () => {
    const sink: Buffer[] = [];
    const data = randomBytes(256 * 1024 + 3);
    const stream = collecting({ emitClose: false }, sink);
    const order: string[] = [];
    record(stream, order);
    const tracker = new FlushTracker();
    tracker.owned(stream, 'quiet');
    const waited = waitInto(tracker, order);
    stream.write(data.subarray(0, 1000));
    stream.end(data.subarray(1000));
    expect(await waited).toBeUndefined();
    await sleep(20); // a late 'close' would show up here
    expect(order).toEqual(['finish', 'resolved']);
    expect(Buffer.concat(sink).length).toBe(data.length);
    expect(sha256(Buffer.concat(sink))).toBe(sha256(data));
    expect(tracker.events).toEqual(['quiet:done']);
  });

  it("autoDestroy: false — done at 'finish'; the tracker does not destroy it", async () => {
    const sink: Buffer[] = [];
    const stream = collecting({ autoDestroy: false }, sink);
    const order: string[] = [];
    record(stream, order);
    const tracker = new FlushTracker();
    tracker.owned(stream, 'kept');
    const waited = waitInto(tracker, order);
    stream.end(Buffer.alloc(4096, 7));
    expect(await waited).toBeUndefined();
    expect(order).toEqual(['finish', 'resolved']);
    expect(stream.destroyed).toBe(false);
    expect(Buffer.concat(sink).length).toBe(4096);
  });

  it("fs.createWriteStream({ autoClose: false }) — done at 'finish' with the fd still open and every byte in the file", async () => {
    const path = join(dir, 'keep-fd.bin');
    const data = randomBytes(1024 * 1024 + 5);
    const file = createWriteStream(path, { autoClose: false });
    const order: string[] = [];
    record(file, order);
    const tracker = new FlushTracker();
    tracker.owned(file, 'keep-fd');
    let fdAtDone: number | null = null as number | null;
    let onDisk: Buffer | undefined;
    const waited = tracker.wait({ timeoutMs: 5000 }).then(() => {
      order.push('resolved');
      fdAtDone = (file as unknown as { fd: number | null }).fd;
      onDisk = readFileSync(path);
    });
    file.end(data);
    await waited;
    expect(order).toEqual(['finish', 'resolved']);
    expect(typeof fdAtDone).toBe('number');
    // The fd is open (fstat works) because the caller asked to keep it.
    expect(fstatSync(fdAtDone as number).size).toBe(data.length);
    expect(onDisk?.length).toBe(data.length);
    expect(sha256(onDisk as Buffer)).toBe(sha256(data));
    closeSync(fdAtDone as number);
  });

  it("a stream that emits 'close' by hand and never 'finish' (ssh2 SFTP WriteStream's shape) is done at that 'close'", async () => {
    const sink: Buffer[] = [];
    // Like ssh2 1.17 lib/protocol/SFTP.js WriteStream: _final destroys, _destroy
    // answers after a round trip and then emits 'close' itself.
    const stream = new Writable({
      emitClose: false,
      autoDestroy: false,
      write(chunk: Buffer, _enc, cb) {
        sink.push(chunk);
        setImmediate(cb);
      },
      final(cb) {
        this.destroy();
        cb();
      },
      destroy(err, cb) {
        setTimeout(() => {
          cb(err);
          if (!err) this.emit('close');
        }, 120);
      },
    });
    const order: string[] = [];
    record(stream, order);
    const tracker = new FlushTracker();
    tracker.owned(stream, 'by-hand');
    const waited = waitInto(tracker, order);
    stream.end(Buffer.alloc(10_000, 1));
    await sleep(40);
    expect(tracker.pending()).toEqual(['by-hand']);
    expect(await waited).toBeUndefined();
    expect(order).toEqual(['close', 'resolved']);
    expect(Buffer.concat(sink).length).toBe(10_000);
  });

  it('emitClose: false destroyed with an error rejects wait() with that error', async () => {
    const stream = collecting({ emitClose: false }, []);
    const order: string[] = [];
    record(stream, order);
    const tracker = new FlushTracker();
    tracker.owned(stream, 'broken');
    const waited = waitInto(tracker, order);
    const boom = new Error('disk gone');
    stream.write(Buffer.alloc(10));
    stream.destroy(boom);
    expect(await waited).toBe(boom);
    expect(order).toEqual(['error', 'rejected']);
  });

  it("an emitClose: false stream that already finished before being tracked counts as done", async () => {
    const stream = collecting({ emitClose: false }, []);
    stream.end(Buffer.alloc(1));
    await new Promise((r) => stream.once('finish', r));
    const tracker = new FlushTracker();
    tracker.owned(stream, 'finished-already');
    expect(await waitInto(tracker, [], 500)).toBeUndefined();
    expect(tracker.events).toEqual(['finished-already:done']);
  });
});

describe("FlushTracker.owned(): ssh2 1.17's real SFTP WriteStream", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** An in-process ssh2 SFTP server that keeps what is written and answers CLOSE after `closeDelayMs`. */
  async function sftpServer(closeDelayMs: number): Promise<{ port: number; hostKey: string; written: Buffer[]; log: string[] }> {
    const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
    const written: Buffer[] = [];
    const log: string[] = [];
    const { STATUS_CODE } = ssh2.utils.sftp;
    const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
      client.on('authentication', (ctx) => ctx.accept());
      client.on('error', () => {});
      client.on('ready', () => {
        client.on('session', (acceptSession) => {
          const session = acceptSession();
          session.on('sftp', (acceptSftp) => {
            const sftp = acceptSftp();
            sftp.on('OPEN', (id) => sftp.handle(id, Buffer.from('h1')));
            sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS_CODE.OK));
            sftp.on('WRITE', (id, _handle, offset, data) => {
              written.push(Buffer.from(data));
              log.push(`WRITE@${offset}`);
              sftp.status(id, STATUS_CODE.OK);
            });
            sftp.on('CLOSE', (id) => {
              log.push('CLOSE received');
              setTimeout(() => {
                log.push('CLOSE answered');
                sftp.status(id, STATUS_CODE.OK);
              }, closeDelayMs);
            });
          });
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { port: (server.address() as { port: number }).port, hostKey, written, log };
  }

  it("is done at its hand-emitted 'close' after the server answered CLOSE; 'finish' never comes", async () => {
    const srv = await sftpServer(150);
    const client = new ssh2.Client();
    cleanups.push(() => {
      client.end();
    });
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ host: '127.0.0.1', port: srv.port, username: 'tester' });
    });
    const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    const data = randomBytes(200 * 1024 + 11);
    const stream = sftp.createWriteStream('/upload.bin');
    expect(willEmitClose(stream)).toBe(false);
    const order: string[] = [];
    record(stream, order);
    const tracker = new FlushTracker();
    tracker.owned(stream, 'sftp');
    const waited = tracker.wait({ timeoutMs: 5000 }).then(
      () => {
        order.push(`resolved (${srv.log.at(-1)})`);
      },
      (err: unknown) => {
        order.push(`rejected: ${String(err)}`);
      },
    );
    stream.end(data);
    await waited;
    expect(order).toEqual(['close', 'resolved (CLOSE answered)']);
    const got = Buffer.concat(srv.written);
    expect(got.length).toBe(data.length);
    expect(sha256(got)).toBe(sha256(data));
  });
});
