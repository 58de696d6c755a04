/**
 * The CLI's trust in its own key folder on loopback.
 */
// Pins loopssh issue 15, point 7: for a loopback host the CLI trusted whatever
// keys/host_ed25519.pub said, without checking it against keys/host_ed25519.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureKeyDir } from '../../src/openssh/key-dir.ts';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { startServer, type ServerHandle } from '../../src/server/index.ts';
import { removeTempDirs, tempDir } from '../helpers/fixture.ts';
import { isOneLine, runCli } from './helpers.ts';

const servers: ServerHandle[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  removeTempDirs();
});

/** A key folder and a HOME without known_hosts, so only the folder can vouch for a host key. */
async function setup(): Promise<{ keysDir: string; env: NodeJS.ProcessEnv; files: Awaited<ReturnType<typeof ensureKeyDir>> }> {
  const dir = tempDir().dir;
  const files = await ensureKeyDir(join(dir, 'keys'));
  return { keysDir: files.dir, env: { HOME: dir }, files };
}

describe('loopback host key trust', () => {
  it('refuses a server whose key only a planted host_ed25519.pub vouches for', async () => {
    const { keysDir, env, files } = await setup();
    const impostor = generateKeyPair('impostor');
    const server = await startServer({ port: 0, hostKey: impostor.privateKey, authorizedKeys: readFileSync(files.clientPublicKeyPath, 'utf8') });
    servers.push(server);
    writeFileSync(files.hostPublicKeyPath, `${impostor.publicKey}\n`);
    const r = await runCli(['exec', '--port', String(server.port), '--keys', keysDir, '--', 'payload', '5'], { env });
    expect(r.code).toBe(255);
    expect(r.stdout.length).toBe(0);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toContain(`is ${server.hostKeyFingerprint}, not in known_hosts`);
  });

  it('trusts the folder server by its private key even when host_ed25519.pub says otherwise', async () => {
    const { keysDir, env, files } = await setup();
    const server = await startServer({ port: 0, keysDir });
    servers.push(server);
    writeFileSync(files.hostPublicKeyPath, `${generateKeyPair('planted').publicKey}\n`);
    const r = await runCli(['exec', '--port', String(server.port), '--keys', keysDir, '--', 'payload', '5'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(5);
  });

  it('refuses a key folder others can write, with one line', async () => {
    const { keysDir, env } = await setup();
    chmodSync(keysDir, 0o777);
    const r = await runCli(['exec', '--port', '1', '--keys', keysDir, '--', 'payload', '5'], { env });
    expect(r.code).toBe(255);
    expect(r.stderr).toBe(`loopssh: key folder ${keysDir}: refused: permissions 0777 let group or others write it (chmod go-w)\n`);
  });
});
