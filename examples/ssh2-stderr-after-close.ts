/**
 * ssh2's client channel 'close' can come before stderr has been read.
 *
 * ssh2 defers the channel's 'close' until its stdout side has emitted 'end',
 * so stdout data always precedes 'close'. The stderr stream is separate and
 * not covered: with a slow stderr consumer, 'close' fires while stderr still
 * holds data. loopssh's FlushTracker waits for 'end' of both, then for every
 * target.
 *
 * Staged: `payload 64KiB --stderr 1MiB`; stdout is read at once, stderr is
 * piped into a sink taking 4 MB/s. All of it fits in the 2 MiB window, so the
 * server sends everything, its exit status and CHANNEL_CLOSE within
 * milliseconds.
 *
 * Run: npx tsx examples/ssh2-stderr-after-close.ts
 */
import { once } from 'node:events';
import { conclude, linesPayload, report, since, SlowSink } from './lib/lesson.ts';
import { lessonServer, rawExec } from './lib/ssh.ts';

const OUT = 64 * 1024;
const ERR = 1024 * 1024;
const RATE = 4_000_000;
const COMMAND = `payload ${OUT} --stderr ${ERR}`;
const expectedOut = linesPayload(OUT);
const expectedErr = linesPayload(ERR);

await using lesson = await lessonServer();

// --- raw ssh2 --------------------------------------------------------------
const client = await lesson.raw();
const channel = await rawExec(client, COMMAND);
const stdout: Buffer[] = [];
const errSink = new SlowSink(RATE);
const t0 = performance.now();
const lines: string[] = [];
let atClose: Buffer = Buffer.alloc(0);
let stdoutAtClose = 0;
const n = (x: number): string => String(x).padStart(7);
const line = (event: string): void =>
  void lines.push(
    `${since(t0)}  ${event.padEnd(20)} stderr: sink had taken ${n(errSink.taken)}, ${n(errSink.writableLength)} queued in the sink, ` +
      `${n(channel.stderr.readableLength)} unread; stderr ended: ${channel.stderr.readableEnded}`,
  );
channel.on('data', (c: Buffer) => stdout.push(c));
channel.once('end', () => line("stdout 'end'"));
channel.once('exit', () => line("'exit'"));
channel.once('close', () => {
  line("channel 'close'");
  atClose = errSink.data();
  stdoutAtClose = Buffer.concat(stdout).length;
});
channel.stderr.once('end', () => line("stderr 'end'"));
errSink.once('close', () => line("stderr sink 'close'"));
channel.stderr.pipe(errSink);
await once(errSink, 'close');
client.end();

console.log(`raw ssh2 client: ${COMMAND}, stdout read at once, stderr piped into a sink taking ${RATE / 1e6} MB/s:`);
for (const l of lines) console.log(`   ${l}`);
console.log(`   stdout at channel 'close': ${stdoutAtClose} of ${OUT} bytes (ssh2 waits for stdout's 'end')`);
report('naive', "raw ssh2 stderr, done at channel 'close'", atClose, expectedErr);
report('fixed', "raw ssh2 stderr, done at the sink's 'close'", errSink.data(), expectedErr);

// --- loopssh -----------------------------------------------------------------
const conn = await lesson.loopssh();
const tracked = new SlowSink(RATE);
const r = await conn.run(COMMAND, { stdout: 'buffer', stderr: tracked });
console.log(`loopssh run(): resolved with exit ${r.exitCode} after ${r.durationMs} ms; the stderr sink had taken ${tracked.taken} bytes`);
report('fixed', 'loopssh run() stdout (buffer)', r.stdout ?? Buffer.alloc(0), expectedOut);
report('fixed', 'loopssh run() stderr (FlushTracker)', tracked.data(), expectedErr);
await conn.close();
conclude("the stderr consumer kept up this time ('close' races it)");
