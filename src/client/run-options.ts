/**
 * The options and the result of {@link Connection.run}.
 */
import type { RunFacts } from './errors.js';
import type { InputSource, OutputTarget } from '../engine/targets.js';

/** Options of {@link Connection.run}. */
export interface RunOptions {
  /** Where stdout goes. Default `'buffer'` (bounded by `maxBuffer`). */
  stdout?: OutputTarget;
  /** Where stderr goes. Default `'buffer'`. */
  stderr?: OutputTarget;
  /** Where stdin comes from: a path, a Readable or bytes. Default: EOF at once. */
  stdin?: InputSource;
  /** Text or bytes to send as stdin. */
  input?: string | Uint8Array;
  /** Environment variables to request (servers may refuse some). */
  env?: Record<string, string>;
  /** Cancels the run: the channel is closed and the run rejects with `RunAbortedError`. */
  signal?: AbortSignal;
  /**
   * Reject with `RunTimeoutError` (and close the channel) when nothing
   * moves for this long, in ms: no output arrives and no stdin is taken, e.g.
   * a peer that stopped reading. Default 0: wait forever.
   */
  idleTimeoutMs?: number;
  /** Called every `progressIntervalMs` (default 250) with the byte counts so far: for progress displays. */
  onProgress?: (facts: RunFacts) => void;
  /** How often {@link onProgress} is called, in ms. */
  progressIntervalMs?: number;
  /** Reject with `ExitStatusError` unless the command exits 0. Default false. */
  check?: boolean;
  /** Largest `'buffer'` output per stream, in bytes. Default 64 MiB. */
  maxBuffer?: number;
  /** Compute the SHA-256 of stdout and stderr as they arrive (`result.stdoutSha256`). Default false. */
  hash?: boolean;
  /**
   * File targets: fsync the complete file before renaming it into place, then
   * its folder, so the output survives a power loss. Default false (the run
   * resolves when the kernel has every byte).
   */
  fsync?: boolean;
  /** Give up waiting for targets to flush after this long once the channel closed, in ms. Default: wait. */
  flushTimeoutMs?: number;
  /**
   * When the run fails or the remote command is killed by a signal, keep a
   * file target's incomplete output as `FILE.partial` (beside FILE, replacing
   * one left earlier) instead of removing it. FILE itself is never touched.
   * Default false.
   */
  keepPartial?: boolean;
  /**
   * Resolve at the channel's `'close'` without waiting for targets: the bug
   * AsyncSSH #629 had. Exists only to demonstrate the loss.
   */
  naive?: boolean;
}

/** What a finished run reports. */
export interface RunResult extends RunFacts {
  /** Collected stdout when the target was `'buffer'`. */
  stdout?: Buffer;
  /** Collected stderr when the target was `'buffer'`. */
  stderr?: Buffer;
  /** Lowercase hex SHA-256 of what arrived on stdout, with `hash: true`. */
  stdoutSha256?: string;
  /** Lowercase hex SHA-256 of what arrived on stderr, with `hash: true`. */
  stderrSha256?: string;
  /**
   * Files that were not put in place because the command was killed by a
   * signal, kept as `FILE.partial` with `keepPartial` (empty otherwise).
   */
  keptPartial: string[];
  /** True when the run was naive: the counts say what arrived, not what reached the target. */
  naive: boolean;
}

