/**
 * Independent oracles for payload bytes: what the README tells a user the
 * patterns are, written again here without importing src/payload. A test that
 * compares a transfer against these catches a generator bug that src's own
 * `payloadDigest` would repeat (loopssh issue 17, point 4).
 *
 * - {@link referenceBytes}/{@link referenceDigest}: a small, slow, obvious
 *   generator (records built one by one, node:crypto's AES-128-CTR).
 * - {@link toolsCommand}: the shell pipeline from the README, exactly as a
 *   user would type it (`head`, `seq`, `openssl dgst`/`openssl enc`), for
 *   interop tests that want the standard tools themselves as the witness.
 */
import { createCipheriv, createHash } from 'node:crypto';

/** The README's pattern names. */
export type ReferencePattern = 'zero' | 'lines' | 'random';

/** One payload stream as the README describes it. */
export interface ReferenceSpec {
  size: number;
  pattern?: ReferencePattern;
  seed?: string;
  stream?: 'stdout' | 'stderr';
}

/** Lowercase hex SHA-256. The one sha256 helper of the test suite. */
export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `lines`: record k is its offset 16·k in 15 zero-padded digits, then `\n`. */
function linesChunk(from: number, to: number): Buffer {
  const first = Math.floor(from / 16);
  const last = Math.ceil(to / 16);
  const parts: string[] = [];
  for (let k = first; k < last; k++) parts.push(`${String(16 * k).padStart(15, '0')}\n`);
  return Buffer.from(parts.join(''), 'latin1').subarray(from - 16 * first, to - 16 * first);
}

/** `random`: key = first 16 bytes of SHA-256('loopssh-seed:<seed>' [+ ':stderr']), zero IV, AES-128-CTR over zeros. */
function randomKey(seed: string, stream: 'stdout' | 'stderr'): Buffer {
  return createHash('sha256')
    .update(stream === 'stderr' ? `loopssh-seed:${seed}:stderr` : `loopssh-seed:${seed}`)
    .digest()
    .subarray(0, 16);
}

/** Calls `each` with the payload in pieces of at most 1 MiB, in order. */
function generate(spec: ReferenceSpec, each: (piece: Buffer) => void): void {
  const { size, pattern = 'lines', seed = '0', stream = 'stdout' } = spec;
  const STEP = 1024 * 1024;
  const cipher = pattern === 'random' ? createCipheriv('aes-128-ctr', randomKey(seed, stream), Buffer.alloc(16)) : undefined;
  for (let at = 0; at < size; at += STEP) {
    const n = Math.min(STEP, size - at);
    if (pattern === 'zero') each(Buffer.alloc(n));
    else if (pattern === 'lines') each(linesChunk(at, at + n));
    else each((cipher as ReturnType<typeof createCipheriv>).update(Buffer.alloc(n)));
  }
}

/** The exact bytes of a payload stream (keep it small: it is held in memory). */
export function referenceBytes(spec: ReferenceSpec): Buffer {
  const pieces: Buffer[] = [];
  generate(spec, (p) => pieces.push(p));
  return Buffer.concat(pieces, spec.size);
}

const digests = new Map<string, string>();

/** SHA-256 of a payload stream (memoised: many tests ask for the same few). */
export function referenceDigest(spec: ReferenceSpec): string {
  const key = JSON.stringify([spec.size, spec.pattern ?? 'lines', spec.seed ?? '0', spec.stream ?? 'stdout']);
  let digest = digests.get(key);
  if (digest === undefined) {
    const hash = createHash('sha256');
    generate(spec, (p) => hash.update(p));
    digest = hash.digest('hex');
    digests.set(key, digest);
  }
  return digest;
}

/**
 * The README's shell pipeline for a payload stream ("Payload patterns,
 * checkable with standard tools"): the key is derived by `openssl dgst` in the
 * shell, not here.
 */
export function toolsCommand(spec: ReferenceSpec): string {
  const { size, pattern = 'lines', seed = '0', stream = 'stdout' } = spec;
  if (!/^\d+$/.test(seed)) throw new Error(`toolsCommand: a seed of digits only, not '${seed}'`);
  switch (pattern) {
    case 'zero':
      return `head -c ${size} /dev/zero`;
    case 'lines':
      return `seq -f '%015.0f' 0 16 ${16 * Math.ceil(size / 16) - 16} | head -c ${size}`;
    case 'random': {
      const label = stream === 'stderr' ? `loopssh-seed:${seed}:stderr` : `loopssh-seed:${seed}`;
      return (
        `key=$(printf '${label}' | openssl dgst -sha256 -binary | head -c 16 | xxd -p) && ` +
        `head -c ${size} /dev/zero | openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000`
      );
    }
  }
}
