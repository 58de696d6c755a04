// https://github.com/ronf/asyncssh/issues/629
// AsyncSSH finished a redirected run at the channel's close, while its pipe writer still held data:
// output into a slow or stalled stdout pipe lost its tail, and the process still exited 0.
// The loopssh CLI must deliver every byte into such a pipe; its --naive mode reproduces the loss.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { toStalledPipe } from '../../src/cli/demo.ts';
import { payloadDigest } from '../../src/payload/patterns.ts';
import { payloadBytes, runCliInShell, sha256, startFixture, type CliResult, type Fixture } from './helpers.ts';

const SIZE = 163_840; // 160 KiB, the size of the original report (169,426 B) rounded to a pipe-friendly one
const DIGEST = payloadDigest({ size: SIZE, pattern: 'lines', seed: '0', stream: 'stdout' });

/**
 * The CLI's stdout goes into a pipe whose reader takes one byte, then sleeps
 * 2 s before reading the rest (the stall of `| (sleep 2; wc -c)`). The shell
 * reports the CLI's own exit status on fd 3 (a pipeline's status is its last
 * command's). fd 3 is closed for the CLI itself.
 */
const STALLED = '{ "$@" 3>&-; echo "exit=$?" >&3; } | { dd bs=1 count=1 status=none; sleep 2; exec cat; }';

function exitOf(r: CliResult): number {
  const m = /exit=(\d+)/.exec(r.fd3);
  if (!m) throw new Error(`no exit status reported; stderr: ${r.stderr}`);
  return Number(m[1]);
}

let fx: Fixture;
beforeAll(async () => {
  fx = await startFixture();
});
afterAll(async () => {
  await fx?.stop();
});

function stalled(args: string[]): Promise<CliResult> {
  return runCliInShell(STALLED, args, { fd3: true, timeoutMs: 45_000 });
}

// The runs are children that mostly sleep: they go side by side.
describe.concurrent('CLI output into a stalled stdout pipe (AsyncSSH #629)', () => {
  for (const run of [1, 2, 3]) {
    it(`tracked get 160KiB delivers every byte (run ${run})`, async ({ expect }) => {
      const r = await stalled(['get', '160KiB', ...fx.conn]);
      expect(r.timedOut).toBe(false);
      expect(r.stdout.length).toBe(SIZE);
      expect(sha256(r.stdout)).toBe(DIGEST);
      expect(exitOf(r)).toBe(0);
      expect(r.stderr).toMatch(/^loopssh: verified 160 KiB \(163840 bytes/m);
    });
  }

  it('tracked exec -- payload 160KiB delivers every byte', async ({ expect }) => {
    const r = await stalled(['exec', ...fx.conn, '--', 'payload', '160KiB']);
    expect(r.stdout.length).toBe(SIZE);
    expect(sha256(r.stdout)).toBe(DIGEST);
    expect(exitOf(r)).toBe(0);
    expect(r.stderr).toBe('');
  });

  // A naive run writes process.stdout (asynchronous on a pipe) and ends with
  // process.exit() while bytes are still queued in the process: the tail is
  // lost, yet it exits 0. Every run must come up short, with an exact prefix.
  it('naive get and exec lose the tail and still exit 0 (the bug)', async ({ expect }) => {
    const runs = await Promise.all([
      stalled(['get', '160KiB', '--naive', ...fx.conn]),
      stalled(['get', '160KiB', '--naive', '--quiet', ...fx.conn]),
      stalled(['exec', '--naive', ...fx.conn, '--', 'payload', '160KiB']),
      stalled(['exec', '--naive', ...fx.conn, '--', 'payload', '160KiB']),
    ]);
    for (const r of runs) {
      expect(r.timedOut).toBe(false);
      expect(exitOf(r)).toBe(0);
      expect(r.stdout.length).toBeLessThanOrEqual(SIZE);
      // What did arrive is an exact prefix: lost, not corrupted.
      expect(r.stdout.equals(payloadBytes(r.stdout.length))).toBe(true);
    }
    const received = runs.map((r) => r.stdout.length);
    expect(Math.max(...received), `naive runs delivered ${received.join(', ')} bytes`).toBeLessThan(SIZE);
  });

  it("demo's toStalledPipe: tracked complete, naive short", async ({ expect }) => {
    const [tracked, ...naive] = await Promise.all([
      toStalledPipe(fx.server, false, SIZE, fx.keysDir),
      toStalledPipe(fx.server, true, SIZE, fx.keysDir),
      toStalledPipe(fx.server, true, SIZE, fx.keysDir),
    ]);
    expect(tracked).toMatchObject({ mode: 'tracked', expected: SIZE, received: SIZE, shaOk: true });
    for (const row of naive) {
      expect(row.mode).toBe('naive');
      expect(row.received).toBeLessThanOrEqual(SIZE);
    }
    for (const row of naive) expect([row.received < SIZE, row.shaOk], `naive delivered ${row.received} bytes`).toEqual([true, false]);
    // README and docs/close-semantics.md quote this: at most one pipe buffer (loopssh issue 16).
    for (const row of naive) expect(row.received, 'naive delivered more than one 64 KiB pipe buffer').toBeLessThanOrEqual(65_536);
  });
});
