/**
 * The README's library example: a server in this process on a free port with
 * ephemeral in-memory keys, the loopssh client, a payload into a file and a
 * command of our own. Run: npx tsx examples/quickstart.ts
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// In your project: from 'loopssh/server' and 'loopssh/client'.
import { startServer } from '../src/server/index.ts';
import { connect } from '../src/client/index.ts';

await using server = await startServer({
  commands: {
    hello: async (ctx) => {
      await ctx.output.write('stdout', Buffer.from(`hello ${ctx.argv[1] ?? 'there'}\n`));
      return 0; // or a code, or { signal: 'TERM' }
    },
  },
});
// Host, port, user, the client key the server authorizes, the pinned host key.
await using conn = await connect(server.clientOptions());
const path = join(tmpdir(), `loopssh-quickstart-${process.pid}.bin`);
try {
  const r = await conn.run('payload 64MiB --pattern random', { stdout: path, hash: true });
  console.log(`payload: exit ${r.exitCode}, ${r.stdoutBytes} bytes, sha256 ${r.stdoutSha256}`);
  console.log(`hello: ${(await conn.run(['hello', 'world'])).stdout?.toString().trim()}`);
  console.log(`server saw: ${server.seen.commands.map((c) => `${c.command} → ${JSON.stringify(c.exit)}`).join('; ')}`);
  console.log(`OpenSSH: ssh ${server.sshArgs().join(' ')} payload 1KiB`);
} finally {
  rmSync(path, { force: true });
}
