/** What one bench invocation measured, as the report reads it. */
import type { LimitSample } from './limits.ts';
import type { ExtraSample, Sample } from './measure.ts';
import type { BenchOptions, PathId, SftpPathId, Target } from './options.ts';

export interface BenchRecord {
  options: BenchOptions;
  /** The selected paths whose peers exist. */
  paths: PathId[];
  /** Samples by {@link resultKey}. */
  results: Map<string, Sample[]>;
  /** The selected SFTP paths whose peers exist. */
  sftpPaths: SftpPathId[];
  /** SFTP samples by path, one per run. */
  sftp: Map<SftpPathId, Sample[]>;
  flush: ExtraSample[];
  scale: ExtraSample[];
  /** The machine's limits, measured once per run. */
  limits: LimitSample[];
  runnerUsed: 'compiled' | 'tsx';
  /** What bin/loopssh.js ran for the checkout's CLI rows: dist/ (a fresh build of src/) or src/ through tsx. */
  checkoutLauncher: 'dist' | 'tsx';
  binding: boolean;
  startedAt: Date;
  loadAtStart: number;
  /** `ssh -V` (or sshd's), when OpenSSH is installed. */
  opensshVersion: string | undefined;
}

/** The key of a sample list: which measurement, path and target. */
export const resultKey = (tag: string, path: PathId, target: Target): string => `${tag}|${path}|${target}`;
