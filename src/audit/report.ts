/**
 * The audit report as a terminal table (or Markdown for the README) and as
 * JSON. The table shows, per scenario, the worst run's facts.
 */
import type { RunOutcome } from './client-run.js';
import type { AuditReport, ScenarioResult } from './audit.js';

function exitText(o: RunOutcome): string {
  if (o.end.timedOut) return 'killed';
  if (o.end.signal) return `signal ${o.end.signal}`;
  return String(o.end.code);
}

function expectedExitText(r: ScenarioResult): string {
  const want = r.exit === 'nonzero' ? '≠0' : String(r.exit.code);
  return r.failureOk ? `${want}, or ≠0 reporting the failure` : want;
}

/** The run whose verdict is the scenario's verdict (the first such). */
function worstRun(r: ScenarioResult): RunOutcome {
  return r.runs.find((o) => o.verdict === r.verdict) ?? (r.runs[0] as RunOutcome);
}

function streamText(received: number, expected: number, firstDifference?: number): string {
  const base = `${received}/${expected}`;
  return firstDifference !== undefined && firstDifference < Math.min(received, expected) ? `${base} (differs at ${firstDifference})` : base;
}

/** `; stdin at the server N/M [per run]` for a scenario that feeds stdin (the stdout column carries it). */
function stdinText(r: ScenarioResult): string {
  const o = worstRun(r);
  if (!o.stdin) return '';
  const runs = r.runs.length > 1 ? ` [${r.runs.map((x) => x.stdin?.receivedBytes ?? 0).join(', ')}]` : '';
  return `; stdin at the server ${streamText(o.stdin.receivedBytes, o.stdin.expectedBytes, o.stdin.firstDifference)}${runs}`;
}

/** One row of facts per scenario, as the table prints them. */
export function reportRows(report: AuditReport): string[][] {
  return report.results.map((r) => {
    const o = worstRun(r);
    const received = r.runs.length > 1 ? ` [${r.runs.map((x) => x.stdout.receivedBytes).join(', ')}]` : '';
    return [
      r.name,
      r.verdict,
      `${r.exact}/${r.runs.length}`,
      streamText(o.stdout.receivedBytes, o.stdout.expectedBytes, o.stdout.firstDifference) + received + stdinText(r),
      o.stderr ? streamText(o.stderr.receivedBytes, o.stderr.expectedBytes, o.stderr.firstDifference) : o.stderrBytes ? `(${o.stderrBytes} B)` : '-',
      `${exitText(o)} (want ${expectedExitText(r)})`,
      o.reader,
    ];
  });
}

const HEADER = ['scenario', 'verdict', 'exact runs', 'stdout bytes got/sent', 'stderr bytes got/sent', 'exit', 'stdout reader'];

/** Plain-text table for a terminal. */
export function formatTable(report: AuditReport): string {
  const rows = [HEADER, ...reportRows(report)];
  const widths = HEADER.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  const line = (row: string[]): string => row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd();
  const out = [line(rows[0] as string[]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  const notes = serverNotes(report);
  if (notes.length) out.push('', 'the server logged:', ...notes.map((n) => `  ${n}`));
  const failed = report.results.filter((r) => !r.passed).length;
  out.push('', report.passed ? `all ${report.results.length} scenarios exact` : `${failed} of ${report.results.length} scenarios failed`);
  return `${out.join('\n')}\n`;
}

/** `scenario run N: message` for everything the audit's server logged, deduplicated per scenario. */
export function serverNotes(report: AuditReport): string[] {
  const notes: string[] = [];
  for (const r of report.results) {
    const seen = new Set<string>();
    r.runs.forEach((o, i) => {
      for (const line of o.serverLog ?? []) {
        if (seen.has(line)) continue;
        seen.add(line);
        notes.push(`${r.name} run ${i + 1}: ${line}`);
      }
    });
  }
  return notes;
}

/** Markdown table (README "What we found"). */
export function formatMarkdown(report: AuditReport): string {
  const rows = reportRows(report);
  const md = (row: string[]): string => `| ${row.join(' | ')} |`;
  const notes = serverNotes(report).map((n) => `- the server logged: ${n}`);
  return [md(HEADER), md(HEADER.map(() => '---')), ...rows.map(md), ...(notes.length ? ['', ...notes] : [])].join('\n') + '\n';
}

/** JSON for machines: the whole report. */
export function formatJson(report: AuditReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
