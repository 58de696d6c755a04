/**
 * loopssh issue 16: the facts docs/close-semantics.md and docs/ssh2-traps.md
 * quote from examples/probes/, rerun here the way the docs tell a reader to
 * run them, so a changed Node, ssh2, pino or CPython fails a test instead of
 * leaving the prose wrong.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { peer } from '../helpers/peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = peer('asyncssh'); // Debian's /usr/bin/python3

/** Runs a shell pipeline from the repository root; resolves with its stdout and stderr. */
function sh(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('bash', ['-c', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.concurrent('examples/probes (figures quoted by the docs)', () => {
  it('process.stdout.end() on a pipe: finish, close, fd 1 still open, a later write fails with EPIPE', async () => {
    const r = await sh('node examples/probes/stdout-ending.cjs end | cat');
    expect(r.stderr.trim()).toBe('end: finish > close (fd 1 open: true) > later write: EPIPE');
  });

  it('pipeline(src, process.stdout) ends stdout; with { end: false } it stays writable', async () => {
    const ended = await sh('node examples/probes/stdout-ending.cjs pipeline | cat');
    expect(ended.stderr.trim()).toBe('pipeline: finish > close (fd 1 open: true) > pipeline resolved > later write: EPIPE');
    expect(ended.stdout).toBe('piped\n');
    const kept = await sh('node examples/probes/stdout-ending.cjs pipeline-end-false | cat');
    expect(kept.stderr.trim()).toBe('pipeline-end-false: pipeline resolved > later write: ok');
    expect(kept.stdout).toBe('piped\nlater\n');
  });

  it('stdout on a pipe becomes O_NONBLOCK only once process.stdout is touched', async () => {
    const r = await sh('node examples/probes/stdout-nonblock.cjs | cat');
    expect(r.stderr.trim()).toBe('O_NONBLOCK on fd 1: before touching process.stdout false, after true');
  });

  it("pino's asynchronous destination: process.exit(0) delivers all 20,000 lines into a stalled pipe, SIGKILL does not", async () => {
    const stalled = '| { head -c 1 >/dev/null; sleep 1.5; cat; } | wc -l';
    const [exit, kill] = await Promise.all([sh(`node examples/probes/pino-exit.mjs exit ${stalled}`), sh(`node examples/probes/pino-exit.mjs kill ${stalled}`)]);
    expect(Number(exit.stdout.trim())).toBe(20_000);
    expect(Number(kill.stdout.trim())).toBeLessThan(20_000);
  });

  it.skipIf(!PYTHON)("asyncio's pipe transport drops writes after close() silently, warns from the sixth, still flushes what came before", async () => {
    const r = await sh(`${PYTHON} examples/probes/asyncio-write-after-close.py`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^queued at close\(\): \d+; read 200000 bytes, 0 of 7 later writes; first warning at write 6; connection_lost: yes$/m);
    expect(Number(/queued at close\(\): (\d+)/.exec(r.stdout)?.[1])).toBeGreaterThan(0);
  });

  it("an ssh2 channel whose stdout nobody reads never emits 'close'", async () => {
    const r = await sh('npx tsx examples/probes/ssh2-unread.ts');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("stdout never read: 'close' within 1 s: false\nstdout read: 'close' within 1 s: true\n");
  });

  it('finished(channel) rejects with ERR_STREAM_PREMATURE_CLOSE on clean ssh2 runs with a fast consumer, resolves with a slow one', async () => {
    const r = await sh('npx tsx examples/probes/ssh2-finished.ts 5');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // One event order per (size, consumer), in every run.
    expect(lines).toEqual([
      '5 of 5  65536 bytes, fast consumer: exit > prefinish > end > close > finished() rejected ERR_STREAM_PREMATURE_CLOSE > stderr end > finish',
      '5 of 5  65536 bytes, slow consumer: exit > prefinish > stderr end > finish > end > finished() resolved > close',
      '5 of 5  1048576 bytes, fast consumer: exit > prefinish > end > close > finished() rejected ERR_STREAM_PREMATURE_CLOSE > stderr end > finish',
      '5 of 5  1048576 bytes, slow consumer: exit > prefinish > stderr end > finish > end > finished() resolved > close',
    ]);
  });
});
