/**
 * Dropbear's `dbclient` → loopssh server, across key re-exchanges with
 * compression on. dbclient sends a guessed key-exchange packet after its
 * KEXINIT (first_kex_packet_follows), at the first handshake and at every
 * rekey — also when the server starts the rekey, which is how these tests
 * get many rekeys without a 1 GB transfer (dbclient's own limit).
 *
 * Regression: loopssh issue 10 point 1 (dbclient 1 GiB silently truncated:
 * ssh2 1.17 judged every guess wrong, dropped the wrong guess without
 * inflating it, and dropped right guesses).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import type { CompressionAlgorithm, KexAlgorithm } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { toolsCommand } from '../helpers/oracle.ts';
import { pipelineDigest, runProcess } from '../helpers/run-process.ts';
import { serverPerTest } from '../helpers/per-test.ts';

const DBCLIENT = peer('dbclient');
const OPENSSL = peer('openssl');
const MiB = 1024 * 1024;
/** dbclient reads dropbear-format keys; dropbearconvert ships beside it (dropbear-bin). */
const DROPBEARCONVERT = DBCLIENT ? join(dirname(DBCLIENT), 'dropbearconvert') : undefined;
/** dbclient's first kex and host-key algorithms (2022.83): a server listing these first makes its guess right. */
const DBCLIENT_FIRST_KEX: KexAlgorithm = 'curve25519-sha256';

describe.skipIf(!DBCLIENT || !OPENSSL)(`${peerVersion('dbclient')} → loopssh server, guessed kex packets`, () => {
  const owned = serverPerTest();

  /** Starts a server, writes dbclient's key, runs `payload` and returns the result and the server's rekey count. */
  async function fetchPayload(size: number, algorithms: { compress: CompressionAlgorithm[]; kex?: KexAlgorithm[] }): Promise<{ code: number | null; bytes: number; sha256: string; rekeys: number; stderr: string }> {
    expect(existsSync(DROPBEARCONVERT as string)).toBe(true);
    const folder = owned.tempDir('loopssh-dropbear-');
    const client = generateKeyPair('dbclient');
    const logs: string[] = [];
    const server = await owned.start({
      port: 0,
      authorizedKeys: client.publicKey,
      algorithms,
      // Many server-started rekeys while the payload flows; each one makes dbclient guess.
      limits: { rekeyIntervalMs: 150, loginGraceMs: 10_000 },
      logger: pino({ level: 'debug' }, { write: (line: string) => logs.push(line) }),
    });
    const openssh = join(folder.dir, 'id_openssh');
    const key = join(folder.dir, 'id_dropbear');
    writeFileSync(openssh, client.privateKey, { mode: 0o600 });
    expect(spawnSync(DROPBEARCONVERT as string, ['openssh', 'dropbear', openssh, key]).status).toBe(0);
    const r = await runProcess(DBCLIENT as string, ['-y', '-y', '-i', key, '-p', String(server.port), 'loopssh@127.0.0.1', `payload ${size} --pattern random`], { timeoutMs: 50_000 });
    const rekeys = logs.filter((l) => l.includes('keys re-exchanged')).length;
    return { code: r.code, bytes: r.stdoutBytes, sha256: r.stdoutSha256, rekeys, stderr: r.stderr };
  }

  const size = 48 * MiB;
  const witness = (): Promise<{ bytes: number; sha256: string }> => pipelineDigest(toolsCommand({ size, pattern: 'random', seed: '0', stream: 'stdout' }));

  it('wrong guesses (server prefers another kex) with zlib@openssh.com: every byte across the rekeys', async () => {
    const [r, expected] = await Promise.all([fetchPayload(size, { compress: ['zlib@openssh.com', 'none'] }), witness()]);
    expect({ code: r.code, bytes: r.bytes, sha256: r.sha256 }).toEqual({ code: 0, ...expected });
    expect(r.rekeys).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('right guesses (server lists dbclient\'s first kex first) with zlib@openssh.com: handshake and rekeys complete', async () => {
    const [r, expected] = await Promise.all([fetchPayload(size, { compress: ['zlib@openssh.com', 'none'], kex: [DBCLIENT_FIRST_KEX, 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256'] }), witness()]);
    expect({ code: r.code, bytes: r.bytes, sha256: r.sha256 }).toEqual({ code: 0, ...expected });
    expect(r.rekeys).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('without compression (the default), wrong guesses at rekey: every byte', async () => {
    const [r, expected] = await Promise.all([fetchPayload(size, { compress: ['none'] }), witness()]);
    expect({ code: r.code, bytes: r.bytes, sha256: r.sha256 }).toEqual({ code: 0, ...expected });
    expect(r.rekeys).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
