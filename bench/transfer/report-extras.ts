/** The report's extra sections: peak RSS vs size, FlushTracker overhead, channel scaling, with their goals. */
import { formatSize } from '../../src/util/size.ts';
import type { Sample } from './measure.ts';
import { MiB, PATH_INFO, TARGET_LABEL, type PathId } from './options.ts';
import { resultKey, type BenchRecord } from './record.ts';
import { defined, fmtMiB, fmtRate, maxOf, median, medOf, mbps } from './stats.ts';

/** Markdown lines of the extras and the goals they judge. */
export function extraSections(r: BenchRecord): { md: string[]; goals: string[] } {
  const o = r.options;
  const md: string[] = [];
  const goals: string[] = [];
  // Peak RSS vs size.
  if (o.wanted('rss')) {
    const rssRows: string[] = [];
    const flat: boolean[] = [];
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
        if (growth !== undefined) flat.push(b! - a! <= Math.max(8 * 1024, 0.1 * a!));
        if (b !== undefined) under.push(b < 110 * 1024);
        for (const v of [a, b]) if (v !== undefined) largest.push({ kib: v, what: `${PATH_INFO[path].label}, ${name}` });
        rssRows.push(`| ${PATH_INFO[path].label} | ${name} | ${fmtMiB(a)} | ${fmtMiB(b)} | ${growth === undefined ? '—' : `${growth.toFixed(2)}×`} |`);
      }
    }
    if (rssRows.length) {
      md.push(`## Peak RSS vs size (loopssh → loopssh, to /dev/null; largest over the runs)`);
      md.push('');
      md.push('Fresh processes only, separate from the main table: the one-process child and the client are new for every transfer, and the 2-process path gets a `loopssh serve` of its own, started for the one transfer.');
      md.push('');
      md.push(`| path | process | 16 MiB | ${formatSize(o.size)} | ratio |`);
      md.push('|---|---|---:|---:|---:|');
      md.push(...rssRows);
      md.push('');
      goals.push(`peak RSS flat in size (within +10% or +8 MiB from 16 MiB to ${formatSize(o.size)}): ${flat.length && flat.every(Boolean) ? 'PASS' : 'FAIL'}`);
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
      'The same transfer with the tracked close and with `naive: true`, timed from `run()` until the bytes are in the target ' +
        '(a naive run resolves at the channel\'s close, so for the file its clock also waits until the file holds every byte; at /dev/null it stops at the close). ' +
        'Overhead = 1 − tracked MB/s ÷ naive MB/s, medians over the runs; negative means tracked was faster (noise).',
    );
    md.push('');
    md.push('| target | tracked MB/s | naive MB/s | tracked ÷ naive | overhead | verified |');
    md.push('|---|---:|---:|---:|---:|---|');
    const overheads: number[] = [];
    for (const target of ['file', 'null'] as const) {
      const tr = defined(r.flush.map((s) => s.results[`${target}-tracked`])).filter((r) => r.ok).map((r) => mbps(o.size, r.ms));
      const nv = defined(r.flush.map((s) => s.results[`${target}-naive`])).filter((r) => r.ok).map((r) => mbps(o.size, r.ms));
      const paired = r.flush
        .map((s) => {
          const a = s.results[`${target}-tracked`];
          const b = s.results[`${target}-naive`];
          return a?.ok && b?.ok ? b.ms / a.ms : undefined;
        })
        .filter((x): x is number => x !== undefined);
      const ratio = paired.length ? median(paired) : undefined;
      if (ratio !== undefined) overheads.push(1 - ratio);
      const okCount = r.flush.filter((s) => s.results[`${target}-tracked`]?.ok && s.results[`${target}-naive`]?.ok).length;
      md.push(
        `| ${TARGET_LABEL[target]} | ${tr.length ? fmtRate(median(tr)) : '—'} | ${nv.length ? fmtRate(median(nv)) : '—'} | ${ratio?.toFixed(3) ?? '—'} | ${ratio === undefined ? '—' : `${((1 - ratio) * 100).toFixed(1)}%`} | ${okCount}/${r.flush.length} ✓ |`,
      );
    }
    // The opt-in fsync (file, then folder) against the tracked file run of the same sample.
    const fsyncRatios = r.flush
      .map((s) => (s.results['file-tracked']?.ok && s.results['file-fsync']?.ok ? s.results['file-tracked'].ms / s.results['file-fsync'].ms : undefined))
      .filter((x): x is number => x !== undefined);
    if (fsyncRatios.length) {
      const synced = defined(r.flush.map((s) => s.results['file-fsync'])).filter((x) => x.ok).map((x) => mbps(o.size, x.ms));
      const ratio = median(fsyncRatios);
      md.push(`| file, \`fsync: true\` (vs tracked) | ${fmtRate(median(synced))} | — | ${ratio.toFixed(3)} | ${((1 - ratio) * 100).toFixed(1)}% | ${fsyncRatios.length}/${r.flush.length} ✓ |`);
    }
    md.push('');
    if (overheads.length) goals.push(`FlushTracker overhead ≤ 2%: ${overheads.every((o) => o <= 0.02) ? 'PASS' : 'FAIL'} (${overheads.map((o) => `${(o * 100).toFixed(1)}%`).join(', ')})`);
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
