/**
 * The A/B bench's pure parts: which variant goes first in each pair, and the
 * per-pair ratios summarised as median and wins out of N.
 */
import { median, medOf } from './stats.ts';

/** One A/B pair: the same transfer with the lever off (base) and on. */
export interface Pair {
  baseMBps: number;
  leverMBps: number;
  /** Server CPU seconds of each transfer (undefined where /proc gave none). */
  baseCpuS?: number;
  leverCpuS?: number;
  /** Server peak RSS during each transfer, KiB (undefined where /proc gave none). */
  baseRssKiB?: number;
  leverRssKiB?: number;
}

/** Pair i runs base first when even, the lever first when odd: drift in load hits both alike. */
export const baseFirst = (pair: number): boolean => pair % 2 === 0;

/** Per-pair ratios and their summary; `> 1` is better for the lever in both. */
export interface PairSummary {
  /** lever MB/s ÷ base MB/s, per pair. */
  speed: number[];
  /** base server CPU ÷ lever server CPU, per pair (pairs with both CPU figures only). */
  cpu: number[];
  speedMedian: number;
  cpuMedian: number | undefined;
  /** Pairs where the lever was faster, and where it used less server CPU. */
  speedWins: number;
  cpuWins: number;
  /** Median server peak RSS, KiB, base and lever (undefined without figures). */
  baseRssKiB: number | undefined;
  leverRssKiB: number | undefined;
}

/** Summarises pairs: per-pair ratios, their medians, and wins. */
export function summarisePairs(pairs: readonly Pair[]): PairSummary {
  if (pairs.length === 0) throw new Error('no pairs to summarise');
  const speed = pairs.map((p) => p.leverMBps / p.baseMBps);
  const cpu = pairs.flatMap((p) => (p.baseCpuS !== undefined && p.leverCpuS !== undefined && p.leverCpuS > 0 ? [p.baseCpuS / p.leverCpuS] : []));
  return {
    speed,
    cpu,
    speedMedian: median(speed),
    cpuMedian: cpu.length ? median(cpu) : undefined,
    speedWins: speed.filter((r) => r > 1).length,
    cpuWins: cpu.filter((r) => r > 1).length,
    baseRssKiB: medOf(pairs.map((p) => p.baseRssKiB)),
    leverRssKiB: medOf(pairs.map((p) => p.leverRssKiB)),
  };
}
