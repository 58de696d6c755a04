/**
 * loopssh issue 12: paramiko (Debian's python3-paramiko) through
 * test/audit/clients/paramiko_audit.py, stdout on a pipe. Measured: every
 * default scenario exact except `rekey-guess` (README "What we found"):
 * paramiko 2.12.0 reads first_kex_packet_follows but never skips a wrongly
 * guessed packet (RFC 4253 §7), so it parses the server's guess as its
 * KEX reply and drops the connection.
 */
import { describe, expect, it } from 'vitest';
import { audit, SCENARIOS } from '../../src/audit/index.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { pythonTemplate } from './clients.ts';

const PYTHON = peer('paramiko');

describe.skipIf(!PYTHON)(`loopssh audit: ${peerVersion('paramiko')}`, () => {
  it('every default scenario exact except rekey-guess: cut at the rekey, exit 255', async () => {
    const report = await audit({ client: pythonTemplate(PYTHON as string, 'paramiko_audit.py') });
    const want = (name: string): string => (name === 'rekey-guess' ? 'truncated' : 'exact');
    expect(report.results.map((r) => [r.name, r.verdict])).toEqual(SCENARIOS.filter((s) => !s.optional).map((s) => [s.name, want(s.name)]));
    const guess = report.results.find((r) => r.name === 'rekey-guess')?.runs[0];
    // The rekey starts halfway through 8 MiB: paramiko stops there, with an exact prefix.
    expect([guess?.end.code, guess?.stdout.firstDifference, guess?.stderrHead]).toEqual([255, undefined, expect.stringMatching(/X25519 public key is 32 bytes long/)]);
    expect(guess?.stdout.receivedBytes).toBeLessThanOrEqual(4 * 1024 * 1024 + 256 * 1024);
    expect(report.passed).toBe(false);
  }, 240_000);
});
