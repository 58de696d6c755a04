/**
 * stream.finished() on an ssh2 1.17 client channel, clean runs only.
 *
 * ssh2's Channel sets `writable = false` at 'prefinish' and emits 'close' by
 * hand before Node's deferred 'finish': Node's end-of-stream sees a 'close'
 * without 'finish' and rejects with ERR_STREAM_PREMATURE_CLOSE although no
 * byte was lost. With a slow consumer, 'finish' comes first and finished()
 * resolves at stdout's 'end'. It never looks at `channel.stderr`.
 *
 * Run: npx tsx examples/probes/ssh2-finished.ts [RUNS]
 * Prints one line per (size, consumer, event order) with how many runs had it.
 */
import { finished } from 'node:stream';
import { lessonServer, rawExec } from '../lib/ssh.ts';

const RUNS = Number(process.argv[2] ?? 10);
await using lesson = await lessonServer();
const client = await lesson.raw();
const tally = new Map<string, number>();
for (const size of [65_536, 1_048_576]) {
  for (const consumer of ['fast', 'slow'] as const) {
    for (let i = 0; i < RUNS; i++) {
      const channel = await rawExec(client, `payload ${size}`);
      const order: string[] = [];
      for (const ev of ['exit', 'prefinish', 'finish', 'end', 'close'] as const) channel.on(ev, () => order.push(ev));
      channel.stderr.on('end', () => order.push('stderr end'));
      finished(channel, (err) => order.push(`finished() ${err ? `rejected ${(err as NodeJS.ErrnoException).code}` : 'resolved'}`));
      channel.stderr.resume();
      if (consumer === 'slow') {
        channel.on('data', () => {
          channel.pause();
          setTimeout(() => channel.resume(), 2);
        });
      } else channel.resume();
      await new Promise((resolve) => channel.once('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const key = `${size} bytes, ${consumer} consumer: ${order.join(' > ')}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
  }
}
client.end();
for (const [key, n] of tally) console.log(`${n} of ${RUNS}  ${key}`);
