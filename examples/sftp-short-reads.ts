/**
 * SFTP: a short READ is not the end of the file, and the last READ answered
 * is not "done".
 *
 * SFTP lets a server answer a READ with fewer bytes than asked, anywhere in
 * the file; only an SSH_FX_EOF status ends it. loopssh's server does so on
 * request: `/payload/lines/0/1048576,short=1000` answers every READ with at
 * most 1000 bytes. A client that takes the first short answer for EOF (curl's
 * SFTP download did: https://github.com/curl/curl/issues/4344) keeps 1000
 * bytes and reports success. And a client that is done when the last READ
 * was answered, not when its target has closed
 * (https://github.com/theophilusx/ssh2-sftp-client/issues/387), leaves the
 * tail in a slow target.
 *
 * Both are what `download(..., { naive: true })` does (src/client/sftp/naive-read.ts);
 * the tracked download re-requests from where a short answer stopped, checks
 * the size stat reported, and resolves when the target has closed.
 *
 * Run: npx tsx examples/sftp-short-reads.ts
 */
import { conclude, linesPayload, report, SlowSink } from './lib/lesson.ts';
import { lessonServer } from './lib/ssh.ts';

const SIZE = 1024 * 1024;
const RATE = 1_000_000;
const expected = linesPayload(SIZE);

await using lesson = await lessonServer();
const conn = await lesson.loopssh();

// --- a short READ taken for EOF --------------------------------------------
const short = `/payload/lines/0/${SIZE},short=1000`;
const naive = await conn.download(short, 'buffer', { naive: true });
console.log(`naive download of ${short}: resolved with ${naive.bytes} bytes read (every READ is answered with at most 1000 bytes; the first short answer ended it)`);
report('naive', 'SFTP, a short READ taken for EOF', naive.data ?? Buffer.alloc(0), expected);
const tracked = await conn.download(short, 'buffer');
report('fixed', 'SFTP, short READs re-requested', tracked.data ?? Buffer.alloc(0), expected);

// --- done at the last READ, not at the target's close ----------------------
const slow = new SlowSink(RATE);
const late = await conn.download(`/payload/lines/0/${SIZE}`, slow, { naive: true });
const takenAtResolve = slow.data();
console.log(`naive download into a ${RATE / 1e6} MB/s sink: resolved after reading ${late.bytes} bytes; the sink had taken ${takenAtResolve.length}`);
report('naive', 'SFTP into a slow sink, done at last READ', takenAtResolve, expected);
const sink = new SlowSink(RATE);
await conn.download(`/payload/lines/0/${SIZE}`, sink);
report('fixed', "SFTP into a slow sink, done at its 'close'", sink.data(), expected);

await conn.close();
conclude();
