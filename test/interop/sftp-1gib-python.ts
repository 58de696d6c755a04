/**
 * The 1 GiB SFTP proof for one Python client (loopssh issue 11): AsyncSSH's
 * or paramiko's SFTP client (test/server/sftp_client.py) against the loopssh
 * server. get: the local file's length and SHA-256 against the openssl
 * reference; put: the reference file uploaded to /sink, checked through
 * server.seen. Each Python client has its own test file calling this, so
 * vitest runs them beside the other 1 GiB tests.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFixture, tempDir, type Fixture } from '../helpers/fixture.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';
import { GiB, HANG_MS, REMOTE_1GIB, streamDigest, writeReference } from './sftp-1gib-helpers.ts';

const SCRIPT = join(import.meta.dirname, '..', 'server', 'sftp_client.py');

/** One op's result line from sftp_client.py. */
interface OpResult {
  op: string;
  ok: boolean;
  error?: string;
  ms?: number;
}

/** Defines the get and put tests of `lib` at 1 GiB; skipped (or failing under CI=true) without the peer. */
export function pythonClientAt1GiB(lib: 'asyncssh' | 'paramiko'): void {
  const python = peer(lib);
  describe.skipIf(!python)(`${peerVersion(lib)} SFTP client → loopssh at 1 GiB`, () => {
    /** The reference, made once per file by openssl: the oracle and the upload's source. */
    let refDir: string;
    let reference: string;
    let want: [number, string];
    beforeAll(async () => {
      refDir = mkdtempSync(join(tmpdir(), `loopssh-1gib-${lib}-ref-`));
      reference = join(refDir, 'reference');
      await writeReference(reference);
      want = await streamDigest(reference);
      expect(want[0]).toBe(GiB);
    }, HANG_MS);
    afterAll(() => {
      if (refDir) rmSync(refDir, { recursive: true, force: true });
    });

    let f: Fixture;
    let tmp: { dir: string; remove: () => void };
    beforeEach(async () => {
      f = await startFixture();
      tmp = tempDir(`loopssh-1gib-${lib}-`);
    });
    afterEach(async () => {
      await f.stop();
      tmp.remove();
    });

    /** Runs sftp_client.py with one op; its result line (with the op's wall time in ms). */
    async function runOp(op: string): Promise<OpResult> {
      const key = join(tmp.dir, 'id');
      writeFileSync(key, f.server.clientOptions().privateKey, { mode: 0o600 });
      const r = await runProcess(python as string, ['-W', 'ignore', SCRIPT, lib, String(f.server.port), key, op], { timeoutMs: HANG_MS });
      if (r.code !== 0) throw new Error(`${lib} client failed (${r.code}): ${r.stderr.slice(-2000)}`);
      return JSON.parse(r.stdoutHead.trim()) as OpResult;
    }

    it('get 1 GiB byte-exact (length and SHA-256 against openssl)', async ({ annotate }) => {
      const local = join(tmp.dir, 'got');
      const op = `get:${REMOTE_1GIB}:${local}`;
      const r = await runOp(op);
      expect([r.op, r.ok, r.error]).toEqual([op, true, undefined]);
      await annotate(`${lib} get 1 GiB: ${((r.ms ?? 0) / 1000).toFixed(1)} s`);
      expect(await streamDigest(local)).toEqual(want);
      const t = f.server.seen.transfers.find((x) => x.direction === 'download');
      expect([t?.path, t?.outcome]).toEqual([REMOTE_1GIB, 'complete']);
      if (lib === 'paramiko') {
        // paramiko's get() prefetches the whole file (all of it in memory:
        // 1.09 GB RSS measured here) and, at its first miss, drops the
        // prefetch and re-reads the rest one request at a time while the
        // prefetched replies keep coming
        // (https://github.com/paramiko/paramiko/issues/2418): measured
        // 2026-12-03 on a quiet machine, 2,147,450,880 bytes served for this
        // 1 GiB file in 217.8 s (under load, less prefetched and 35 s). The
        // file is still exact (above); the server served every byte at least
        // once and none more than twice. prefetch=False is no faster here:
        // 212.1 s, one 32 KiB READ per round trip.
        await annotate(`paramiko get 1 GiB: the server served ${t?.bytes} bytes`);
        expect(t?.bytes).toBeGreaterThanOrEqual(GiB);
        expect(t?.bytes).toBeLessThanOrEqual(2 * GiB);
      } else {
        expect(t?.bytes).toBe(GiB);
      }
    }, HANG_MS);

    it('put 1 GiB: server.seen has its length and SHA-256', async ({ annotate }) => {
      const op = `put:${reference}:/sink/${lib}-1GiB`;
      const r = await runOp(op);
      expect([r.op, r.ok, r.error]).toEqual([op, true, undefined]);
      await annotate(`${lib} put 1 GiB: ${((r.ms ?? 0) / 1000).toFixed(1)} s`);
      const t = f.server.seen.transfers.find((x) => x.direction === 'upload');
      expect([t?.path, t?.bytes, t?.sha256, t?.outcome]).toEqual([`/sink/${lib}-1GiB`, ...want, 'complete']);
    }, HANG_MS);
  });
}
