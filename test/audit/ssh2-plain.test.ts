/**
 * loopssh issue 12 ("EOF, then a delay, then exit-status"): a known-bad
 * client for the eof-delay-exit scenario: ssh2 1.17's client as its README
 * uses it (test/audit/clients/ssh2_plain.mjs). It closes the channel at the
 * server's EOF (Node's autoDestroy calls ssh2's destroy(), which sends
 * CHANNEL_CLOSE), so the exit status sent after the EOF never reaches it.
 * The loopssh CLI had the same bug; test/audit/loopssh.test.ts and
 * "the loopssh client waits past the EOF" (behaviours.test.ts) pin the fix.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { audit } from '../../src/audit/index.ts';

const CLIENT = [process.execPath, fileURLToPath(new URL('./clients/ssh2_plain.mjs', import.meta.url)), '{host}', '{port}', '{user}', '{identity}', '{known_hosts}', '{command}'];

describe('loopssh audit: a plain ssh2 1.17 client', () => {
  it('fails eof-delay-exit (every byte, exit 255 instead of 7) but passes exit-no-eof (exit 7): the delay after EOF is what it misses', async () => {
    const report = await audit({ client: CLIENT, only: ['eof-delay-exit', 'exit-no-eof'] });
    const byName = Object.fromEntries(report.results.map((r) => [r.name, r.runs[0]]));
    const late = byName['eof-delay-exit'];
    expect([late?.verdict, late?.end.code, late?.stdout.receivedBytes, late?.stdout.firstDifference]).toEqual(['wrong exit status', 255, 1024 * 1024, undefined]);
    const noEof = byName['exit-no-eof'];
    expect([noEof?.verdict, noEof?.end.code]).toEqual(['exact', 7]);
    expect(report.passed).toBe(false);
  }, 120_000);
});
