/**
 * loopssh issue 12: paramiko (Debian's python3-paramiko) through
 * test/audit/clients/paramiko_audit.py, stdout on a pipe. Measured: every
 * default scenario exact (README "What we found").
 */
import { describe, expect, it } from 'vitest';
import { audit, SCENARIOS } from '../../src/audit/index.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { pythonTemplate } from './clients.ts';

const PYTHON = peer('paramiko');

describe.skipIf(!PYTHON)(`loopssh audit: ${peerVersion('paramiko')}`, () => {
  it('every default scenario exact', async () => {
    const report = await audit({ client: pythonTemplate(PYTHON as string, 'paramiko_audit.py') });
    expect(report.results.map((r) => [r.name, r.verdict])).toEqual(SCENARIOS.filter((s) => !s.optional).map((s) => [s.name, 'exact']));
    expect(report.passed).toBe(true);
  }, 240_000);
});
