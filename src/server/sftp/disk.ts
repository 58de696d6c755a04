/**
 * A real directory exposed under `/disk` of the SFTP tree, read-only unless
 * asked otherwise, inside a jail: every path is resolved with realpath and
 * must stay inside the directory, so neither `..` nor a symbolic link
 * (pointing out, or swapped in as the last name of a new file: O_NOFOLLOW)
 * reaches anything else. Rename and remove act on regular files only, never
 * through or on a link. No ssh2 knowledge here.
 */
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { lstat, open, readdir, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { DirEntry, DirNode, FileNode } from './tree.js';

/** Where the real directory is and whether uploads may write into it. */
export interface DiskMount {
  readonly path: string;
  /**
   * Allow creating, writing, renaming and removing regular files (never
   * folders, never a symbolic link's entry, never mkdir). Renaming is what
   * uploaders that write a temporary name first need. Default false.
   */
  readonly writable?: boolean;
}

/** The mount point in the tree. */
export const DISK_PREFIX = '/disk';

/** A request the jail refuses: outside the directory, or a write to a read-only mount. */
export class JailError extends Error {
  readonly code = 'EACCES';
}

/** A file being written under a temporary name in its target's folder; {@link commit} renames it into place. */
export interface ReplacingFile {
  readonly fh: FileHandle;
  /** Closes the file and renames it over the target. */
  commit(): Promise<void>;
  /** Closes and removes the temporary file; the target is untouched. */
  abort(): Promise<void>;
}

/** A real directory behind `/disk`. */
export class DiskJail {
  readonly #root: Promise<string>;

  constructor(readonly mount: DiskMount) {
    this.#root = realpath(mount.path);
    // A missing folder fails each request (ENOENT), not the server start.
    this.#root.catch(() => {});
  }

  /** True for `/disk` and paths below it (normalized paths). */
  static owns(path: string): boolean {
    return path === DISK_PREFIX || path.startsWith(`${DISK_PREFIX}/`);
  }

  /**
   * The real path for a normalized tree path under /disk. A name that does
   * not exist yet resolves through its folder (for creating files).
   * @throws JailError when it resolves outside the directory; ENOENT errors as fs throws them
   */
  async resolve(path: string, mustExist: boolean): Promise<string> {
    const root = await this.#root;
    const candidate = join(root, path.slice(DISK_PREFIX.length));
    const inside = (real: string): string => {
      if (real !== root && !real.startsWith(root + sep)) throw new JailError(`${path}: outside the shared directory`);
      return real;
    };
    try {
      return inside(await realpath(candidate));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || mustExist) throw err;
      return join(inside(await realpath(dirname(candidate))), basename(candidate));
    }
  }

  /**
   * The real path of the entry itself: its folder resolved through the jail,
   * its last name not followed (so a link's own entry, never its target).
   */
  async #entry(path: string): Promise<string> {
    if (path === DISK_PREFIX) throw new JailError(`${DISK_PREFIX} itself cannot be renamed or removed`);
    const root = await this.#root;
    const candidate = join(root, path.slice(DISK_PREFIX.length));
    const folder = await realpath(dirname(candidate));
    if (folder !== root && !folder.startsWith(root + sep)) throw new JailError(`${path}: outside the shared directory`);
    return join(folder, basename(candidate));
  }

  /** lstat of an entry that must be a regular file (links and folders are refused), or undefined if it does not exist. */
  async #regularFile(path: string, real: string): Promise<'file' | undefined> {
    const st = await lstat(real).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) return undefined;
    if (!st.isFile()) throw new JailError(`${path} is not a regular file (only files are renamed or removed)`);
    return 'file';
  }

  /**
   * Renames a regular file to a name inside the jail. `overwrite` false is
   * SFTP v3 RENAME (fails if the new name exists, as OpenSSH's sftp-server
   * does); true is posix-rename@openssh.com (replaces it atomically).
   */
  async rename(from: string, to: string, overwrite: boolean): Promise<void> {
    if (!this.mount.writable) throw new JailError(`${DISK_PREFIX} is read-only`);
    const [src, dst] = [await this.#entry(from), await this.#entry(to)];
    if (!(await this.#regularFile(from, src))) throw Object.assign(new Error(`${from} does not exist`), { code: 'ENOENT' });
    if ((await this.#regularFile(to, dst)) && !overwrite) throw Object.assign(new Error(`${to} already exists`), { code: 'EEXIST' });
    await rename(src, dst);
  }

  /** Removes a regular file (not a folder, not a link). */
  async remove(path: string): Promise<void> {
    if (!this.mount.writable) throw new JailError(`${DISK_PREFIX} is read-only`);
    const real = await this.#entry(path);
    if (!(await this.#regularFile(path, real))) throw Object.assign(new Error(`${path} does not exist`), { code: 'ENOENT' });
    await unlink(real);
  }

  /** kind and size of an existing path. */
  async stat(path: string): Promise<{ kind: 'dir' | 'file'; size: number }> {
    const st = await stat(await this.resolve(path, true));
    return { kind: st.isDirectory() ? 'dir' : 'file', size: st.size };
  }

  /** A listing (regular files and folders only; links are shown as what they point to, if inside). */
  async list(path: string): Promise<DirNode> {
    const real = await this.resolve(path, true);
    const entries: DirEntry[] = [];
    for (const name of await readdir(real)) {
      const st = await this.stat(`${path}/${name}`).catch(() => undefined);
      if (st) entries.push({ name, kind: st.kind, size: st.size });
    }
    return { kind: 'dir', path, writeOnly: false, entries };
  }

  /** Opens a file for reading as a tree file node; `close` releases its descriptor. */
  async openRead(path: string): Promise<{ node: FileNode; close(): Promise<void> }> {
    const fh = await open(await this.resolve(path, true), constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EISDIR' });
    }
    const read = async (offset: number, length: number): Promise<Uint8Array> => {
      const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(length), 0, length, offset);
      return buffer.subarray(0, bytesRead);
    };
    return { node: { kind: 'file', path, size: st.size, content: { size: st.size, read }, faults: {} }, close: () => fh.close() };
  }

  /** Creates (or truncates) a file for writing, if the mount is writable. */
  async openWrite(path: string): Promise<FileHandle> {
    if (!this.mount.writable) throw new JailError(`${DISK_PREFIX} is read-only`);
    const real = await this.resolve(path, false);
    return open(real, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  }

  /**
   * Starts writing `path` (a file, new or replaced) under a temporary name
   * next to it, so the target is never seen half-written: legacy SCP's
   * uploads. The temporary name is created exclusively (O_EXCL, no link
   * followed) inside the jail.
   */
  async createReplacing(path: string): Promise<ReplacingFile> {
    if (!this.mount.writable) throw new JailError(`${DISK_PREFIX} is read-only`);
    const real = await this.resolve(path, false);
    const existing = await stat(real).catch(() => undefined);
    if (existing?.isDirectory()) throw Object.assign(new Error(`${path} is a directory`), { code: 'EISDIR' });
    const temp = join(dirname(real), `.${basename(real)}.${randomBytes(6).toString('hex')}.loopssh-tmp`);
    const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    let done = false;
    return {
      fh,
      commit: async () => {
        done = true;
        // A failed close (EIO, EDQUOT) must not leave the temp behind either.
        await fh.close().then(() => rename(temp, real)).catch(async (err: unknown) => {
          await unlink(temp).catch(() => {});
          throw err;
        });
      },
      abort: async () => {
        if (done) return;
        done = true;
        await fh.close().catch(() => {});
        await unlink(temp).catch(() => {});
      },
    };
  }
}
