/**
 * The README's library example: a server in this process on a free port, a
 * client with a pinned host key, a payload into a file and a custom command.
 * Run: npx tsx examples/quickstart.ts
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'loopssh/client';
import { startServer } from 'loopssh/server';
import { generateKeyPair } from '../src/shared/keys.ts';

const client = generateKeyPair();
await using server = await startServer({
  port: 0,
  authorizedKeys: client.publicKey,
  commands: {
    hello: async (ctx) => {
      await ctx.output.write('stdout', Buffer.from(`hello ${ctx.argv[1] ?? 'there'}\n`));
      return 0;
    },
  },
});
const conn = await connect({ port: server.port, privateKey: client.privateKey, hostKey: server.hostKeyFingerprint });
const path = join(tmpdir(), `loopssh-quickstart-${process.pid}.bin`);
try {
  const r = await conn.run('payload 64MiB --pattern random', { stdout: path, hash: true });
  console.log(`payload: exit ${r.exitCode}, ${r.stdoutBytes} bytes, sha256 ${r.stdoutSha256}`);
  console.log(`hello: ${(await conn.run(['hello', 'world'])).stdout?.toString().trim()}`);
  console.log(`server saw: ${server.seen.commands.map((c) => `${c.command} → ${JSON.stringify(c.exit)}`).join('; ')}`);
} finally {
  await conn.close();
  rmSync(path, { force: true });
}
