/**
 * .ci/run's closing line, on real vitest results: a suite that fails before
 * its tests run (throwing beforeAll, import error) and an unhandled error
 * count as failed. Pins loopssh issue 9: a failing CI run printed
 * "716 passed, 0 failed, 4 skipped".
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixture.ts';
import { runProcess } from '../helpers/run-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VITEST = join(ROOT, 'node_modules', '.bin', 'vitest');
const SUMMARISE = join(ROOT, '.ci', 'summarise.mjs');

const FILES: Record<string, string> = {
  passing: `import { it, expect } from 'vitest';\nit('ok', () => expect(1).toBe(1));\nit.skip('skipped', () => {});\n`,
  hookFails: `import { beforeAll, describe, it, expect } from 'vitest';\ndescribe('s', () => {\n  beforeAll(() => { throw new Error('hook boom'); });\n  it('a', () => expect(1).toBe(1));\n  it('b', () => expect(1).toBe(1));\n});\n`,
  importFails: `import './missing-module.ts';\nimport { it } from 'vitest';\nit('never', () => {});\n`,
  unhandled: `import { it, expect } from 'vitest';\nit('throws later', () => { setTimeout(() => { throw new Error('late'); }, 1); expect(1).toBe(1); });\nit('waits', async () => { await new Promise((r) => setTimeout(r, 100)); expect(1).toBe(1); });\n`,
  assertionFails: `import { it, expect } from 'vitest';\nit('fails', () => expect(1).toBe(2));\n`,
};

/** Runs vitest on the named files in a temp project, then the summariser; returns its output and status. */
async function closingLine(names: string[], env: NodeJS.ProcessEnv = {}): Promise<{ lines: string[]; code: number | null }> {
  const tmp = tempDir('loopssh-ci-');
  cleanups.push(tmp.remove);
  for (const name of names) writeFileSync(join(tmp.dir, `${name}.test.ts`), FILES[name] as string);
  const results = join(tmp.dir, 'results.json');
  const run = await runProcess(VITEST, ['run', '--root', tmp.dir, '--reporter=json', `--outputFile=${results}`], {
    cwd: tmp.dir,
    env: { ...process.env, CI: '' },
    timeoutMs: 60_000,
  });
  const summary = await runProcess(process.execPath, [SUMMARISE, results, String(run.code)], { cwd: tmp.dir, env: { ...process.env, ...env } });
  return { lines: summary.stdoutHead.trim().split('\n'), code: summary.code };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('.ci/summarise.mjs', () => {
  it('a clean run: N passed, 0 failed, exit 0', async () => {
    const { lines, code } = await closingLine(['passing']);
    expect(lines.at(-1)).toBe('1 passed, 0 failed, 1 skipped');
    expect(code).toBe(0);
  }, 90_000);

  it('a throwing beforeAll and an import error each count as a failed suite', async () => {
    const { lines, code } = await closingLine(['passing', 'hookFails', 'importFails']);
    expect(lines.at(-1)).toBe('1 passed, 2 failed, 3 skipped');
    expect(lines.filter((l) => l.startsWith('ci: failed suite '))).toHaveLength(2);
    expect(lines.join('\n')).toContain('importFails.test.ts');
    expect(code).toBe(1);
  }, 90_000);

  it('an unhandled error with every test passing still reads as failed', async () => {
    const { lines, code } = await closingLine(['unhandled']);
    expect(lines.at(-1)).toBe('2 passed, 1 failed');
    expect(code).toBe(1);
  }, 90_000);

  it('failed assertions are counted as they are', async () => {
    const { lines } = await closingLine(['passing', 'assertionFails']);
    expect(lines.at(-1)).toBe('1 passed, 1 failed, 1 skipped');
  }, 90_000);

  it('a failed step besides the tests (typecheck) counts as one failed', async () => {
    const { lines, code } = await closingLine(['passing'], { CI_FAILED_STEPS: 'typecheck' });
    expect(lines).toContain('ci: step failed: typecheck');
    expect(lines.at(-1)).toBe('1 passed, 1 failed, 1 skipped');
    expect(code).toBe(1);
  }, 90_000);

  it('no results file: 0 passed, 1 failed', async () => {
    const r = await runProcess(process.execPath, [SUMMARISE, '/nonexistent/results.json', '1']);
    expect(r.stdoutHead.trim().split('\n').at(-1)).toBe('0 passed, 1 failed');
    expect(r.code).toBe(1);
  });
});
