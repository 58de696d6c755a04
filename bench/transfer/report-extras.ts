/** The report's extra sections: peak RSS vs size, FlushTracker overhead, channel scaling, with their goals. */
import { formatSize } from '../../src/util/size.ts';
import type { Sample } from './measure.ts';
import { MiB, PATH_INFO, TARGET_LABEL, type PathId } from './options.ts';
import { resultKey, type BenchRecord } from './record.ts';
import { defined, fmtMiB, fmtRate, maxOf, median, medOf, mbps } from './stats.ts';

/**
 * The machine's limits beside the table: medians over the runs, and each
 * path's /dev/null median as a share of the TCP loopback copy.
 */
export function limitsSection(r: BenchRecord, rate: (path: PathId, target: 'null') => number | undefined): string[] {
  const ok = r.limits.filter((s) => s.ok);
  if (!ok.length) return [];
  const aes = medOf(ok.map((s) => s.aesGcmMBps));
  const tcp = medOf(ok.map((s) => s.tcpMBps));
  const range = (xs: (number | undefined)[]): string => {
    const d = defined(xs);
    return d.length > 1 ? ` (${fmtRate(Math.min(...d))}–${fmtRate(Math.max(...d))})` : '';
  };
  const md = [
    '## Machine limits',
    '',
    `Measured once per run, interleaved with the transfers (medians, min–max): **AES-128-GCM on one core ${aes === undefined ? '—' : fmtRate(aes)} MB/s**${range(ok.map((s) => s.aesGcmMBps))} ` +
      `(node:crypto, one cipher, 32 KiB chunks, 1 s; compare \`openssl speed -evp aes-128-gcm\`); ` +
      `**plain TCP loopback copy ${tcp === undefined ? '—' : fmtRate(tcp)} MB/s**${range(ok.map((s) => s.tcpMBps))} ` +
      `(${formatSize(ok[0]?.tcpBytes ?? 0)} from this process into a reader process over 127.0.0.1, node:net, 1 MiB writes). ` +
      'An SSH transfer encrypts and decrypts every byte once and crosses loopback once, so neither limit can be beaten.',
    '',
  ];
  if (tcp !== undefined && r.paths.length) {
    md.push('| path | /dev/null MB/s | share of the TCP copy |', '|---|---:|---:|');
    for (const path of r.paths) {
      const v = rate(path, 'null');
      if (v !== undefined) md.push(`| ${PATH_INFO[path].label} | ${fmtRate(v)} | ${((100 * v) / tcp).toFixed(0)}% |`);
    }
    md.push('');
  }
  return md;
}

/** Markdown lines of the extras and the goals they judge. */
export function extraSections(r: BenchRecord): { md: string[]; goals: string[] } {
  const o = r.options;
  const md: string[] = [];
  const goals: string[] = [];
  // Peak RSS vs size.
  if (o.wanted('rss')) {
    const rssRows: string[] = [];
    const flat: { grewKiB: number; what: string }[] = [];
    const under: boolean[] = [];
    const largest: { kib: number; what: string }[] = [];
    for (const path of o.rssPaths) {
      const small = (r.results.get(resultKey('rss', path, 'null')) ?? []).filter((x) => x.ok);
      const big = (r.results.get(resultKey('rss-big', path, 'null')) ?? []).filter((x) => x.ok);
      const procs: [string, (s: Sample) => number | undefined][] =
        path === 'loop1' ? [['one process', (s) => s.clientRssKiB]] : [['client', (s) => s.clientRssKiB], ['loopssh serve (fresh)', (s) => s.serverRssKiB]];
      for (const [name, get] of procs) {
        const a = maxOf(small.map(get));
        const b = maxOf(big.map(get));
        const growth = a !== undefined && b !== undefined ? b / a : undefined;
        if (a !== undefined && b !== undefined) flat.push({ grewKiB: b - a, what: `${PATH_INFO[path].label}, ${name}` });
        for (const v of [a, b]) if (v !== undefined) under.push(v < 110 * 1024);
        for (const v of [a, b]) if (v !== undefined) largest.push({ kib: v, what: `${PATH_INFO[path].label}, ${name}` });
        rssRows.push(`| ${PATH_INFO[path].label} | ${name} | ${fmtMiB(a)} | ${fmtMiB(b)} | ${growth === undefined ? '—' : `${growth.toFixed(2)}× (${b! >= a! ? '+' : '−'}${(Math.abs(b! - a!) / 1024).toFixed(0)} MiB)`} |`);
      }
    }
    if (rssRows.length) {
      md.push(`## Peak RSS vs size (loopssh → loopssh, to /dev/null; largest over the runs)`);
      md.push('');
      md.push(
        'Fresh processes only, separate from the main table: the one-process child and the client are new for every transfer, and the 2-process paths get a `loopssh serve` of their own, started for the one transfer. ' +
          "For `npx` rows the client figure is GNU time's: the largest process of the tree, which may be npm's own (npx) process (see its 0-byte row under Fixed cost).",
      );
      md.push('');
      md.push(`| path | process | 16 MiB | ${formatSize(o.size)} | ratio (growth) |`);
      md.push('|---|---|---:|---:|---:|');
      md.push(...rssRows);
      md.push('');
      const worst = [...flat].sort((x, y) => y.grewKiB - x.grewKiB)[0];
      goals.push(
        `peak RSS flat in size (the ${formatSize(o.size)} run ≤ the 16 MiB run + 16 MiB, client and server): ${flat.length && flat.every((f) => f.grewKiB <= 16 * 1024) ? 'PASS' : 'FAIL'}` +
          `${worst ? ` (most growth ${(worst.grewKiB / 1024).toFixed(0)} MiB: ${worst.what})` : ''}`,
      );
      const top = largest.sort((x, y) => y.kib - x.kib)[0];
      const shared = maxOf(['loop2', 'ssh-loop'].flatMap((p) => o.targets.flatMap((t) => (r.results.get(resultKey('main', p as PathId, t)) ?? []).map((x) => x.serverRssKiB))));
      goals.push(
        `peak RSS < 110 MiB for every loopssh process of this table: ${under.length && under.every(Boolean) ? 'PASS' : 'FAIL'}` +
          `${top ? ` (largest ${fmtMiB(top.kib)}: ${top.what})` : ''}${shared !== undefined ? `; the long-running \`loopssh serve\` shared by all runs peaked at ${fmtMiB(shared)}` : ''}`,
      );
    }
  }

  // FlushTracker.
  if (r.flush.length) {
    md.push(`## FlushTracker overhead (one process, ${formatSize(o.size)}, one connection)`);
    md.push('');
    md.push(
      'The same transfer tracked (loopssh\'s run()), **untracked** (a bare ssh2 client on the same server piping the channel into a write stream, ' +
        "paused at write() === false and resumed at 'drain', done at the stream's 'close': the baseline the goal uses) and `naive: true` " +
        '(ignores backpressure; shown for reference), timed from the start of the run until the bytes are in the target ' +
        "(a naive run resolves at the channel's close, so for the file its clock also waits until the file holds every byte). " +
        'Overhead = 1 − tracked MB/s ÷ untracked MB/s, the median of the per-run pairs; negative means tracked was faster (noise).',
    );
    md.push('');
    md.push('| target | tracked MB/s | untracked MB/s | naive MB/s | tracked ÷ untracked | overhead | tracked ÷ naive | verified |');
    md.push('|---|---:|---:|---:|---:|---:|---:|---|');
    const rates = (key: string): number[] => defined(r.flush.map((s) => s.results[key])).filter((x) => x.ok).map((x) => mbps(o.size, x.ms));
    const pairs = (a: string, b: string): number | undefined => {
      const ratios = r.flush
        .map((s) => {
          const x = s.results[a];
          const y = s.results[b];
          return x?.ok && y?.ok ? y.ms / x.ms : undefined;
        })
        .filter((x): x is number => x !== undefined);
      return ratios.length ? median(ratios) : undefined;
    };
    const med = (xs: number[]): string => (xs.length ? fmtRate(median(xs)) : '—');
    const overheads: { target: string; overhead: number }[] = [];
    for (const target of ['file', 'null'] as const) {
      const vsUntracked = pairs(`${target}-tracked`, `${target}-untracked`);
      const vsNaive = pairs(`${target}-tracked`, `${target}-naive`);
      if (vsUntracked !== undefined) overheads.push({ target: TARGET_LABEL[target], overhead: 1 - vsUntracked });
      const keys = ['tracked', 'untracked', 'naive'].map((k) => `${target}-${k}`);
      const okCount = r.flush.filter((s) => keys.every((k) => s.results[k]?.ok)).length;
      md.push(
        `| ${TARGET_LABEL[target]} | ${med(rates(`${target}-tracked`))} | ${med(rates(`${target}-untracked`))} | ${med(rates(`${target}-naive`))} | ` +
          `${vsUntracked?.toFixed(3) ?? '—'} | ${vsUntracked === undefined ? '—' : `${((1 - vsUntracked) * 100).toFixed(1)}%`} | ${vsNaive?.toFixed(3) ?? '—'} | ${okCount}/${r.flush.length} ✓ |`,
      );
    }
    // The opt-in fsync (file, then folder) against the tracked file run of the same sample.
    const vsFsync = pairs('file-fsync', 'file-tracked');
    if (vsFsync !== undefined) {
      const okCount = r.flush.filter((s) => s.results['file-fsync']?.ok).length;
      md.push(`| file, \`fsync: true\` (÷ tracked) | ${med(rates('file-fsync'))} | — | — | ${vsFsync.toFixed(3)} (÷ tracked) | ${((1 - vsFsync) * 100).toFixed(1)}% | — | ${okCount}/${r.flush.length} ✓ |`);
    }
    md.push('');
    if (overheads.length) {
      goals.push(
        `FlushTracker overhead ≤ 2% against an untracked pump with backpressure: ${overheads.every((x) => x.overhead <= 0.02) ? 'PASS' : 'FAIL'} ` +
          `(${overheads.map((x) => `${x.target} ${(x.overhead * 100).toFixed(1)}%`).join(', ')})`,
      );
    }
  }

  // Scaling.
  if (r.scale.length) {
    const names = Object.keys(r.scale[0]?.results ?? {}).sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b));
    const total = 64 * o.scaleChannel;
    const single = medOf(r.scale.map((s) => (s.results['1 channel, 1 connection']?.ok ? mbps(total, s.results['1 channel, 1 connection'].ms) : undefined)));
    md.push(`## Concurrent channels (one process: server + client)`);
    md.push('');
    md.push(
      `${formatSize(o.scaleChannel)} channels${o.scaleChannel < 16 * MiB ? ` (16 MiB scaled down with --size)` : ''}, ${formatSize(total)} in total at every level ` +
        "(1 channel: 64 transfers back to back; 8: eight at a time; 64: all at once). Each channel's output is counted and checked byte by byte.",
    );
    md.push('');
    md.push('| level | aggregate MB/s median (min–max) | × single stream | verified |');
    md.push('|---|---:|---:|---|');
    let worst: number | undefined;
    for (const name of names) {
      const rates = r.scale.map((s) => s.results[name]).filter((r) => r?.ok).map((r) => mbps(total, (r as { ms: number }).ms));
      const med = rates.length ? median(rates) : undefined;
      const ratio = med !== undefined && single ? med / single : undefined;
      if (name.startsWith('64') && ratio !== undefined) worst = Math.min(worst ?? Infinity, ratio);
      md.push(
        `| ${name} | ${med === undefined ? '—' : `${fmtRate(med)} (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))})`} | ${ratio?.toFixed(2) ?? '—'} | ${rates.length}/${r.scale.length} ✓ |`,
      );
    }
    md.push('');
    if (worst !== undefined) goals.push(`64 channels aggregate ≥ 0.9× single stream: ${worst >= 0.9 ? 'PASS' : 'FAIL'} (${worst.toFixed(2)}×, the lower of the two 64-channel layouts)`);
  }

  return { md, goals };
}
