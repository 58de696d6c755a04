/**
 * The bench's importable parts: flag parsing (one line naming the flag),
 * the per-run schedule (every item once, rotated), and its statistics.
 */
import { describe, expect, it } from 'vitest';
import { BenchUsageError, PATH_IDS, SFTP_PATH_IDS, parseBenchOptions } from '../../bench/transfer/options.ts';
import { itemsForRun } from '../../bench/transfer/schedule.ts';
import { maxOf, mbps, median, medOf } from '../../bench/transfer/stats.ts';
import { baseFirst, summarisePairs } from '../../bench/transfer/ab.ts';

describe('bench options', () => {
  it('defaults: 1 GiB, 5 runs, every path and target', () => {
    const o = parseBenchOptions([]);
    expect(o.size).toBe(1024 ** 3);
    expect(o.runs).toBe(5);
    expect(o.paths).toEqual([...PATH_IDS]);
    expect(o.sftpPaths).toEqual([...SFTP_PATH_IDS]);
    expect(o.targets).toEqual(['null', 'file', 'pipe']);
    expect(o.scaleChannel).toBe(16 * 1024 * 1024);
    expect(o.rssPaths).toEqual(['cli2', 'loop2', 'loop1']);
    expect(o.limitBytes).toBe(1024 ** 3);
  });

  it('--only and --targets select; --size shrinks the scale channels', () => {
    const o = parseBenchOptions(['--only', 'loop1,flush', '--targets', 'file', '--size', '64MiB']);
    expect(o.paths).toEqual(['loop1']);
    expect(o.targets).toEqual(['file']);
    expect(o.wanted('flush')).toBe(true);
    expect(o.wanted('rss')).toBe(false);
    expect(o.scaleChannel).toBe(1024 * 1024);
    expect(o.limitBytes).toBe(64 * 1024 * 1024);
    expect(o.wanted('limits')).toBe(false);
  });

  // loopssh issue 11: the SFTP rows run alone with --only sftp, or one direction, or by name.
  it('--only sftp selects the SFTP paths alone; sftp-get, sftp-put and single names select some', () => {
    const all = parseBenchOptions(['--only', 'sftp']);
    expect(all.paths).toEqual([]);
    expect(all.sftpPaths).toEqual(['sftp-loop', 'sftp-bin', 'sftp-ssh-loop', 'sftp-loop-sshd', 'sftp-ssh-sshd', 'put-loop', 'put-bin', 'put-ssh-loop', 'put-loop-sshd', 'put-ssh-sshd']);
    expect(all.wanted('flush')).toBe(false);
    expect(parseBenchOptions(['--only', 'sftp-put']).sftpPaths).toEqual(['put-loop', 'put-bin', 'put-ssh-loop', 'put-loop-sshd', 'put-ssh-sshd']);
    const some = parseBenchOptions(['--only', 'loop1,sftp-loop,sftp-ssh-sshd']);
    expect([some.paths, some.sftpPaths]).toEqual([['loop1'], ['sftp-loop', 'sftp-ssh-sshd']]);
    expect(parseBenchOptions(['--only', 'loop1']).sftpPaths).toEqual([]);
  });

  for (const [args, message] of [
    [['--size', 'lots'], /^--size: /],
    [['--size', '0'], /^--size must be at least 1 byte$/],
    [['--runs', '0'], /^--runs must be a whole number from 1, not '0'$/],
    [['--only', 'loop3'], /^--only: unknown 'loop3' \(paths: /],
    [['--targets', 'disk'], /^--targets: unknown 'disk'/],
    [['--runner', 'bun'], /^--runner must be compiled or tsx, not 'bun'$/],
    [['--cipher', 'a;b'], /^--cipher: 'a;b' is not a cipher name$/],
    [['--bogus'], /--bogus.*\(try --help\)$/],
  ] as const) {
    it(`refuses ${args.join(' ')} with one line naming the flag`, () => {
      expect(() => parseBenchOptions([...args])).toThrow(BenchUsageError);
      expect(() => parseBenchOptions([...args])).toThrow(message);
    });
  }
});

describe('bench schedule', () => {
  it('each run has every path × target once plus each extra once, in a rotated order', () => {
    const o = parseBenchOptions(['--only', 'cli2,cli-pack,loop2,loop1,ssh-sshd,setup,flush,scale,limits']);
    const runs = [0, 1, 2].map((run) => itemsForRun(o, o.paths, run));
    for (const items of runs) {
      const transfers = items.filter((i) => i.kind === 'transfer' && i.tag === 'main');
      expect(transfers).toHaveLength(5 * 3);
      expect(new Set(transfers.map((i) => (i.kind === 'transfer' ? `${i.path}|${i.target}` : ''))).size).toBe(15);
      expect(items.filter((i) => i.kind === 'transfer' && i.tag === 'setup')).toHaveLength(5);
      expect(items.filter((i) => i.kind === 'flush')).toHaveLength(1);
      expect(items.filter((i) => i.kind === 'scale')).toHaveLength(1);
      expect(items.filter((i) => i.kind === 'limits')).toHaveLength(1);
    }
    const first = (items: ReturnType<typeof itemsForRun>): string => {
      const i = items[0];
      return i?.kind === 'transfer' ? i.path : String(i?.kind);
    };
    expect(new Set(runs.map(first)).size).toBe(3);
  });

  // loopssh issue 11: the SFTP rows are one more block, each path once per run, the block's place rotated.
  it('SFTP paths come once per run as one block among the targets\' blocks, placed differently per run', () => {
    const o = parseBenchOptions(['--only', 'loop1,ssh-sshd,sftp,flush']);
    const runs = [0, 1, 2, 3].map((run) => itemsForRun(o, o.paths, run, o.sftpPaths));
    const at = new Set<number>();
    for (const items of runs) {
      const sftp = items.map((i, n) => [i, n] as const).filter(([i]) => i.kind === 'sftp');
      expect(sftp.map(([i]) => (i.kind === 'sftp' ? i.path : '')).sort()).toEqual([...o.sftpPaths].sort());
      // contiguous: one block
      expect((sftp.at(-1)?.[1] ?? 0) - (sftp[0]?.[1] ?? 0)).toBe(sftp.length - 1);
      at.add(sftp[0]?.[1] ?? -1);
      expect(items.filter((i) => i.kind === 'transfer' && i.tag === 'main')).toHaveLength(2 * 3);
      expect(items.filter((i) => i.kind === 'flush')).toHaveLength(1);
    }
    expect(at.size).toBe(4);
    const alone = parseBenchOptions(['--only', 'sftp']);
    expect(itemsForRun(alone, alone.paths, 0, alone.sftpPaths).map((i) => i.kind)).toEqual(Array(10).fill('sftp'));
  });

  it('the CLI path from the checkout is in the peak-RSS-vs-size check, with a fresh serve per transfer', () => {
    const o = parseBenchOptions(['--only', 'rss']);
    const rss = itemsForRun(o, o.paths, 0).filter((i) => i.kind === 'transfer' && i.path === 'cli2');
    expect(rss.map((i) => (i.kind === 'transfer' ? `${i.tag}:${i.size}:${String(i.fresh)}` : ''))).toEqual([`rss:${16 * 1024 * 1024}:true`, `rss-big:${1024 ** 3}:true`]);
  });
});

describe('bench statistics', () => {
  it('median, MB/s and the undefined-tolerant folds', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(mbps(1e9, 2000)).toBe(500);
    expect(medOf([undefined, 5, 1, undefined, 3])).toBe(3);
    expect(medOf([undefined])).toBeUndefined();
    expect(maxOf([2, undefined, 7])).toBe(7);
  });
});

describe('send-path A/B pairs (bench/send-ab.ts)', () => {
  it('alternates which variant goes first, and summarises per-pair ratios as medians and wins', () => {
    expect([0, 1, 2, 3].map(baseFirst)).toEqual([true, false, true, false]);
    const s = summarisePairs([
      { baseMBps: 100, leverMBps: 150, baseCpuS: 1, leverCpuS: 0.5, baseRssKiB: 100, leverRssKiB: 70 },
      { baseMBps: 200, leverMBps: 100, baseCpuS: 1, leverCpuS: 2 },
      { baseMBps: 100, leverMBps: 110 },
    ]);
    expect(s.speed).toEqual([1.5, 0.5, 1.1]);
    expect(s.cpu).toEqual([2, 0.5]);
    expect([s.speedMedian, s.cpuMedian, s.speedWins, s.cpuWins]).toEqual([1.1, 1.25, 2, 1]);
    expect([s.baseRssKiB, s.leverRssKiB]).toEqual([100, 70]);
    expect(() => summarisePairs([])).toThrow('no pairs to summarise');
  });
});
