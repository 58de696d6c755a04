/**
 * loopssh issue 17: `npm run mutate` finds each mutation's code by a pattern,
 * so a refactor can leave a pattern matching nothing. The script then refuses
 * to run, which nobody sees until someone runs it (the owned() rewrite of
 * issue 16 did exactly that). This keeps every mutation applicable on every
 * `npm test`; running the mutations themselves stays out of it (minutes of CPU).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run mutate -- --list', () => {
  it('locates every mutation in exactly one src/ file, with existing test files', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/mutate.ts', '--list'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout).not.toMatch(/pattern not found|several files|test file not found/);
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((line) => /^(\S+)\s+(src\/\S+\.ts)\s+→\s+(.+)$/.exec(line));
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const row of rows) {
      expect(row, 'a --list row: NAME src/FILE.ts → TESTS').not.toBeNull();
      const [, , file, tests] = row as RegExpExecArray;
      expect(existsSync(`${ROOT}${file}`)).toBe(true);
      for (const t of (tests as string).split(', ')) expect(existsSync(`${ROOT}${t}`), t).toBe(true);
    }
    expect(rows.map((row) => row?.[1])).toContain('owned-done-at-finish');
  });
});
