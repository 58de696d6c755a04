/**
 * Shared parts of the 1 GiB SFTP proofs (loopssh issue 11): the reference
 * payload, written and hashed by the README's openssl pipeline
 * (test/helpers/oracle.ts toolsCommand), and streamed file digests, so no
 * side of a 1 GiB transfer is ever held in memory.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { toolsCommand } from '../helpers/oracle.ts';
import { runProcess } from '../helpers/run-process.ts';

export const GiB = 1024 ** 3;
/** The payload every 1 GiB test moves: `/payload/random/7/1GiB`. */
export const SPEC = { size: GiB, pattern: 'random', seed: '7' } as const;
/** The tree path serving {@link SPEC}. */
export const REMOTE_1GIB = '/payload/random/7/1GiB';
/** Hang detection only: a healthy run takes a fraction of this. */
export const HANG_MS = 600_000;

/** Length and SHA-256 of a file, streamed. */
export async function streamDigest(path: string): Promise<[number, string]> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(piece as Buffer);
  return [statSync(path).size, hash.digest('hex')];
}

/** Writes the reference 1 GiB to `path` with the README's pipeline. */
export async function writeReference(path: string): Promise<void> {
  const r = await runProcess('sh', ['-c', `(${toolsCommand(SPEC)}) > '${path}'`], { timeoutMs: HANG_MS });
  if (r.code !== 0) throw new Error(`writing the reference failed: ${r.stderr}`);
}
