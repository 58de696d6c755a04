/**
 * The naive consumer, kept to demonstrate the loss (AsyncSSH #629; see
 * docs/close-semantics.md): write every chunk as it comes, ignore
 * backpressure and errors, and call it done when the channel closes, whether
 * or not the targets have let go of their bytes.
 */
import { createHash } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import type { RunRecord } from './run-record.js';
import type { OutputSink } from '../engine/targets.js';

/** What a naive copy reports: the counts say what arrived, not what reached the targets. */
export interface NaiveOutcome {
  stdoutSha256?: string;
  stderrSha256?: string;
}

/** Copies the channel into the sinks and resolves at `closed` (the channel's 'close'). */
export async function naiveCopy(channel: ClientChannel, out: OutputSink, err: OutputSink, record: RunRecord, hash: boolean, closed: Promise<void>): Promise<NaiveOutcome> {
  const outHash = hash ? createHash('sha256') : undefined;
  const errHash = hash ? createHash('sha256') : undefined;
  channel.on('data', (c: Buffer) => {
    record.facts.stdoutBytes += c.length;
    outHash?.update(c);
    out.stream.write(c);
  });
  channel.stderr.on('data', (c: Buffer) => {
    record.facts.stderrBytes += c.length;
    errHash?.update(c);
    err.stream.write(c);
  });
  channel.once('end', () => out.keptOpen || out.stream.end());
  channel.stderr.once('end', () => err.keptOpen || err.stream.end());
  for (const s of [out, err]) s.stream.on('error', () => {});
  await closed;
  return { stdoutSha256: outHash?.digest('hex'), stderrSha256: errHash?.digest('hex') };
}
