// https://github.com/ronf/asyncssh/issues/629
// AsyncSSH finished a redirected run at the channel's close, while its pipe writer still held data:
// output into a slow or stalled stdout pipe lost its tail, and the process still exited 0.
// The loopssh CLI must deliver every byte into such a pipe; its --naive mode reproduces the loss.
import { execFileSync, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'vitest';
import { toStalledPipe } from '../../src/cli/demo.ts';
import { connect } from '../../src/client/index.ts';
import { referenceDigest } from '../helpers/oracle.ts';
import { PYTHON, waitFor, within } from '../helpers/stress.ts';
import { cliFixturePerFile, tempDir } from '../helpers/fixture.ts';
import { sha256 } from '../helpers/oracle.ts';
import { BIN, type CliResult } from '../helpers/processes.ts';
import { payloadBytes, runCli, runCliInShell } from './helpers.ts';

const SIZE = 163_840; // 160 KiB, the size of the original report (169,426 B) rounded to a pipe-friendly one
const DIGEST = referenceDigest({ size: SIZE, pattern: 'lines', seed: '0', stream: 'stdout' });

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

const fx = cliFixturePerFile();

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
      // The reader always takes the first byte, and a pipe holds more than
      // that: a naive run that delivered nothing is broken, not "naive".
      expect(r.stdout.length).toBeGreaterThan(0);
      expect(r.stdout.length).toBeLessThan(SIZE);
      // What did arrive is an exact prefix: lost, not corrupted.
      expect(r.stdout.equals(payloadBytes(r.stdout.length))).toBe(true);
    }
    // The client itself received every byte (its verdict hashes what came in
    // over the channel); only the pipe got less.
    expect(runs[0]?.stderr).toMatch(/^loopssh: verified 160 KiB \(163840 bytes, SHA-256 /m);
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
      expect(row.received).toBeGreaterThan(0);
      expect(row.received).toBeLessThanOrEqual(SIZE);
    }
    for (const row of naive) expect([row.received < SIZE, row.shaOk], `naive delivered ${row.received} bytes`).toEqual([true, false]);
    // README and docs/close-semantics.md quote this: at most one pipe buffer (loopssh issue 16).
    for (const row of naive) expect(row.received, 'naive delivered more than one 64 KiB pipe buffer').toBeLessThanOrEqual(65_536);
  });
});

/**
 * A Python reader on a FIFO: takes one byte, says `first` on stdout, then
 * reads nothing until a line arrives on its stdin; then reads the rest and
 * prints `{"bytes":N,"sha256":"..."}` (counting the first byte too).
 */
const FIFO_READER = String.raw`
import hashlib, json, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
h = hashlib.sha256()
first = os.read(fd, 1)
h.update(first)
n = len(first)
print('first', flush=True)
sys.stdin.readline()
while True:
    b = os.read(fd, 65536)
    if not b:
        break
    n += len(b)
    h.update(b)
print(json.dumps({'bytes': n, 'sha256': h.hexdigest()}), flush=True)
`;

/**
 * The CLI with its stdout on a pipe that is already full (filled to
 * F_GETPIPE_SZ by this driver before the CLI starts), nobody reading. The
 * driver waits up to 4 s for the CLI to exit, then reads everything and
 * prints one JSON line: whether the CLI exited while its output was still
 * queued, its exit status, and what it wrote after the filler.
 */
const FULL_PIPE_DRIVER = String.raw`
import fcntl, json, os, subprocess, sys
r, w = os.pipe()
filler = fcntl.fcntl(w, 1032)  # F_GETPIPE_SZ
os.write(w, b'\0' * filler)
p = subprocess.Popen(sys.argv[1:], stdout=w, stdin=subprocess.DEVNULL)
os.close(w)
try:
    p.wait(timeout=4)
    early = True
except subprocess.TimeoutExpired:
    early = False
data = bytearray()
while True:
    b = os.read(r, 65536)
    if not b:
        break
    data += b
code = p.wait()
print(json.dumps({'early': early, 'exit': code, 'filler': filler, 'tail': data[filler:].decode('utf8', 'replace')}))
`;

// loopssh issue 17 (point 3): the close path itself, not only the bytes.
describe('the close path into a stalled pipe (AsyncSSH #629)', () => {
  // FlushTracker's flush of a kept-open target must wait for the write that
  // carries the last byte. Into a FIFO whose reader stalls, that write cannot
  // complete, so run() must still be pending when the reader is let go.
  it('library: run() into a stalled pipe fd resolves only after the reader resumed (event order)', { timeout: 60_000 }, async ({ expect }) => {
    const fifo = join(tempDir().dir, 'stalled.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn(PYTHON, ['-c', FIFO_READER, fifo], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = createInterface({ input: reader.stdout });
    const linesOut: string[] = [];
    out.on('line', (l) => linesOut.push(l));
    const handle = await open(fifo, 'w');
    const conn = await connect(fx.server.clientOptions({ user: 'tester' }));
    try {
      const events: string[] = [];
      const command = `payload ${SIZE} --seed 629`;
      const run = conn
        .run(command, { stdout: handle.fd, stderr: 'buffer' })
        .then((r) => {
          events.push('run resolved');
          return r;
        });
      await waitFor(() => linesOut.includes('first'), 20_000, 'the reader to take its first byte');
      // The server sent every byte and the exit status (the client buffers
      // them: the pipe holds at most its 64 KiB).
      await waitFor(() => fx.server.seen.commands.find((c) => c.command === command)?.exit !== undefined, 20_000, 'the server to finish the command');
      // A negative needs a window: run() must not settle while the reader is stalled.
      await Promise.race([run, new Promise((r) => setTimeout(r, 500))]);
      events.push('reader resumed');
      reader.stdin.end('go\n');
      const r = await within(run, 30_000, 'run() after the reader resumed');
      expect(events).toEqual(['reader resumed', 'run resolved']);
      expect([r.exitCode, r.stdoutBytes]).toEqual([0, SIZE]);
      // Our end of the FIFO closes: the reader sees EOF and reports.
      await handle.close();
      await waitFor(() => linesOut.length >= 2, 20_000, "the reader's report");
    } finally {
      await handle.close().catch(() => undefined);
      reader.stdin.destroy();
      await conn.close();
    }
    expect(JSON.parse(linesOut[1] as string)).toEqual({ bytes: SIZE, sha256: DIGEST });
  });

  // The CLI ends by setting process.exitCode: Node then stays until queued
  // writes are out. process.exit() would drop them. Node's own stdout writes
  // asynchronously (the launcher keeps it when --naive comes before '--'),
  // so a pipe already full when the CLI prints shows the difference.
  it('CLI: output queued for a full pipe is still delivered when the CLI ends (exitCode, not process.exit())', { timeout: 60_000 }, async ({ expect }) => {
    const help = await runCli(['exec', '--help']);
    expect([help.code, help.stdout.length > 500]).toEqual([0, true]);
    const r = await runCli([PYTHON, '-c', FULL_PIPE_DRIVER, process.execPath, BIN, 'exec', '--naive', '--help'], { raw: true, timeoutMs: 45_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.toString()) as { early: boolean; exit: number; filler: number; tail: string };
    expect(report.filler).toBeGreaterThan(0);
    expect(report.exit).toBe(0);
    expect(report.early, 'the CLI exited while its output was still queued').toBe(false);
    expect(report.tail).toBe(help.stdout.toString());
  });
});
