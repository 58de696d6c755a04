import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlushTimeoutError, FlushTracker, PrematureCloseError } from '../../src/engine/flush-tracker.ts';
import { sha256 } from '../helpers/oracle.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'loopssh-flush-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});


/** How a wait() ended, recorded into `order` the moment it settles. */
function settle(p: Promise<void>, order: string[]): Promise<{ ok: true } | { ok: false; err: unknown }> {
  return p.then(
    () => {
      order.push('resolved');
      return { ok: true } as const;
    },
    (err: unknown) => {
      order.push('rejected');
      return { ok: false, err } as const;
    },
  );
}

/** Records 'finish', 'close' and 'error' of a stream into `order`, prefixed with `tag`. */
function record(stream: Writable | Readable, order: string[], tag = ''): void {
  for (const ev of ['finish', 'end', 'close', 'error'] as const) {
    stream.on(ev, () => order.push(tag + ev));
  }
}

/** A writable whose write callbacks come `writeMs` later and whose 'close' comes `destroyMs` after 'finish'. */
function slowWritable(opts: { writeMs?: number; finalMs?: number; destroyMs?: number; sink?: Buffer[]; emitClose?: boolean } = {}): Writable {
  return new Writable({
    emitClose: opts.emitClose ?? true,
    write(chunk: Buffer, _enc, cb) {
      setTimeout(() => {
        opts.sink?.push(chunk);
        cb();
      }, opts.writeMs ?? 0);
    },
    final(cb) {
      setTimeout(cb, opts.finalMs ?? 0);
    },
    destroy(err, cb) {
      setTimeout(() => cb(err), opts.destroyMs ?? 0);
    },
  });
}

/** A writable that never finishes: its _final never calls back. */
function stuckWritable(): Writable {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
    final() {
      /* never calls back */
    },
  });
}

describe('FlushTracker: owned writables', () => {
  it('fs.WriteStream: wait() resolves only after close, with every byte on disk', async () => {
    const path = join(dir, 'owned.bin');
    const chunks = [randomBytes(1), randomBytes(64 * 1024), randomBytes(1024 * 1024 + 7), Buffer.alloc(0), randomBytes(333)];
    const expected = Buffer.concat(chunks);
    const order: string[] = [];
    const tracker = new FlushTracker();
    const file = createWriteStream(path);
    tracker.owned(file, 'file');
    record(file, order);
    let onDisk: Buffer | undefined;
    const waited = tracker.wait().then(() => {
      order.push('resolved');
      // Read synchronously at the moment of resolution: nothing may still be in flight.
      onDisk = readFileSync(path);
    });
    for (const c of chunks) file.write(c);
    file.end();
    await waited;
    expect(order).toEqual(['finish', 'close', 'resolved']);
    expect(onDisk?.length).toBe(expected.length);
    expect(onDisk?.length).toBe(1 + 64 * 1024 + 1024 * 1024 + 7 + 333);
    expect(sha256(onDisk as Buffer)).toBe(sha256(expected));
    expect(tracker.events).toEqual(['file:done']);
    expect(tracker.pending()).toEqual([]);
    expect(tracker.error).toBeUndefined();
  });

  it("custom writable whose 'close' comes 100+ ms after 'finish': wait() waits for 'close'", async () => {
    const sink: Buffer[] = [];
    const stream = slowWritable({ writeMs: 5, finalMs: 5, destroyMs: 150, sink });
    const order: string[] = [];
    const at: Record<string, number> = {};
    for (const ev of ['finish', 'close'] as const) stream.on(ev, () => (at[ev] = performance.now()));
    record(stream, order);
    const tracker = new FlushTracker();
    tracker.owned(stream, 'slow');
    const result = settle(tracker.wait(), order);
    stream.write(Buffer.alloc(1000, 1));
    stream.write(Buffer.alloc(24, 2));
    stream.end();
    await new Promise((r) => stream.once('finish', r));
    // 'finish' has fired; the tracker must still be waiting.
    await sleep(50);
    expect(order).toEqual(['finish']);
    expect(tracker.pending()).toEqual(['slow']);
    expect((await result).ok).toBe(true);
    expect(order).toEqual(['finish', 'close', 'resolved']);
    expect((at.close as number) - (at.finish as number)).toBeGreaterThanOrEqual(100);
    expect(Buffer.concat(sink).length).toBe(1024);
  });

  it('an owned stream that has already closed counts as done', async () => {
    const stream = slowWritable();
    stream.end();
    await new Promise((r) => stream.once('close', r));
    const tracker = new FlushTracker();
    tracker.owned(stream, 'closed-already');
    await expect(tracker.wait({ timeoutMs: 1000 })).resolves.toBeUndefined();
    expect(tracker.events).toEqual(['closed-already:done']);
  });
});

describe('FlushTracker: borrowed writables', () => {
  it('flush() resolves only after every earlier write called back, and never ends or destroys the stream', async () => {
    const sink: Buffer[] = [];
    const stream = slowWritable({ writeMs: 15, sink });
    const order: string[] = [];
    record(stream, order);
    const tracker = new FlushTracker();
    tracker.borrowed(stream, 'stdout');
    const result = settle(tracker.wait(), order);
    const N = 6;
    let bytes = 0;
    for (let i = 0; i < N; i++) {
      const chunk = Buffer.alloc(100 * (i + 1), i);
      bytes += chunk.length;
      stream.write(chunk, () => order.push(`cb${i}`));
    }
    tracker.flush(stream);
    expect((await result).ok).toBe(true);
    expect(order).toEqual(['cb0', 'cb1', 'cb2', 'cb3', 'cb4', 'cb5', 'resolved']);
    expect(Buffer.concat(sink).length).toBe(bytes);
    expect(bytes).toBe(2100);
    expect(stream.writableEnded).toBe(false);
    expect(stream.destroyed).toBe(false);
    expect(stream.writable).toBe(true);
    expect(tracker.events).toEqual(['stdout:done']);
    // Still usable by its owner.
    await new Promise<void>((resolve, reject) => stream.write(Buffer.from('more'), (err) => (err ? reject(err) : resolve())));
    expect(Buffer.concat(sink).toString('latin1').endsWith('more')).toBe(true);
  });

  it('wait() stays pending until flush() is called', async () => {
    const stream = slowWritable();
    const tracker = new FlushTracker();
    tracker.borrowed(stream, 'out');
    stream.write('abc');
    const order: string[] = [];
    const result = settle(tracker.wait(), order);
    await sleep(30);
    expect(order).toEqual([]);
    expect(tracker.pending()).toEqual(['out']);
    tracker.flush(stream);
    expect((await result).ok).toBe(true);
    expect(order).toEqual(['resolved']);
  });

  it('flush() of a stream that is not tracked throws', () => {
    const tracker = new FlushTracker();
    expect(() => tracker.flush(slowWritable())).toThrow(/not tracked as borrowed/);
    // Owned is not borrowed either.
    const owned = slowWritable();
    tracker.owned(owned, 'owned');
    expect(() => tracker.flush(owned)).toThrow(/not tracked as borrowed/);
  });

  it('flush() of a borrowed stream that was ended meanwhile rejects with PrematureCloseError', async () => {
    const stream = slowWritable();
    const tracker = new FlushTracker();
    tracker.borrowed(stream, 'gone');
    stream.end();
    tracker.flush(stream);
    const err = await tracker.wait({ timeoutMs: 1000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PrematureCloseError);
    expect((err as PrematureCloseError).entry).toBe('gone');
    expect(tracker.events).toEqual(['gone:error']);
  });

  // Regression: #fail() used to delete given-up borrowed streams from
  // #borrowed, so a caller's normal "flush after the last write" threw a
  // misleading "not tracked" error once any other entry had failed.
  it('flush() after the tracker gave up on a borrowed stream (another entry failed) is a no-op', async () => {
    const stream = slowWritable();
    const tracker = new FlushTracker();
    tracker.borrowed(stream, 'stdout');
    const reason = new Error('connection lost');
    tracker.abort(reason);
    expect(() => tracker.flush(stream)).not.toThrow();
    await expect(tracker.wait()).rejects.toBe(reason);
    expect(stream.destroyed).toBe(false);
  });
});

describe('FlushTracker: sources', () => {
  it("is done at 'end', not before", async () => {
    const src = new Readable({ read() {} });
    const order: string[] = [];
    record(src, order);
    const tracker = new FlushTracker();
    tracker.source(src, 'stdout channel');
    let got = 0;
    src.on('data', (c: Buffer) => (got += c.length));
    const result = settle(tracker.wait(), order);
    src.push(Buffer.alloc(500));
    await sleep(20);
    src.push(Buffer.alloc(524));
    await sleep(20);
    expect(order).toEqual([]);
    expect(tracker.pending()).toEqual(['stdout channel']);
    src.push(null);
    expect((await result).ok).toBe(true);
    expect(order.indexOf('end')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('end')).toBeLessThan(order.indexOf('resolved'));
    expect(got).toBe(1024);
    expect(tracker.events).toEqual(['stdout channel:done']);
  });

  it("a source that closes without 'end' (destroy()) rejects with PrematureCloseError", async () => {
    const src = new Readable({ read() {} });
    src.resume();
    const tracker = new FlushTracker();
    tracker.source(src, 'stderr channel');
    src.push('partial');
    await sleep(5);
    src.destroy();
    const err = await tracker.wait({ timeoutMs: 1000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PrematureCloseError);
    expect((err as PrematureCloseError).name).toBe('PrematureCloseError');
    expect((err as PrematureCloseError).entry).toBe('stderr channel');
    expect((err as Error).message).toBe('stderr channel closed before it ended');
    expect(tracker.events).toEqual(['stderr channel:error']);
  });

  it('a source destroyed with an error rejects with that error', async () => {
    const src = new Readable({ read() {} });
    const tracker = new FlushTracker();
    tracker.source(src, 'src');
    const boom = new Error('reset by peer');
    src.destroy(boom);
    await expect(tracker.wait({ timeoutMs: 1000 })).rejects.toBe(boom);
    expect(tracker.events).toEqual(['src:error']);
  });

  it('a source that already ended before being tracked counts as done', async () => {
    const src = Readable.from([Buffer.from('abc')]);
    src.resume();
    await new Promise((r) => src.once('end', r));
    expect(src.readableEnded).toBe(true);
    const tracker = new FlushTracker();
    tracker.source(src, 'early');
    expect(tracker.pending()).toEqual([]);
    await expect(tracker.wait({ timeoutMs: 1000 })).resolves.toBeUndefined();
    expect(tracker.events).toEqual(['early:done']);
  });

  // Regression: source() used to check readableEnded but not destroyed; a
  // source already destroyed never emits 'close' again, so the tracker waited
  // forever (or until the timeout) instead of rejecting.
  it('a source destroyed (closed without end) before being tracked rejects with PrematureCloseError', async () => {
    const src = new Readable({ read() {} });
    src.destroy();
    await new Promise((r) => src.once('close', r));
    const tracker = new FlushTracker();
    tracker.source(src, 'dead');
    const err = await tracker.wait({ timeoutMs: 300 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PrematureCloseError);
  });

  it("a Readable with emitClose: false (like ssh2's Channel) is done at 'end'", async () => {
    const src = new Readable({ emitClose: false, read() {} });
    const order: string[] = [];
    record(src, order);
    const tracker = new FlushTracker();
    tracker.source(src, 'channel');
    let got = 0;
    src.on('data', (c: Buffer) => (got += c.length));
    const result = settle(tracker.wait(), order);
    src.push(Buffer.alloc(4096));
    await sleep(20);
    expect(order).toEqual([]);
    src.push(null);
    expect((await result).ok).toBe(true);
    expect(order).toEqual(['end', 'resolved']);
    expect(got).toBe(4096);
    // It never emitted 'close' on its own, and the tracker did not need it.
    await sleep(10);
    expect(order).not.toContain('close');
    expect(tracker.events).toEqual(['channel:done']);
  });

  it("an emitClose: false source whose owner emits 'close' itself after 'end' is still done", async () => {
    const src = new Readable({ emitClose: false, read() {} });
    src.resume();
    const tracker = new FlushTracker();
    tracker.source(src, 'channel');
    src.push('x');
    src.push(null);
    src.once('end', () => src.emit('close'));
    await expect(tracker.wait({ timeoutMs: 1000 })).resolves.toBeUndefined();
    expect(tracker.events).toEqual(['channel:done']);
  });

  it("an emitClose: false source whose owner emits 'close' before 'end' rejects", async () => {
    const src = new Readable({ emitClose: false, read() {} });
    const tracker = new FlushTracker();
    tracker.source(src, 'channel');
    src.push('unread data');
    src.emit('close');
    await expect(tracker.wait({ timeoutMs: 1000 })).rejects.toBeInstanceOf(PrematureCloseError);
  });
});

describe('FlushTracker: cleanup tasks', () => {
  it('resolves only after a delayed promise', async () => {
    const order: string[] = [];
    const tracker = new FlushTracker();
    tracker.cleanup(
      sleep(60).then(() => order.push('task')),
      'channel close',
    );
    const started = performance.now();
    expect((await settle(tracker.wait(), order)).ok).toBe(true);
    expect(order).toEqual(['task', 'resolved']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
    expect(tracker.events).toEqual(['channel close:done']);
  });

  it('a rejected task rejects wait() with that error', async () => {
    const tracker = new FlushTracker();
    const boom = new Error('cleanup failed');
    tracker.cleanup(sleep(10).then(() => Promise.reject(boom)), 'task');
    await expect(tracker.wait()).rejects.toBe(boom);
    expect(tracker.error).toBe(boom);
    expect(tracker.events).toEqual(['task:error']);
  });

  it('a task rejected with a non-Error is wrapped in an Error', async () => {
    const tracker = new FlushTracker();
    tracker.cleanup(Promise.reject('just a string'), 'task');
    const err = await tracker.wait().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('just a string');
  });
});

describe('FlushTracker: errors', () => {
  it('the first error wins when two streams fail', async () => {
    const a = slowWritable();
    const b = slowWritable();
    const tracker = new FlushTracker();
    tracker.owned(a, 'a');
    tracker.owned(b, 'b');
    const first = new Error('first');
    const second = new Error('second');
    a.destroy(first);
    b.destroy(second);
    await expect(tracker.wait({ timeoutMs: 1000 })).rejects.toBe(first);
    expect(tracker.error).toBe(first);
    expect(tracker.events).toEqual(['a:error', 'b:error']);
  });

  it('the first error wins even when the later one comes from a task', async () => {
    const a = slowWritable();
    const tracker = new FlushTracker();
    tracker.owned(a, 'a');
    const later = new Error('later');
    tracker.cleanup(sleep(30).then(() => Promise.reject(later)), 'task');
    const first = new Error('write failed');
    a.destroy(first);
    await expect(tracker.wait({ timeoutMs: 1000 })).rejects.toBe(first);
    // wait() only settles after the task did too.
    expect(tracker.events).toEqual(['a:error', 'task:error']);
  });

  it('destroys the other owned streams, spares borrowed ones, and rejects only after the owned ones closed', async () => {
    const order: string[] = [];
    const failing = new Writable({
      write(_c, _e, cb) {
        setTimeout(() => cb(Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' })), 5);
      },
    });
    const file = createWriteStream(join(dir, 'victim.bin'));
    const slow = slowWritable({ destroyMs: 80 });
    const borrowed = slowWritable();
    const src = new Readable({ read() {} });
    record(failing, order, 'failing:');
    record(file, order, 'file:');
    record(slow, order, 'slow:');
    record(borrowed, order, 'borrowed:');
    record(src, order, 'src:');
    const tracker = new FlushTracker();
    tracker.owned(failing, 'failing');
    tracker.owned(file, 'file');
    tracker.owned(slow, 'slow');
    tracker.borrowed(borrowed, 'borrowed');
    tracker.source(src, 'src');
    file.write(Buffer.alloc(10));
    borrowed.write(Buffer.alloc(10));
    failing.write(Buffer.alloc(10));
    const result = await settle(tracker.wait({ timeoutMs: 5000 }), order);
    expect(result.ok).toBe(false);
    const err = (result as { err: Error }).err;
    expect(err.message).toBe('ENOSPC: no space left');
    expect(tracker.error).toBe(err);

    expect(file.destroyed).toBe(true);
    expect(slow.destroyed).toBe(true);
    expect(src.destroyed).toBe(true);
    expect(borrowed.destroyed).toBe(false);
    expect(borrowed.writableEnded).toBe(false);

    const rejectedAt = order.indexOf('rejected');
    for (const closed of ['failing:close', 'file:close', 'slow:close']) {
      expect(order, closed).toContain(closed);
      expect(order.indexOf(closed), closed).toBeLessThan(rejectedAt);
    }
    // The others were destroyed with the first error.
    expect(file.errored).toBe(err);
    expect(slow.errored).toBe(err);
    expect(order.slice(0, 2)).toEqual(['failing:error', 'failing:close']);
    expect(order).not.toContain('borrowed:close');
    expect(order).not.toContain('borrowed:finish');
    expect(tracker.events[0]).toBe('failing:error');
    expect(new Set(tracker.events)).toEqual(new Set(['failing:error', 'file:error', 'slow:error', 'borrowed:done', 'src:done']));
    expect(tracker.pending()).toEqual([]);
  });
});

describe('FlushTracker: timeouts', () => {
  it('a stream that never closes: wait({ timeoutMs: 100 }) rejects with FlushTimeoutError naming it', async () => {
    const stuck = stuckWritable();
    const ok = slowWritable();
    const order: string[] = [];
    record(stuck, order, 'stuck:');
    const stuckClosed = new Promise((r) => stuck.once('close', r));
    const tracker = new FlushTracker();
    tracker.owned(stuck, 'stuck file');
    tracker.owned(ok, 'ok file');
    stuck.write('data');
    stuck.end();
    ok.end();
    const started = performance.now();
    const result = await settle(tracker.wait({ timeoutMs: 100 }), order);
    const elapsed = performance.now() - started;
    expect(result.ok).toBe(false);
    const err = (result as { err: FlushTimeoutError }).err;
    expect(err).toBeInstanceOf(FlushTimeoutError);
    expect(err.name).toBe('FlushTimeoutError');
    expect(err.pending).toEqual(['stuck file']);
    expect(err.message).toBe('not flushed after 100 ms: stuck file');
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(elapsed).toBeLessThan(2000); // a bound for a hang, not a performance check
    expect(stuck.destroyed).toBe(true);
    expect(ok.destroyed).toBe(true);
    expect(tracker.events[0]).toBe('ok file:done');
    // The destroyed stream does close, and its error is handled by the tracker (no unhandled 'error').
    await stuckClosed;
    expect(order).toContain('stuck:close');
    expect(order).not.toContain('stuck:finish');
    expect(stuck.errored).toBe(err);
  });

  it('a borrowed stream that never drains times out but is not destroyed', async () => {
    const never = new Writable({
      write() {
        /* never calls back */
      },
    });
    const tracker = new FlushTracker();
    tracker.borrowed(never, 'stdout');
    never.write('x');
    tracker.flush(never);
    const started = performance.now();
    const err = await tracker.wait({ timeoutMs: 100 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlushTimeoutError);
    expect((err as FlushTimeoutError).pending).toEqual(['stdout']);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(never.destroyed).toBe(false);
    expect(never.writableEnded).toBe(false);
  });

  it('does not time out when everything finishes first', async () => {
    const tracker = new FlushTracker();
    tracker.cleanup(sleep(20), 'quick');
    await expect(tracker.wait({ timeoutMs: 1000 })).resolves.toBeUndefined();
    expect(tracker.events).toEqual(['quick:done']);
  });
});

describe('FlushTracker: events and abort', () => {
  it('events records completion order, not registration order', async () => {
    const tracker = new FlushTracker();
    const owned = slowWritable({ destroyMs: 60 });
    const src = new Readable({ read() {} });
    src.resume();
    const borrowed = slowWritable({ writeMs: 10 });
    tracker.owned(owned, 'file');
    tracker.cleanup(sleep(120), 'task');
    tracker.source(src, 'src');
    tracker.borrowed(borrowed, 'stdout');
    owned.end('x'); // closes ~60 ms later
    src.push(null); // ends at once
    borrowed.write('y');
    tracker.flush(borrowed); // ~20 ms
    await tracker.wait({ timeoutMs: 2000 });
    expect(tracker.events).toEqual(['src:done', 'stdout:done', 'file:done', 'task:done']);
  });

  it('abort(err) destroys owned streams and sources, spares borrowed ones, and wait() rejects with err', async () => {
    const order: string[] = [];
    const owned = slowWritable();
    const src = new Readable({ read() {} });
    const borrowed = slowWritable();
    record(owned, order, 'owned:');
    record(src, order, 'src:');
    record(borrowed, order, 'borrowed:');
    const tracker = new FlushTracker();
    tracker.owned(owned, 'file');
    tracker.source(src, 'src');
    tracker.borrowed(borrowed, 'stdout');
    // A cleanup task cannot be cancelled: wait() still waits for it.
    tracker.cleanup(sleep(80).then(() => order.push('task')), 'task');
    const waiting = settle(tracker.wait(), order);
    await sleep(10);
    const reason = new Error('run aborted');
    tracker.abort(reason);
    expect(owned.destroyed).toBe(true);
    expect(src.destroyed).toBe(true);
    expect(borrowed.destroyed).toBe(false);
    expect(tracker.error).toBe(reason);
    await sleep(30);
    expect(order).not.toContain('rejected');
    expect(tracker.pending()).toEqual(['task']);
    const result = await waiting;
    expect(result).toEqual({ ok: false, err: reason });
    expect(order.at(-2)).toBe('task');
    expect(order.at(-1)).toBe('rejected');
    expect(owned.errored).toBe(reason);
    expect(order).toContain('owned:close');
    expect(order).toContain('src:close');
    expect(order).not.toContain('src:end');
    expect(order).not.toContain('src:error'); // sources are destroyed without an error
    expect(order.filter((e) => e.startsWith('borrowed:'))).toEqual([]);
    expect(borrowed.writableEnded).toBe(false);
    expect(tracker.events).toEqual(['src:done', 'stdout:done', 'file:error', 'task:done']);
  });

  it('abort(err) rejects wait() with err once the owned streams closed', async () => {
    const order: string[] = [];
    const owned = slowWritable({ destroyMs: 50 });
    const src = new Readable({ read() {} });
    record(owned, order, 'owned:');
    const tracker = new FlushTracker();
    tracker.owned(owned, 'file');
    tracker.source(src, 'src');
    const waiting = settle(tracker.wait(), order);
    const reason = new Error('connection lost');
    tracker.abort(reason);
    const result = await waiting;
    expect(result).toEqual({ ok: false, err: reason });
    expect(order).toEqual(['owned:error', 'owned:close', 'rejected']);
    expect(tracker.events).toEqual(['src:done', 'file:error']);
  });

  it('abort() after everything is done still makes wait() reject', async () => {
    const tracker = new FlushTracker();
    tracker.cleanup(Promise.resolve(), 'task');
    await tracker.wait();
    const reason = new Error('late');
    tracker.abort(reason);
    await expect(tracker.wait()).rejects.toBe(reason);
  });

  // Regression: wait() used to keep a single #wake slot; a second concurrent
  // wait() overwrote it and the first one never settled, even with a timeout
  // (its timer called #wake, which the second wait's finally had cleared).
  it('two concurrent wait() calls both settle', async () => {
    const tracker = new FlushTracker();
    tracker.cleanup(sleep(20), 'task');
    const order: string[] = [];
    const first = tracker.wait({ timeoutMs: 300 }).then(
      () => order.push('first:resolved'),
      () => order.push('first:rejected'),
    );
    const second = tracker.wait({ timeoutMs: 300 }).then(
      () => order.push('second:resolved'),
      () => order.push('second:rejected'),
    );
    await Promise.race([Promise.all([first, second]), sleep(1000)]);
    expect(order.sort()).toEqual(['first:resolved', 'second:resolved']);
  });
});
