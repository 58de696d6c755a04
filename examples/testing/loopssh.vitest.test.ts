/**
 * loopssh as a vitest fixture: each test that asks for `server` gets its own
 * server on a free port with ephemeral keys, stopped when the test ends.
 * In a project that installed loopssh: npx vitest run
 */
import { spawn } from 'node:child_process';
import { test as base, expect } from 'vitest';
import { startServer, type ServerHandle } from 'loopssh/server';
import { connect } from 'loopssh/client';
import { payloadDigest } from 'loopssh';

const test = base.extend<{ server: ServerHandle }>({
  // eslint-disable-next-line no-empty-pattern
  server: async ({}, use) => {
    const server = await startServer({
      commands: {
        greet: async (ctx) => {
          await ctx.output.write('stdout', Buffer.from(`hello ${ctx.env.GREETING_NAME ?? ctx.argv[1]}\n`));
          return 7;
        },
      },
    });
    await use(server);
    await server.stop();
  },
});

test('the loopssh client gets every byte, and the server saw the command', async ({ server }) => {
  await using conn = await connect(server.clientOptions());
  const r = await conn.run('payload 160KiB --pattern random', { hash: true });
  expect([r.exitCode, r.stdoutBytes]).toEqual([0, 163840]);
  expect(r.stdoutSha256).toBe(payloadDigest({ size: 163840, pattern: 'random', seed: '0', stream: 'stdout' }));
  const g = await conn.run(['greet', 'vitest'], { env: { GREETING_NAME: 'env' } });
  expect([g.exitCode, g.stdout?.toString()]).toEqual([7, 'hello env\n']);
  expect(server.seen.commands.map((c) => [c.argv, c.exit])).toEqual([
    [['payload', '160KiB', '--pattern', 'random'], { code: 0 }],
    [['greet', 'vitest'], { code: 7 }],
  ]);
  expect(server.seen.commands[1]?.env).toEqual({ GREETING_NAME: 'env' });
});

test("OpenSSH's ssh works against the same fixture", async ({ server }) => {
  const child = spawn('ssh', [...server.sshArgs(), 'greet', 'ssh'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect([code, out]).toEqual([7, 'hello ssh\n']);
  expect(server.seen.authAttempts.at(-1)).toEqual({ user: 'loopssh', method: 'publickey', accepted: true });
});
