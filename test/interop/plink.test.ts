/**
 * PuTTY's plink → loopssh server with rekeys every megabyte (a saved session
 * with RekeyBytes=1M): plink sends connection messages (its CHANNEL_CLOSE,
 * winadj@putty requests) while a key re-exchange is under way.
 *
 * Regression: loopssh issue 10 ("also seen"): ssh2 1.17 treated them as fatal
 * ("Received unexpected packet type 97"); the data and the exit status had
 * already arrived, but the connection died with a protocol error.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { serverPerTest } from '../helpers/per-test.ts';
import { toolsCommand } from '../helpers/oracle.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { pipelineDigest, runProcess } from '../helpers/run-process.ts';

const PLINK = peer('plink');
const OPENSSL = peer('openssl');
/** plink reads PuTTY's key format; puttygen (putty-tools, beside plink) converts. */
const PUTTYGEN = PLINK ? join(dirname(PLINK), 'puttygen') : undefined;
const SIZE = 32 * 1024 * 1024;

describe.skipIf(!PLINK || !OPENSSL)(`${peerVersion('plink')} → loopssh server, rekeys every MiB`, () => {
  const owned = serverPerTest();

  it('every byte and exit 0, and no protocol error on the server across plink\'s rekeys', async () => {
    expect(existsSync(PUTTYGEN as string)).toBe(true);
    const logs: { level: number; err?: { message?: string } }[] = [];
    const server = await owned.start({ port: 0, logger: pino({ level: 'info' }, { write: (l: string) => logs.push(JSON.parse(l)) }) });
    const client = server.clientOptions();
    const folder = owned.tempDir('loopssh-plink-');
    const home = folder.dir;
    writeFileSync(join(home, 'id'), client.privateKey, { mode: 0o600 });
    expect(spawnSync(PUTTYGEN as string, [join(home, 'id'), '-O', 'private', '-o', join(home, 'id.ppk')]).status).toBe(0);
    mkdirSync(join(home, '.putty', 'sessions'), { recursive: true });
    writeFileSync(
      join(home, '.putty', 'sessions', 'loopssh'),
      `HostName=127.0.0.1\nPortNumber=${server.port}\nUserName=loopssh\nPublicKeyFile=${join(home, 'id.ppk')}\nRekeyBytes=1M\nRekeyTime=0\nProtocol=ssh\n`,
    );
    const [r, expected] = await Promise.all([
      runProcess(PLINK as string, ['-batch', '-load', 'loopssh', '-hostkey', server.hostKeyFingerprint, `payload ${SIZE} --pattern random`], {
        env: { ...process.env, HOME: home },
        timeoutMs: 50_000,
      }),
      pipelineDigest(toolsCommand({ size: SIZE, pattern: 'random' })),
    ]);
    expect({ code: r.code, bytes: r.stdoutBytes, sha256: r.stdoutSha256 }).toEqual({ code: 0, ...expected });
    // plink may close its socket before the server's last rekey packets (EPIPE, logged at info): not a protocol error.
    await server.stop({ graceMs: 0 });
    expect(logs.map((l) => l.err?.message ?? '').filter((m) => /unexpected packet|KEY_EXCHANGE_FAILED|protocol/i.test(m))).toEqual([]);
  }, 60_000);
});
