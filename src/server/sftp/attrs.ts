/**
 * SFTP status codes, and the attributes and `ls -l` lines the virtual tree
 * reports (draft-ietf-secsh-filexfer-02, the version 3 OpenSSH speaks).
 */
import type { Attributes } from 'ssh2';
import type { DirEntry } from './tree.js';

/** SSH_FX_* status codes (filexfer-02 §7). */
export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  OP_UNSUPPORTED: 8,
} as const;

/** SSH_FXF_* open flags. */
export const FXF = { READ: 0x01, WRITE: 0x02, APPEND: 0x04, CREAT: 0x08, TRUNC: 0x10, EXCL: 0x20 } as const;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** Permission bits by what a node allows: payload files read-only, sink write-only. */
export function modeOf(kind: 'dir' | 'file' | 'sink' | 'sink-dir'): number {
  switch (kind) {
    case 'dir':
      return S_IFDIR | 0o555;
    case 'sink-dir':
      return S_IFDIR | 0o733;
    case 'file':
      return S_IFREG | 0o444;
    case 'sink':
      return S_IFREG | 0o222;
  }
}

/** Attributes with a fixed owner and epoch times: the tree has no history. */
export function attrsOf(mode: number, size: number): Attributes {
  return { mode, uid: 0, gid: 0, size, atime: 0, mtime: 0 };
}

/** The `longname` of a READDIR entry, as `ls -l` prints it (OpenSSH's sftp shows it for `ls -l`). */
export function longnameOf(entry: DirEntry): string {
  const perms = entry.kind === 'dir' ? 'dr-xr-xr-x' : '-r--r--r--';
  return `${perms}    1 loopssh  loopssh  ${String(entry.size).padStart(12)} Jan  1  1970 ${entry.name}`;
}
