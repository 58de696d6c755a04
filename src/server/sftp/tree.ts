/**
 * The virtual tree the SFTP and SCP servers expose. Pure: it knows paths,
 * sizes and listings, nothing about ssh2.
 *
 * ```
 * /README                          help text (this grammar)
 * /payload/PATTERN/SEED/SIZE[,OPT] a payload file: PATTERN zero|lines|random, SIZE as `head -c`
 * /sink/NAME[,OPT]                 write-only upload area, hashed into server.seen
 * ```
 */
import { PATTERNS, type PatternName, type PayloadSpec } from '../../payload/patterns.js';
import { parseSize, SizeError } from '../../util/size.js';
import { streamReader, type StreamReader, type StreamedFile } from './stream-file.js';
import { FAULT_OPTIONS, FaultSyntaxError, parseFaults, type FileFaults } from './faults.js';

/** Longest path the tree accepts, in bytes, unless the server's limits say otherwise. */
export const DEFAULT_MAX_PATH_BYTES = 4096;

/**
 * A file a test author registers (`startServer({ sftpFiles })`), served at
 * `/files/NAME`: fixed bytes, any size read on demand (`read` may return
 * fewer bytes than asked, a short read, and may be async), or a function
 * returning a Readable, read front to back (see {@link StreamedFile}).
 */
export type RegisteredFile = Uint8Array | StreamedFile | { readonly size: number; read(offset: number, length: number): Uint8Array | Promise<Uint8Array> };

/** Registered files by name (no '/'). */
export type RegisteredFiles = Readonly<Record<string, RegisteredFile>>;

/** A directory of the tree. */
export interface DirNode {
  readonly kind: 'dir';
  readonly path: string;
  /** Write-only (the sink area): listing it shows nothing. */
  readonly writeOnly: boolean;
  readonly entries: readonly DirEntry[];
}

/** A payload file (or the README): readable at any offset. */
export interface FileNode {
  readonly kind: 'file';
  readonly path: string;
  /** Real length of the content. */
  readonly size: number;
  /** The generator spec, fixed bytes (the README, a registered buffer), or a registered reader. */
  readonly content: PayloadSpec | Buffer | StreamReader | Exclude<RegisteredFile, Uint8Array | StreamedFile>;
  readonly faults: FileFaults;
}

/** A name in the upload area. */
export interface SinkNode {
  readonly kind: 'sink';
  readonly path: string;
  readonly name: string;
  readonly faults: FileFaults;
}

export type TreeNode = DirNode | FileNode | SinkNode;

/** One line of a listing. */
export interface DirEntry {
  readonly name: string;
  readonly kind: 'dir' | 'file';
  readonly size: number;
}

/** A path the tree cannot resolve: the message says why (unknown pattern, bad size, bad option). */
export class TreePathError extends Error {}

/** Sizes listed under each /payload/PATTERN/SEED directory. */
const EXAMPLE_SIZES = ['0', '1', '32767', '32KiB', '32769', '1MiB', '64MiB', '1GiB'] as const;

/** What /README says. Kept short: it is read by people poking at the server with `sftp`. */
export const README_TEXT = `loopssh virtual SFTP tree (read-only except /sink)

/payload/PATTERN/SEED/SIZE     a reproducible file, e.g. /payload/random/7/1GiB
  PATTERN  ${PATTERNS.join(' | ')} (SEED matters for random only)
  SIZE     bytes with an optional suffix as head -c takes it: 32768, 32KiB, 64MiB, 2GB
  Reference bytes: loopssh's payload help, e.g. random with seed S is
  head -c SIZE /dev/zero | openssl enc -aes-128-ctr -K <key of S> -iv 0…0
/sink/NAME                     write-only: uploads are hashed (bytes, SHA-256) into server.seen

Fault options follow the size (or the sink name) after commas:
  /payload/random/7/1MiB,short=1000,drop=512KiB
${FAULT_OPTIONS.map((o) => `  ${o}`).join('\n')}
  short: each READ returns at most SIZE bytes    eof: EOF from that offset on
  stat: stat reports that size                   delay/rate: slow replies
  drop: close the SFTP channel after SIZE bytes  drop-conn: cut the connection
`;

const README = Buffer.from(README_TEXT, 'utf8');

/**
 * Resolves a client path (absolute, or relative to `/`) to a canonical
 * absolute path: `.` and `..` applied, repeated slashes dropped. `..` above
 * the root stays at the root, as on a real file system.
 */
export function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/**
 * Looks a path up. Returns undefined for a name that does not exist;
 * throws {@link TreePathError} for a name in the tree's grammar with a bad
 * part (so the client's error says what was wrong).
 * @param maxPayloadBytes the largest payload size allowed
 * @param files registered files (`/files/NAME`)
 * @param mounts extra folder names listed in `/` (the session serves them, e.g. `disk`)
 */
export function resolvePath(rawPath: string, maxPayloadBytes: number, files: RegisteredFiles = {}, mounts: readonly string[] = []): TreeNode | undefined {
  const path = normalizePath(rawPath);
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const [top, pattern, seed, sizeText, ...rest] = parts;
  if (top === undefined) {
    return dir(path, false, [
      { name: 'README', kind: 'file', size: README.length },
      { name: 'payload', kind: 'dir', size: 0 },
      { name: 'sink', kind: 'dir', size: 0 },
      ...(Object.keys(files).length > 0 ? [{ name: 'files', kind: 'dir' as const, size: 0 }] : []),
      ...mounts.map((name) => ({ name, kind: 'dir' as const, size: 0 })),
    ]);
  }
  if (top === 'files' && Object.keys(files).length > 0) {
    if (parts.length === 1) return dir(path, false, Object.entries(files).map(([name, f]) => ({ name, kind: 'file', size: registeredSize(f) })));
    if (parts.length > 2 || pattern === undefined) return undefined;
    const [name = '', ...options] = pattern.split(',');
    const file = Object.hasOwn(files, name) ? files[name] : undefined;
    if (!file) return undefined;
    // A streamed file gets a fresh reader per resolve: each open handle reads the stream from its start.
    const content = file instanceof Uint8Array ? Buffer.from(file.buffer, file.byteOffset, file.byteLength) : typeof file === 'function' ? streamReader(file) : file;
    return { kind: 'file', path, size: registeredSize(file), content, faults: faultsOf(options) };
  }
  if (top === 'README' && parts.length === 1) return { kind: 'file', path, size: README.length, content: README, faults: {} };
  if (top === 'sink') {
    if (parts.length === 1) return dir(path, true, []);
    if (parts.length > 2 || pattern === undefined) return undefined;
    const [name = '', ...options] = pattern.split(',');
    if (name === '') throw new TreePathError('an upload needs a name: /sink/NAME');
    return { kind: 'sink', path, name, faults: faultsOf(options) };
  }
  if (top !== 'payload') return undefined;
  if (pattern === undefined) return dir(path, false, PATTERNS.map((p) => ({ name: p, kind: 'dir', size: 0 })));
  if (!(PATTERNS as readonly string[]).includes(pattern)) {
    throw new TreePathError(`unknown payload pattern '${pattern.slice(0, 40)}' (expected ${PATTERNS.join(', ')})`);
  }
  if (seed === undefined) return dir(path, false, [{ name: pattern === 'random' ? '7' : '0', kind: 'dir', size: 0 }]);
  if (sizeText === undefined) {
    const spec = (size: number): PayloadSpec => ({ pattern: pattern as PatternName, seed, size, stream: 'stdout' });
    return dir(
      path,
      false,
      EXAMPLE_SIZES.map((s) => ({ name: s, kind: 'file', size: spec(parseSize(s)).size })),
    );
  }
  if (rest.length > 0) return undefined;
  const [sizePart = '', ...options] = sizeText.split(',');
  let size: number;
  try {
    size = parseSize(sizePart);
  } catch (err) {
    if (err instanceof SizeError) throw new TreePathError(err.message);
    throw err;
  }
  if (size > maxPayloadBytes) throw new TreePathError(`payload size ${size} exceeds the server's limit of ${maxPayloadBytes} bytes`);
  const content: PayloadSpec = { pattern: pattern as PatternName, seed, size, stream: 'stdout' };
  return { kind: 'file', path, size, content, faults: faultsOf(options) };
}

function registeredSize(file: RegisteredFile): number {
  // A stream without a size: stat reports 0 (the README says so); reads go on to the stream's end.
  return file instanceof Uint8Array ? file.byteLength : (file.size ?? 0);
}

function dir(path: string, writeOnly: boolean, entries: DirEntry[]): DirNode {
  return { kind: 'dir', path, writeOnly, entries };
}

function faultsOf(options: readonly string[]): FileFaults {
  try {
    return parseFaults(options);
  } catch (err) {
    if (err instanceof FaultSyntaxError) throw new TreePathError(err.message);
    throw err;
  }
}

/** The size a file reports (its `stat=` fault, else its real size). */
export function reportedSize(node: FileNode): number {
  return node.faults.stat ?? node.size;
}
