/**
 * loopssh issue 11 (server): paramiko's and AsyncSSH's SFTP clients against
 * loopssh's sftp subsystem: get/put/listdir, byte-exact against the
 * independent oracle (test/helpers/oracle.ts) and, for uploads, server.seen.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peer, peerVersion } from '../helpers/peers.ts';
import { fixtureAndFolderPerTest, sha256, type Fixture } from '../helpers/fixture.ts';
import { referenceDigest } from '../helpers/oracle.ts';
import { runProcess } from '../helpers/run-process.ts';

const SCRIPT = join(import.meta.dirname, 'sftp_client.py');
const MiB = 1024 ** 2;
const GETS = [0, 1, 32767, 32768, 32769, 64 * MiB] as const;
const PUTS = [0, 1, 32769, 4 * MiB + 1] as const;

let f: Fixture;
let tmp: { dir: string; remove: () => void };
fixtureAndFolderPerTest('loopssh-sftp-py-', (fixture, folder) => {
  f = fixture;
  tmp = folder;
});

/** Runs the python client with `ops`; returns its JSON lines. */
async function client(python: string, lib: string, ops: string[]): Promise<{ op: string; ok: boolean; error?: string; names?: string[] }[]> {
  const key = join(tmp.dir, 'id');
  writeFileSync(key, f.server.clientOptions().privateKey, { mode: 0o600 });
  const r = await runProcess(python, ['-W', 'ignore', SCRIPT, lib, String(f.server.port), key, ...ops], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`${lib} client failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return r.stdoutHead.trim().split('\n').map((l) => JSON.parse(l));
}

for (const lib of ['paramiko', 'asyncssh'] as const) {
  const python = peer(lib);
  describe.skipIf(!python)(`${peerVersion(lib)} SFTP client → loopssh`, () => {
    it('get 0 B … 64 MiB byte-exact, put 0 B … 4 MiB + 1 recorded in seen, listdir', async () => {
      const puts: [string, number, string][] = [];
      for (const n of PUTS) {
        const data = randomBytes(n);
        writeFileSync(join(tmp.dir, `u${n}`), data);
        puts.push([`/sink/${lib}-${n}`, n, sha256(data)]);
      }
      const ops = [
        ...GETS.map((n) => `get:/payload/random/9/${n}:${join(tmp.dir, `g${n}`)}`),
        ...PUTS.map((n) => `put:${join(tmp.dir, `u${n}`)}:/sink/${lib}-${n}`),
        'ls:/payload/zero/0',
      ];
      const results = await client(python as string, lib, ops);
      expect(results.map((r) => [r.op, r.ok, r.error])).toEqual(ops.map((op) => [op, true, undefined]));
      for (const n of GETS) {
        const path = join(tmp.dir, `g${n}`);
        expect([statSync(path).size, sha256(readFileSync(path))]).toEqual([n, referenceDigest({ size: n, pattern: 'random', seed: '9' })]);
      }
      const uploads = f.server.seen.transfers.filter((t) => t.direction === 'upload');
      expect(uploads.map((t) => [t.path, t.bytes, t.sha256, t.outcome])).toEqual(puts.map((p) => [...p, 'complete']));
      expect(results.at(-1)?.names).toEqual(['0', '1', '1GiB', '1MiB', '32767', '32769', '32KiB', '64MiB']);
    });
  });
}

/**
 * What each Python client makes of the faults (observed, then pinned): a
 * client that "succeeds" with a short file is a silent truncation.
 */
for (const lib of ['paramiko', 'asyncssh'] as const) {
  const python = peer(lib);
  describe.skipIf(!python)(`${peerVersion(lib)} SFTP client and the faults`, () => {
    it('short reads: whole file; EOF before the stat size: paramiko keeps the short file and reports success, AsyncSSH errors but leaves it; drop: error', async () => {
      const ops = [
        `get:/payload/random/9/200000,short=1000:${join(tmp.dir, 'short')}`,
        `get:/payload/random/9/200000,eof=100000:${join(tmp.dir, 'eof')}`,
        `get:/payload/zero/0/1MiB,drop=100000:${join(tmp.dir, 'drop')}`,
      ];
      const [short, eof, drop] = await client(python as string, lib, ops);
      expect(short?.ok).toBe(true);
      expect(sha256(readFileSync(join(tmp.dir, 'short')))).toBe(referenceDigest({ size: 200_000, pattern: 'random', seed: '9' }));
      const eofSize = statSync(join(tmp.dir, 'eof'), { throwIfNoEntry: false })?.size;
      // paramiko 2.12 compares the local file with the bytes it read, not with the stat size: silent truncation.
      if (lib === 'paramiko') expect([eof?.ok, eofSize]).toEqual([true, 100_000]);
      else expect([eof?.ok, eof?.error, eofSize]).toEqual([false, 'SFTPFailure: Unexpected EOF during file copy', 100_000]);
      expect(drop?.ok).toBe(false);
      // paramiko reports the drop as whichever of its threads notices first.
      expect(drop?.error).toMatch(lib === 'paramiko' ? /^(SSHException: Server connection dropped|OSError: Socket is closed)/ : /SFTPConnectionLost: Connection closed/);
    });
  });
}

