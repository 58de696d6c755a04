/**
 * `npm test` on a machine without the peers ends with one line naming what
 * was skipped and the command that installs it (loopssh issue 9).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixture.ts';
import { missingPeersLine } from '../helpers/missing-peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('the missing-peers closing line', () => {
  it('names each missing peer once, with its package and the install command', () => {
    const line = missingPeersLine('sshd\tapt-get install openssh-server\nsshd\tapt-get install openssh-server\nasyncssh\tapt-get install python3-asyncssh\n');
    expect(line).toBe(
      'loopssh: SKIPPED the tests that need sshd (apt-get install openssh-server), asyncssh (apt-get install python3-asyncssh): ' +
        'those peers are not installed; `npm run peers` installs them (Debian/Ubuntu, uses apt-get)',
    );
    expect(missingPeersLine('')).toBeUndefined();
  });

  it('is printed after the run when a worker recorded a missing peer', async () => {
    const tmp = tempDir('loopssh-peers-');
    cleanups.push(tmp.remove);
    const helper = join(ROOT, 'test', 'helpers', 'missing-peers.ts');
    writeFileSync(
      join(tmp.dir, 'vitest.config.ts'),
      `process.env.LOOPSSH_MISSING_PEERS_FILE = ${JSON.stringify(join(tmp.dir, 'missing.txt'))};\n` +
        `export default { test: { reporters: ['default', ${JSON.stringify(helper)}] } };\n`,
    );
    writeFileSync(
      join(tmp.dir, 'a.test.ts'),
      `import { it, expect } from 'vitest';\nimport { recordMissingPeer } from ${JSON.stringify(helper)};\n` +
        `it.skipIf(true)('needs dbclient', () => {});\nit('records', () => { recordMissingPeer('dbclient', 'apt-get install dropbear-bin'); expect(1).toBe(1); });\n`,
    );
    const r = await runProcess(join(ROOT, 'node_modules', '.bin', 'vitest'), ['run', '--root', tmp.dir], {
      cwd: tmp.dir,
      env: { ...process.env, CI: '', LOOPSSH_MISSING_PEERS_FILE: '' },
      timeoutMs: 60_000,
    });
    const lines = r.stdoutHead.trim().split('\n');
    expect(lines.at(-1)).toBe(
      'loopssh: SKIPPED the tests that need dbclient (apt-get install dropbear-bin): those peers are not installed; `npm run peers` installs them (Debian/Ubuntu, uses apt-get)',
    );
    expect(r.code).toBe(0);
  }, 90_000);
});
