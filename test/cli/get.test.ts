/**
 * `loopssh get`: fetch a payload and verify it byte for byte.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { referenceDigest } from '../helpers/oracle.ts';
import { type CliFixture, removeTempDirs, startCliFixture, tempDir } from '../helpers/fixture.ts';
import { sha256 } from '../helpers/oracle.ts';
import { isOneLine, payloadBytes, runCli } from './helpers.ts';

const MiB = 1024 * 1024;

let fx: CliFixture;
/** A server whose `payload` lies: 100 zero bytes, whatever was asked. */
let liar: CliFixture;
beforeAll(async () => {
  [fx, liar] = await Promise.all([
    startCliFixture(),
    startCliFixture({ commands: { payload: async (ctx) => void (await ctx.output.write('stdout', Buffer.alloc(100))) } }),
  ]);
});
afterAll(async () => {
  await Promise.all([fx?.stop(), liar?.stop()]);
  removeTempDirs();
});

describe.concurrent('loopssh get', () => {
  it('get 2MiB --pattern random --seed 7: stdout is the payload, stderr says verified', async ({ expect }) => {
    const r = await runCli(['get', '2MiB', '--pattern', 'random', '--seed', '7', ...fx.conn]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(2 * MiB);
    expect(sha256(r.stdout)).toBe(referenceDigest({ size: 2 * MiB, pattern: 'random', seed: '7', stream: 'stdout' }));
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: verified 2 MiB \(2097152 bytes/);
  });

  it('get -o FILE writes the payload to the file, nothing to stdout', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'payload.bin');
    const size = 5 * MiB + 3;
    const r = await runCli(['get', String(size), '-o', file, ...fx.conn]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/^loopssh: verified /);
    const data = readFileSync(file);
    expect(data.length).toBe(size);
    expect(sha256(data)).toBe(referenceDigest({ size, pattern: 'lines', seed: '0', stream: 'stdout' }));
    expect(readdirSync(dir)).toEqual(['payload.bin']);
  });

  it('get --stderr 1MiB verifies both streams (stderr inherited)', async ({ expect }) => {
    const r = await runCli(['get', '2MiB', '--stderr', '1MiB', ...fx.conn]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(2 * MiB);
    expect(sha256(r.stdout)).toBe(referenceDigest({ size: 2 * MiB, pattern: 'lines', seed: '0', stream: 'stdout' }));
    // Our stderr: the remote's 1 MiB, then the verdict line.
    const remote = r.stderrBytes.subarray(0, MiB);
    expect(sha256(remote)).toBe(referenceDigest({ size: MiB, pattern: 'lines', seed: '0', stream: 'stderr' }));
    const verdict = r.stderrBytes.subarray(MiB).toString();
    expect(isOneLine(verdict)).toBe(true);
    expect(verdict).toMatch(/^loopssh: verified 2 MiB/);
  });

  it('get --stderr 1MiB --pattern random with -o and --stderr-to files verifies both', async ({ expect }) => {
    const dir = tempDir().dir;
    const out = join(dir, 'out.bin');
    const err = join(dir, 'err.bin');
    const r = await runCli(['get', '1MiB', '--stderr', '1MiB', '--pattern', 'random', '--seed', '5', '-o', out, '--stderr-to', err, ...fx.conn]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: verified 1 MiB/);
    expect(sha256(readFileSync(out))).toBe(referenceDigest({ size: MiB, pattern: 'random', seed: '5', stream: 'stdout' }));
    expect(sha256(readFileSync(err))).toBe(referenceDigest({ size: MiB, pattern: 'random', seed: '5', stream: 'stderr' }));
    expect(readdirSync(dir).sort()).toEqual(['err.bin', 'out.bin']);
  });

  it('get -q prints nothing on success', async ({ expect }) => {
    const r = await runCli(['get', '100KiB', '-q', ...fx.conn]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(100 * 1024);
    expect(r.stderr).toBe('');
  });

  it('get --naive still exits 0 when nothing is stalled; the client received everything', async ({ expect }) => {
    const size = MiB;
    const r = await runCli(['get', '1MiB', '--naive', ...fx.conn]);
    expect(r.code).toBe(0);
    // The verdict hashes what came over the channel: the client got all of it.
    expect(r.stderr).toMatch(/^loopssh: verified 1 MiB \(1048576 bytes, SHA-256 /);
    // Naive mode may lose a tail, never corrupt: what arrived is a prefix,
    // and something did arrive (this pipe is read as fast as it fills).
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.stdout.length).toBeLessThanOrEqual(size);
    expect(r.stdout.equals(payloadBytes(size).subarray(0, r.stdout.length))).toBe(true);
  });

  it('get exits 1 with one MISMATCH line when the bytes are wrong or short', async ({ expect }) => {
    const [wrong, short] = await Promise.all([runCli(['get', '100', ...liar.conn]), runCli(['get', '200', ...liar.conn])]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout.equals(Buffer.alloc(100))).toBe(true);
    expect(isOneLine(wrong.stderr)).toBe(true);
    expect(wrong.stderr).toMatch(/^loopssh: get 100: MISMATCH: stdout SHA-256 mismatch/);
    expect(short.code).toBe(1);
    expect(isOneLine(short.stderr)).toBe(true);
    expect(short.stderr).toMatch(/^loopssh: get 200: MISMATCH: stdout 100 of 200 bytes/);
  });
});
