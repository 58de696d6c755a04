/**
 * Judging what a client delivered: bytes compared as they stream in against
 * the payload generator (length, SHA-256, the first offset that differs),
 * and the exit status against what the server sent.
 */
import { createHash, type Hash } from 'node:crypto';
import { createPayloadReader, payloadDigest, type PayloadReader, type PayloadSpec } from '../payload/patterns.js';
import type { ExpectedExit } from './scenarios.js';

/** Verdicts, worst first. */
export const VERDICTS = ['hung', 'corrupted', 'duplicated', 'truncated', 'wrong exit status', 'exact'] as const;
/** One of {@link VERDICTS}. */
export type Verdict = (typeof VERDICTS)[number];

/** What arrived on one stream, measured against what was sent. */
export interface StreamFacts {
  expectedBytes: number;
  expectedSha256: string;
  receivedBytes: number;
  receivedSha256: string;
  /** Offset of the first byte that differs from what was sent (a byte past the end counts), or undefined. */
  firstDifference?: number;
}

/** Compares a byte stream with a payload spec as it arrives; no copy of the stream is kept. */
export class StreamJudge {
  readonly #expected: PayloadReader;
  readonly #spec: PayloadSpec;
  readonly #hash: Hash = createHash('sha256');
  #scratch = Buffer.alloc(0);
  #received = 0;
  #firstDifference: number | undefined;

  constructor(spec: PayloadSpec) {
    this.#spec = spec;
    this.#expected = createPayloadReader(spec);
  }

  /** Feeds the next piece of what the client delivered. */
  update(chunk: Buffer): void {
    this.#hash.update(chunk);
    if (this.#firstDifference === undefined) {
      if (this.#scratch.length < chunk.length) this.#scratch = Buffer.allocUnsafe(Math.max(chunk.length, 64 * 1024));
      const n = this.#expected.read(this.#scratch.subarray(0, chunk.length));
      const same = chunk.subarray(0, n).equals(this.#scratch.subarray(0, n));
      if (!same || n < chunk.length) {
        let i = 0;
        while (i < n && chunk[i] === this.#scratch[i]) i++;
        this.#firstDifference = this.#received + i;
      }
    }
    this.#received += chunk.length;
  }

  /** The facts so far. */
  facts(): StreamFacts {
    return {
      expectedBytes: this.#spec.size,
      expectedSha256: payloadDigest(this.#spec),
      receivedBytes: this.#received,
      receivedSha256: this.#hash.copy().digest('hex'),
      firstDifference: this.#firstDifference,
    };
  }
}

/** How the client process ended. */
export interface ClientEnd {
  /** Exit code, or undefined when it was killed by a signal. */
  code?: number;
  signal?: string;
  /** It did not finish within the scenario's time limit and was killed. */
  timedOut: boolean;
}

/** True when `end` is the exit status a correct client reports for `expected`. */
export function exitMatches(expected: ExpectedExit, end: ClientEnd): boolean {
  if (end.timedOut) return false;
  if (expected === 'nonzero') return end.code !== 0;
  return end.code === expected.code;
}

/** The byte verdict of one stream: exact, truncated, duplicated or corrupted. */
export function byteVerdict(f: StreamFacts): Extract<Verdict, 'exact' | 'truncated' | 'duplicated' | 'corrupted'> {
  // More bytes than were sent can only be bytes delivered twice.
  if (f.receivedBytes > f.expectedBytes) return 'duplicated';
  if (f.firstDifference !== undefined && f.firstDifference < f.receivedBytes) return 'corrupted';
  if (f.receivedBytes < f.expectedBytes) return 'truncated';
  return 'exact';
}

/** The worse of two verdicts. */
export function worse(a: Verdict, b: Verdict): Verdict {
  return VERDICTS.indexOf(a) <= VERDICTS.indexOf(b) ? a : b;
}

/**
 * The verdict of one run: hung, then the worst stream, then the exit status.
 * `stdin`: what the server received of the client's stdin, when the scenario sends one.
 */
export function runVerdict(stdout: StreamFacts, stderr: StreamFacts | undefined, expected: ExpectedExit, end: ClientEnd, failureOk = false, stdin?: StreamFacts): Verdict {
  if (end.timedOut) return 'hung';
  // A reported failure (non-zero exit) that left no file or an exact prefix
  // of it: the client refused a file it could not get right — correct.
  if (failureOk && end.code !== 0 && byteVerdict(stdout) !== 'corrupted' && byteVerdict(stdout) !== 'duplicated') return 'exact';
  let v: Verdict = byteVerdict(stdout);
  if (stderr) v = worse(v, byteVerdict(stderr));
  if (stdin) v = worse(v, byteVerdict(stdin));
  if (v === 'exact' && !exitMatches(expected, end)) v = 'wrong exit status';
  return v;
}
