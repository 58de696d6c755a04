/**
 * One SFTP session over the virtual tree: ssh2's server-side SFTP stream
 * (requests as events, replies as method calls) wired to tree.ts, with the
 * per-session limits, the fault modes and the transfer records.
 */
import type { Connection, SFTPWrapper } from 'ssh2';
import { advertiseSftpExtensions, connectionSocket, endSftpWithStatus, sendSftpData, sendSftpOkStatuses, sftpBlocked, whenSftpWritable } from '../../ssh2/index.js';
import { clip } from '../../util/text.js';
import type { ServerLimits } from '../commands.js';
import type { ServerLogger } from '../log.js';
import type { Recorder } from '../record.js';
import { recordedUser } from '../record.js';
import type { TransferRecord } from '../types.js';
import { attrsOf, FX, FXF, longnameOf, modeOf } from './attrs.js';
import { formatFaults } from './faults.js';
import type { FileHandle } from 'node:fs/promises';
import { DiskJail, JailError } from './disk.js';
import { DiskWriter, UploadLimitError } from './disk-writer.js';
import { FileSource } from './file-source.js';
import { ReadPump } from './read-pump.js';
import { normalizePath, reportedSize, resolvePath, TreePathError, type RegisteredFiles, type DirNode, type FileNode, type SinkNode, type TreeNode } from './tree.js';
import { HeldBudget, UploadHash, UploadOrderError } from './upload-hash.js';
import { serveRenames, SessionUploads } from './rename.js';

/** What an SFTP session needs from its server and connection. */
export interface SftpScope {
  readonly limits: Readonly<ServerLimits>;
  readonly recorder: Recorder;
  readonly log: ServerLogger;
  /** Files registered for `/files/NAME`. */
  readonly files?: RegisteredFiles;
  /** A real directory behind `/disk`. */
  readonly disk?: DiskJail;
}

/** An fs error as an SFTP status: missing → NO_SUCH_FILE, refused (jail, permissions, a link) → PERMISSION_DENIED. */
function fsStatus(err: unknown): [number, string] {
  const code = (err as NodeJS.ErrnoException).code;
  const message = err instanceof JailError ? err.message : code ?? String(err);
  if (code === 'ENOENT' || code === 'ENOTDIR') return [FX.NO_SUCH_FILE, message];
  if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return [FX.PERMISSION_DENIED, message];
  return [FX.FAILURE, message];
}

type ReadHandle = { kind: 'read'; node: FileNode; source: FileSource; record: TransferRecord; close?: () => Promise<void> };
/** A file being written in the real directory behind /disk. */
type DiskWriteHandle = { kind: 'disk-write'; fh: FileHandle; writer: DiskWriter; path: string; record: TransferRecord };
type WriteHandle = { kind: 'write'; node: SinkNode; hash: UploadHash; record: TransferRecord };
type DirHandle = { kind: 'dir'; node: DirNode; listed: boolean };
type Handle = ReadHandle | WriteHandle | DirHandle | DiskWriteHandle;

/** Serves the tree on an accepted SFTP stream until it closes. */
export function serveSftp(scope: SftpScope, sftp: SFTPWrapper, client: Connection, user: string): void {
  const { limits, log, disk } = scope;
  // The one extension served (rename.ts): clients may then replace atomically.
  advertiseSftpExtensions(sftp, { 'posix-rename@openssh.com': '1' });
  const handles = new Map<number, Handle>();
  let nextHandle = 1;
  /** This session's completed uploads, so a stat after put (paramiko's confirm) sees them and a rename moves them. */
  const uploads = new SessionUploads();
  let closed = false;
  /** Out-of-order bytes held across this session's uploads. */
  const heldBudget = new HeldBudget(limits.uploadHeldBytesPerSession);

  const reply = (reqid: number, code: number, message?: string): void => sftp.status(reqid, code, message);
  const handleOf = (buf: Buffer): Handle | undefined => (buf.length === 4 ? handles.get(buf.readUInt32BE(0)) : undefined);
  const addHandle = (reqid: number, h: Handle): void => {
    const id = nextHandle++;
    handles.set(id, h);
    const buf = Buffer.alloc(4);
    buf.writeUInt32BE(id >>> 0, 0);
    sftp.handle(reqid, buf);
  };
  /** Resolves a client path, answering the request itself when it cannot. */
  const lookup = (reqid: number, path: string): TreeNode | undefined => {
    if (Buffer.byteLength(path) > limits.maxPathBytes) {
      reply(reqid, FX.BAD_MESSAGE, `path longer than ${limits.maxPathBytes} bytes`);
      return undefined;
    }
    try {
      const node = resolvePath(path, limits.maxPayloadBytes, scope.files, disk ? ['disk'] : []);
      if (!node) reply(reqid, FX.NO_SUCH_FILE, `no such file: ${clip(normalizePath(path), 200)} (see /README)`);
      return node;
    } catch (err) {
      if (!(err instanceof TreePathError)) throw err;
      reply(reqid, FX.NO_SUCH_FILE, err.message);
      return undefined;
    }
  };
  const newRecord = (direction: TransferRecord['direction'], node: FileNode | SinkNode): TransferRecord => {
    const record: TransferRecord = { protocol: 'sftp', direction, user: recordedUser(user), path: clip(node.path, 200), faults: formatFaults(node.faults), bytes: 0 };
    scope.recorder.transfer(record);
    return record;
  };
  const drop = (record: TransferRecord, connection: boolean): void => {
    record.outcome = 'dropped';
    log.info({ path: record.path, bytes: record.bytes }, connection ? 'fault: cutting the connection' : 'fault: closing the SFTP channel');
    closeSession();
    if (connection) connectionSocket(client)?.destroy();
    else sftp.end();
  };

  const reads = new ReadPump(limits.maxSftpPendingRequests, {
    blocked: () => sftpBlocked(sftp),
    whenWritable: (callback) => whenSftpWritable(sftp, callback),
    data: (reqid, frame, length) => sendSftpData(sftp, reqid, frame, length),
    status: reply,
    drop: (record, connection) => drop(record, connection),
    log,
  });

  const closeSession = (): void => {
    if (closed) return;
    closed = true;
    reads.close();
    for (const h of handles.values()) {
      if (h.kind !== 'dir' && h.record.outcome === undefined) h.record.outcome = 'abandoned';
      if (h.kind === 'disk-write') void h.fh.close().catch(() => {});
      if (h.kind === 'read') void h.close?.().catch(() => {});
      if (h.kind === 'write') h.hash.discard();
    }
    handles.clear();
  };
  sftp.on('close', closeSession);
  // The client's EOF or CHANNEL_CLOSE: ssh2 does not answer an SFTP
  // channel's CLOSE itself (lib/utils.js onCHANNEL_CLOSE). Answer as sshd
  // does when sftp-server exits, with exit-status 0 (scp checks it).
  sftp.on('end', () => {
    closeSession();
    endSftpWithStatus(sftp, 0);
  });
  // ssh2 emits 'error' for a malformed packet and closes the channel itself.
  sftp.on('error', (err: Error) => {
    log.info({ err: err.message }, 'SFTP session error: channel closed');
    closeSession();
  });

  const on = (event: string, handler: (reqid: number, ...args: never[]) => void): void => {
    sftp.on(event, (reqid: number, ...args: never[]) => {
      try {
        handler(reqid, ...args);
      } catch (err) {
        log.error({ err }, `SFTP ${event} handler failed`);
        reply(reqid, FX.FAILURE, 'internal error');
      }
    });
  };

  /** The normalized path when it is under /disk (and a directory is mounted there), after the length check. */
  const diskPath = (reqid: number, path: string): string | undefined => {
    if (!disk) return undefined;
    const norm = normalizePath(path);
    if (!DiskJail.owns(norm)) return undefined;
    if (Buffer.byteLength(path) > limits.maxPathBytes) {
      reply(reqid, FX.BAD_MESSAGE, `path longer than ${limits.maxPathBytes} bytes`);
      return '';
    }
    return norm;
  };
  /** Runs an async /disk request; an fs error becomes its status. */
  const onDisk = (reqid: number, work: () => Promise<void>): void => {
    work().catch((err: unknown) => {
      if (!closed) reply(reqid, ...fsStatus(err));
    });
  };
  const openDisk = async (reqid: number, path: string, writing: boolean): Promise<void> => {
    const jail = disk as DiskJail;
    if (writing) {
      const fh = await jail.openWrite(path);
      if (closed) return void fh.close();
      const record = newRecord('upload', { kind: 'sink', path, name: path, faults: {} });
      const writer = new DiskWriter(fh, {
        maxFileBytes: limits.maxUploadBytes,
        maxQueued: limits.maxSftpPendingRequests,
        // Bytes waiting for the disk share the session's held-bytes budget with /sink's reorder window.
        budget: heldBudget,
        answer: (reqids, err) => {
          if (!err) record.bytes = writer.bytesWritten;
          if (closed) return;
          // A written batch is acknowledged in one SSH packet (up to 64 replies).
          if (!err) return sendSftpOkStatuses(sftp, reqids);
          const [code, message] = err instanceof UploadLimitError ? [FX.FAILURE, err.message] : fsStatus(err);
          // Failures leave in one socket write, not one write each.
          const socket = connectionSocket(client);
          socket?.cork();
          for (const id of reqids) reply(id, code, message);
          socket?.uncork();
        },
      });
      return addHandle(reqid, { kind: 'disk-write', fh, writer, path, record });
    }
    const { node, close } = await jail.openRead(path);
    if (closed) return void close();
    addHandle(reqid, { kind: 'read', node, source: new FileSource(node), record: newRecord('download', node), close });
  };

  on('OPEN', (reqid, path: string, flags: number) => {
    if (handles.size >= limits.maxSftpHandles) return reply(reqid, FX.FAILURE, `too many open handles (limit ${limits.maxSftpHandles})`);
    const onDiskPath = diskPath(reqid, path);
    if (onDiskPath === '') return;
    if (onDiskPath) return onDisk(reqid, () => openDisk(reqid, onDiskPath, (flags & (FXF.WRITE | FXF.APPEND | FXF.CREAT | FXF.TRUNC)) !== 0));
    const writing = (flags & (FXF.WRITE | FXF.APPEND | FXF.CREAT | FXF.TRUNC)) !== 0;
    // A write anywhere but /sink is refused as such, whatever the name (an uploader's temporary name under /payload is not a bad size).
    if (writing && !normalizePath(path).startsWith('/sink/') && Buffer.byteLength(path) <= limits.maxPathBytes) {
      return reply(reqid, FX.PERMISSION_DENIED, `${clip(normalizePath(path), 200)} is read-only (uploads go to /sink/NAME)`);
    }
    const node = lookup(reqid, path);
    if (!node) return;
    if (node.kind === 'dir') return reply(reqid, FX.FAILURE, `${node.path} is a directory`);
    if (node.kind === 'file') {
      if (writing) return reply(reqid, FX.PERMISSION_DENIED, `${clip(node.path, 200)} is read-only (uploads go to /sink/NAME)`);
      return addHandle(reqid, { kind: 'read', node, source: new FileSource(node), record: newRecord('download', node) });
    }
    if ((flags & FXF.READ) !== 0 || !writing) return reply(reqid, FX.PERMISSION_DENIED, '/sink is write-only');
    addHandle(reqid, { kind: 'write', node, hash: new UploadHash(limits.uploadWindowBytes, limits.maxUploadBytes, heldBudget), record: newRecord('upload', node) });
  });

  on('READ', (reqid, handleBuf: Buffer, offset: number, length: number) => {
    const h = handleOf(handleBuf);
    if (!h || h.kind !== 'read') return reply(reqid, FX.FAILURE, h ? 'not a file opened for reading' : 'invalid handle');
    if (!Number.isSafeInteger(offset)) return reply(reqid, FX.EOF);
    reads.enqueue(reqid, h.source, h.record, offset, length);
  });

  on('WRITE', (reqid, handleBuf: Buffer, offset: number, data: Buffer) => {
    const h = handleOf(handleBuf);
    // Not copied: ssh2 never rewrites an inbound payload (docs/ssh2-traps.md).
    if (h?.kind === 'disk-write') return h.writer.write(reqid, offset, data);
    if (!h || h.kind !== 'write') return reply(reqid, FX.FAILURE, h ? 'not a file opened for writing' : 'invalid handle');
    const { hash, record, node } = h;
    if (h.record.outcome === 'failed') return reply(reqid, FX.FAILURE, h.record.error);
    try {
      hash.write(Number.isSafeInteger(offset) ? offset : Number.MAX_SAFE_INTEGER, data);
    } catch (err) {
      if (!(err instanceof UploadOrderError)) throw err;
      record.outcome = 'failed';
      record.error = err.message;
      // A failed upload never completes: its held bytes go back to the session now.
      hash.discard();
      return reply(reqid, FX.FAILURE, err.message);
    }
    record.bytes = hash.hashed;
    const { drop: dropAt, dropConnection } = node.faults;
    if (dropConnection !== undefined && hash.hashed >= dropConnection) return drop(record, true);
    if (dropAt !== undefined && hash.hashed >= dropAt) return drop(record, false);
    reply(reqid, FX.OK);
  });

  on('CLOSE', (reqid, handleBuf: Buffer) => {
    const h = handleOf(handleBuf);
    if (!h) return reply(reqid, FX.FAILURE, 'invalid handle');
    handles.delete(handleBuf.readUInt32BE(0));
    if (h.kind === 'dir') return reply(reqid, FX.OK);
    if (h.kind === 'read') {
      h.record.outcome ??= 'complete';
      void h.close?.().catch(() => {});
      return reply(reqid, FX.OK);
    }
    if (h.kind === 'disk-write') {
      return onDisk(reqid, async () => {
        // WRITEs still queued are written (and answered) before the file closes.
        await h.writer.drained();
        await h.fh.close();
        h.record.outcome = 'complete';
        uploads.add(h.path, h.record.bytes, h.record);
        if (!closed) reply(reqid, FX.OK);
      });
    }
    if (h.record.outcome === 'failed') return reply(reqid, FX.FAILURE, h.record.error);
    if (!h.hash.complete) {
      h.hash.discard();
      h.record.outcome = 'failed';
      h.record.error = `upload has a gap after byte ${h.hash.hashed}`;
      return reply(reqid, FX.FAILURE, h.record.error);
    }
    h.record.sha256 = h.hash.digest();
    h.record.outcome = 'complete';
    uploads.add(h.node.path, h.hash.hashed, h.record);
    reply(reqid, FX.OK);
  });

  const statNode = (reqid: number, node: TreeNode): void => {
    if (node.kind === 'dir') sftp.attrs(reqid, attrsOf(modeOf(node.writeOnly ? 'sink-dir' : 'dir'), 0));
    else if (node.kind === 'file') sftp.attrs(reqid, attrsOf(modeOf('file'), reportedSize(node)));
    // A sink name exists once this session uploaded it (clients stat to confirm the size).
    else if (uploads.size(node.path) !== undefined) sftp.attrs(reqid, attrsOf(modeOf('sink'), uploads.size(node.path) as number));
    else reply(reqid, FX.NO_SUCH_FILE, `${clip(node.path, 200)} does not exist yet (uploads go here)`);
  };
  const onStat = (reqid: number, path: string): void => {
    const onDiskPath = diskPath(reqid, path);
    if (onDiskPath === '') return;
    if (onDiskPath) {
      return onDisk(reqid, async () => {
        const st = await (disk as DiskJail).stat(onDiskPath);
        if (!closed) sftp.attrs(reqid, attrsOf(modeOf(st.kind), st.size));
      });
    }
    const node = lookup(reqid, path);
    if (node) statNode(reqid, node);
  };
  on('STAT', onStat);
  on('LSTAT', onStat);
  on('FSTAT', (reqid, handleBuf: Buffer) => {
    const h = handleOf(handleBuf);
    if (!h) return reply(reqid, FX.FAILURE, 'invalid handle');
    if (h.kind === 'write') return sftp.attrs(reqid, attrsOf(modeOf('sink'), h.hash.hashed));
    if (h.kind === 'disk-write') return sftp.attrs(reqid, attrsOf(modeOf('sink'), h.record.bytes));
    statNode(reqid, h.node);
  });
  on('OPENDIR', (reqid, path: string) => {
    if (handles.size >= limits.maxSftpHandles) return reply(reqid, FX.FAILURE, `too many open handles (limit ${limits.maxSftpHandles})`);
    const onDiskPath = diskPath(reqid, path);
    if (onDiskPath === '') return;
    if (onDiskPath) {
      return onDisk(reqid, async () => {
        const node = await (disk as DiskJail).list(onDiskPath);
        if (!closed) addHandle(reqid, { kind: 'dir', node, listed: false });
      });
    }
    const node = lookup(reqid, path);
    if (!node) return;
    if (node.kind !== 'dir') return reply(reqid, FX.FAILURE, `${clip(node.path, 200)} is not a directory`);
    addHandle(reqid, { kind: 'dir', node, listed: false });
  });
  on('READDIR', (reqid, handleBuf: Buffer) => {
    const h = handleOf(handleBuf);
    if (!h || h.kind !== 'dir') return reply(reqid, FX.FAILURE, h ? 'not a directory handle' : 'invalid handle');
    if (h.listed || h.node.entries.length === 0) return reply(reqid, FX.EOF);
    h.listed = true;
    sftp.name(
      reqid,
      h.node.entries.map((e) => ({ filename: e.name, longname: longnameOf(e), attrs: attrsOf(modeOf(e.kind), e.size) })),
    );
  });
  on('REALPATH', (reqid, path: string) => {
    if (Buffer.byteLength(path) > limits.maxPathBytes) return reply(reqid, FX.BAD_MESSAGE, `path longer than ${limits.maxPathBytes} bytes`);
    const filename = normalizePath(path);
    sftp.name(reqid, [{ filename, longname: filename, attrs: {} as never }]);
  });
  // Uploaders set times or modes after writing (scp -p, sftp put -p): accepted and ignored on sink files.
  on('FSETSTAT', (reqid, handleBuf: Buffer) => {
    const h = handleOf(handleBuf);
    if (!h) return reply(reqid, FX.FAILURE, 'invalid handle');
    const writable = h.kind === 'write' || h.kind === 'disk-write';
    reply(reqid, writable ? FX.OK : FX.PERMISSION_DENIED, writable ? undefined : 'read-only');
  });
  on('SETSTAT', (reqid, path: string) => {
    const node = lookup(reqid, path);
    if (node) reply(reqid, node.kind === 'sink' ? FX.OK : FX.PERMISSION_DENIED, node.kind === 'sink' ? undefined : 'read-only');
  });
  for (const event of ['RMDIR', 'MKDIR', 'SYMLINK']) {
    on(event, (reqid) => reply(reqid, FX.PERMISSION_DENIED, 'the loopssh tree is read-only (uploads go to /sink/NAME)'));
  }
  on('READLINK', (reqid) => reply(reqid, FX.NO_SUCH_FILE, 'the loopssh tree has no links'));
  serveRenames({ on, reply, lookup, diskPath, onDisk, disk, uploads, closed: () => closed });
}
