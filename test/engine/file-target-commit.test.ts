/**
 * A file target whose final rename fails (the target path became a
 * directory while the bytes were arriving): commit() rejects naming the
 * path, and the temporary sibling is removed, not left behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FlushTracker } from '../../src/engine/flush-tracker.ts';
import { openSink } from '../../src/engine/targets.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('file target commit', () => {
  it('a failed rename (target is now a non-empty directory) rejects and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopssh-commit-'));
    dirs.push(dir);
    const path = join(dir, 'out.bin');
    const sink = await openSink(path, 'stdout', { maxBuffer: 0, naive: false, fsync: false });
    const tracker = new FlushTracker();
    sink.track(tracker);
    sink.stream.write(randomBytes(100_000));
    sink.end();
    await tracker.wait({ timeoutMs: 10_000 });
    // While the bytes sat under the temporary name, something made the target a directory.
    expect(readdirSync(dir)).toHaveLength(1);
    mkdirSync(path);
    writeFileSync(join(path, 'keep'), 'x');
    await expect(sink.commit()).rejects.toThrow(/out\.bin: cannot be put in place \(E(ISDIR|NOTEMPTY|EXIST)\)/);
    expect(readdirSync(dir)).toEqual(['out.bin']);
    expect(statSync(path).isDirectory()).toBe(true);
    expect(readdirSync(path)).toEqual(['keep']);
  });
});
