/**
 * The order of one run: every selected item once, rotated per run, with the
 * extras spread between the targets' blocks, so machine noise hits all paths
 * alike.
 */
import { MiB, type BenchOptions, type PathId, type SftpPathId, type Target } from './options.ts';

/** One thing to measure. */
export type Item =
  | { kind: 'transfer'; path: PathId; target: Target; size: number; tag: 'main' | 'setup' | 'rss' | 'rss-big'; fresh?: boolean }
  | { kind: 'sftp'; path: SftpPathId }
  | { kind: 'flush' }
  | { kind: 'scale' }
  | { kind: 'limits' };

const rotate = <T>(xs: readonly T[], k: number): T[] => (xs.length ? [...xs.slice(k % xs.length), ...xs.slice(0, k % xs.length)] : []);

/**
 * Items of run number `run` (0-based) over `paths` and `sftpPaths` (the
 * selected paths whose peers exist). The SFTP rows are one more block
 * beside the targets' blocks, its place among them rotated per run.
 */
export function itemsForRun(options: BenchOptions, paths: readonly PathId[], run: number, sftpPaths: readonly SftpPathId[] = []): Item[] {
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
  const per = Math.ceil(items.length / Math.max(1, options.targets.length));
  const blocks: Item[][] = [];
  for (let at = 0; at < items.length; at += per) blocks.push(items.slice(at, at + per));
  if (sftpPaths.length) blocks.splice(run % (blocks.length + 1), 0, rotate(sftpPaths, run).map((path): Item => ({ kind: 'sftp', path })));
  const n = Math.max(1, blocks.length);
  const ex = rotate(extras, run);
  const out: Item[] = [];
  for (let b = 0; b < n; b++) {
    out.push(...(blocks[b] ?? []));
    out.push(...ex.filter((_, i) => i % n === b));
  }
  return out;
}
