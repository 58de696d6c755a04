/**
 * File targets: a regular file (or a new path) is written under a temporary
 * name beside it and renamed into place only when the run succeeded; a FIFO
 * or character device (/dev/null, a named pipe) is written in place.
 *
 * The temporary file is created 0600, so nobody else can read the output
 * while it is written, and is given the replaced file's mode (or what a plain
 * create would give: 0666 less the umask) just before the rename.
 *
 * An existing path that is not a regular file is opened without O_CREAT or
 * O_TRUNC and kept only if the opened fd is a FIFO or a character device
 * owned by this user or root: in a shared folder another user may plant a
 * FIFO, or swap the path between a check and the open; neither may turn the
 * open onto some other file or hand the output to them. A symbolic link is
 * not followed (O_NOFOLLOW) unless this user or root owns the link, as
 * Linux's fs.protected_symlinks decides in sticky folders: `-o /dev/stdout`
 * works, a link another user planted does not.
 */
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream, type Stats } from 'node:fs';
import { chmod, lstat, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * File and fd writes: one 32 KiB SSH packet must fit without a pause (fs
 * default: 16 KiB). Measured: 4 MiB cost 40% to a file in two processes and
 * 70 MiB of RSS against 1 MiB, which stays here.
 */
export const FILE_HIGH_WATER_MARK = 1024 * 1024;

/** Suffix under which `keepPartial` keeps the output of a failed run: `FILE.partial`. */
export const PARTIAL_SUFFIX = '.partial';

/** How a file and a folder are fsynced. */
export interface SyncCalls {
  /** fsyncs the regular file at `path` (a new fd syncs the inode's data all the same). */
  file(path: string): Promise<void>;
  /** fsyncs the folder at `path`, making a rename inside it durable. */
  folder(path: string): Promise<void>;
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The real fsync calls (Linux and macOS: a folder opens read-only and fsyncs). */
export const FS_SYNC: SyncCalls = {
  file: (path) => fsyncPath(path, 'r+'),
  folder: (path) => fsyncPath(path, 'r'),
};

/** How {@link openFile} writes. */
export interface FileOptions {
  /** Write straight to a regular path, truncating it (it exists to show the bug). */
  naive: boolean;
  /** fsync the complete temporary file before the rename and the folder after it. */
  fsync?: boolean;
  /** The fsync calls (tests record them); default {@link FS_SYNC}. */
  sync?: SyncCalls;
}

/** An opened file target, before it is registered with a run. */
export interface OpenedFile {
  readonly stream: Writable;
  /** Makes the output visible at the path (rename into place); a no-op in place. */
  commit(): Promise<void>;
  /** Removes the temporary file, or keeps it as `PATH.partial` and returns that name. */
  discard(keepPartial: boolean): Promise<string | undefined>;
}

/** An error about the user's path (never our temporary sibling), with the errno code. */
function pathError(path: string, why: string, code: string | undefined): Error {
  return Object.assign(new Error(`${path}: ${why}`), { code });
}

async function lstatOrNone(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** True for files this process may trust in a shared folder: its own, or root's. */
function trustedOwner(uid: number): boolean {
  return uid === 0 || uid === process.getuid?.();
}

/** Opens an existing non-regular path in place: nothing created or truncated, only a trusted link followed. */
async function openInPlace(path: string, existing: Stats): Promise<OpenedFile> {
  const followLink = existing.isSymbolicLink() && trustedOwner(existing.uid);
  if (existing.isSymbolicLink() && !followLink) {
    throw pathError(path, `is a symbolic link owned by another user (uid ${existing.uid}); not followed`, 'ELOOP');
  }
  // A path swapped for a link after the check fails with ELOOP here.
  const flags = constants.O_WRONLY | constants.O_NOCTTY | (followLink ? 0 : constants.O_NOFOLLOW);
  const handle = await open(path, flags).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP') throw pathError(path, 'became a symbolic link while being opened; not followed', err.code);
    throw pathError(path, err.code === 'EISDIR' ? 'is a directory' : err.message, err.code);
  });
  const st = await handle.stat();
  const why = !st.isFIFO() && !st.isCharacterDevice() ? 'exists and is neither a regular file, a FIFO nor a character device' : !trustedOwner(st.uid) ? `is owned by another user (uid ${st.uid}); not written` : undefined;
  if (why) {
    await handle.close();
    throw pathError(path, why, 'EINVAL');
  }
  return writtenInPlace(createWriteStream(path, { fd: handle, highWaterMark: FILE_HIGH_WATER_MARK }));
}

/** A target written at its own path: nothing to rename, nothing to keep. */
function writtenInPlace(stream: Writable): OpenedFile {
  return {
    stream,
    commit: async () => {},
    discard: async () => {
      stream.destroy();
      return undefined;
    },
  };
}

/** The mode the committed file gets: the replaced file's, or a plain create's. */
async function modeFor(path: string): Promise<number> {
  const existing = await lstatOrNone(path);
  // Permission bits only: setuid/setgid of the replaced file never pass to new content.
  if (existing?.isFile()) return existing.mode & 0o777;
  // process.umask() with no argument only reads it (documentation-only deprecation: it is racy to set).
  return 0o666 & ~process.umask();
}

/** Opens a file target (see the module comment). */
export async function openFile(path: string, options: FileOptions): Promise<OpenedFile> {
  const existing = await lstatOrNone(path).catch((err: NodeJS.ErrnoException) => {
    throw pathError(path, err.message, err.code);
  });
  if (existing && !existing.isFile()) return openInPlace(path, existing);
  if (options.naive) {
    return writtenInPlace(createWriteStream(path, { fd: await open(path, 'w'), highWaterMark: FILE_HIGH_WATER_MARK }));
  }
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.loopssh-partial`);
  const handle = await open(temp, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    // Name the path the user gave, not our temporary sibling.
    const why = err.code === 'ENOENT' ? `no such directory: ${dirname(path)}` : err.code === 'EACCES' ? `permission denied in ${dirname(path)}` : err.message;
    throw pathError(path, why, err.code);
  });
  const stream = createWriteStream(temp, { fd: handle, highWaterMark: FILE_HIGH_WATER_MARK });
  const sync = options.fsync ? (options.sync ?? FS_SYNC) : undefined;
  const closed = async (): Promise<void> => {
    if (!stream.closed) await once(stream, 'close').catch(() => {});
  };
  return {
    stream,
    commit: async () => {
      if (sync) {
        // Data first, under the temporary name: a crash before the rename
        // leaves a .loopssh-partial file, never a short file at `path`.
        await sync.file(temp).catch(async (err: Error) => {
          await rm(temp, { force: true });
          throw new Error(`${path}: fsync failed: ${err.message}`, { cause: err });
        });
      }
      try {
        await chmod(temp, await modeFor(path));
        await rename(temp, path);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // The caller will not discard a commit that threw: remove the temp here (best effort).
        await rm(temp, { force: true }).catch(() => {});
        throw pathError(path, `cannot be put in place (${e.code ?? e.message})`, e.code);
      }
      if (sync) await sync.folder(dirname(path)).catch((err: Error) => Promise.reject(new Error(`${dirname(path)}: fsync of the folder failed: ${err.message}`, { cause: err })));
    },
    discard: async (keepPartial) => {
      stream.destroy();
      await closed();
      if (keepPartial) {
        const kept = path + PARTIAL_SUFFIX;
        const moved = await chmod(temp, await modeFor(path))
          .then(() => rename(temp, kept))
          .then(() => true, () => false);
        if (moved) return kept;
      }
      await rm(temp, { force: true });
      return undefined;
    },
  };
}
