/**
 * process.exit() vs process.exitCode, when stdout is a pipe.
 *
 * On POSIX, process.stdout on a pipe is asynchronous: write() hands libuv
 * what the pipe takes at once (16 pages: 64 KiB with 4 KiB pages) and queues the rest.
 * `process.exit()` ends the process there and the queue is gone;
 * `process.exitCode = 0` lets the event loop drain it first; a final
 * `process.stdout.write('', cb)` calls back once everything before it was
 * handed to the OS, so exiting from that callback is safe too.
 *
 * A child writes 1 MiB to its stdout in one write() and ends in one of three
 * ways; the pipe's reader takes 1 byte and then sleeps 1.5 s (a stalled
 * consumer, like `| (sleep 2; wc -c)` or a pager), so the queue is certainly
 * still there. A terminal would not lose anything: on POSIX, writes to a TTY
 * are synchronous.
 *
 * Run: npx tsx examples/process-exit.ts
 */
import { conclude, intoStalledPipe, linesPayload, nodeEval, report } from './lib/lesson.ts';

const SIZE = 1024 * 1024;
const STALL_MS = 1500;

/** The child, as plain JavaScript for `node -e`: write, report, end as told. */
const CHILD = `
const n = Number(process.env.SIZE);
const buf = Buffer.alloc(n);
for (let off = 0; off < n; off += 16) buf.write(String(off).padStart(15, '0') + '\\n', off, Math.min(16, n - off), 'latin1');
process.stdout.write(buf);
process.stderr.write(JSON.stringify({ type: process.stdout._type, queued: process.stdout.writableLength }) + '\\n');
switch (process.env.END) {
  case 'exit': process.exit(0);                                        // the loss
  case 'exitCode': process.exitCode = 0; break;                        // the fix
  case 'flush': process.stdout.write('', () => process.exit(0)); break; // also a fix
}
`;

const variants = [
  { kind: 'naive', end: 'exit', label: 'write(); process.exit(0)' },
  { kind: 'fixed', end: 'exitCode', label: 'write(); process.exitCode = 0' },
  { kind: 'fixed', end: 'flush', label: "write(); write('', () => process.exit(0))" },
] as const;

console.log(`a child writes ${SIZE} bytes to a stdout pipe; the reader takes 1 byte, then sleeps ${STALL_MS} ms`);
const expected = linesPayload(SIZE);
const results = await Promise.all(variants.map((v) => intoStalledPipe(nodeEval(CHILD), 1, STALL_MS, { SIZE: String(SIZE), END: v.end })));
for (const [i, v] of variants.entries()) {
  const r = results[i]!;
  const facts = JSON.parse(r.stderr.trim().split('\n')[0] ?? '{}') as { type?: string; queued?: number };
  console.log(`  ${v.label}: stdout is a ${facts.type}, writableLength ${facts.queued} right after write(); exit status ${r.code}`);
}
for (const [i, v] of variants.entries()) report(v.kind, v.label, results[i]!.data, expected);
conclude('the pipe took the whole write at once');
