/**
 * loopssh issue 15, point 5: a peer must not reach the user's terminal
 * through the CLI. A fake server's DISCONNECT text (sent before any host-key
 * check) and a peer's exit-signal name carry escape sequences; the CLI must
 * print them escaped, on one line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { peer, peerVersion } from '../helpers/peers.ts';
import { removeTempDirs, tempDir } from '../helpers/fixture.ts';
import { isOneLine, runCli } from './helpers.ts';

/** What a hostile peer sends: OSC title, clear screen, CR, a fake prompt, U+2028, C1 CSI. */
const HOSTILE = '\x1b]0;pwned\x07\x1b[2J\rHOST KEY VERIFIED OK, enter password:\u2028\x9b31m';
const ANY_PIN = `SHA256:${'A'.repeat(43)}`;

/** Characters that must never reach the terminal raw. */
function rawControls(text: string): string[] {
  return Array.from(text).filter((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return (c < 0x20 && ch !== '\n') || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029;
  });
}

/** An SSH binary packet before key exchange (no cipher, no MAC): RFC 4253 §6. */
function plainPacket(payload: Buffer): Buffer {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const packet = Buffer.alloc(5 + payload.length + pad);
  packet.writeUInt32BE(1 + payload.length + pad, 0);
  packet[4] = pad;
  payload.copy(packet, 5);
  return packet;
}

/** SSH_MSG_DISCONNECT with reason 2 (protocol error) and `text`. */
function disconnect(text: string): Buffer {
  const desc = Buffer.from(text, 'utf8');
  const payload = Buffer.alloc(13 + desc.length);
  payload[0] = 1;
  payload.writeUInt32BE(2, 1);
  payload.writeUInt32BE(desc.length, 5);
  desc.copy(payload, 9);
  payload.writeUInt32BE(0, 9 + desc.length);
  return plainPacket(payload);
}

let fake: Server | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  if (fake) await new Promise((resolve) => fake?.close(resolve));
  fake = undefined;
  removeTempDirs();
});

describe('peer-supplied text is escaped (loopssh issue 15)', () => {
  it("a server's DISCONNECT text with escape sequences is printed escaped, on one line", async () => {
    const sockets: Socket[] = [];
    fake = createServer((sock) => {
      sockets.push(sock);
      sock.on('error', () => {});
      sock.write('SSH-2.0-Hostile_1.0\r\n');
      // After the client's version line: DISCONNECT, before any key exchange.
      sock.once('data', () => sock.end(disconnect(HOSTILE)));
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const port = (fake.address() as { port: number }).port;
    const r = await runCli(['exec', '--port', String(port), '--host-key', ANY_PIN, '--keys', tempDir().dir, '--', 'true']);
    for (const s of sockets) s.destroy();
    expect(r.code).toBe(255);
    expect(rawControls(r.stderr)).toEqual([]);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toContain('\\x1b]0;pwned\\x07\\x1b[2J\\rHOST KEY VERIFIED OK, enter password:\\u2028\\x9b31m');
  });

  const python = peer('asyncssh');
  it.skipIf(!python)(`an exit-signal name with escape sequences (${peerVersion('asyncssh')} as the peer) is printed escaped`, async () => {
    const script = fileURLToPath(new URL('./evil_signal_server.py', import.meta.url));
    child = spawn(python as string, ['-W', 'ignore', script, `\x1b[2J\rKILL`], { stdio: ['ignore', 'pipe', 'inherit'] });
    // "PORT FINGERPRINT\n" may come in more than one read.
    const [line] = (await once(createInterface({ input: child.stdout as NodeJS.ReadableStream }), 'line')) as [string];
    const [port, fingerprint] = line.trim().split(' ');
    const r = await runCli(['exec', '--port', String(port), '--host-key', String(fingerprint), '--keys', tempDir().dir, '--', 'anything']);
    expect(r.code).toBe(255);
    expect(r.stdout.toString(), `stderr: ${r.stderr}`).toBe('partial output\n');
    expect(rawControls(r.stderr)).toEqual([]);
    expect(isOneLine(r.stderr)).toBe(true);
    expect(r.stderr).toBe('loopssh: remote command killed by signal \\x1b[2J\\rKILL\n');
  });
});
