/**
 * REMOVE, RENAME and posix-rename@openssh.com on the writable parts of the
 * tree: names this session uploaded in /sink, and regular files in a
 * writable /disk. Uploaders that write a temporary name and rename it over
 * the target on success (loopssh's own upload(), WinSCP, rclone) need
 * them; everything else in the tree stays read-only.
 *
 * /sink keeps no bytes, only the record, so a rename there moves the
 * record: `server.seen` shows the upload under its final name, with
 * `renamedFrom` naming the temporary one.
 */
import { clip } from '../../util/text.js';
import type { TransferRecord } from '../types.js';
import { FX } from './attrs.js';
import type { DiskJail } from './disk.js';
import type { TreeNode } from './tree.js';

/** Completed uploads of one session by path (so a stat after put sees them, and a rename can move them); newest 1000 kept. */
export class SessionUploads {
  readonly #done = new Map<string, { size: number; record: TransferRecord }>();

  /** Records a completed upload at `path`. */
  add(path: string, size: number, record: TransferRecord): void {
    this.#done.delete(path);
    this.#done.set(path, { size, record });
    if (this.#done.size > 1000) this.#done.delete(this.#done.keys().next().value as string);
  }

  /** The size of a completed upload, or undefined. */
  size(path: string): number | undefined {
    return this.#done.get(path)?.size;
  }

  /** Forgets `path`; false if this session has no upload there. */
  remove(path: string): boolean {
    return this.#done.delete(path);
  }

  /** Moves the upload at `from` to `to` (replacing one there) and renames its record; false if there is none at `from`. */
  move(from: string, to: string): boolean {
    const done = this.#done.get(from);
    if (!done) return false;
    if (from === to) return true;
    this.#done.delete(from);
    this.add(to, done.size, done.record);
    done.record.renamedFrom ??= done.record.path;
    done.record.path = clip(to, 200);
    return true;
  }
}

/** What the handlers need from their session. */
export interface RenameScope {
  /** Registers a request handler (errors become a FAILURE status). */
  on(event: string, handler: (reqid: number, ...args: never[]) => void): void;
  reply(reqid: number, code: number, message?: string): void;
  /** Resolves a tree path, replying itself when it cannot. */
  lookup(reqid: number, path: string): TreeNode | undefined;
  /** The normalized /disk path, '' when already answered, undefined when not under /disk. */
  diskPath(reqid: number, path: string): string | undefined;
  /** Runs an async /disk request; an fs error becomes its status. */
  onDisk(reqid: number, work: () => Promise<void>): void;
  readonly disk: DiskJail | undefined;
  readonly uploads: SessionUploads;
  /** True once the session closed (no more replies). */
  closed(): boolean;
}

const READ_ONLY = 'the loopssh tree is read-only (uploads go to /sink/NAME)';

/** The two strings of a posix-rename@openssh.com request, or undefined if malformed. */
export function posixRenamePaths(data: Buffer | undefined): [string, string] | undefined {
  if (!data) return undefined;
  const paths: string[] = [];
  let at = 0;
  for (let i = 0; i < 2; i++) {
    if (at + 4 > data.length) return undefined;
    const len = data.readUInt32BE(at);
    if (at + 4 + len > data.length) return undefined;
    paths.push(data.toString('utf8', at + 4, at + 4 + len));
    at += 4 + len;
  }
  return [paths[0] as string, paths[1] as string];
}

/** Registers REMOVE, RENAME and the posix-rename@openssh.com EXTENDED request. */
export function serveRenames(s: RenameScope): void {
  s.on('REMOVE', (reqid, path: string) => {
    const onDiskPath = s.diskPath(reqid, path);
    if (onDiskPath === '') return;
    if (onDiskPath) {
      return s.onDisk(reqid, async () => {
        await (s.disk as DiskJail).remove(onDiskPath);
        s.uploads.remove(onDiskPath);
        if (!s.closed()) s.reply(reqid, FX.OK);
      });
    }
    const node = s.lookup(reqid, path);
    if (!node) return;
    if (node.kind !== 'sink') return s.reply(reqid, FX.PERMISSION_DENIED, READ_ONLY);
    if (s.uploads.remove(node.path)) return s.reply(reqid, FX.OK);
    s.reply(reqid, FX.NO_SUCH_FILE, `${clip(node.path, 200)} was not uploaded in this session`);
  });

  const rename = (reqid: number, from: string, to: string, overwrite: boolean): void => {
    const [diskFrom, diskTo] = [s.diskPath(reqid, from), s.diskPath(reqid, to)];
    if (diskFrom === '' || diskTo === '') return;
    if (diskFrom && diskTo) {
      return s.onDisk(reqid, async () => {
        await (s.disk as DiskJail).rename(diskFrom, diskTo, overwrite);
        s.uploads.move(diskFrom, diskTo);
        if (!s.closed()) s.reply(reqid, FX.OK);
      });
    }
    if (diskFrom || diskTo) return s.reply(reqid, FX.FAILURE, 'cannot rename between /disk and the virtual tree');
    const source = s.lookup(reqid, from);
    if (!source) return;
    const target = s.lookup(reqid, to);
    if (!target) return;
    if (source.kind !== 'sink' || target.kind !== 'sink') return s.reply(reqid, FX.PERMISSION_DENIED, READ_ONLY);
    if (s.uploads.size(source.path) === undefined) return s.reply(reqid, FX.NO_SUCH_FILE, `${clip(source.path, 200)} was not uploaded in this session`);
    // SFTP v3 RENAME never replaces (draft-ietf-secsh-filexfer-02 §6.5; OpenSSH's sftp-server answers FAILURE).
    if (!overwrite && source.path !== target.path && s.uploads.size(target.path) !== undefined) return s.reply(reqid, FX.FAILURE, `${clip(target.path, 200)} already exists`);
    s.uploads.move(source.path, target.path);
    s.reply(reqid, FX.OK);
  };
  s.on('RENAME', (reqid, from: string, to: string) => rename(reqid, from, to, false));
  s.on('EXTENDED', (reqid, name: string, data: Buffer | undefined) => {
    if (name !== 'posix-rename@openssh.com') return s.reply(reqid, FX.OP_UNSUPPORTED);
    const paths = posixRenamePaths(data);
    if (!paths) return s.reply(reqid, FX.BAD_MESSAGE, 'malformed posix-rename@openssh.com request');
    rename(reqid, paths[0], paths[1], true);
  });
}
