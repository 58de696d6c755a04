/**
 * loopssh issue 15, point 6(d): a target path swapped between the check and
 * the open. The check is made to see a FIFO (as if another user planted one)
 * while the path really is a regular file by the time it is opened: the open
 * must neither truncate nor write that file.
 */
import { writeFileSync, readFileSync, readdirSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { TargetError } from '../../src/client/index.ts';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';

/** The path whose stat/lstat answers "FIFO", whatever it is. */
const swapped = { path: '' };

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const fifoStats = async (path: unknown): Promise<unknown> => {
    const st = await real.lstat(path as string);
    return Object.assign(Object.create(Object.getPrototypeOf(st) as object), st, {
      isFile: () => false,
      isFIFO: () => true,
      isSymbolicLink: () => false,
      isCharacterDevice: () => false,
      isDirectory: () => false,
    });
  };
  const lie =
    <F extends (path: never, ...rest: never[]) => unknown>(fn: F) =>
    (path: unknown, ...rest: unknown[]): unknown =>
      path === swapped.path ? fifoStats(path) : (fn as unknown as (...a: unknown[]) => unknown)(path, ...rest);
  const mocked = { ...real, lstat: lie(real.lstat), stat: lie(real.stat) };
  return { ...mocked, default: mocked };
});

let fx: Fixture;
let tmp: ReturnType<typeof tempDir>;
beforeEach(async () => {
  fx = await startFixture();
  tmp = tempDir();
});
afterEach(async () => {
  swapped.path = '';
  await fx.stop();
  tmp.remove();
});

it('a regular file where a FIFO was seen is refused after the open, untouched (no O_TRUNC, fstat checked)', async () => {
  const victim = join(tmp.dir, 'victim.txt');
  writeFileSync(victim, 'another user owns this');
  swapped.path = victim;
  const conn = await fx.connect();
  const err = await conn.run('payload 1000', { stdout: victim }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TargetError);
  expect((err as TargetError).message).toMatch(/neither a regular file, a FIFO nor a character device/);
  expect(readFileSync(victim, 'utf8')).toBe('another user owns this');
  expect(readdirSync(tmp.dir)).toEqual(['victim.txt']);
  expect(fx.server.seen.commands).toEqual([]);
});
