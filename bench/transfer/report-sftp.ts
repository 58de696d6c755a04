/**
 * The report's SFTP section: get and put rows into a file, each with its
 * ratio to OpenSSH sftp → OpenSSH sftp-server of the same direction in the
 * same invocation, and loopssh issue 11's goals judged PASS/FAIL.
 */
import { formatSize } from '../../src/util/size.ts';
import type { BarGroup } from '../png.ts';
import type { Sample } from './measure.ts';
import { SFTP_INFO, type SftpPathId } from './options.ts';
import type { BenchRecord } from './record.ts';
import { fmtMiB, fmtRate, fmtS, maxOf, median, medOf, mbps } from './stats.ts';

/** loopssh issue 11's throughput goals: path and its least ratio to the OpenSSH baseline of its direction. */
export const SFTP_GOALS: readonly (readonly [SftpPathId, number])[] = [
  ['sftp-loop', 1.0],
  ['sftp-bin', 1.0],
  ['put-loop', 1.0],
  ['put-bin', 1.0],
];
/** loopssh issue 11: the loopssh SFTP client's peak RSS stays under this, whatever the size. */
export const SFTP_CLIENT_RSS_KIB = 128 * 1024;

/** One SFTP row as bench.json keeps it. */
export interface SftpRow {
  path: SftpPathId;
  mbps: number[];
  ratio?: number;
  runRatios: number[];
  samples: Sample[];
}

/** The SFTP section's Markdown, goal lines, chart groups and JSON rows (empty when no SFTP path ran). */
export function sftpSection(r: BenchRecord): { md: string[]; goals: string[]; chart: BarGroup[]; rows: SftpRow[] } {
  const o = r.options;
  const out = { md: [] as string[], goals: [] as string[], chart: [] as BarGroup[], rows: [] as SftpRow[] };
  if (!r.sftpPaths.length) return out;
  const good = (path: SftpPathId): Sample[] => (r.sftp.get(path) ?? []).filter((x) => x.ok);
  const medianRate = (path: SftpPathId): number | undefined => {
    const g = good(path);
    return g.length ? median(g.map((x) => mbps(o.size, x.wallMs))) : undefined;
  };
  const md = out.md;
  md.push(`## SFTP (${formatSize(o.size)} into a file)`);
  md.push('');
  md.push(
    'Each row moves the bytes into a file: a get writes the client\'s local file; a put writes a file on the server (loopssh serve\'s `--sftp-dir`, served writable at `/disk`; a file beside sshd for sftp-server). ' +
      'Gets read `/payload/zero/0/SIZE` from loopssh and a sparse file of zeros from sftp-server; puts send that sparse file. ' +
      'The loopssh client is `npx loopssh sftp get|put` from this checkout, as users run it, and the same launcher run without npx (bin/loopssh.js by its shebang, as `node_modules/.bin/loopssh` runs from an npm script: npx adds npm\'s start-up to every transfer) (' +
      `${r.checkoutLauncher === 'dist' ? 'it ran dist/, a fresh build of src/' : 'it ran src/ through tsx: dist/ absent or older than src/'}` +
      '), with its default chunk size and 64 requests in flight; OpenSSH is `sftp -b` with its defaults. ' +
      'MB/s as above (whole client process); “× base” divides by OpenSSH sftp → OpenSSH sftp-server in the same direction in this invocation. ' +
      'Verified every time: exit status 0, then the file\'s size and SHA-256 against as many zero bytes.',
  );
  md.push('');
  md.push('| path | MB/s median (min–max) | × base | client CPU s | server CPU s | client peak RSS | server peak RSS | verified |');
  md.push('|---|---:|---:|---:|---:|---:|---:|---|');
  for (const path of r.sftpPaths) {
    const info = SFTP_INFO[path];
    const all = r.sftp.get(path) ?? [];
    const g = good(path);
    const rates = g.map((x) => mbps(o.size, x.wallMs));
    const med = medianRate(path);
    const isBase = info.baseline === path;
    const b = medianRate(info.baseline);
    const ratio = med !== undefined && b !== undefined && !isBase ? med / b : undefined;
    const baseRuns = r.sftp.get(info.baseline) ?? [];
    const runRatios = all
      .map((x, i) => {
        const bs = baseRuns[i];
        return x.ok && bs?.ok ? mbps(o.size, x.wallMs) / mbps(o.size, bs.wallMs) : undefined;
      })
      .filter((x): x is number => x !== undefined);
    const verified = all.length === 0 ? '—' : g.length === all.length ? `${g.length}/${all.length} ✓` : `**${g.length}/${all.length}: FAILED**`;
    md.push(
      `| ${info.label} | ${med === undefined ? '—' : `**${fmtRate(med)}** (${fmtRate(Math.min(...rates))}–${fmtRate(Math.max(...rates))})`} | ` +
        `${ratio === undefined ? (isBase ? '1' : '—') : `**${ratio.toFixed(2)}×**${runRatios.length > 1 ? ` (${Math.min(...runRatios).toFixed(2)}–${Math.max(...runRatios).toFixed(2)})` : ''}`} | ` +
        `${fmtS(medOf(g.map((x) => x.clientCpuS)))} | ${fmtS(medOf(g.map((x) => x.serverCpuS)))} | ${fmtMiB(maxOf(g.map((x) => x.clientRssKiB)))} | ${fmtMiB(maxOf(g.map((x) => x.serverRssKiB)))} | ${verified} |`,
    );
    if (med !== undefined) {
      out.chart.push({
        label: info.short,
        bars: [{ series: 'file', value: med, min: Math.min(...rates), max: Math.max(...rates), label: `${fmtRate(med)}${ratio !== undefined ? ` (${ratio.toFixed(2)}x)` : ''}` }],
      });
    }
    out.rows.push({ path, mbps: rates, ratio, runRatios, samples: all });
  }
  md.push('');

  for (const [path, min] of SFTP_GOALS) {
    const row = out.rows.find((x) => x.path === path);
    if (row?.ratio !== undefined) out.goals.push(`SFTP ${SFTP_INFO[path].label} ≥ ${min}× OpenSSH sftp → sftp-server (${SFTP_INFO[path].verb}): ${row.ratio >= min ? 'PASS' : 'FAIL'} (${row.ratio.toFixed(2)}×)`);
  }
  const clients = r.sftpPaths.filter((p) => SFTP_INFO[p].client !== 'sftp');
  const peaks = clients.map((p) => ({ path: p, kib: maxOf(good(p).map((x) => x.clientRssKiB)) })).filter((x): x is { path: SftpPathId; kib: number } => x.kib !== undefined);
  if (peaks.length) {
    const top = [...peaks].sort((a, b) => b.kib - a.kib)[0] as { path: SftpPathId; kib: number };
    out.goals.push(
      `SFTP loopssh client peak RSS < ${SFTP_CLIENT_RSS_KIB / 1024} MiB at ${formatSize(o.size)}: ${peaks.every((x) => x.kib < SFTP_CLIENT_RSS_KIB) ? 'PASS' : 'FAIL'} (largest ${fmtMiB(top.kib)}: ${SFTP_INFO[top.path].label})`,
    );
  }
  return out;
}
