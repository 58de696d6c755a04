/**
 * loopssh with node:test: a before/after pair around a suite.
 * In a project that installed loopssh: node --test
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startServer } from 'loopssh/server';
import { connect } from 'loopssh/client';
import { payloadDigest } from 'loopssh';

describe('loopssh under node:test', () => {
  let server;
  before(async () => {
    server = await startServer({
      commands: { fail: (ctx) => ctx.drop() },
    });
  });
  after(async () => {
    await server.stop();
  });

  it('a payload arrives byte-exact in a buffer', async () => {
    const conn = await connect(server.clientOptions());
    try {
      const r = await conn.run('payload 1MiB --stderr 64KiB', { hash: true });
      assert.deepEqual([r.exitCode, r.stdoutBytes, r.stderrBytes], [0, 1048576, 65536]);
      assert.equal(r.stdoutSha256, payloadDigest({ size: 1048576, pattern: 'lines', seed: '0', stream: 'stdout' }));
    } finally {
      await conn.close();
    }
  });

  it('a dropped channel is an error, never a quiet success', async () => {
    const conn = await connect(server.clientOptions());
    try {
      await assert.rejects(conn.run('fail'), { name: 'ChannelLostError', exitCode: null });
      assert.equal(server.seen.commands.at(-1).exit, 'dropped');
    } finally {
      await conn.close();
    }
  });

  it("OpenSSH's ssh passes the exit status through", async () => {
    const child = spawn('ssh', [...server.sshArgs(), 'payload', '100', '--exit', '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (d) => (bytes += d.length));
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.deepEqual([code, bytes], [3, 100]);
  });
});
