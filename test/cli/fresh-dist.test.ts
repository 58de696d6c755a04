/**
 * loopssh issue 14: in a checkout the launcher runs dist/ instead of tsx only
 * while dist/ is a build of src/ as it is now; any edit, new file or missing
 * output sends it back to src/ through tsx, so edits run without a build.
 */
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distIsFresh } from '../../bin/fresh-dist.js';
import { tempDir } from '../helpers/fixture.ts';

describe('bin/fresh-dist.js', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('loopssh-fresh-dist-')));
  afterEach(() => tmp.remove());

  /** src/cli/main.ts and src/util/a.ts with their outputs, the outputs written 10 s after the sources. */
  function checkout(): string {
    const root = tmp.dir;
    for (const rel of ['cli/main', 'util/a']) {
      for (const [tree, ext, at] of [['src', 'ts', 1_000], ['dist', 'js', 1_010]] as const) {
        const file = join(root, tree, `${rel}.${ext}`);
        mkdirSync(join(file, '..'), { recursive: true });
        writeFileSync(file, '');
        utimesSync(file, at, at);
      }
    }
    writeFileSync(join(root, 'src', 'util', 'types.d.ts'), ''); // declarations have no output
    return root;
  }

  it('is fresh when every source has an output written after it', () => {
    expect(distIsFresh(checkout())).toBe(true);
  });

  it('is stale once a source is edited after the build', () => {
    const root = checkout();
    utimesSync(join(root, 'src', 'util', 'a.ts'), 1_020, 1_020);
    expect(distIsFresh(root)).toBe(false);
  });

  it('is stale when a new source has no output yet', () => {
    const root = checkout();
    writeFileSync(join(root, 'src', 'util', 'b.ts'), '');
    expect(distIsFresh(root)).toBe(false);
  });

  it('is stale without dist/', () => {
    const root = tmp.dir;
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'main.ts'), '');
    expect(distIsFresh(root)).toBe(false);
  });
});
