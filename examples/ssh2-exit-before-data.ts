/**
 * ssh2's client 'exit' is not "all output is here".
 *
 * 'exit' fires the moment the exit-status message is parsed. Data that came
 * before it may still sit in the channel's readable buffer (up to the 2 MiB
 * window), unread, whenever the consumer is slower than the network. Even
 * the channel's 'close' only means ssh2 has handed stdout on: a slow sink
 * may still hold the tail.
 *
 * loopssh's server sends the exit status only after its last byte (see
 * src/server/channel-output.ts), so the bytes are on the wire first; the
 * consumer is what is staged here: a sink taking 4 MB/s, fed with pipe()
 * (backpressure), 1 MiB of output.
 *
 * Run: npx tsx examples/ssh2-exit-before-data.ts
 */
import { once } from 'node:events';
import { conclude, linesPayload, report, since, SlowSink } from './lib/lesson.ts';
import { lessonServer, rawExec } from './lib/ssh.ts';

const SIZE = 1024 * 1024;
const RATE = 4_000_000;
const expected = linesPayload(SIZE);

await using lesson = await lessonServer();

// --- raw ssh2: what the sink had at 'exit' and at 'close' ----------------
const client = await lesson.raw();
const channel = await rawExec(client, `payload ${SIZE}`);
const sink = new SlowSink(RATE);
const t0 = performance.now();
const seen: { event: string; at: string; taken: number; queued: number; unread: number; data: Buffer }[] = [];
const snap = (event: string): void =>
  void seen.push({ event, at: since(t0), taken: sink.taken, queued: sink.writableLength, unread: channel.readableLength, data: sink.data() });
channel.once('exit', () => snap("'exit'"));
channel.once('close', () => snap("channel 'close'"));
sink.once('close', () => snap("sink 'close'"));
channel.stderr.resume();
channel.pipe(sink);
await once(sink, 'close');
client.end();

console.log(`raw ssh2 client: payload ${SIZE} piped into a sink taking ${RATE / 1e6} MB/s:`);
for (const s of seen) {
  const n = (x: number): string => String(x).padStart(7);
  console.log(`   ${s.at}  ${s.event.padEnd(16)} sink had taken ${n(s.taken)}, ${n(s.queued)} queued in the sink, ${n(s.unread)} unread in the channel`);
}
const atExit = seen.find((s) => s.event === "'exit'");
const atClose = seen.find((s) => s.event === "channel 'close'");
const atSinkClose = seen.find((s) => s.event === "sink 'close'");
report('naive', "raw ssh2, done at 'exit'", atExit?.data ?? Buffer.alloc(0), expected);
report('naive', "raw ssh2, done at channel 'close'", atClose?.data ?? Buffer.alloc(0), expected);
report('fixed', "raw ssh2, done at the sink's 'close'", atSinkClose?.data ?? Buffer.alloc(0), expected);

// --- loopssh: run() settles when the sink has closed ---------------------
const conn = await lesson.loopssh();
const tracked = new SlowSink(RATE);
const r = await conn.run(`payload ${SIZE}`, { stdout: tracked });
console.log(`loopssh run(): resolved with exit ${r.exitCode} after ${r.durationMs} ms; the sink had taken ${tracked.taken} bytes`);
report('fixed', 'loopssh run() (FlushTracker)', tracked.data(), expected);
await conn.close();
conclude("the sink kept up with the network this time (the 'exit' races the consumer)");
