/**
 * `pipeline(src, process.stdout, { end: false })` resolves when `src` has
 * ended, not when process.stdout has passed the bytes on.
 *
 * process.stdout is never ended (it must stay open), so pipeline() has no
 * 'finish' or 'close' of it to wait for: it resolves as soon as the source
 * has handed its last chunk to write(). On a pipe that chunk may still be
 * queued. Exiting then loses it; awaiting a final
 * `process.stdout.write('', cb)` waits it out (loopssh's "borrowed" target).
 *
 * A child pipes 10 MiB into its stdout; the reader takes all but the last
 * 128 KiB quickly and then sleeps 1.5 s, so the end of the pipeline meets a
 * full pipe.
 *
 * Run: npx tsx examples/pipeline-end-false.ts
 */
import { conclude, intoStalledPipe, linesPayload, nodeEval, report } from './lib/lesson.ts';

const SIZE = 10 * 1024 * 1024;
const CHUNK = 64 * 1024;
const STALL_MS = 1500;

/** The child, as plain JavaScript for `node -e`. */
const CHILD = `
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');
(async () => {
  const n = Number(process.env.SIZE), chunk = Number(process.env.CHUNK);
  const buf = Buffer.alloc(n);
  for (let off = 0; off < n; off += 16) buf.write(String(off).padStart(15, '0') + '\\n', off, Math.min(16, n - off), 'latin1');
  const chunks = [];
  for (let off = 0; off < n; off += chunk) chunks.push(buf.subarray(off, off + chunk));
  await pipeline(Readable.from(chunks, { objectMode: false }), process.stdout, { end: false });
  const queued = process.stdout.writableLength;
  if (process.env.END === 'flush') await new Promise((resolve) => process.stdout.write('', resolve)); // the fix
  process.stderr.write(JSON.stringify({ queued, queuedAtExit: process.stdout.writableLength }) + '\\n');
  process.exit(0);
})();
`;

const variants = [
  { kind: 'naive', end: 'exit', label: 'await pipeline(); process.exit(0)' },
  { kind: 'fixed', end: 'flush', label: "await pipeline(); await write(''); exit(0)" },
] as const;

console.log(
  `a child pipes ${SIZE} bytes into its stdout with pipeline(..., { end: false }), then exits;\n` +
    `the reader takes ${SIZE - 2 * CHUNK} bytes, then sleeps ${STALL_MS} ms`,
);
const expected = linesPayload(SIZE);
const env = { SIZE: String(SIZE), CHUNK: String(CHUNK) };
const results = await Promise.all(variants.map((v) => intoStalledPipe(nodeEval(CHILD), SIZE - 2 * CHUNK, STALL_MS, { ...env, END: v.end })));
for (const [i, v] of variants.entries()) {
  const facts = JSON.parse(results[i]!.stderr.trim().split('\n')[0] ?? '{}') as { queued?: number; queuedAtExit?: number };
  console.log(`  ${v.label}: pipeline resolved with ${facts.queued} bytes still queued in process.stdout; ${facts.queuedAtExit} at exit`);
}
for (const [i, v] of variants.entries()) report(v.kind, v.label, results[i]!.data, expected);
conclude('the reader had drained the pipe before the last write');
