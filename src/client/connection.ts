/**
 * An authenticated connection and its runs. A run settles only when every
 * byte has reached its target: opening a connection is in connect.ts, the
 * data path in delivery.ts, what runs beside it (stdin, idle watchdog,
 * progress, abort) in run-watch.ts, the naive demonstration in naive.ts.
 */
import { createHash } from 'node:crypto';
import type ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { joinCommand } from '../openssh/command-line.js';
import { keepOpenUntilServerCloses } from '../ssh2/index.js';
import { Delivery, errorCode } from './delivery.js';
import { ChannelLostError, ConnectionError, ExitStatusError, TargetError, type RunError } from './errors.js';
import { naiveCopy } from './naive.js';
import type { RunOptions, RunResult } from './run-options.js';
import { RunRecord } from './run-record.js';
import { watchRun } from './run-watch.js';
import { openSink, openSource, sameFile, type InputSource, type InputStream, type OutputSink, type OutputTarget } from '../engine/targets.js';
import { sftpDownload, sftpUpload, type TransferOptions, type TransferResult } from './sftp/transfer.js';


type Client = InstanceType<typeof ssh2.Client>;

const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

/** Longest exec request sent: the packet must stay under ssh2's 35,000-byte limit (OpenSSH's is larger). */
export const MAX_EXEC_BYTES = 32 * 1024;

/** A run's opened targets and stdin. */
interface RunStreams {
  out: OutputSink;
  err: OutputSink;
  input: InputStream | undefined;
}

/** Opens the targets and stdin before anything runs remotely; a failure is a TargetError naming which. */
async function openStreams(options: RunOptions, record: RunRecord): Promise<RunStreams> {
  const sinkOptions = { maxBuffer: options.maxBuffer ?? DEFAULT_MAX_BUFFER, naive: options.naive === true, fsync: options.fsync === true };
  const stdout = options.stdout ?? 'buffer';
  const stderr = options.stderr ?? 'buffer';
  const opened: OutputSink[] = [];
  let which: 'stdout' | 'stderr' | 'stdin' = 'stdout';
  try {
    if (await sameFile(stdout, stderr)) {
      which = 'stderr';
      throw new Error('stdout and stderr would go to the same file: give two different files');
    }
    opened.push(await openSink(stdout, 'stdout', sinkOptions));
    which = 'stderr';
    opened.push(await openSink(stderr, 'stderr', sinkOptions));
    which = 'stdin';
    const input = await openSource(options.stdin, options.input);
    const [out, err] = opened as [OutputSink, OutputSink];
    record.collectFrom(() => ({ stdout: out.collected?.(), stderr: err.collected?.() }));
    return { out, err, input };
  } catch (err) {
    await Promise.all(opened.map((s) => s.discard()));
    const e = err as Error;
    throw new TargetError(`cannot open ${which}: ${e.message}`, record.snapshot(), which, errorCode(e), { cause: e });
  }
}

/** An authenticated SSH connection. Runs may overlap (one channel each). */
export class Connection implements AsyncDisposable {
  readonly #client: Client;
  #lastError: Error | undefined;
  #closed = false;
  readonly #closedPromise: Promise<void>;

  /** @internal Use `connect()`. */
  constructor(
    client: Client,
    readonly host: string,
    readonly port: number,
  ) {
    this.#client = client;
    client.on('error', (err) => (this.#lastError = err));
    this.#closedPromise = new Promise((resolve) =>
      client.once('close', () => {
        this.#closed = true;
        resolve();
      }),
    );
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs a command and resolves when it has exited and every target has
   * flushed (see FlushTracker). `command` is sent as is, or, as an array,
   * quoted word by word.
   */
  async run(command: string | readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const record = new RunRecord(typeof command === 'string' ? command : joinCommand(command));
    options.signal?.throwIfAborted();
    const { out, err, input } = await openStreams(options, record);
    let channel: ClientChannel;
    try {
      channel = await this.#exec(record, options.env);
    } catch (e) {
      await Promise.all([out.discard(), err.discard()]);
      if (input?.owned) input.stream.destroy();
      throw e;
    }
    const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
    const delivery = options.naive ? undefined : new Delivery(() => record.failure());
    const stop = (reason: RunError): void => {
      delivery?.abort(reason);
      channel.close();
    };
    const unwatch = watchRun({ ...options, channel, closed, input, record, stop });
    try {
      if (!delivery) {
        const hashes = await naiveCopy(channel, out, err, record, options.hash === true, closed);
        return { ...record.snapshot(), ...hashes, stdout: out.collected?.(), stderr: err.collected?.(), keptPartial: [], naive: true };
      }
      return await this.#deliver(channel, closed, delivery, { out, err, input }, record, options);
    } finally {
      unwatch();
    }
  }

  /** The tracked path: route, settle, then commit or discard by the exit facts. */
  async #deliver(channel: ClientChannel, closed: Promise<void>, delivery: Delivery, streams: RunStreams, record: RunRecord, options: RunOptions): Promise<RunResult> {
    const outHash = options.hash ? createHash('sha256') : undefined;
    const errHash = options.hash ? createHash('sha256') : undefined;
    const { facts } = record;
    delivery.route(channel, 'stdout channel', streams.out, (n) => (facts.stdoutBytes += n), outHash);
    delivery.route(channel.stderr, 'stderr channel', streams.err, (n) => (facts.stderrBytes += n), errHash);
    try {
      await delivery.settled(options.flushTimeoutMs);
      // Both sources ended, so ssh2 emits 'close' as soon as CHANNEL_CLOSE is in.
      // Not a tracker task: after a failure nothing may wait on a paused channel.
      await closed;
    } catch (e) {
      channel.close();
      throw await delivery.fail(e as Error, options.keepPartial);
    }
    if (!record.exitSeen) throw await delivery.fail(this.#lostError(record), options.keepPartial);
    // A command killed by a signal did not finish its output: never put it in place.
    const keptPartial = facts.signal !== null ? await delivery.discard(options.keepPartial) : [];
    if (facts.signal === null) await delivery.commit();
    const result: RunResult = {
      ...record.snapshot(),
      naive: false,
      keptPartial,
      stdout: streams.out.collected?.(),
      stderr: streams.err.collected?.(),
      stdoutSha256: outHash?.digest('hex'),
      stderrSha256: errHash?.digest('hex'),
    };
    if (options.check && (result.exitCode !== 0 || result.signal !== null)) {
      const how = result.signal ? `was killed by signal ${result.signal}` : `exited with status ${result.exitCode}`;
      throw new ExitStatusError(`remote command ${how}`, result);
    }
    return result;
  }

  /** The channel closed without an exit status: the output may be truncated. */
  #lostError(record: RunRecord): ChannelLostError {
    const why = this.#lastError ? `connection lost (${this.#lastError.message})` : this.#closed ? 'connection lost' : 'channel closed';
    const f = record.failure();
    return new ChannelLostError(`${why} before an exit status: output may be truncated (${f.stdoutBytes} stdout and ${f.stderrBytes} stderr bytes arrived)`, f);
  }

  #exec(record: RunRecord, env: Record<string, string> | undefined): Promise<ClientChannel> {
    const command = record.facts.command;
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new ConnectionError('connection is closed', this.host, this.port));
        return;
      }
      const bytes = Buffer.byteLength(command);
      if (bytes > MAX_EXEC_BYTES) {
        // ssh2 servers drop the whole connection for a packet over 35,000 bytes.
        reject(new ConnectionError(`command is too long to send (${bytes} bytes; at most ${MAX_EXEC_BYTES})`, this.host, this.port));
        return;
      }
      this.#client.exec(command, env ? { env } : {}, (err, channel) => {
        if (err) {
          const why = this.#closed || this.#lastError ? `connection lost before the exec request was answered (${this.#lastError?.message ?? 'closed'})` : `exec refused: ${err.message}`;
          reject(new ConnectionError(`${this.host}:${this.port}: ${why}`, this.host, this.port, { cause: err }));
          return;
        }
        // Listen now, not after an await: ssh2 may parse the exit status from
        // the same TCP read as the exec reply, before a later listener exists.
        channel.on('exit', (code: number | null, signal?: string) => record.exit(code, signal));
        // An exit-status may follow the server's EOF: do not close at EOF.
        keepOpenUntilServerCloses(channel);
        resolve(channel);
      });
    });
  }

  /**
   * Downloads a remote file over SFTP into `target` (the targets of run()'s
   * stdout: a path written under a temporary name and renamed on success, an
   * fd, a Writable, `'buffer'`, …). Resolves when the target has closed (or
   * flushed, if kept open) with exactly the size the server's stat reported;
   * otherwise rejects with a TransferError (TransferLengthError when EOF came
   * early or late) and leaves no file at the target path.
   */
  download(remotePath: string, target: OutputTarget, options?: TransferOptions): Promise<TransferResult> {
    if (this.#closed) return Promise.reject(new ConnectionError('connection is closed', this.host, this.port));
    return sftpDownload(this.#client, this.host, this.port, remotePath, target, options);
  }

  /**
   * Uploads `source` (a local path, a Readable, or bytes) to `remotePath` over
   * SFTP. Resolves after every WRITE and the CLOSE were acknowledged (and the
   * server's stat, where it allows one, shows the size sent).
   */
  upload(source: InputSource, remotePath: string, options?: TransferOptions): Promise<TransferResult> {
    if (this.#closed) return Promise.reject(new ConnectionError('connection is closed', this.host, this.port));
    return sftpUpload(this.#client, this.host, this.port, source, remotePath, options);
  }

  /** Closes the connection; resolves when the socket is closed. */
  async close(): Promise<void> {
    if (!this.#closed) this.#client.end();
    await this.#closedPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
