/**
 * loopssh as another project installs it: `npm pack`, install the tarball
 * into a fresh temporary project (from the tarball, npm's cache where it has
 * the packages and the registry where it does not: loopssh issue 9),
 * then run the examples/testing suites there (vitest and node:test: they
 * start the server, run commands with the loopssh client and OpenSSH's ssh,
 * and assert on `seen`), and the installed CLI.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixture.ts';
import { peer } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SSH = peer('ssh');
const vitestVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'vitest', 'package.json'), 'utf8')) as { version: string }).version;

describe('the packed package, installed into a fresh project', () => {
  const tmp = tempDir('loopssh-pack-');
  const project = join(tmp.dir, 'project');
  let tarball = '';

  beforeAll(async () => {
    // prepare (the build) runs as part of pack.
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', tmp.dir], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').at(-1) as string;
    tarball = join(tmp.dir, packed);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'loopssh-user', private: true, type: 'module' }, null, 2));
    // --prefer-offline, not --offline: an empty npm cache (a fresh machine)
    // has never seen vitest's registry document, so an offline install of a
    // version cannot resolve (ENOTCACHED). The exact vitest this checkout
    // installed. Install scripts are skipped (ssh2 then uses its JS crypto:
    // slower, same bytes).
    const install = await runProcess(
      'npm',
      ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', tarball, `vitest@${vitestVersion}`],
      { cwd: project, timeoutMs: 240_000 },
    );
    if (install.code !== 0) throw new Error(`npm install of the tarball failed: ${install.stderr}`);
    for (const f of readdirSync(join(ROOT, 'examples', 'testing'))) copyFileSync(join(ROOT, 'examples', 'testing', f), join(project, f));
  }, 300_000);

  afterAll(() => tmp.remove());

  it('ships dist, bin and docs, not src or tests or keys', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/dist/index.d.ts');
    expect(listing).toContain('package/dist/server/index.d.ts');
    expect(listing).toContain('package/bin/loopssh.js');
    expect(listing.filter((f) => /^package\/(src|test|bench|scratch)\//.test(f))).toEqual([]);
    expect(listing.filter((f) => /_ed25519$|authorized_keys$/.test(f))).toEqual([]);
  });

  it.skipIf(!SSH)('runs a vitest suite that uses loopssh as a fixture', async () => {
    const r = await runProcess(join(project, 'node_modules', '.bin', 'vitest'), ['run', '--root', project, 'loopssh.vitest.test.ts'], { timeoutMs: 120_000 });
    // eslint-disable-next-line no-control-regex
    const out = (r.stdoutHead + r.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    expect(out).toMatch(/Tests\s+\S*2 passed/);
    expect(r.code).toBe(0);
  }, 150_000);

  it.skipIf(!SSH)('runs a node:test suite that uses loopssh', async () => {
    const r = await runProcess(process.execPath, ['--test', 'loopssh.node-test.test.mjs'], { cwd: project, timeoutMs: 120_000 });
    expect(r.stdoutHead).toMatch(/# pass 3/);
    expect(r.stdoutHead).toMatch(/# fail 0/);
    expect(r.code).toBe(0);
  }, 150_000);

  it('the installed CLI serves and fetches a verified payload (npx loopssh), and stops by its --pid-file', async () => {
    const keys = join(tmp.dir, 'cli-keys');
    const pidFile = join(tmp.dir, 'serve.pid');
    const help = await runProcess('npx', ['--no-install', 'loopssh', '--help'], { cwd: project });
    expect(help.stdoutHead).toContain('loopssh serve');
    // npm exec does not pass SIGTERM on to the node process it started
    // (loopssh issue 9): the pid file names the server itself.
    const serve = spawn('npx', ['--no-install', 'loopssh', 'serve', '--port', '0', '--keys', keys, '--pid-file', pidFile], {
      cwd: project,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => serve.once('exit', (code) => resolve(code)));
    let serverPid = 0;
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let err = '';
        serve.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /listening 127\.0\.0\.1:(\d+) hostkey SHA256:/.exec(err);
          if (m) resolve(m[1] as string);
        });
        serve.once('exit', () => reject(new Error(`serve exited: ${err}`)));
      });
      serverPid = Number(readFileSync(pidFile, 'utf8').trim());
      expect(serverPid).toBeGreaterThan(0);
      expect(serverPid).not.toBe(serve.pid);
      const get = await runProcess('npx', ['--no-install', 'loopssh', 'get', '1MiB', '--pattern', 'random', '--port', port, '--keys', keys], { cwd: project });
      expect(get.code).toBe(0);
      expect(get.stdoutBytes).toBe(1024 * 1024);
      expect(get.stderr).toMatch(/verified 1 MiB/);
      process.kill(serverPid, 'SIGTERM');
      // The server exits 0, and npx with it; its pid file is removed.
      expect(await exited).toBe(0);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      if (serverPid && isAlive(serverPid)) process.kill(serverPid, 'SIGKILL');
      serve.kill('SIGKILL');
    }
  }, 120_000);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
