/**
 * `loopssh serve` as a child process: ready line, a transfer against it, and
 * a clean exit on SIGTERM and SIGINT.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, it, type TestContext } from 'vitest';
import { fingerprint } from '../../src/openssh/key-format.ts';
import { referenceDigest } from '../helpers/oracle.ts';
import { removeTempDirs, tempDir } from '../helpers/fixture.ts';
import { sha256 } from '../helpers/oracle.ts';
import { type CliResult, collect, killGroup } from '../helpers/processes.ts';
import { runCli, spawnCli } from './helpers.ts';

const READY = /^listening 127\.0\.0\.1:(\d+) hostkey (SHA256:\S+)$/m;
const MiB = 1024 * 1024;

afterAll(() => removeTempDirs());

interface Served {
  child: ChildProcess;
  /** Resolves when the child has exited and its pipes closed. */
  done: Promise<CliResult>;
  /** stderr so far. */
  stderr(): string;
}

/** Starts `loopssh serve ...args` and waits for stderr to match `ready`. */
async function serve(ctx: TestContext, args: string[], ready: RegExp = READY, timeoutMs = 20_000): Promise<Served & { match: RegExpExecArray }> {
  const child = spawnCli(['serve', ...args]);
  // A test that failed half-way must not leave a server behind. (The context's
  // hook: the global one cannot tell concurrent tests apart.)
  ctx.onTestFinished(() => killGroup(child, 'SIGKILL'));
  let text = '';
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  // A deadline well past any test's: the test itself bounds the wait for exit.
  const done = collect(child, 120_000);
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve not ready after ${timeoutMs} ms; stderr: ${text}`)), timeoutMs);
    const check = (): void => {
      const m = ready.exec(text);
      if (m) {
        clearTimeout(timer);
        child.stderr?.off('data', check);
        resolve(m);
      }
    };
    child.stderr?.on('data', check);
    void done.then((r) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${r.code ?? r.signal}) before it was ready; stderr: ${r.stderr}`));
    });
  });
  return { child, done, match, stderr: () => text };
}

/** Waits for exit at most `ms`; undefined if still running. */
function exitWithin(done: Promise<CliResult>, ms: number): Promise<CliResult | undefined> {
  return Promise.race([done, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())]);
}

describe.concurrent('loopssh serve', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`serves get 1MiB, then exits 0 on ${signal}`, async (ctx) => {
      const { expect } = ctx;
      const keys = join(tempDir().dir, 'keys');
      const s = await serve(ctx, ['--port', '0', '--keys', keys]);
      const port = Number(s.match[1]);
      const hostKey = s.match[2] as string;
      expect(port).toBeGreaterThan(0);
      // The key it announces is the one it generated in --keys.
      expect(hostKey).toBe(fingerprint(readFileSync(join(keys, 'host_ed25519.pub'), 'utf8')));

      const r = await runCli(['get', '1MiB', '--port', String(port), '--host-key', hostKey, '--keys', keys]);
      expect(r.stderr).toMatch(/^loopssh: verified 1 MiB/);
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBe(MiB);
      expect(sha256(r.stdout)).toBe(referenceDigest({ size: MiB, pattern: 'lines', seed: '0', stream: 'stdout' }));

      // Without --host-key: a loopback server's own key in --keys is trusted.
      const trusted = await runCli(['exec', '--port', String(port), '--keys', keys, '--', 'payload', '100']);
      expect(trusted.stderr).toBe('');
      expect(trusted.code).toBe(0);
      expect(trusted.stdout.length).toBe(100);

      const sent = performance.now();
      s.child.kill(signal);
      const exited = await exitWithin(s.done, 10_000);
      expect(exited, `still running 10 s after ${signal}; stderr: ${s.stderr()}`).toBeDefined();
      expect(exited?.signal).toBe(null);
      expect(exited?.code).toBe(0);
      expect(performance.now() - sent).toBeLessThan(10_000);
      expect(exited?.stderr).not.toContain('    at ');
      expect(exited?.stdout.length).toBe(0);
    });
  }

  it('SIGTERM during a transfer lets it finish, then exits 0', async (ctx) => {
    const { expect } = ctx;
    const keys = join(tempDir().dir, 'keys');
    const s = await serve(ctx, ['--port', '0', '--keys', keys]);
    const conn = ['--port', s.match[1] as string, '--host-key', s.match[2] as string, '--keys', keys];
    // 512 KiB at 256 KiB/s: two seconds on the wire; the signal comes with the first bytes.
    const child = spawnCli(['get', '512KiB', '--rate', '256KiB', ...conn]);
    const firstBytes = new Promise((resolve) => child.stdout?.once('data', resolve));
    const get = collect(child, 30_000);
    await firstBytes;
    s.child.kill('SIGTERM');
    const [r, exited] = await Promise.all([get, exitWithin(s.done, 15_000)]);
    expect(r.stderr, `get: exit ${r.code}, ${r.stdout.length} bytes, stderr: ${r.stderr}`).toMatch(/^loopssh: verified 512 KiB/);
    expect(r.code).toBe(0);
    expect(sha256(r.stdout)).toBe(referenceDigest({ size: 512 * 1024, pattern: 'lines', seed: '0', stream: 'stdout' }));
    expect(exited?.code).toBe(0);
  });

  it('--host 0.0.0.0 logs a warning that the address is not loopback', async (ctx) => {
    const { expect } = ctx;
    const keys = join(tempDir().dir, 'keys');
    const s = await serve(ctx, ['--host', '0.0.0.0', '--port', '0', '--keys', keys], /^listening 0\.0\.0\.0:(\d+) hostkey SHA256:\S+$/m);
    const warning = s.stderr().split('\n').find((l) => l.includes('not loopback'));
    expect(warning, `stderr: ${s.stderr()}`).toBeDefined();
    expect(warning).toContain('0.0.0.0');
    s.child.kill('SIGTERM');
    const exited = await exitWithin(s.done, 10_000);
    expect(exited?.code).toBe(0);
  });

  // loopssh issue 9: `npx loopssh serve &` then `kill $!` killed npm exec
  // only and left the server running. The README's way: --pid-file.
  it('npx loopssh serve --pid-file: kill "$(cat FILE)" stops the server and removes the file', async (ctx) => {
    const { expect } = ctx;
    const dir = tempDir().dir;
    const keys = join(dir, 'keys');
    const pidFile = join(dir, 'serve.pid');
    const npx = spawnCli(['npx', '--no-install', 'loopssh', 'serve', '--port', '0', '--keys', keys, '--pid-file', pidFile], { raw: true });
    ctx.onTestFinished(() => killGroup(npx, 'SIGKILL'));
    const done = collect(npx, 120_000);
    let text = '';
    npx.stderr?.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise<void>((resolve, reject) => {
      npx.stderr?.on('data', () => READY.test(text) && resolve());
      void done.then((r) => reject(new Error(`serve exited early: ${r.stderr}`)));
    });
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(npx.pid);
    const kill = await runCli(['sh', '-c', `kill "$(cat '${pidFile}')"`], { raw: true });
    expect(kill.code).toBe(0);
    const exited = await exitWithin(done, 10_000);
    expect(exited, `still running 10 s after kill; stderr: ${text}`).toBeDefined();
    expect(exited?.code).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('--pid-file in a missing folder: one line naming the flag, exit 2, no server left', async (ctx) => {
    const { expect } = ctx;
    const keys = join(tempDir().dir, 'keys');
    const r = await runCli(['serve', '--port', '0', '--keys', keys, '--pid-file', '/nonexistent/dir/serve.pid'], { timeoutMs: 20_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^loopssh: --pid-file: cannot write '\/nonexistent\/dir\/serve\.pid'/);
  });

  it('a port already in use exits non-zero with one line, no stack trace', async (ctx) => {
    const { expect } = ctx;
    const keys = join(tempDir().dir, 'keys');
    const first = await serve(ctx, ['--port', '0', '--keys', keys]);
    const port = first.match[1] as string;
    const second = await runCli(['serve', '--port', port, '--keys', keys], { timeoutMs: 20_000 });
    first.child.kill('SIGTERM');
    expect(second.timedOut).toBe(false);
    expect(second.code).not.toBe(0);
    expect(second.stderr).not.toContain('    at ');
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(/^loopssh: .*(EADDRINUSE|in use)/);
    expect((await exitWithin(first.done, 10_000))?.code).toBe(0);
  });

  // loopssh issue 13, point 7: pino's own throw for an unknown level is a multi-line stack.
  it('a LOOPSSH_LOG_LEVEL pino does not know exits 2 with one line naming it, no stack trace', async ({ expect }) => {
    const keys = join(tempDir().dir, 'keys');
    const r = await runCli(['serve', '--port', '0', '--keys', keys], { env: { LOOPSSH_LOG_LEVEL: 'loud' }, timeoutMs: 20_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('    at ');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^loopssh: LOOPSSH_LOG_LEVEL must be one of .*; got 'loud'$/m);
  });
});
