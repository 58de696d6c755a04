/**
 * The order of one run: every selected item once, rotated per run, with the
 * extras spread between the targets' blocks, so machine noise hits all paths
 * alike.
 */
import { MiB, type BenchOptions, type PathId, type Target } from './options.ts';

/** One thing to measure. */
export type Item =
  | { kind: 'transfer'; path: PathId; target: Target; size: number; tag: 'main' | 'setup' | 'rss' | 'rss-big'; fresh?: boolean }
  | { kind: 'flush' }
  | { kind: 'scale' }
  | { kind: 'limits' };

const rotate = <T>(xs: readonly T[], k: number): T[] => (xs.length ? [...xs.slice(k % xs.length), ...xs.slice(0, k % xs.length)] : []);

/** Items of run number `run` (0-based) over `paths` (the selected paths whose peers exist). */
export function itemsForRun(options: BenchOptions, paths: readonly PathId[], run: number): Item[] {
  const order = rotate(paths, run);
  const items: Item[] = [];
  if (options.wanted('setup')) for (const path of order) items.push({ kind: 'transfer', path, target: 'null', size: 0, tag: 'setup' });
  for (const target of rotate(options.targets, run)) for (const path of order) items.push({ kind: 'transfer', path, target, size: options.size, tag: 'main' });
  const extras: Item[] = [];
  if (options.wanted('rss')) {
    // Fresh processes at both sizes: loop2 gets a `loopssh serve` of its own for each
    // transfer, as the shared one carries what earlier transfers left behind.
    for (const path of rotate(options.rssPaths, run)) {
      extras.push({ kind: 'transfer', path, target: 'null', size: 16 * MiB, tag: 'rss', fresh: true });
      extras.push({ kind: 'transfer', path, target: 'null', size: options.size, tag: 'rss-big', fresh: true });
    }
  }
  if (options.wanted('flush')) extras.push({ kind: 'flush' });
  if (options.wanted('scale')) extras.push({ kind: 'scale' });
  if (options.wanted('limits')) extras.push({ kind: 'limits' });
  const out: Item[] = [];
  const blocks = Math.max(1, options.targets.length);
  const per = Math.ceil(items.length / blocks);
  const ex = rotate(extras, run);
  for (let b = 0; b < blocks; b++) {
    out.push(...items.slice(b * per, (b + 1) * per));
    out.push(...ex.filter((_, i) => i % blocks === b));
  }
  out.push(...items.slice(blocks * per));
  return out;
}
