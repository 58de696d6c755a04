/**
 * AsyncSSH (Debian's python3-asyncssh 2.10.1, the version whose own client
 * still truncates redirects into pipes: ronf/asyncssh#629) → loopssh server.
 * Files are a target it gets right, so every byte must arrive.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectedDigest, sha256, startFixture, type Fixture } from '../helpers/fixture.ts';
import { keyFolder, peer, peerVersion, type KeyFolder } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';

const PYTHON = peer('asyncssh');
const SCRIPT = fileURLToPath(new URL('./asyncssh_client.py', import.meta.url));
const STDOUT_SCRIPT = fileURLToPath(new URL('./asyncssh_stdout.py', import.meta.url));
const MiB = 1024 * 1024;

describe.skipIf(!PYTHON)(`${peerVersion('asyncssh')} client → loopssh server`, () => {
  let fx: Fixture;
  let keys: KeyFolder;
  beforeEach(async () => {
    keys = keyFolder();
    fx = await startFixture({ authorizedKeys: keys.client.publicKey });
  });
  afterEach(async () => {
    await fx.stop();
    keys.remove();
  });

  it('payload 160 KiB and 64 MiB into files, sink with an upload, exit status', async () => {
    const knownHosts = join(keys.dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${fx.server.port} ${fx.server.hostPublicKey}\n`);
    const upload = join(keys.dir, 'upload.bin');
    const data = Buffer.alloc(8 * MiB + 5, 'asyncssh');
    writeFileSync(upload, data);
    const r = await runProcess(PYTHON as string, ['-W', 'ignore', SCRIPT, String(fx.server.port), keys.clientKeyPath, knownHosts, keys.dir, upload], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdoutHead) as Record<string, { exit_status: number; exit_signal?: unknown; stdout?: string }>;
    expect(out.small).toEqual({ exit_status: 0, exit_signal: null });
    expect(out.large).toEqual({ exit_status: 0, exit_signal: null });
    const small = readFileSync(join(keys.dir, 'small.bin'));
    expect([small.length, sha256(small)]).toEqual([160 * 1024, expectedDigest(160 * 1024)]);
    const large = readFileSync(join(keys.dir, 'large.bin'));
    expect([large.length, sha256(large)]).toEqual([64 * MiB, expectedDigest(64 * MiB, 'random', 'stdout', '4')]);
    expect(out.sink).toEqual({ exit_status: 0, stdout: `${data.length} ${sha256(data)}\n` });
    expect(out.exit3).toEqual({ exit_status: 3, stdout: '0000000000' });
    expect(fx.server.seen.commands.map((c) => c.exit)).toEqual([{ code: 0 }, { code: 0 }, { code: 0 }, { code: 3 }]);
  }, 120_000);

  // https://github.com/ronf/asyncssh/issues/629 — the bug itself, in the
  // AsyncSSH that has it: docs/close-semantics.md quotes this figure.
  it('#629 with AsyncSSH 2.10.1 itself: run(stdout=sys.stdout, check=True) into a stalled pipe delivers at most 65,536 of 163,840 bytes and exits 0', async () => {
    const knownHosts = join(keys.dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${fx.server.port} ${fx.server.hostPublicKey}\n`);
    const client = `${PYTHON} -W ignore ${STDOUT_SCRIPT} ${fx.server.port} ${keys.clientKeyPath} ${knownHosts} 'payload 163840'`;
    // The reader takes one byte, then stalls 1.5 s; `set -o pipefail` keeps the client's exit status.
    const script = `set -o pipefail; ${client} | { head -c 1 >/dev/null; sleep 1.5; cat | wc -c; }`;
    for (let run = 0; run < 3; run++) {
      const r = await runProcess('bash', ['-c', script], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.trim()).toBe('exit_status 0');
      const delivered = 1 + Number(r.stdoutHead.toString().trim());
      expect(delivered, `run ${run}`).toBeLessThan(163_840);
      expect(delivered, `run ${run}`).toBeLessThanOrEqual(65_536);
    }
  }, 120_000);
});
