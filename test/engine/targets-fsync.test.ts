/**
 * loopssh issue 16: opt-in fsync of file targets. 'close' means the kernel
 * has every byte, not the disk; with `fsync` the file is fsynced complete,
 * under its temporary name, then renamed, then its folder is fsynced. The
 * recorder below wraps the real fsync calls (FS_SYNC) and looks at the folder
 * at the moment of each call, so the order is observed, not assumed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FlushTracker } from '../../src/engine/flush-tracker.ts';
import { FS_SYNC, type SyncCalls } from '../../src/engine/file-target.ts';
import { openSink } from '../../src/engine/targets.ts';
import { sha256 } from '../helpers/oracle.ts';


const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'loopssh-fsync-'));
  dirs.push(d);
  return d;
}

interface SyncCall {
  call: 'file' | 'folder';
  path: string;
  /** The folder's entries at the moment of the call. */
  entries: string[];
  /** Size and SHA-256 of the synced file at the moment of the call. */
  bytes?: number;
  sha?: string;
}

/** Real fsync calls, recorded with what the folder held when each was made. */
function recordingSync(calls: SyncCall[], fail?: Error): SyncCalls {
  return {
    async file(path) {
      const data = readFileSync(path);
      calls.push({ call: 'file', path, entries: readdirSync(dirname(path)).sort(), bytes: data.length, sha: sha256(data) });
      if (fail) throw fail;
      await FS_SYNC.file(path);
    },
    async folder(path) {
      calls.push({ call: 'folder', path, entries: readdirSync(path).sort() });
      await FS_SYNC.folder(path);
    },
  };
}

/** Writes `data` through a file sink the way a run does: track, write, close, wait, commit. */
async function writeThrough(path: string, data: Buffer, fsync: boolean, sync: SyncCalls): Promise<void> {
  const sink = await openSink(path, 'stdout', { maxBuffer: 0, naive: false, fsync, sync });
  const tracker = new FlushTracker();
  sink.track(tracker);
  sink.stream.write(data.subarray(0, 12345));
  sink.stream.write(data.subarray(12345));
  sink.end();
  await tracker.wait({ timeoutMs: 10_000 });
  await sink.commit();
}

describe('file target with fsync', () => {
  it('fsyncs the complete temporary file, then renames it, then fsyncs the folder', async () => {
    const dir = freshDir();
    const path = join(dir, 'out.bin');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const calls: SyncCall[] = [];
    await writeThrough(path, data, true, recordingSync(calls));
    expect(calls.map((c) => c.call)).toEqual(['file', 'folder']);
    const [file, folder] = calls as [SyncCall, SyncCall];
    // At the file's fsync: the temporary sibling holds every byte; out.bin does not exist yet.
    expect(basename(file.path)).toMatch(/^\.out\.bin\.\d+-[0-9a-f]{8}\.loopssh-partial$/);
    expect(file.entries).toEqual([basename(file.path)]);
    expect(file.bytes).toBe(data.length);
    expect(file.sha).toBe(sha256(data));
    // At the folder's fsync: renamed into place.
    expect(folder.path).toBe(dir);
    expect(folder.entries).toEqual(['out.bin']);
    const onDisk = readFileSync(path);
    expect(onDisk.length).toBe(data.length);
    expect(sha256(onDisk)).toBe(sha256(data));
  });

  it('without fsync (the default) neither the file nor the folder is fsynced', async () => {
    const dir = freshDir();
    const path = join(dir, 'plain.bin');
    const data = randomBytes(100_000);
    const calls: SyncCall[] = [];
    await writeThrough(path, data, false, recordingSync(calls));
    expect(calls).toEqual([]);
    expect(sha256(readFileSync(path))).toBe(sha256(data));
  });

  it('a failed fsync rejects naming the path, removes the temporary file and never creates the target', async () => {
    const dir = freshDir();
    const path = join(dir, 'never.bin');
    const calls: SyncCall[] = [];
    const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    const err = await writeThrough(path, randomBytes(5000), true, recordingSync(calls, eio)).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe(`${path}: fsync failed: EIO: i/o error, fsync`);
    expect(err?.cause).toBe(eio);
    expect(calls.map((c) => c.call)).toEqual(['file']);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a device target (/dev/null) is written in place and never fsynced', async () => {
    const calls: SyncCall[] = [];
    await writeThrough('/dev/null', randomBytes(70_000), true, recordingSync(calls));
    expect(calls).toEqual([]);
  });
});
