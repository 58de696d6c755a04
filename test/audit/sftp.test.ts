/**
 * loopssh issue 12: the audit's SFTP scenarios (short reads, EOF before the
 * stat size, a stat size that lies). The loopssh CLI passes all three;
 * OpenSSH's sftp keeps a short file with exit 0 on early EOF (truncated),
 * as test/server/sftp-faults.test.ts measured directly. paramiko's
 * `SFTPClient.get()` keeps the short file with exit 0 on early EOF too;
 * AsyncSSH's `get()` trusts a lying stat and keeps its 1000 bytes, exit 0
 * (README "What we found").
 */
import { describe, expect, it } from 'vitest';
import { audit, SCENARIOS } from '../../src/audit/index.ts';
import { referenceDigest } from '../helpers/oracle.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { loopsshSftpTemplate, opensshSftpTemplate, pythonSftpTemplate } from './clients.ts';

const SFTP = peer('sftp');
const PARAMIKO = peer('paramiko');
const ASYNCSSH = peer('asyncssh');
const SFTP_SCENARIOS = SCENARIOS.filter((s) => s.sftpPath !== undefined).map((s) => s.name);
const FULL = referenceDigest({ size: 200_000, pattern: 'random', seed: '7', stream: 'stdout' });

describe('loopssh audit --sftp', () => {
  it('the three SFTP scenarios are opt-in: not in the default set, all in --sftp', () => {
    expect(SFTP_SCENARIOS).toEqual(['sftp-short-reads', 'sftp-early-eof', 'sftp-stat-lies']);
    expect(SCENARIOS.filter((s) => !s.optional).some((s) => s.sftpPath !== undefined)).toBe(false);
  });

  it('an SFTP run needs {path} and {out} in the template', async () => {
    await expect(audit({ client: ['true', '{command}'], sftp: true })).rejects.toThrow(/need a template that downloads \{path\} to \{out\}/);
  });

  it('known-bad: a client that fails without downloading is truncated on short reads, and (a reported failure) exact on the other two', async () => {
    const report = await audit({ client: ['sh', '-c', 'exit 1', 'always-fails', '{path}', '{out}'], sftp: true });
    expect(report.results.map((r) => [r.name, r.verdict, r.runs[0]?.end.code])).toEqual([
      ['sftp-short-reads', 'truncated', 1],
      ['sftp-early-eof', 'exact', 1],
      ['sftp-stat-lies', 'exact', 1],
    ]);
    expect(report.passed).toBe(false);
  });

  it('loopssh sftp get: short reads exact; early EOF and lying stat reported as failures (exit 1, no file)', async () => {
    const report = await audit({ client: loopsshSftpTemplate(), sftp: true });
    const rows = report.results.map((r) => [r.name, r.verdict, r.runs[0]?.end.code, r.runs[0]?.stdout.receivedBytes]);
    expect(rows).toEqual([
      ['sftp-short-reads', 'exact', 0, 200_000],
      ['sftp-early-eof', 'exact', 1, 0],
      ['sftp-stat-lies', 'exact', 1, 0],
    ]);
    // The whole file, against the independent oracle.
    expect(report.results[0]?.runs[0]?.stdout.receivedSha256).toBe(FULL);
    expect(report.passed).toBe(true);
  }, 120_000);
});

type Row = [name: string, verdict: string, exit: number | undefined, bytes: number, firstDifference: number | undefined];

/** Each client measured (README "What we found"): first run's verdict, exit, bytes in {out}; which runs must hold the whole file. */
const PEERS: { name: string; bin: string | undefined; template: (bin: string) => string[]; rows: Row[]; whole: number[]; stderr?: [number, RegExp] }[] = [
  {
    name: `${peerVersion('sftp')} -b`,
    bin: SFTP,
    template: opensshSftpTemplate,
    rows: [
      ['sftp-short-reads', 'exact', 0, 200_000, undefined],
      ['sftp-early-eof', 'truncated', 0, 100_000, undefined],
      ['sftp-stat-lies', 'exact', 0, 200_000, undefined],
    ],
    whole: [0, 2],
  },
  {
    // get() reads on to EOF and compares the local file with the bytes it wrote, never with stat's size.
    name: `${peerVersion('paramiko')} SFTPClient.get()`,
    bin: PARAMIKO,
    template: (python) => pythonSftpTemplate(python, 'paramiko_sftp_get.py'),
    rows: [
      ['sftp-short-reads', 'exact', 0, 200_000, undefined],
      ['sftp-early-eof', 'truncated', 0, 100_000, undefined],
      ['sftp-stat-lies', 'exact', 0, 200_000, undefined],
    ],
    whole: [0, 2],
  },
  {
    // get() copies exactly stat's size: it notices an EOF before it, never bytes after it.
    name: `${peerVersion('asyncssh')} SFTPClient.get()`,
    bin: ASYNCSSH,
    template: (python) => pythonSftpTemplate(python, 'asyncssh_sftp_get.py'),
    rows: [
      ['sftp-short-reads', 'exact', 0, 200_000, undefined],
      ['sftp-early-eof', 'exact', 1, 100_000, undefined],
      ['sftp-stat-lies', 'truncated', 0, 1000, undefined],
    ],
    whole: [0],
    stderr: [1, /Unexpected EOF during file copy/],
  },
];

for (const p of PEERS) {
  describe.skipIf(!p.bin)(`loopssh audit --sftp: ${p.name}`, () => {
    it(p.rows.map(([name, verdict, exit, bytes]) => `${name} ${verdict} (exit ${exit}, ${bytes} bytes)`).join('; '), async () => {
      const report = await audit({ client: p.template(p.bin as string), sftp: true });
      const rows = report.results.map((r) => [r.name, r.verdict, r.runs[0]?.end.code, r.runs[0]?.stdout.receivedBytes, r.runs[0]?.stdout.firstDifference]);
      expect(rows).toEqual(p.rows);
      // The whole file, against the independent oracle.
      expect(p.whole.map((i) => report.results[i]?.runs[0]?.stdout.receivedSha256)).toEqual(p.whole.map(() => FULL));
      if (p.stderr) expect(report.results[p.stderr[0]]?.runs[0]?.stderrHead).toMatch(p.stderr[1]);
      expect(report.passed).toBe(false);
    }, 120_000);
  });
}
