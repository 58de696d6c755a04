/**
 * loopssh issue 12: `loopssh audit` against OpenSSH's ssh (a known-good
 * client: every scenario exact), and against known-bad clients built from it
 * (each verdict for its stated reason), plus the CLI's table, JSON, exit codes.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { audit, SCENARIOS, type AuditReport } from '../../src/audit/index.ts';
import { referenceBytes, referenceDigest } from '../helpers/oracle.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';
import { opensshTemplate } from './clients.ts';

const SSH = peer('ssh');
const LOOPSSH = fileURLToPath(new URL('../../bin/loopssh.js', import.meta.url));

function verdicts(report: AuditReport): Record<string, string> {
  return Object.fromEntries(report.results.map((r) => [r.name, r.verdict]));
}

describe.skipIf(!SSH)(`loopssh audit: ${peerVersion('ssh')}`, () => {
  const ssh = opensshTemplate(SSH as string);
  /** `sh -c 'SCRIPT'` where SCRIPT runs ssh as `$SSH`; the words go through the template first. */
  const shell = (script: string): string[] => ['sh', '-c', script.replaceAll('$SSH', ssh.join(' ')), 'audit-client'];

  it('passes every default scenario, byte-exact with the right exit status', async () => {
    const report = await audit({ client: ssh });
    const defaults = SCENARIOS.filter((s) => !s.optional).map((s) => s.name);
    expect(report.results.map((r) => r.name)).toEqual(defaults);
    // What arrived, against the independent oracle (not the audit's own generator).
    for (const [i, r] of report.results.entries()) {
      const run = r.runs[0];
      const scenario = SCENARIOS.find((x) => x.name === r.name);
      expect([run?.stdout.receivedBytes, run?.stdout.receivedSha256], r.name).toEqual([scenario?.stdout.size, referenceDigest(scenario!.stdout)]);
      if (scenario?.stderr) expect([run?.stderr?.receivedBytes, run?.stderr?.receivedSha256], r.name).toEqual([scenario.stderr.size, referenceDigest(scenario.stderr)]);
      expect(i).toBe(defaults.indexOf(r.name));
    }
    expect(verdicts(report)).toEqual(Object.fromEntries(defaults.map((n) => [n, 'exact'])));
    // ssh reports exit-status as its own, and 255 for a signal or a missing status.
    const codes = Object.fromEntries(report.results.map((r) => [r.name, r.runs[0]?.end.code]));
    expect(codes).toMatchObject({ 'exit-before-data': 7, 'exit-no-eof': 7, 'eof-delay-exit': 7, 'exit-signal': 255, 'no-exit-status': 255, 'large-stdout': 0 });
    expect(report.passed).toBe(true);
  }, 180_000);

  it('judges known-bad clients for the stated reason', async () => {
    const only = ['exit-before-data'];
    const [truncated, corrupted, duplicated, wrongExit, hung] = await Promise.all([
      audit({ only, client: shell('$SSH {command} | head -c 1000; exit 7') }),
      audit({ only, client: shell('$SSH {command} | tr 5 6; exit 7') }),
      audit({ only, client: shell('$SSH {command}; $SSH {command}') }),
      audit({ only, client: shell('$SSH {command}; exit 0') }),
      // The time limit leaves ssh room to finish on a loaded machine; `exec` makes sleep the killed process.
      audit({ only, client: shell('$SSH {command}; exec sleep 60'), timeoutMs: 15_000 }),
    ]);
    const run = (r: AuditReport) => r.results[0]?.runs[0];
    expect([run(truncated)?.verdict, run(truncated)?.stdout.receivedBytes, run(truncated)?.stdout.firstDifference]).toEqual(['truncated', 1000, undefined]);
    // `tr 5 6` first changes the lines pattern's first '5' (an independent generator finds it).
    const firstFive = referenceBytes({ size: 4096, pattern: 'lines' }).indexOf('5');
    expect(firstFive).toBeGreaterThan(0);
    expect([run(corrupted)?.verdict, run(corrupted)?.stdout.firstDifference]).toEqual(['corrupted', firstFive]);
    expect([run(duplicated)?.verdict, run(duplicated)?.stdout.receivedBytes]).toEqual(['duplicated', 2 * 4 * 1024 * 1024]);
    expect([run(wrongExit)?.verdict, run(wrongExit)?.end.code, run(wrongExit)?.stdout.receivedBytes]).toEqual(['wrong exit status', 0, 4 * 1024 * 1024]);
    expect([run(hung)?.verdict, run(hung)?.end.timedOut, run(hung)?.end.signal]).toEqual(['hung', true, 'SIGKILL']);
    for (const r of [truncated, corrupted, duplicated, wrongExit, hung]) expect(r.passed).toBe(false);
  }, 120_000);

  it('{out}: the file a client writes itself is judged (reader "file")', async () => {
    const only = ['exit-no-eof'];
    const [whole, short] = await Promise.all([
      audit({ only, client: shell('$SSH {command} > {out}') }),
      audit({ only, client: shell('$SSH {command} | head -c 100 > {out}; exit 7') }),
    ]);
    const run = (r: AuditReport) => r.results[0]?.runs[0];
    expect([run(whole)?.verdict, run(whole)?.reader, run(whole)?.stdout.receivedBytes, run(whole)?.end.code]).toEqual(['exact', 'file', 4 * 1024 * 1024, 7]);
    expect([run(short)?.verdict, run(short)?.reader, run(short)?.stdout.receivedBytes]).toEqual(['truncated', 'file', 100]);
  }, 120_000);

  it('CLI: table and exit 0 when all pass, JSON, exit 1 on a failure, one line and exit 2 on bad usage', async () => {
    const help = await runProcess(process.execPath, [LOOPSSH, 'audit', '--help'], { timeoutMs: 30_000 });
    expect([help.code, help.stdoutHead.split('\n')[0]]).toEqual([0, 'usage: loopssh audit [options] -- CLIENT-TEMPLATE...']);
    for (const s of SCENARIOS) expect(help.stdoutHead).toContain(s.name);

    const pass = await runProcess(process.execPath, [LOOPSSH, 'audit', '--only', 'exit-signal,exit-no-eof', '--', ...ssh], { timeoutMs: 60_000 });
    expect(pass.code).toBe(0);
    expect(pass.stdoutHead).toMatch(/^scenario +verdict/);
    // (stdoutHead is latin1: '≠' shows as three characters.)
    expect(pass.stdoutHead).toMatch(/^exit-signal +exact +1\/1 +1048576\/1048576 .* 255 \(want .+0\)/m);
    expect(pass.stdoutHead).toMatch(/all 2 scenarios exact/);

    const json = await runProcess(process.execPath, [LOOPSSH, 'audit', '--json', '--only', 'exit-no-eof', '--', ...ssh], { timeoutMs: 60_000 });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdoutHead) as AuditReport;
    expect([report.passed, report.results[0]?.name, report.results[0]?.runs[0]?.end.code]).toEqual([true, 'exit-no-eof', 7]);

    const fail = await runProcess(process.execPath, [LOOPSSH, 'audit', '--only', 'exit-no-eof', '--', 'sh', '-c', 'exit 7', '{command}'], { timeoutMs: 60_000 });
    expect(fail.code).toBe(1);
    expect(fail.stdoutHead).toMatch(/^exit-no-eof +truncated +0\/1 +0\/4194304/m);

    for (const [args, message] of [
      [['audit', '--', 'ssh', '{nope}', '{command}'], /^loopssh: unknown placeholder \{nope\}/],
      [['audit', '--', 'ssh', 'host'], /^loopssh: the client template has no \{command\}/],
      [['audit', '--only', 'nosuch', '--', 'ssh', '{command}'], /^loopssh: unknown scenario 'nosuch'/],
      [['audit', '--reader', 'sideways', '--', 'ssh', '{command}'], /^loopssh: unknown reader 'sideways'/],
      [['audit'], /^loopssh: audit needs a CLIENT-TEMPLATE/],
      [['audit', '--only', 'exit-signal', '--', 'no-such-client-here', '{command}'], /^loopssh: cannot run the client 'no-such-client-here': ENOENT$/m],
    ] as const) {
      const r = await runProcess(process.execPath, [LOOPSSH, ...args], { timeoutMs: 30_000 });
      expect([r.code, r.stderr.split('\n').length], args.join(' ')).toEqual([2, 2]);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  }, 180_000);
});
