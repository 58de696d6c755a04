/**
 * An ssh2 1.17 client channel whose stdout nobody reads never emits 'close':
 * ssh2 defers 'close' until stdout has ended, and a paused Readable never
 * ends. loopssh therefore reads every stream, even for an 'ignore' target.
 *
 * Run: npx tsx examples/probes/ssh2-unread.ts
 */
import { lessonServer, rawExec } from '../lib/ssh.ts';

await using lesson = await lessonServer();
const client = await lesson.raw();
for (const read of [false, true]) {
  const channel = await rawExec(client, 'payload 1000');
  let closed = false;
  channel.once('close', () => (closed = true));
  channel.stderr.resume();
  if (read) channel.resume();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log(`stdout ${read ? 'read' : 'never read'}: 'close' within 1 s: ${closed}`);
  channel.resume();
}
client.end();
