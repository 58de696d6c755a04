/**
 * loopssh issue 12: the loopssh CLI passes every audit scenario; its --naive
 * mode (the AsyncSSH #629 bug on request: exit at the channel's close while
 * stdout still holds bytes) fails the slow-pipe scenarios.
 * https://github.com/ronf/asyncssh/issues/629
 */
import { describe, expect, it } from 'vitest';
import { audit, SCENARIOS } from '../../src/audit/index.ts';
import { referenceDigest } from '../helpers/oracle.ts';
import { loopsshTemplate } from './clients.ts';

describe('loopssh audit: the loopssh CLI', () => {
  it('tracked: every default scenario exact', async () => {
    const report = await audit({ client: loopsshTemplate() });
    expect(report.results.map((r) => [r.name, r.verdict])).toEqual(SCENARIOS.filter((s) => !s.optional).map((s) => [s.name, 'exact']));
    // What arrived, against the independent oracle (not the audit's own generator).
    for (const r of report.results) {
      const run = r.runs[0];
      const scenario = SCENARIOS.find((x) => x.name === r.name);
      expect([run?.stdout.receivedBytes, run?.stdout.receivedSha256], r.name).toEqual([scenario?.stdout.size, scenario && referenceDigest(scenario.stdout)]);
    }
    expect(report.passed).toBe(true);
  }, 240_000);

  it('--naive: the slow-pipe scenarios come up short with exit 0, an exact prefix (lost, not corrupted)', async () => {
    const report = await audit({ client: loopsshTemplate(true), only: ['629-slow-pipe', '629-stall'] });
    for (const r of report.results) {
      const run = r.runs[0];
      expect([r.name, r.verdict, run?.end.code, run?.stdout.firstDifference]).toEqual([r.name, 'truncated', 0, undefined]);
      expect(run?.stdout.receivedBytes, r.name).toBeLessThan(160 * 1024);
    }
    expect(report.passed).toBe(false);
  }, 120_000);
});
