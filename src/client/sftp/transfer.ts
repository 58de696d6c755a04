/**
 * SFTP download and upload over one ssh2 client connection, on the same
 * data path as an exec run: the engine's targets and one FlushTracker (via
 * Delivery), so a download resolves only when its target has closed (or
 * flushed, if kept open), and a failure leaves no file at the target path.
 */
import { renameOver, type RenameRequests } from './rename-over.js';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { openSink, openSource, type InputSource, type OutputTarget } from '../../engine/targets.js';
import { Delivery } from '../delivery.js';
import { ConnectionError, RunError, TransferError, TransferLengthError, type RunFacts } from '../errors.js';
import { LengthMismatchError, SftpReadStream } from './read-stream.js';
import { SftpWriteStream } from './write-stream.js';
import { sftpPacketFit } from '../../ssh2/index.js';
import { naiveRead } from './naive-read.js';

type Client = InstanceType<typeof ssh2.Client>;

/** Options of `download()` and `upload()`. */
export interface TransferOptions {
  /**
   * Bytes per READ/WRITE request. Default: 32 KiB less the SFTP header, so
   * each WRITE, and each READ's reply from an ssh2 server, fits one 32 KiB
   * SSH packet (a full 32 KiB would go out as two packets, the second 29
   * bytes: src/ssh2/sftp-packet.ts). Larger READs are sent as asked (a
   * server may answer short); larger WRITEs are cut to what ssh2 sends as one
   * request (31,952 bytes to a server that is not OpenSSH).
   */
  chunkSize?: number;
  /** Requests in flight. Default 64 (OpenSSH sftp's default). */
  requests?: number;
  /**
   * Compute the SHA-256 of the bytes moved ({@link TransferResult.sha256}).
   * Default true. Hashing costs about half a CPU-second per GiB; a caller
   * that verifies elsewhere (or not at all) passes false.
   */
  digest?: boolean;
  /** Cancels the transfer: it rejects with a TransferError and leaves no file. */
  signal?: AbortSignal;
  /** Download to a file: fsync it and its folder before resolving. */
  fsync?: boolean;
  /** Download to a file that fails: keep what arrived as `FILE.partial`. */
  keepPartial?: boolean;
  /** Download to `'buffer'`: the most bytes collected. Default 64 MiB. */
  maxBuffer?: number;
  /** Reject if the target has not flushed this long after the last byte, in ms. */
  flushTimeoutMs?: number;
  /** Called every {@link progressIntervalMs} with the bytes moved and the total (the stat size; for an upload from a stream, undefined). */
  onProgress?: (bytes: number, total: number | undefined) => void;
  /** How often {@link onProgress} is called, in ms. Default 250. */
  progressIntervalMs?: number;
  /**
   * Upload: write a temporary name in the same remote folder
   * (`.loopssh-XXXXXXXX.NAME`) and rename it over `remotePath` only once every
   * byte was acknowledged, so a failed or cancelled upload never leaves a
   * truncated file at `remotePath` (nor destroys the file that was there).
   * `false` writes `remotePath` in place, for servers that refuse renames
   * (upload-only drop boxes); a failure then removes it, where the server lets us.
   * Default true.
   */
  atomic?: boolean;
  /**
   * Download: the naive way, kept to demonstrate the losses it causes (see
   * naive-read.ts): a short READ taken for EOF, the stat size not checked,
   * written in place and resolved without waiting for the target to close.
   * Never use it for real transfers.
   */
  naive?: boolean;
}

/** A local file's size, for the progress total (undefined if it cannot be read). */
async function fileSize(path: string): Promise<number | undefined> {
  return stat(path).then(
    (st) => st.size,
    () => undefined,
  );
}

/** Calls `options.onProgress` on a timer until the returned stop function is called (no per-chunk work). */
function watchProgress(options: TransferOptions, bytes: () => number, total: number | undefined): () => void {
  const report = options.onProgress;
  if (!report) return () => {};
  const timer = setInterval(() => report(bytes(), total), options.progressIntervalMs ?? 250);
  timer.unref();
  return () => clearInterval(timer);
}

/** What a finished transfer did. */
export interface TransferResult {
  remotePath: string;
  /** Bytes moved (equal to the remote size the server's stat reported). */
  bytes: number;
  /** Lowercase hex SHA-256 of the bytes moved; undefined with `digest: false`. */
  sha256?: string;
  durationMs: number;
  /** A download to `'buffer'`: the bytes. */
  data?: Buffer;
  /** True for a naive download: `bytes` says what was read, not what reached the target. */
  naive?: boolean;
}

const DEFAULTS = { requests: 64, maxBuffer: 64 * 1024 * 1024 };

/** The hash of the bytes moved, unless the caller turned the digest off. */
function digestOf(options: TransferOptions): Hash | undefined {
  return options.digest === false ? undefined : createHash('sha256');
}

/** Facts as RunError carries them: the "command" names the transfer. */
function factsOf(command: string, bytes: number, started: number): RunFacts {
  return { command, exitCode: null, signal: null, stdoutBytes: bytes, stderrBytes: 0, durationMs: Math.round(performance.now() - started) };
}

/** Opens an SFTP session on the connection. */
function openSftp(client: Client, host: string, port: number): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) =>
    client.sftp((err, sftp) => {
      if (err) return reject(new ConnectionError(`${host}:${port}: SFTP refused: ${err.message}`, host, port, { cause: err }));
      sftpOpen.set(sftp, true);
      const gone = (): void => void sftpOpen.set(sftp, false);
      sftp.once('end', gone).once('close', gone);
      resolve(sftp);
    }),
  );
}

/**
 * Runs one SFTP request and settles with its answer, or with `closedValue`
 * once the session is gone: ssh2 registers a request made on a closed
 * channel but never answers it.
 */
function ask<T>(sftp: SFTPWrapper, request: (done: (value: T) => void) => void, closedValue: T): Promise<T> {
  return new Promise((resolve) => {
    const onGone = (): void => resolve(closedValue);
    if (!sftpOpen.get(sftp)) return onGone();
    sftp.once('end', onGone).once('close', onGone);
    request((value) => {
      sftp.off('end', onGone).off('close', onGone);
      resolve(value);
    });
  });
}

/** Which sessions are still open (ssh2's SFTP client exposes no such flag). */
const sftpOpen = new WeakMap<SFTPWrapper, boolean>();

/** Checked tuning; chunkSize undefined: the streams fit it to the channel's packet size. */
function tuning(options: TransferOptions): { chunkSize: number | undefined; requests: number } {
  const chunkSize = options.chunkSize;
  const requests = options.requests ?? DEFAULTS.requests;
  if (chunkSize !== undefined && (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > 255 * 1024)) throw new RangeError(`chunkSize must be 1..261120 bytes, got ${chunkSize}`);
  if (!Number.isSafeInteger(requests) || requests < 1 || requests > 1024) throw new RangeError(`requests must be 1..1024, got ${requests}`);
  return { chunkSize, requests };
}

/** An SFTP request's error as a TransferError (ssh2 puts the SSH_FX_* code in `code`). */
function remoteError(what: string, err: unknown, facts: RunFacts, remotePath: string): TransferError {
  const e = err as Error & { code?: unknown };
  const status = typeof e.code === 'number' ? e.code : undefined;
  return new TransferError(`${what} ${remotePath}: ${e.message}`, facts, remotePath, status, { cause: e });
}

/** Downloads `remotePath` into `target` (see OutputTarget). */
export async function sftpDownload(client: Client, host: string, port: number, remotePath: string, target: OutputTarget, options: TransferOptions = {}): Promise<TransferResult> {
  const started = performance.now();
  const command = `sftp get ${remotePath}`;
  const tune = tuning(options);
  let bytes = 0;
  const facts = (): RunFacts => factsOf(command, bytes, started);
  options.signal?.throwIfAborted();
  const sink = await openSink(target, 'stdout', { maxBuffer: options.maxBuffer ?? DEFAULTS.maxBuffer, naive: options.naive === true, fsync: options.fsync === true });
  let sftp: SFTPWrapper | undefined;
  const delivery = new Delivery(() => ({ ...facts(), stdout: sink.collected?.() }));
  /** Set once delivery.fail() has discarded the sink. */
  let discarded = false;
  try {
    sftp = await openSftp(client, host, port);
    const s = sftp;
    const handle = await new Promise<Buffer>((res, rej) => s.open(remotePath, 'r', (err, h) => (err ? rej(remoteError('cannot open', err, facts(), remotePath)) : res(h))));
    const size = await new Promise<number>((res, rej) => s.fstat(handle, (err, st) => (err ? rej(remoteError('cannot stat', err, facts(), remotePath)) : res(st.size))));
    if (options.naive) {
      const hash = digestOf(options);
      bytes = await naiveRead(s, handle, sink, tune.chunkSize ?? sftpPacketFit(s, handle).read, hash);
      s.close(handle, () => {});
      return { remotePath, bytes, sha256: hash?.digest('hex'), durationMs: facts().durationMs, data: sink.collected?.(), naive: true };
    }
    const source = new SftpReadStream(s, handle, size, tune);
    let sourceError: Error | undefined;
    source.once('error', (err) => (sourceError = err));
    const hash = digestOf(options);
    const onAbort = (): void => {
      delivery.abort(new TransferError(`download of ${remotePath} cancelled`, facts(), remotePath));
      source.destroy();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    delivery.route(source, `sftp ${remotePath}`, sink, (n) => (bytes += n), hash);
    const stopProgress = watchProgress(options, () => bytes, size);
    try {
      await delivery.settled(options.flushTimeoutMs);
    } catch (err) {
      let e = err as Error;
      if (e === sourceError && e instanceof LengthMismatchError) {
        e = new TransferLengthError(`${remotePath}: ${e.message}`, facts(), remotePath, e.expected, e.received);
      } else if (e === sourceError) e = remoteError('lost while reading', e, facts(), remotePath);
      discarded = true;
      throw await delivery.fail(e, options.keepPartial);
    } finally {
      stopProgress();
      options.signal?.removeEventListener('abort', onAbort);
    }
    await delivery.commit();
    s.close(handle, () => {});
    return { remotePath, bytes, sha256: hash?.digest('hex'), durationMs: facts().durationMs, data: sink.collected?.() };
  } catch (err) {
    if (!discarded) await sink.discard(options.keepPartial);
    if (err instanceof RunError || err instanceof ConnectionError) throw err;
    throw remoteError('download of', err, facts(), remotePath);
  } finally {
    sftp?.end();
  }
}

/**
 * The temporary name an atomic upload writes: same remote folder, a dot and
 * a random prefix, then the target's own name (kept last, so a name that
 * carries options after it, as loopssh's `/sink/NAME,drop=…`, keeps them).
 */
export function uploadTempPath(remotePath: string): string {
  const slash = remotePath.lastIndexOf('/');
  return `${remotePath.slice(0, slash + 1)}.loopssh-${randomBytes(4).toString('hex')}.${remotePath.slice(slash + 1)}`;
}

/** An SFTP request's callback error, or undefined. */
function request(sftp: SFTPWrapper, send: (done: (err: Error | undefined | null) => void) => void): Promise<Error | undefined> {
  return ask<Error | undefined>(sftp, (done) => send((err) => done(err ?? undefined)), new Error('the SFTP session closed'));
}

/** The SFTP requests {@link renameOver} needs, each settling with its error (or the session's end). */
function renameRequests(sftp: SFTPWrapper): RenameRequests {
  return {
    posixRename: (from, to) => {
      let advertised = true;
      const answer = request(sftp, (done) => {
        try {
          sftp.ext_openssh_rename(from, to, done);
        } catch {
          // ssh2 throws synchronously when the server did not advertise the extension.
          advertised = false;
          done(undefined);
        }
      });
      return answer.then((err) => (advertised ? err : 'unadvertised'));
    },
    rename: (from, to) => request(sftp, (done) => sftp.rename(from, to, done)),
    exists: (path) => ask<boolean>(sftp, (done) => sftp.stat(path, (err) => done(!err)), false),
    remove: (path) => request(sftp, (done) => sftp.unlink(path, done)),
  };
}

/** Uploads `source` (a path, a Readable or bytes) to `remotePath` (see {@link TransferOptions.atomic}). */
export async function sftpUpload(client: Client, host: string, port: number, source: InputSource, remotePath: string, options: TransferOptions = {}): Promise<TransferResult> {
  const started = performance.now();
  const command = `sftp put ${remotePath}`;
  const tune = tuning(options);
  let bytes = 0;
  const facts = (): RunFacts => factsOf(command, bytes, started);
  options.signal?.throwIfAborted();
  const input = await openSource(source, undefined);
  if (!input) throw new TypeError('upload: no source');
  const sftp = await openSftp(client, host, port).catch((err: unknown) => {
    if (input.owned) input.stream.destroy();
    throw err;
  });
  const writtenPath = options.atomic === false ? remotePath : uploadTempPath(remotePath);
  const named = writtenPath === remotePath ? remotePath : `${remotePath} (as ${writtenPath})`;
  let opened = false;
  let handle: Buffer | undefined;
  try {
    handle = await new Promise<Buffer>((res, rej) => sftp.open(writtenPath, 'w', (err, h) => (err ? rej(remoteError('cannot create', err, facts(), named)) : res(h))));
    opened = true;
    const writer = new SftpWriteStream(sftp, handle, tune.chunkSize, tune.requests);
    const sink = await openSink(writer, 'stdout', { maxBuffer: 0, naive: false });
    const delivery = new Delivery(facts);
    const hash = digestOf(options);
    const onAbort = (): void => {
      delivery.abort(new TransferError(`upload to ${remotePath} cancelled`, facts(), remotePath));
      writer.destroy();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    delivery.route(input.stream, `upload source ${input.label}`, sink, (n) => (bytes += n), hash);
    const stopProgress = watchProgress(options, () => bytes, typeof source === 'string' ? await fileSize(source) : undefined);
    try {
      await delivery.settled(options.flushTimeoutMs);
    } catch (err) {
      const e = err as Error;
      if (e instanceof RunError) throw e;
      throw remoteError('upload to', e, facts(), remotePath);
    } finally {
      stopProgress();
      options.signal?.removeEventListener('abort', onAbort);
    }
    // Every WRITE and the CLOSE were acknowledged; stat confirms the size where the server lets us.
    handle = undefined;
    const remoteSize = await ask<number | undefined>(sftp, (done) => sftp.stat(writtenPath, (err, st) => done(err ? undefined : st.size)), undefined);
    if (remoteSize !== undefined && remoteSize !== bytes) {
      throw new TransferLengthError(`${named}: the server's stat says ${remoteSize} bytes after ${bytes} were written`, facts(), remotePath, bytes, remoteSize);
    }
    if (writtenPath !== remotePath) {
      const renamed = await renameOver(renameRequests(sftp), writtenPath, remotePath);
      if (renamed.error && renamed.targetRemoved) {
        // The old file is gone and the new one is complete under its temp name: keep it, and say where.
        opened = false;
        throw remoteError(`the old file was removed but the upload could not be renamed; it is complete at ${writtenPath}, cannot rename over`, renamed.error, facts(), remotePath);
      }
      if (renamed.error) throw remoteError(`cannot rename ${writtenPath} over`, renamed.error, facts(), remotePath);
    }
    opened = false;
    return { remotePath, bytes, sha256: hash?.digest('hex'), durationMs: facts().durationMs };
  } catch (err) {
    if (input.owned) input.stream.destroy();
    // Leave no partial file behind where the server allows removing it
    // (closed first: a cancelled writer left its handle open).
    if (handle) await request(sftp, (done) => sftp.close(handle as Buffer, done));
    if (opened) await request(sftp, (done) => sftp.unlink(writtenPath, done));
    if (err instanceof RunError || err instanceof ConnectionError) throw err;
    throw remoteError('upload to', err, facts(), remotePath);
  } finally {
    sftp.end();
  }
}
