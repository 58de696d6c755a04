/**
 * Payload generation throughput: `npx tsx bench/payload.ts [SIZE]` (default 2GiB).
 *
 * Reads SIZE bytes of every pattern into one reused 256 KiB buffer, as the
 * transfer code does, and reports decimal MB/s against the 1 GB/s target.
 */
import { createPayloadReader, PATTERNS } from '../src/payload/patterns.ts';
import { formatSize, parseSize } from '../src/util/size.ts';

const TARGET_MB_S = 1000;
const size = parseSize(process.argv[2] ?? '2GiB');
const buffer = Buffer.alloc(256 * 1024);

console.log(`payload bench: ${formatSize(size)} (${size} bytes) per pattern, 256 KiB reads`);
let allOk = true;
for (const pattern of PATTERNS) {
  const reader = createPayloadReader({ size, pattern, seed: 'bench', stream: 'stdout' });
  const started = process.hrtime.bigint();
  let total = 0;
  for (let n = reader.read(buffer); n > 0; n = reader.read(buffer)) total += n;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (total !== size) throw new Error(`${pattern}: read ${total} of ${size} bytes`);
  const mbPerS = size / 1e6 / seconds;
  const ok = mbPerS >= TARGET_MB_S;
  allOk &&= ok;
  console.log(`${pattern.padEnd(7)} ${mbPerS.toFixed(0).padStart(7)} MB/s  ${ok ? 'ok' : 'BELOW'} (target ${TARGET_MB_S} MB/s)`);
}
console.log(allOk ? 'all patterns meet 1 GB/s' : 'some patterns are below 1 GB/s');
process.exitCode = allOk ? 0 : 1;
