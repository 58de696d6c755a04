/**
 * Client errors carry the facts as properties, execa-style, so callers and
 * the CLI never parse messages.
 */

/** The facts of a run so far; every run error carries them. */
export interface RunFacts {
  /** The exec request string sent. */
  command: string;
  /** Exit status, or null when none arrived or the command was killed by a signal. */
  exitCode: number | null;
  /** Signal name without `SIG` (e.g. `TERM`), or null. */
  signal: string | null;
  /** Bytes received on stdout / stderr (from the channel, whatever reached the target). */
  stdoutBytes: number;
  stderrBytes: number;
  durationMs: number;
}

/**
 * Output collected so far for `'buffer'` targets (at most `maxBuffer` bytes
 * each); absent for other targets.
 */
export interface RunOutput {
  stdout?: Buffer;
  stderr?: Buffer;
}

/** Base class of every error loopssh's client throws. */
export class LoopsshError extends Error {
  override name = 'LoopsshError';
}

/** Could not connect, handshake or stay connected (the CLI exits 255, like `ssh`). */
export class ConnectionError extends LoopsshError {
  override name = 'ConnectionError';
  constructor(
    message: string,
    readonly host: string,
    readonly port: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The server's host key is not the expected one; nothing was sent. */
export class HostKeyError extends ConnectionError {
  override name = 'HostKeyError';
  constructor(
    message: string,
    host: string,
    port: number,
    /** Fingerprint the server presented. */
    readonly actual: string,
    /** Fingerprints that would have been accepted. */
    readonly expected: readonly string[],
  ) {
    super(message, host, port);
  }
}

/** Every authentication method was refused. */
export class AuthenticationError extends ConnectionError {
  override name = 'AuthenticationError';
}

/**
 * A run failed; the facts say how far it got, and, like execa's errors and
 * AsyncSSH's ProcessError, `stdout`/`stderr` hold what a `'buffer'` target
 * had collected.
 */
export class RunError extends LoopsshError implements RunFacts, RunOutput {
  override name = 'RunError';
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly durationMs: number;
  /** Collected stdout when the target was `'buffer'`. */
  readonly stdout?: Buffer;
  /** Collected stderr when the target was `'buffer'`. */
  readonly stderr?: Buffer;
  constructor(message: string, facts: RunFacts & RunOutput, options?: ErrorOptions) {
    super(message, options);
    this.command = facts.command;
    this.exitCode = facts.exitCode;
    this.signal = facts.signal;
    this.stdoutBytes = facts.stdoutBytes;
    this.stderrBytes = facts.stderrBytes;
    this.durationMs = facts.durationMs;
    if (facts.stdout) this.stdout = facts.stdout;
    if (facts.stderr) this.stderr = facts.stderr;
  }
}

/**
 * The channel closed without an exit status (connection lost, server
 * crashed, channel dropped): the output may be truncated, so this is never
 * reported as success.
 */
export class ChannelLostError extends RunError {
  override name = 'ChannelLostError';
}

/** A stdout/stderr target or the stdin source failed (EPIPE, ENOSPC, …). */
export class TargetError extends RunError {
  override name = 'TargetError';
  constructor(
    message: string,
    facts: RunFacts & RunOutput,
    /** Which target: e.g. `stdout file out.bin`. */
    readonly target: string,
    /** The underlying error's code, such as `EPIPE` or `ENOSPC`. */
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, facts, options);
  }
}

/** `check: true` and the command exited non-zero or by a signal. */
export class ExitStatusError extends RunError {
  override name = 'ExitStatusError';
}

/** The run was cancelled through its AbortSignal. */
export class RunAbortedError extends RunError {
  override name = 'RunAbortedError';
}

/** Nothing moved on the channel (no output, no stdin taken) for `idleTimeoutMs`. */
export class RunTimeoutError extends RunError {
  override name = 'RunTimeoutError';
}

/**
 * An SFTP download or upload failed: the server refused (its SFTP status is
 * in `status`), the channel or connection went away, or it was cancelled.
 * Nothing was left at the target path.
 */
export class TransferError extends RunError {
  override name = 'TransferError';
  constructor(
    message: string,
    facts: RunFacts & RunOutput,
    /** The remote path of the transfer. */
    readonly remotePath: string,
    /** The SFTP status code (SSH_FX_*) when the server answered with one. */
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, facts, options);
  }
}

/** The bytes that came disagree with the size the server's stat reported (EOF early, or more than stat said). */
export class TransferLengthError extends TransferError {
  override name = 'TransferLengthError';
  constructor(
    message: string,
    facts: RunFacts & RunOutput,
    remotePath: string,
    readonly expectedBytes: number,
    readonly receivedBytes: number,
  ) {
    super(message, facts, remotePath);
  }
}
