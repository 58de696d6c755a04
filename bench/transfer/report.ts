/**
 * The bench's report: the path × target table with ratios to the OpenSSH
 * baseline, CPU cost, fixed cost, the loopssh client's own clock, the
 * extras (report-extras.ts), the issue goals judged PASS/FAIL, and the chart.
 */
import { cpus, loadavg } from 'node:os';
import { formatSize } from '../../src/util/size.ts';
import { barChart, type BarGroup } from '../png.ts';
import { GNU_TIME } from '../procstat.ts';
import type { Sample } from './measure.ts';
import { PATH_INFO, TARGET_COLOR, TARGET_LABEL, type PathId, type Target } from './options.ts';
import { extraSections, limitsSection } from './report-extras.ts';
import { sftpSection } from './report-sftp.ts';
import { resultKey, type BenchRecord } from './record.ts';
import { fmtMiB, fmtRate, fmtS, maxOf, median, medOf, mbps } from './stats.ts';

/** Throughput goals of loopssh issue 14: path and its least ratio to OpenSSH → OpenSSH, every target. */
export const THROUGHPUT_GOALS: readonly (readonly [PathId, number])[] = [
  ['cli2', 1.5],
  ['cli-pack', 1.5],
  ['loop2', 1.5],
  ['loop1', 1.2],
  ['loop1w', 1.2],
  ['loop-sshd', 1.0],
  ['ssh-loop', 1.6],
];

/** bench.md, bench.png and bench.json from what one invocation measured. */
export function buildReport(r: BenchRecord, profile: string | undefined): { markdown: string; png: Buffer; json: unknown } {
  const o = r.options;
  const md: string[] = [];
  const base = (target: Target): number | undefined => {
    const s = (r.results.get(resultKey('main', 'ssh-sshd', target)) ?? []).filter((x) => x.ok);
    return s.length ? median(s.map((x) => mbps(o.size, x.wallMs))) : undefined;
  };
  const perRunBase = (target: Target): Sample[] => r.results.get(resultKey('main', 'ssh-sshd', target)) ?? [];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const jsNote = r.binding ? 'yes' : '**NO: pure-JS crypto, loopssh figures are NOT representative (--allow-js-crypto)**';
  md.push('# loopssh transfer bench');
  md.push('');
  md.push(
    `${formatSize(o.size)} (${o.size} bytes) of zeros per transfer, ${o.runs} run(s) interleaved round-robin, cipher \`${o.cipher}\` for every client. ` +
      `${r.startedAt.toISOString()}, ${cpus().length} × ${cpu}, Node ${process.version}, ${r.opensshVersion ?? 'OpenSSH not installed'}. ` +
      `ssh2 native crypto binding: ${jsNote}. loopssh processes: ${r.runnerUsed === 'compiled' ? 'the checkout transpiled to plain JS (as installed; no tsx)' : 'run through tsx'}. ` +
      `${r.paths.includes('cli2') ? `The checkout's \`npx loopssh\` rows ran ${r.checkoutLauncher === 'dist' ? 'dist/ (bin/loopssh.js found it a fresh build of src/; LOOPSSH_FROM_SOURCE=1 measures src/ through tsx)' : 'src/ through tsx (dist/ absent or older than src/)'}. ` : ''}` +
      `Load average (1 min) at start ${r.loadAtStart.toFixed(2)}, at the end ${(loadavg()[0] ?? 0).toFixed(2)}${r.loadAtStart > 1 ? ' (**the machine was busy: figures are noisy**)' : ''}.`,
  );
  md.push('');
  const mainStart = md.length;
  md.push(
    'MB/s are decimal (10⁶ B/s) over the whole client process (start-up, handshake, transfer, exit): median (min–max). ' +
      '“× base” is the median divided by the OpenSSH ssh → OpenSSH sshd median for the same target in this invocation (in brackets: the range of the per-run ratios). ' +
      'CPU is user + system seconds (medians); peak RSS is the largest over the runs. Client figures come from `/usr/bin/time`; ' +
      '`loopssh serve` is one long-lived process shared by all runs (its peak RSS is reset to its current RSS before each transfer with /proc/PID/clear_refs, so it includes what earlier transfers left on the heap); ' +
      "sshd's figures are its per-connection processes (CPU as reaped by the sshd master, RSS sampled every 100 ms, largest process).",
  );
  md.push('');
  md.push('| path | target | MB/s median (min–max) | × base | client CPU s | server CPU s | client peak RSS | server peak RSS | verified |');
  md.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  const chartGroups: BarGroup[] = [];
  const json: Record<string, unknown> = { size: o.size, runs: o.runs, cipher: o.cipher, binding: r.binding, runner: r.runnerUsed, date: r.startedAt.toISOString(), rows: [] as unknown[] };
  const rows = json.rows as unknown[];
  for (const path of r.paths) {
    const group: BarGroup = { label: PATH_INFO[path].short, bars: [] };
    for (const target of o.targets) {
      const all = r.results.get(resultKey('main', path, target)) ?? [];
      const good = all.filter((x) => x.ok);
      const rates = good.map((x) => mbps(o.size, x.wallMs));
      const b = base(target);
      const med = rates.length ? median(rates) : undefined;
      const ratio = med !== undefined && b !== undefined && path !== 'ssh-sshd' ? med / b : undefined;
      const runRatios = all
        .map((x, i) => {
          const bs = perRunBase(target)[i];
          return x.ok && bs?.ok ? mbps(o.size, x.wallMs) / mbps(o.size, bs.wallMs) : undefined;
        })
        .filter((x): x is number => x !== undefined);
      const inproc = PATH_INFO[path].server === 'inproc';
      const verified = all.length === 0 ? '—' : good.length === all.length ? `${good.length}/${all.length} ✓` : `**${good.length}/${all.length}: FAILED**`;
      md.push(
        `| ${PATH_INFO[path].label} | ${TARGET_LABEL[target]} | ${med === undefined ? '—' : `**${fmtRate(med)}** (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))})`} | ` +
          `${ratio === undefined ? (path === 'ssh-sshd' ? '1' : '—') : `**${ratio.toFixed(2)}×**${runRatios.length > 1 ? ` (${Math.min(...runRatios).toFixed(2)}–${Math.max(...runRatios).toFixed(2)})` : ''}`} | ` +
          `${fmtS(medOf(good.map((x) => x.clientCpuS)))}${inproc ? ' (both)' : ''} | ${inproc ? '(same process)' : fmtS(medOf(good.map((x) => x.serverCpuS)))} | ` +
          `${fmtMiB(maxOf(good.map((x) => x.clientRssKiB)))}${inproc ? ' (both)' : ''} | ${inproc ? '(same process)' : fmtMiB(maxOf(good.map((x) => x.serverRssKiB)))} | ${verified} |`,
      );
      if (med !== undefined) {
        group.bars.push({
          series: TARGET_LABEL[target],
          value: med,
          min: Math.min(...rates),
          max: Math.max(...rates),
          label: `${fmtRate(med)}${ratio !== undefined ? ` (${ratio.toFixed(2)}x)` : ''}`,
        });
      }
      rows.push({ path, target, mbps: rates, ratio, runRatios, samples: all });
    }
    chartGroups.push(group);
  }
  md.push('');
  md.push(
    'Verification, every transfer: **file**: size and SHA-256 of the file against the digest of as many /dev/zero bytes (computed once); ' +
      '**pipe**: a real pipe (`client | reader` under /bin/sh), whose reader (bench/pipe-reader.mjs) counts the bytes and compares every one with 0x00 ' +
      '(exact, and far cheaper than hashing on the clock); **/dev/null**: exit status 0, and for loopssh clients their own byte count ' +
      "(OpenSSH's ssh leaves nothing to read back at /dev/null; those paths are content-checked on the file and pipe targets of the same run). " +
      'loopssh clients also check exit status and byte count on every target. The remote command is `payload SIZE --pattern zero` on loopssh and `head -c SIZE /dev/zero` on sshd.',
  );
  md.push('');
  if (r.paths.length === 0) md.splice(mainStart); // --only selected extras alone
  md.push(...limitsSection(r, (path, target) => {
    const good = (r.results.get(resultKey('main', path, target)) ?? []).filter((x) => x.ok);
    return good.length ? median(good.map((x) => mbps(o.size, x.wallMs))) : undefined;
  }));

  const sftp = sftpSection(r);
  md.push(...sftp.md);
  chartGroups.push(...sftp.chart);
  json.sftp = sftp.rows;

  // CPU cost: less sensitive to other load on the machine than wall-clock MB/s.
  const cpuPerGb = (path: PathId, target: Target): number | undefined => {
    const good = (r.results.get(resultKey('main', path, target)) ?? []).filter((x) => x.ok);
    const totals = good.map((x) => (x.clientCpuS === undefined ? undefined : x.clientCpuS + (x.serverCpuS ?? 0)));
    const m = medOf(totals);
    return m === undefined ? undefined : m / (o.size / 1e9);
  };
  const cpuRows: string[] = [];
  for (const path of r.paths) {
    const cells = o.targets.map((target) => {
      const v = cpuPerGb(path, target);
      const b = cpuPerGb('ssh-sshd', target);
      return v === undefined ? '—' : `${v.toFixed(2)}${b !== undefined && path !== 'ssh-sshd' ? ` (${(v / b).toFixed(2)}×)` : ''}`;
    });
    cpuRows.push(`| ${PATH_INFO[path].label} | ${cells.join(' | ')} |`);
  }
  if (GNU_TIME && cpuRows.length) {
    md.push('## CPU cost');
    md.push('');
    md.push(
      'CPU seconds (user + system, client + server, median) per GB moved, whole processes, and in brackets × the OpenSSH → OpenSSH figure. ' +
        'On a busy machine this moves much less than wall-clock MB/s. The pipe reader is not counted.',
    );
    md.push('');
    md.push(`| path | ${o.targets.map((t) => `${TARGET_LABEL[t]} CPU s/GB`).join(' | ')} |`);
    md.push(`|---|${o.targets.map(() => '---:').join('|')}|`);
    md.push(...cpuRows);
    md.push('');
  }

  // Inside the loopssh processes.
  const innerRows: string[] = [];
  const setupRows: string[] = [];
  for (const path of r.paths) {
    const setup = (r.results.get(resultKey('setup', path, 'null')) ?? []).filter((x) => x.ok);
    if (setup.length) setupRows.push(`| ${PATH_INFO[path].label} | ${(median(setup.map((x) => x.wallMs)) / 1000).toFixed(3)} | ${fmtMiB(maxOf(setup.map((x) => x.clientRssKiB)))} |`);
    if (PATH_INFO[path].client === 'ssh') continue;
    const good = (r.results.get(resultKey('main', path, 'null')) ?? []).filter((x) => x.ok && x.inner?.runMs !== undefined);
    if (!good.length) continue;
    const load = medOf(good.map((x) => x.inner?.loadMs));
    const startMs = medOf(good.map((x) => x.inner?.startMs));
    const connect = medOf(good.map((x) => x.inner?.connectMs));
    const runMs = median(good.map((x) => x.inner?.runMs as number));
    const wall = median(good.map((x) => x.wallMs));
    innerRows.push(
      `| ${PATH_INFO[path].label} | ${wall.toFixed(0)} | ${load?.toFixed(0) ?? '—'}${startMs !== undefined ? ` + ${startMs.toFixed(0)} server start` : ''} | ${connect?.toFixed(0) ?? '—'} | ${runMs.toFixed(0)} | **${fmtRate(mbps(o.size, runMs))}** |`,
    );
  }
  if (setupRows.length) {
    md.push('## Fixed cost per transfer');
    md.push('');
    md.push('A 0-byte transfer on each path (to /dev/null): process start, handshake, authentication, exit.');
    md.push('');
    md.push('| path | wall s (median) | client peak RSS |');
    md.push('|---|---:|---:|');
    md.push(...setupRows);
    md.push('');
  }
  if (innerRows.length) {
    md.push(`## Inside the loopssh client processes (${formatSize(o.size)} to /dev/null, medians)`);
    md.push('');
    md.push('| path | whole process ms | module load ms | connect ms | run() ms | run() alone MB/s |');
    md.push('|---|---:|---:|---:|---:|---:|');
    md.push(...innerRows);
    md.push('');
  }

  const extras = extraSections(r);
  md.push(...extras.md);
  const goals = extras.goals;

  // Throughput goals (loopssh issue 14), each against OpenSSH → OpenSSH of this invocation.
  const throughput: string[] = [];
  for (const [path, min] of THROUGHPUT_GOALS) {
    for (const target of o.targets) {
      const row = (rows as { path: PathId; target: Target; ratio?: number }[]).find((x) => x.path === path && x.target === target);
      if (row?.ratio !== undefined) throughput.push(`${PATH_INFO[path].label} to ${TARGET_LABEL[target]} ≥ ${min}× OpenSSH → OpenSSH: ${row.ratio >= min ? 'PASS' : 'FAIL'} (${row.ratio.toFixed(2)}×)`);
    }
  }
  goals.unshift(...throughput, ...sftp.goals);
  if (goals.length) {
    md.push('## Issue goals');
    md.push('');
    for (const g of goals) md.push(`- ${g}`);
    md.push('');
  }
  if (!r.binding) {
    md.push('**ssh2 ran without its native crypto binding: every loopssh figure above is pure-JS crypto and NOT representative.**');
    md.push('');
  }
  if (profile) {
    md.push('## CPU profiles (node --cpu-prof, top self time)');
    md.push('');
    md.push(profile);
  }
  const failed = [...r.results.values(), ...r.sftp.values()].flat().filter((s) => !s.ok).length + [...r.flush, ...r.scale].filter((s) => !s.ok).length;
  if (failed) {
    md.push(`**${failed} item(s) failed verification and are left out of the figures:**`);
    md.push('');
    for (const [k, list] of [...r.results, ...r.sftp]) for (const s of list) if (!s.ok) md.push(`- ${k}: ${s.why}`);
    for (const s of [...r.flush, ...r.scale]) if (!s.ok) md.push(`- extra: ${s.why}`);
    md.push('');
  }
  json.flush = r.flush;
  json.limits = r.limits;
  json.scale = r.scale;
  json.setup = Object.fromEntries(r.paths.map((p) => [p, r.results.get(resultKey('setup', p, 'null')) ?? []]));
  json.rss = Object.fromEntries(o.rssPaths.map((p) => [p, { small: r.results.get(resultKey('rss', p, 'null')) ?? [], big: r.results.get(resultKey('rss-big', p, 'null')) ?? [] }]));

  const png = barChart({
    title: `loopssh transfer bench: ${formatSize(o.size)} x ${o.runs} run(s), ${o.cipher}`,
    subtitle: `MB/s over the whole client process, medians; whiskers min-max; (n.nnx) = vs ssh -> sshd${sftp.chart.length ? ' (SFTP rows: vs sftp -> sftp-server)' : ''}. ${r.binding ? '' : 'PURE-JS CRYPTO: NOT REPRESENTATIVE. '}${r.startedAt.toISOString().slice(0, 16)}`,
    unit: 'MB/s (decimal)',
    // SFTP rows are all to a file; with them alone, only that series.
    series: (r.paths.length === 0 ? ['file' as const] : sftp.chart.length && !o.targets.includes('file') ? [...o.targets, 'file' as const] : o.targets).map((t) => ({ name: TARGET_LABEL[t], color: TARGET_COLOR[t] })),
    groups: chartGroups.filter((g) => g.bars.length > 0),
    notes: [`${cpus().length} x ${cpu.replace(/[^\x20-\x7e]/g, '')}, Node ${process.version}, ${(r.opensshVersion ?? '').replace(/[^\x20-\x7e]/g, '')}`, 'every transfer verified (file: SHA-256, pipe: every byte, /dev/null: exit status)',
      `load average at start ${r.loadAtStart.toFixed(2)}${r.loadAtStart > 1 ? ' (busy machine: noisy figures)' : ''}`,
    ],
  });
  return { markdown: `${md.join('\n')}\n`, png, json };
}

