/**
 * Smoke test of `npm run bench`: a small run of every path must finish,
 * verify every transfer, and write the Markdown table and the PNG chart.
 * No figure is asserted: speed is measured by the benchmark, not by tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixture.ts';
import { peer } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SSHD = peer('sshd');

describe('bench/transfer.ts', () => {
  const out = tempDir('loopssh-bench-test-');
  afterEach(() => out.remove());

  it.skipIf(!SSHD)('a 16 MiB run of every path verifies each transfer and writes bench.md and bench.png', async () => {
    const r = await runProcess(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'bench', 'transfer.ts'), '--size', '16MiB', '--runs', '1', '--only', 'loop2,loop1,ssh-loop,loop-sshd,ssh-sshd,flush', '--out', out.dir],
      { cwd: ROOT, timeoutMs: 240_000 },
    );
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const md = readFileSync(join(out.dir, 'bench.md'), 'utf8');
    for (const path of ['loopssh → loopssh, 2 processes', 'loopssh → loopssh, 1 process', 'OpenSSH ssh → loopssh serve', 'loopssh → OpenSSH sshd', 'OpenSSH ssh → OpenSSH sshd (baseline)']) {
      expect(md).toContain(`| ${path} |`);
    }
    expect(md).toContain('FlushTracker overhead');
    // Every transfer row says how many runs were verified: 1 of 1.
    const rows = md.split('\n').filter((l) => /^\| (loopssh|OpenSSH)/.test(l) && l.includes('✓'));
    expect(rows.length).toBeGreaterThanOrEqual(15);
    expect(md).not.toMatch(/✗|FAILED verification/);
    const png = readFileSync(join(out.dir, 'bench.png'));
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.length).toBeGreaterThan(1000);
  }, 300_000);
});
