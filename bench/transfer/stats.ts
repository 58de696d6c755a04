/** Medians and the bench's number formats. */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
/** Decimal MB/s. */
export const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
export const fmtRate = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
export const fmtMiB = (kib: number | undefined): string => (kib === undefined ? '—' : `${(kib / 1024).toFixed(0)} MiB`);
export const fmtS = (s: number | undefined): string => (s === undefined ? '—' : s.toFixed(2));
export const defined = <T>(xs: (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);
/** Median of the defined values, or undefined when there are none. */
export function medOf(xs: (number | undefined)[]): number | undefined {
  const d = defined(xs);
  return d.length ? median(d) : undefined;
}
/** Largest of the defined values, or undefined when there are none. */
export function maxOf(xs: (number | undefined)[]): number | undefined {
  const d = defined(xs);
  return d.length ? Math.max(...d) : undefined;
}
