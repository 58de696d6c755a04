/**
 * A long `get` with stderr on a terminal and output elsewhere shows a progress
 * line redrawn in place, then the verdict; the bytes are unaffected.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle } from '../../src/server/index.ts';
import { createLogger } from '../../src/server/log.ts';
import { expectedDigest, tempDir } from '../helpers/fixture.ts';
import { runProcess } from '../helpers/run-process.ts';

const BIN = fileURLToPath(new URL('../../bin/loopssh.js', import.meta.url));
const MiB = 1024 * 1024;

describe('loopssh get: progress on a terminal', () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: ServerHandle;
  beforeEach(async () => {
    tmp = tempDir();
    server = await startServer({ port: 0, keysDir: join(tmp.dir, 'keys'), logger: createLogger('silent') });
  });
  afterEach(async () => {
    await server.stop();
    tmp.remove();
  });

  it('redraws one line while 128 MiB arrive at 100 MB/s, then prints the verdict', async () => {
    const out = join(tmp.dir, 'out.bin');
    const cli = [process.execPath, BIN, 'get', '128MiB', '--rate', '100MB', '--port', String(server.port), '--keys', join(tmp.dir, 'keys'), '-o', out];
    // script(1) gives the CLI a pty; its stdout goes to /dev/null, so only stderr is a terminal.
    const r = await runProcess('script', ['-qec', `${cli.map((w) => `'${w}'`).join(' ')} >/dev/null`, '/dev/null'], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    // eslint-disable-next-line no-control-regex -- the terminal's erase-line sequence
    const frames = r.stdoutHead.split('\r').map((f) => f.replace(/\x1b\[K/g, '').trim()).filter(Boolean);
    const progress = frames.filter((f) => /^loopssh: [\d.]+ (B|KiB|MiB) of 128 MiB \(\d+%\), \d+ MB\/s$/.test(f));
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(frames.at(-1)).toMatch(/^loopssh: verified 128 MiB \(134217728 bytes, SHA-256 /);
    expect(statSync(out).size).toBe(128 * MiB);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(out)) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(expectedDigest(128 * MiB));
  });
});
