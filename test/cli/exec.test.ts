/**
 * `loopssh exec`: exit statuses like ssh's, redirects, and one-line errors.
 */
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { generateKeyPair } from '../../src/openssh/key-format.ts';
import { referenceDigest } from '../helpers/oracle.ts';
import { cliFixturePerFile, tempDir } from '../helpers/fixture.ts';
import { sha256 } from '../helpers/oracle.ts';
import { freePort } from '../helpers/peers.ts';
import { isOneLine, payloadBytes, runCli, runCliInShell } from './helpers.ts';

const fx = cliFixturePerFile();

const exec = (remote: string[], local: string[] = []) => runCli(['exec', ...fx.conn, ...local, '--', ...remote]);

describe.concurrent('loopssh exec', () => {
  it('passes through exit codes 0, 1, 2, 3 and 255', async ({ expect }) => {
    const codes = [0, 1, 2, 3, 255];
    const results = await Promise.all(codes.map((n) => exec(['payload', '0', '--exit', String(n)])));
    expect(results.map((r) => r.code)).toEqual(codes);
    for (const r of results) {
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toBe('');
    }
  });

  it('a remote command killed by a signal exits 255 with one line naming it', async ({ expect }) => {
    const r = await exec(['payload', '1000', '--signal', 'TERM']);
    expect(r.code).toBe(255);
    expect(r.stdout.length).toBe(1000);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: .*\bTERM\b/);
  });

  it('-o FILE writes the file whole and leaves no temporary sibling', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'out.bin');
    const size = 3 * 1024 * 1024 + 7;
    const r = await exec(['payload', String(size), '--pattern', 'random', '--seed', '3'], ['-o', file]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toBe('');
    const data = readFileSync(file);
    expect(data.length).toBe(size);
    expect(sha256(data)).toBe(referenceDigest({ size, pattern: 'random', seed: '3', stream: 'stdout' }));
    expect(readdirSync(dir)).toEqual(['out.bin']);
    expect(readdirSync(dir).filter((n) => n.endsWith('.loopssh-partial'))).toEqual([]);
  });

  // loopssh issue 16: --fsync is opt-in; the fsync order itself is pinned in test/engine/targets-fsync.test.ts.
  // loopssh issue 10, point 4: a command killed by a signal did not finish its output.
  it('a remote command killed by a signal: -o FILE is not written (exit 255, one line saying so); --keep-partial keeps FILE.partial', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'out.bin');
    const size = 2 * 1024 * 1024 + 5;
    const remote = ['payload', String(size), '--pattern', 'random', '--seed', '4', '--signal', 'KILL'];
    const r = await exec(remote, ['-o', file]);
    expect(r.code).toBe(255);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toBe(`loopssh: remote command killed by signal KILL; ${file} not written (output incomplete)\n`);
    expect(readdirSync(dir)).toEqual([]);
    const kept = await exec(remote, ['-o', file, '--keep-partial']);
    expect(kept.code).toBe(255);
    expect(kept.stderr).toContain(`incomplete output kept as ${file}.partial`);
    expect(readdirSync(dir)).toEqual(['out.bin.partial']);
    const partial = readFileSync(`${file}.partial`);
    expect([partial.length, sha256(partial)]).toEqual([size, referenceDigest({ size, pattern: 'random', seed: '4', stream: 'stdout' })]);
  });

  it('a non-zero exit status still writes -o FILE, as ssh would', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'out.bin');
    const r = await exec(['payload', '1000', '--exit', '3'], ['-o', file]);
    expect(r.code).toBe(3);
    expect(readFileSync(file).equals(payloadBytes(1000))).toBe(true);
  });

  // loopssh issue 15, point 6(a): one file for both streams would hold one of them.
  it('the same file for -o and --stderr-to is refused: exit 1, one line, nothing run or written', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'both.bin');
    const r = await exec(['payload', '4096', '--stderr', '4096', '--exit', '0'], ['-o', file, '--stderr-to', join(dir, '.', 'both.bin')]);
    expect(r.code).toBe(1);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: cannot open stderr: stdout and stderr would go to the same file/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('-o FILE --fsync writes the file whole and leaves no temporary sibling', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'synced.bin');
    const size = 2 * 1024 * 1024 + 3;
    const r = await exec(['payload', String(size), '--pattern', 'random', '--seed', '4'], ['--fsync', '-o', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const data = readFileSync(file);
    expect(data.length).toBe(size);
    expect(sha256(data)).toBe(referenceDigest({ size, pattern: 'random', seed: '4', stream: 'stdout' }));
    expect(readdirSync(dir)).toEqual(['synced.bin']);
  });

  it('--output=FILE replaces an existing file', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'out.txt');
    writeFileSync(file, 'old contents that are longer than the new ones\n'.repeat(100));
    const r = await exec(['payload', '100'], [`--output=${file}`]);
    expect(r.code).toBe(0);
    expect(readFileSync(file).equals(payloadBytes(100))).toBe(true);
    expect(readdirSync(dir)).toEqual(['out.txt']);
  });

  it('--stdin FILE with sink prints the byte count and SHA-256 of the file', async ({ expect }) => {
    const dir = tempDir().dir;
    const file = join(dir, 'in.bin');
    const data = Buffer.concat([payloadBytes(5 * 1024 * 1024 + 13, 'random', '11'), Buffer.from('tail\n')]);
    writeFileSync(file, data);
    const r = await exec(['sink'], ['--stdin', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe(`${data.length} ${sha256(data)}\n`);
  });

  it('without --stdin the remote sees EOF at once', async ({ expect }) => {
    const r = await exec(['sink']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`0 ${sha256('')}\n`);
  });

  it('an unknown remote command exits 2 with exactly one line', async ({ expect }) => {
    const r = await exec(['no-such-command', 'arg']);
    expect(r.code).toBe(2);
    expect(r.stdout.length).toBe(0);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: unknown command/);
  });

  it("the remote's stderr goes to our stderr, byte for byte", async ({ expect }) => {
    const r = await exec(['payload', '0', '--stderr', '1000']);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(r.stderrBytes.length).toBe(1000);
    expect(sha256(r.stderrBytes)).toBe(referenceDigest({ size: 1000, pattern: 'lines', seed: '0', stream: 'stderr' }));
  });

  it('options after the command word belong to the remote command', async ({ expect }) => {
    const r = await runCli(['exec', ...fx.conn, 'payload', '1000', '--pattern', 'zero']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.equals(Buffer.alloc(1000))).toBe(true);
  });

  it('a single quoted-string command is sent as is', async ({ expect }) => {
    const r = await runCli(['exec', ...fx.conn, 'payload 64 --pattern zero']);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(Buffer.alloc(64))).toBe(true);
  });

  it('a wrong --host-key exits 255 naming both fingerprints, and creates no -o file', async ({ expect }) => {
    const dir = tempDir().dir;
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const conn = ['--port', String(fx.server.port), '--host-key', wrong, '--keys', fx.keysDir];
    const r = await runCli(['exec', ...conn, '-o', join(dir, 'out.bin'), '--', 'payload', '1000']);
    expect(r.code).toBe(255);
    expect(r.stdout.length).toBe(0);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: /);
    expect(r.stderr).toContain(wrong);
    expect(r.stderr).toContain(fx.server.hostKeyFingerprint);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an identity the server does not know exits 255 with one line about authentication', async ({ expect }) => {
    const dir = tempDir().dir;
    const id = join(dir, 'stranger_ed25519');
    writeFileSync(id, generateKeyPair('stranger').privateKey, { mode: 0o600 });
    chmodSync(id, 0o600);
    const conn = ['--port', String(fx.server.port), '--host-key', fx.server.hostKeyFingerprint, '--keys', fx.keysDir];
    const r = await runCli(['exec', ...conn, '--identity', id, '--', 'payload', '10']);
    expect(r.code).toBe(255);
    expect(r.stdout.length).toBe(0);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: .*authentication/i);
  });

  it('an identity file readable by others exits 255 with one line: permissions too open', async ({ expect }) => {
    const dir = tempDir().dir;
    const id = join(dir, 'open_ed25519');
    // The server's own client key, so only the mode is wrong.
    writeFileSync(id, readFileSync(join(fx.keysDir, 'client_ed25519')));
    chmodSync(id, 0o644);
    const conn = ['--port', String(fx.server.port), '--host-key', fx.server.hostKeyFingerprint, '--keys', fx.keysDir];
    const r = await runCli(['exec', ...conn, '-i', id, '--', 'payload', '10']);
    expect(r.code).toBe(255);
    expect(r.stdout.length).toBe(0);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: .*permissions 0644 are too open/);
  });

  it('connection refused exits 255 with one line', async ({ expect }) => {
    const port = await freePort();
    const r = await runCli(['exec', '--port', String(port), '--host-key', fx.server.hostKeyFingerprint, '--keys', fx.keysDir, '--', 'payload', '10']);
    expect(r.code).toBe(255);
    expect(r.stdout.length).toBe(0);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: .*refused/);
    expect(r.stderr).toContain(String(port));
  });

  it('an -o path in a missing folder exits 1 with one line and runs nothing', async ({ expect }) => {
    const dir = tempDir().dir;
    const r = await exec(['payload', '12345'], ['-o', join(dir, 'missing', 'out.bin')]);
    expect(r.code).toBe(1);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/^loopssh: /);
    expect(fx.server.seen.commands.map((c) => c.command)).not.toContain('payload 12345');
    expect(readdirSync(dir)).toEqual([]);
  });

  // A reader that goes away early (`| head -c 10`) ends the CLI quietly, like
  // coreutils: exit 141 (128 + SIGPIPE), nothing on stderr (no stack trace), and
  // promptly. Sizes are above one pipe buffer (64 KiB): output that fits in
  // the pipe before head exits is delivered, and exit 0 is right for it.
  it('a stdout reader that closes early ends the CLI promptly with 141, quietly', async ({ expect }) => {
    const script = '{ "$@" 3>&-; echo "exit=$?" >&3; } | head -c 10 >/dev/null';
    const cases = [
      ['exec', ...fx.conn, '--', 'payload', '200KiB'],
      ['exec', ...fx.conn, '--', 'payload', '1MiB'],
      ['exec', ...fx.conn, '--', 'payload', '4MiB'],
      ['get', '256KiB', ...fx.conn],
      ['get', '4MiB', ...fx.conn],
    ];
    const runs = await Promise.all(cases.map((args) => runCliInShell(script, args, { fd3: true, timeoutMs: 15_000 })));
    const got = runs.map((r, i) => ({
      args: cases[i]?.filter((a) => !fx.conn.includes(a)).join(' '),
      exit: r.timedOut ? 'still running after 15 s' : r.fd3.trim(),
      stderr: r.stderr.split('\n').slice(0, 7).join('\n'),
    }));
    expect(got).toEqual(got.map((g) => ({ ...g, exit: 'exit=141', stderr: '' })));
    for (const r of runs) expect(r.stderr).not.toContain('    at ');
  });
});
