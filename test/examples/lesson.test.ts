/**
 * The close-semantics lesson's examples, run as their readers run them
 * (`npx tsx examples/NAME.ts`): each must exit 0, its fixed variants must
 * deliver every byte (length and SHA-256), its naive variants must lose some,
 * the facts it prints along the way must still hold, and every figure
 * docs/close-semantics.md quotes from it must be what this run printed
 * (loopssh issue 16, point 4: QUOTED below). All run at once (they mostly wait on stalled
 * readers): ~5 s on an idle 2-core machine, under 20 s on a busy one.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = readdirSync(join(ROOT, 'examples'))
  .filter((f) => f.endsWith('.ts'))
  .sort();

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runExample(file: string): Promise<Outcome> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join('examples', file)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** `fixed|naive  <label>  delivered M of N bytes, <verdict>` lines. */
function outcomeLines(stdout: string): { kind: string; label: string; delivered: number; expected: number; line: string }[] {
  return [...stdout.matchAll(/^(fixed|naive) +(.+?) +delivered +(\d+) of (\d+) bytes, (.*)$/gm)].map((m) => ({
    kind: m[1] as string,
    label: m[2] as string,
    delivered: Number(m[3]),
    expected: Number(m[4]),
    line: m[0],
  }));
}

/** What each example must print besides its outcome lines. */
const FACTS: Record<string, (out: string) => void> = {
  'finish-vs-close.ts': (out) => {
    // fs.WriteStream: 'finish' with the fd open, then fsync and close, then 'close'.
    const finish = out.search(/'finish' +fd \d+ open: true/);
    const fsync = out.indexOf('fs.fsync()', finish);
    const close = out.search(/'close' +fd null/);
    expect(finish).toBeGreaterThan(0);
    expect(fsync).toBeGreaterThan(finish);
    expect(close).toBeGreaterThan(fsync);
    expect(out).toMatch(/naive +atomic writer, file read at 'finish' +delivered +0 of \d+ bytes.*ENOENT/);
    expect(out).toMatch(/fixed +atomic writer, file read at 'close'/);
  },
  'process-exit.ts': (out) => {
    expect(out).toMatch(/naive +write\(\); process\.exit\(0\) +delivered +\d+ of 1048576 bytes, lost/);
    expect(out).toMatch(/fixed +write\(\); process\.exitCode = 0 +delivered 1048576 of 1048576 bytes, SHA-256 ok/);
    expect(out).toMatch(/fixed +write\(\); write\('', \(\) => process\.exit\(0\)\) +delivered 1048576 of 1048576 bytes, SHA-256 ok/);
    expect(out).toContain('stdout is a pipe');
  },
  'pipeline-end-false.ts': (out) => {
    const queued = [...out.matchAll(/pipeline resolved with (\d+) bytes still queued/g)].map((m) => Number(m[1]));
    expect(queued.length).toBe(2);
    for (const q of queued) expect(q).toBeGreaterThan(0);
    expect(out).toMatch(/naive +await pipeline\(\); process\.exit\(0\) +delivered +\d+ of 10485760 bytes, lost/);
  },
  'ssh2-exit-before-data.ts': (out) => {
    const exit = /'exit' +sink had taken +(\d+), +(\d+) queued in the sink, +(\d+) unread in the channel/.exec(out);
    expect(exit).not.toBeNull();
    expect(Number(exit?.[3])).toBeGreaterThan(0);
    expect(out).toMatch(/naive +raw ssh2, done at 'exit'/);
    expect(out).toMatch(/fixed +loopssh run\(\) \(FlushTracker\) +delivered 1048576 of 1048576 bytes, SHA-256 ok/);
  },
  'ssh2-stderr-after-close.ts': (out) => {
    expect(out).toMatch(/channel 'close' +stderr: .*stderr ended: false/);
    expect(out).toMatch(/stdout at channel 'close': 65536 of 65536 bytes/);
    expect(out).toMatch(/fixed +loopssh run\(\) stderr \(FlushTracker\) +delivered 1048576 of 1048576 bytes, SHA-256 ok/);
  },
  'sftp-short-reads.ts': (out) => {
    expect(out).toMatch(/naive download of \/payload\/lines\/0\/1048576,short=1000: resolved with 1000 bytes read/);
    expect(out).toMatch(/^fixed +SFTP, short READs re-requested +delivered 1048576 of 1048576 bytes, SHA-256 ok$/m);
    expect(out).toMatch(/^fixed +SFTP into a slow sink, done at its 'close' +delivered 1048576 of 1048576 bytes, SHA-256 ok$/m);
    expect(out).toMatch(/naive download into a 1 MB\/s sink: resolved after reading 1048576 bytes/);
  },
  'flush-tracker.ts': (out) => {
    const tracked = /tracked: .*\n +tracker\.events: (.*)/.exec(out);
    const events = tracked?.[1]?.split(', ') ?? [];
    expect(events.sort()).toEqual(['file:done', 'rename:done', 'source:done', 'stdout:done']);
    const order = tracked?.[1] ?? '';
    expect(order.indexOf('file:done')).toBeLessThan(order.indexOf('rename:done'));
    expect(out).toMatch(/naive +done at the source's 'end': file +delivered +0 of \d+ bytes.*ENOENT/);
    expect(out).toMatch(/naive +done at the source's 'end': stdout pipe +delivered +\d+ of 4194304 bytes, lost/);
  },
};

/**
 * Each figure docs/close-semantics.md quotes from an example: the exact text
 * in the doc, and the check of this run's output that makes it true. Exact
 * where the mechanism fixes the number (one 64 KiB pipe buffer, a 64 KiB
 * sink buffer), a bound where the doc quotes a bound.
 */
const QUOTED: { file: string; doc: string; check: (out: string) => void }[] = [
  {
    file: 'process-exit.ts',
    doc: '`exit()`\ndelivers 65,536 of 1,048,576 bytes',
    check: (out) => expect(out).toMatch(/^naive +write\(\); process\.exit\(0\) +delivered +65536 of 1048576 bytes/m),
  },
  {
    file: 'pipeline-end-false.ts',
    doc: 'resolved with 65,536 bytes still queued,\nand a `process.exit()` then delivered 10,420,224 of 10,485,760 bytes',
    check: (out) => {
      expect(out).toMatch(/await pipeline\(\); process\.exit\(0\): pipeline resolved with 65536 bytes still queued/);
      expect(out).toMatch(/^naive +await pipeline\(\); process\.exit\(0\) +delivered 10420224 of 10485760 bytes/m);
    },
  },
  {
    file: 'finish-vs-close.ts',
    doc: "(ENOENT: 0 of 4,194,304 bytes)",
    check: (out) => expect(out).toMatch(/^naive +atomic writer, file read at 'finish' +delivered +0 of 4194304 bytes.*ENOENT/m),
  },
  {
    file: 'flush-tracker.ts',
    doc: 'loses the last 65,536 bytes of its stdout',
    check: (out) => {
      expect(out).toMatch(/^naive +done at the source's 'end': stdout pipe +delivered +4128768 of 4194304 bytes, lost 65536$/m);
      expect(out).toMatch(/^naive +done at the source's 'end': file +delivered +0 of 4194304 bytes.*\.partial has 4194304 bytes/m);
    },
  },
  {
    file: 'sftp-short-reads.ts',
    doc: 'the naive\n  download resolves with 1,000 of 1,048,576 bytes and no error',
    check: (out) => expect(out).toMatch(/^naive +SFTP, a short READ taken for EOF +delivered +1000 of 1048576 bytes, lost 1047576$/m),
  },
  {
    file: 'sftp-short-reads.ts',
    doc: 'the naive\n  download resolves with every byte read while the sink had taken less than\n  half of the 1,048,576 bytes',
    check: (out) => {
      const taken = /^naive +SFTP into a slow sink, done at last READ +delivered +(\d+) of 1048576 bytes/m.exec(out);
      expect(taken).not.toBeNull();
      expect(Number(taken?.[1])).toBeLessThan(1_048_576 / 2);
    },
  },
  {
    file: 'ssh2-exit-before-data.ts',
    doc: "at `'exit'`, more than half of the 1,048,576 bytes are still unread in\n  the channel, and even at the channel's `'close'` a 4 MB/s sink still\n  holds up to 65,536 of them",
    check: (out) => {
      const exit = /'exit' +sink had taken +\d+, +\d+ queued in the sink, +(\d+) unread in the channel/.exec(out);
      expect(Number(exit?.[1])).toBeGreaterThan(1_048_576 / 2);
      const close = /channel 'close' +sink had taken +(\d+), +(\d+) queued in the sink/.exec(out);
      expect(Number(close?.[2])).toBeGreaterThan(0);
      expect(Number(close?.[2])).toBeLessThanOrEqual(65_536);
    },
  },
  {
    file: 'ssh2-stderr-after-close.ts',
    doc: "at `'close'`, stdout has all 65,536 bytes and the stderr sink at most\n  65,536 of 1,048,576",
    check: (out) => {
      expect(out).toMatch(/stdout at channel 'close': 65536 of 65536 bytes/);
      const naive = /^naive +raw ssh2 stderr, done at channel 'close' +delivered +(\d+) of 1048576 bytes/m.exec(out);
      expect(naive).not.toBeNull();
      expect(Number(naive?.[1])).toBeLessThanOrEqual(65_536);
    },
  },
];

describe('examples/ (the close-semantics lesson)', () => {
  const runs = new Map<string, Promise<Outcome>>();
  beforeAll(() => {
    // All at once: most of their time is spent waiting on stalled readers.
    for (const file of EXAMPLES) runs.set(file, runExample(file));
  });

  it('has the lesson examples, each linked from docs/close-semantics.md', () => {
    expect(EXAMPLES).toEqual(expect.arrayContaining(['quickstart.ts', ...Object.keys(FACTS)]));
    const doc = readFileSync(join(ROOT, 'docs', 'close-semantics.md'), 'utf8');
    for (const file of EXAMPLES.filter((f) => f !== 'quickstart.ts')) expect(doc, file).toContain(`npx tsx examples/${file}`);
  });

  it('docs/close-semantics.md quotes each checked figure verbatim', () => {
    // Line breaks in the doc are free: compare with whitespace collapsed.
    const flat = (t: string): string => t.replace(/\s+/g, ' ');
    const doc = flat(readFileSync(join(ROOT, 'docs', 'close-semantics.md'), 'utf8'));
    for (const q of QUOTED) expect(doc, q.file).toContain(flat(q.doc));
  });

  it('every repository path the lesson and docs/ssh2-traps.md name exists', () => {
    for (const name of ['close-semantics.md', 'ssh2-traps.md']) {
      const doc = readFileSync(join(ROOT, 'docs', name), 'utf8');
      const paths = new Set([...doc.matchAll(/\b((?:src|test|examples|bench)\/[\w./-]+\.(?:ts|cjs|mjs|py))\b/g)].map((m) => m[1] as string));
      expect(paths.size, name).toBeGreaterThan(5);
      for (const path of paths) expect(existsSync(join(ROOT, path)), `${name} names ${path}`).toBe(true);
    }
  });

  it('quickstart.ts runs the README example', async () => {
    const r = await runs.get('quickstart.ts');
    expect(r?.code, r?.stderr).toBe(0);
    expect(r?.stdout).toMatch(/^payload: exit 0, 67108864 bytes, sha256 [0-9a-f]{64}$/m);
    expect(r?.stdout).toMatch(/^hello: hello world$/m);
  });

  for (const file of EXAMPLES.filter((f) => f !== 'quickstart.ts')) {
    it(`${file}: the fix delivers every byte, the naive variant loses some`, async () => {
      const r = await runs.get(file);
      if (!r) throw new Error(`${file} did not run`);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      const lines = outcomeLines(r.stdout);
      const fixed = lines.filter((l) => l.kind === 'fixed');
      const naive = lines.filter((l) => l.kind === 'naive');
      expect(fixed.length, r.stdout).toBeGreaterThan(0);
      expect(naive.length, r.stdout).toBeGreaterThan(0);
      for (const l of fixed) {
        expect(l.delivered, l.line).toBe(l.expected);
        expect(l.line).toMatch(/SHA-256 ok$/);
      }
      // The losses are staged (stalled readers, slow sinks), not left to luck.
      for (const l of naive) expect(l.delivered, l.line).toBeLessThan(l.expected);
      expect(r.stdout).toMatch(new RegExp(`^result: fixed byte-exact \\(${fixed.length} of ${fixed.length}\\); naive lost bytes in ${naive.length} of ${naive.length}$`, 'm'));
      FACTS[file]?.(r.stdout);
      for (const q of QUOTED.filter((x) => x.file === file)) q.check(r.stdout);
    });
  }
});
