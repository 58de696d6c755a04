/**
 * Legacy SCP (`scp -O`, and tools that exec `scp -f`/`scp -t`) as a built-in
 * exec command over the SFTP virtual tree, never a shell. The protocol is
 * OpenSSH's scp.c: every step is acknowledged with one byte, `\0` for OK,
 * `\x01` + message + `\n` for an error (`\x02` fatal); a file is a
 * `C<mode> <size> <name>\n` line, its bytes, then a `\0`.
 * Paths under `/disk` go through the same jail as SFTP (disk.ts); uploads
 * there are written under a temporary name and renamed into place.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { clip } from '../../util/text.js';
import type { CommandContext, CommandHandler } from '../commands.js';
import type { Recorder } from '../record.js';
import { recordedUser } from '../record.js';
import type { TransferRecord } from '../types.js';
import { ByteReader, UnexpectedEofError } from './byte-reader.js';
import { DiskJail, JailError } from './disk.js';
import { formatFaults } from './faults.js';
import { FileSource } from './file-source.js';
import { hasUnknownSize } from './stream-file.js';
import { normalizePath, reportedSize, resolvePath, TreePathError, type RegisteredFiles, type FileNode, type SinkNode, type TreeNode } from './tree.js';

/** Bytes per write of a download: a few 32 KiB packets per callback, as the payload command. */
const CHUNK = 256 * 1024;

/** An error that ends the transfer: sent to the client as `\x01scp: …` (or `\x02`), exit 1. */
class ScpError extends Error {
  constructor(
    message: string,
    readonly fatal = false,
  ) {
    super(message);
  }
}

/** The `scp` built-in, recording transfers in `recorder`. */
export function scpCommand(recorder: Recorder, files: RegisteredFiles = {}, disk?: DiskJail): CommandHandler {
  return async (ctx) => {
    const opts = parseArgs(ctx.argv.slice(1));
    const reader = new ByteReader(ctx.stdin);
    const send = (text: string): Promise<void> => ctx.output.write('stdout', Buffer.from(text));
    try {
      const where: Where = { recorder, files, disk };
      if (opts.mode === 'f') await source(ctx, reader, send, opts, where);
      else await sink(ctx, reader, send, opts, where);
      return 0;
    } catch (thrown) {
      // A client that ends mid-file is the client's doing, not a loopssh failure: a fatal scp error, not a logged crash.
      const err = thrown instanceof UnexpectedEofError ? new ScpError(thrown.message, true) : thrown;
      if (!(err instanceof ScpError)) throw err;
      await send(`${err.fatal ? '\x02' : '\x01'}scp: ${err.message}\n`);
      return 1;
    }
  };
}

interface ScpArgs {
  mode: 'f' | 't';
  path: string;
  preserve: boolean;
  targetIsDir: boolean;
}

/** `scp [-v] [-r] [-p] [-d] -f|-t [--] PATH`, as OpenSSH's scp runs it remotely. */
function parseArgs(args: readonly string[]): ScpArgs {
  let mode: 'f' | 't' | undefined;
  let preserve = false;
  let targetIsDir = false;
  const paths: string[] = [];
  let flags = true;
  for (const arg of args) {
    if (flags && arg === '--') flags = false;
    else if (flags && /^-[a-zA-Z]+$/.test(arg)) {
      for (const c of arg.slice(1)) {
        if (c === 'f' || c === 't') mode = c;
        else if (c === 'p') preserve = true;
        else if (c === 'd') targetIsDir = true;
        else if (c === 'r') throw new ScpErrorUsage('directories are not supported (-r)');
        else if (c !== 'v' && c !== 'q') throw new ScpErrorUsage(`unknown option -${c}`);
      }
    } else paths.push(arg);
  }
  if (!mode) throw new ScpErrorUsage('loopssh scp serves -f (download) or -t (upload) only');
  if (paths.length !== 1) throw new ScpErrorUsage(`expected one path, got ${paths.length}`);
  return { mode, path: paths[0] as string, preserve, targetIsDir };
}

/** Bad arguments: reported through the protocol too, since scp reads our stdout as protocol. */
class ScpErrorUsage extends ScpError {}

/** Where transfers go and are recorded. */
interface Where {
  readonly recorder: Recorder;
  readonly files: RegisteredFiles;
  readonly disk: DiskJail | undefined;
}

/** The normalized path when it names the real directory behind /disk (and one is mounted). */
function diskPath(path: string, ctx: CommandContext, disk: DiskJail | undefined): string | undefined {
  if (Buffer.byteLength(path) > ctx.limits.maxPathBytes) throw new ScpError(`path longer than ${ctx.limits.maxPathBytes} bytes`);
  const norm = normalizePath(path);
  return disk && DiskJail.owns(norm) ? norm : undefined;
}

/** An fs or jail error on a /disk path as the one line scp shows. */
function diskError(path: string, err: unknown): ScpError {
  if (err instanceof JailError) return new ScpError(clip(err.message, 300));
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new ScpError(`${clip(path, 200)}: No such file or directory`);
  if (code === 'EISDIR') return new ScpError(`${clip(path, 200)}: not a regular file`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'ELOOP') return new ScpError(`${clip(path, 200)}: Permission denied`);
  return new ScpError(`${clip(path, 200)}: ${code ?? (err instanceof Error ? err.message : String(err))}`);
}

function lookup(path: string, ctx: CommandContext, files: RegisteredFiles): TreeNode {
  if (Buffer.byteLength(path) > ctx.limits.maxPathBytes) throw new ScpError(`path longer than ${ctx.limits.maxPathBytes} bytes`);
  try {
    const node = resolvePath(path, ctx.limits.maxPayloadBytes, files);
    if (!node) throw new ScpError(`${clip(normalizePath(path), 200)}: No such file or directory (see /README)`);
    return node;
  } catch (err) {
    if (err instanceof TreePathError) throw new ScpError(`${clip(path, 200)}: ${err.message}`);
    throw err;
  }
}

function newRecord(recorder: Recorder, ctx: CommandContext, direction: TransferRecord['direction'], node: FileNode | SinkNode, path = node.path): TransferRecord {
  const record: TransferRecord = { protocol: 'scp', direction, user: recordedUser(ctx.user), path: clip(path, 200), faults: formatFaults(node.faults), bytes: 0 };
  recorder.transfer(record);
  return record;
}

/** Reads the client's one-byte answer; an error answer ends the transfer. */
async function expectAck(reader: ByteReader): Promise<void> {
  const b = await reader.byte();
  if (b === 0) return;
  if (b === undefined) throw new ScpError('the client closed the connection', true);
  const message = b === 1 || b === 2 ? await reader.line(4096) : `unexpected byte ${b}`;
  throw new ScpError(`client: ${clip(message ?? '', 200)}`, true);
}

/** `scp -f PATH`: sends one tree file (or one file of the directory behind /disk). */
async function source(ctx: CommandContext, reader: ByteReader, send: (t: string) => Promise<void>, opts: ScpArgs, where: Where): Promise<void> {
  await expectAck(reader);
  const onDisk = diskPath(opts.path, ctx, where.disk);
  if (!onDisk) return sendFile(ctx, reader, send, opts, where.recorder, lookup(opts.path, ctx, where.files));
  const { node, close } = await (where.disk as DiskJail).openRead(onDisk).catch((err: unknown) => {
    throw diskError(onDisk, err);
  });
  try {
    await sendFile(ctx, reader, send, opts, where.recorder, node);
  } finally {
    await close();
  }
}

/** Sends one file node: T line (-p), C line, its bytes, the final `\0`. */
async function sendFile(ctx: CommandContext, reader: ByteReader, send: (t: string) => Promise<void>, opts: ScpArgs, recorder: Recorder, node: TreeNode): Promise<void> {
  if (node.kind === 'dir') throw new ScpError(`${node.path}: not a regular file`);
  if (node.kind === 'sink') throw new ScpError(`${node.path}: /sink is write-only`);
  if (typeof node.content === 'object' && hasUnknownSize(node.content)) {
    // Legacy SCP announces the length before the bytes; a stream without a size has none to announce.
    throw new ScpError(`${node.path}: a stream of unknown size cannot be sent over legacy SCP; register it with a size`);
  }
  const record = newRecord(recorder, ctx, 'download', node);
  if (opts.preserve) {
    await send('T0 0 0 0\n');
    await expectAck(reader);
  }
  const announced = reportedSize(node);
  const name = node.path.slice(node.path.lastIndexOf('/') + 1);
  await send(`C0444 ${announced} ${name}\n`);
  await expectAck(reader);
  const src = new FileSource(node);
  const buf = Buffer.allocUnsafe(CHUNK);
  while (record.bytes < announced) {
    const wait = src.delayFor(CHUNK);
    if (wait > 0) await sleep(wait, undefined, { signal: ctx.signal });
    const n = await src.read(record.bytes, Math.min(CHUNK, announced - record.bytes), buf, record.bytes);
    if (n === 'drop' || n === 'drop-connection' || n === 0) {
      // A drop fault, or content shorter than announced (eof=/stat=): the
      // client waits for bytes that never come, so end as a crash would.
      record.outcome = 'dropped';
      if (n === 'drop-connection') ctx.dropConnection();
      else ctx.drop();
      return;
    }
    await ctx.output.write('stdout', buf.subarray(0, n));
    record.bytes += n;
  }
  await send('\0');
  await expectAck(reader);
  record.outcome = 'complete';
}

/** `scp -t PATH`: takes files into /sink (a sink name, or /sink itself with names from the C lines). */
async function sink(ctx: CommandContext, reader: ByteReader, send: (t: string) => Promise<void>, opts: ScpArgs, where: Where): Promise<void> {
  const onDisk = diskPath(opts.path, ctx, where.disk);
  if (onDisk) return diskSink(ctx, reader, send, opts, where.recorder, where.disk as DiskJail, onDisk);
  const { recorder } = where;
  const target = lookup(opts.path, ctx, where.files);
  const intoDir = target.kind === 'dir';
  if (target.kind === 'file' || (intoDir && !target.writeOnly)) throw new ScpError(`${clip(target.path, 200)}: read-only (uploads go to /sink/NAME)`);
  if (opts.targetIsDir && !intoDir) throw new ScpError(`${clip(target.path, 200)}: Not a directory`);
  await send('\0');
  for (let file = await nextFileLine(ctx, reader, send); file; file = await nextFileLine(ctx, reader, send)) {
    const { size, name } = file;
    const node: SinkNode = intoDir ? { kind: 'sink', path: `/sink/${name}`, name, faults: {} } : (target as SinkNode);
    const record = newRecord(recorder, ctx, 'upload', node);
    await send('\0');
    const hash = createHash('sha256');
    const { drop, dropConnection } = node.faults;
    const cut = Math.min(drop ?? Infinity, dropConnection ?? Infinity);
    await reader.exactly(Math.min(size, cut), (chunk) => {
      hash.update(chunk);
      record.bytes += chunk.length;
    });
    if (record.bytes < size) {
      record.outcome = 'dropped';
      if (dropConnection !== undefined && record.bytes >= dropConnection) ctx.dropConnection();
      else ctx.drop();
      return;
    }
    await expectAck(reader);
    record.sha256 = hash.digest('hex');
    record.outcome = 'complete';
    await send('\0');
  }
}

/** Reads the next C line of an upload (acknowledging T and E lines); undefined at the client's clean end. */
async function nextFileLine(ctx: CommandContext, reader: ByteReader, send: (t: string) => Promise<void>): Promise<{ size: number; name: string } | undefined> {
  for (;;) {
    const line = await reader.line(ctx.limits.maxPathBytes + 64);
    if (line === undefined) return undefined;
    const kind = line[0];
    if (kind === 'T' || kind === 'E') {
      await send('\0');
      continue;
    }
    if (kind === '\x01' || kind === '\x02') throw new ScpError(`client: ${clip(line.slice(1), 200)}`, kind === '\x02');
    if (kind === 'D') throw new ScpError('directories are not supported (-r)', true);
    const m = /^C[0-7]{4} ([0-9]{1,16}) (.+)$/.exec(line);
    if (!m) throw new ScpError(`protocol error: expected a C line, got '${clip(line, 40)}'`, true);
    const size = Number(m[1]);
    const name = m[2] as string;
    if (name.includes('/') || name === '..' || name === '.') throw new ScpError(`unsafe file name '${clip(name, 40)}'`, true);
    if (size > ctx.limits.maxUploadBytes) throw new ScpError(`${size} bytes exceeds the server's upload limit of ${ctx.limits.maxUploadBytes}`, true);
    return { size, name };
  }
}

/**
 * `scp -t /disk/…`: files into the real directory (a file path, or a folder
 * taking the sent names), each under a temporary name renamed into place
 * once all its bytes arrived: a failed upload leaves the target as it was.
 */
async function diskSink(ctx: CommandContext, reader: ByteReader, send: (t: string) => Promise<void>, opts: ScpArgs, recorder: Recorder, disk: DiskJail, target: string): Promise<void> {
  if (!disk.mount.writable) throw new ScpError(`${clip(target, 200)}: read-only (the server shares /disk read-only)`);
  // The target itself must be inside the jail (a link out is refused here, before any byte).
  await disk.resolve(target, false).catch((err: unknown) => {
    throw diskError(target, err);
  });
  const intoDir = (await disk.stat(target).catch(() => undefined))?.kind === 'dir';
  if (opts.targetIsDir && !intoDir) throw new ScpError(`${clip(target, 200)}: Not a directory`);
  await send('\0');
  for (let file = await nextFileLine(ctx, reader, send); file; file = await nextFileLine(ctx, reader, send)) {
    const path = intoDir ? `${target}/${file.name}` : target;
    const out = await disk.createReplacing(path).catch((err: unknown) => {
      throw diskError(path, err);
    });
    const record = newRecord(recorder, ctx, 'upload', { kind: 'sink', path, name: file.name, faults: {} });
    try {
      await send('\0');
      const hash = createHash('sha256');
      let written = 0;
      await reader.exactly(file.size, async (chunk) => {
        hash.update(chunk);
        // The chunk is the channel's own buffer (ssh2 decrypts each packet into a new one), so no copy.
        await out.fh.write(chunk, 0, chunk.length, written);
        written += chunk.length;
        record.bytes = written;
      });
      await expectAck(reader);
      await out.commit().catch((err: unknown) => {
        throw diskError(path, err);
      });
      record.sha256 = hash.digest('hex');
      record.outcome = 'complete';
    } finally {
      record.outcome ??= 'failed';
      await out.abort();
    }
    await send('\0');
  }
}
