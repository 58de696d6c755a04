/**
 * FlushTracker used directly: AsyncSSH's `add_cleanup_task()` for Node.
 *
 * One source is copied into two targets, the way a run's stdout is:
 * - an owned file stream (we end it; done at its 'close', not 'finish'),
 *   written under a temporary name;
 * - a borrowed process.stdout (never ended; done when a final
 *   `write('', cb)` calls back);
 * - the source itself (done at 'end');
 * - a cleanup task: rename the file into place once it has closed, as
 *   AsyncSSH 2.15 registers `close_event.wait()` with `add_cleanup_task()`.
 *
 * The copy runs in a child process whose stdout is a pipe; the reader takes
 * all but the last 128 KiB, then sleeps 1.5 s. The naive child calls it done
 * at the source's 'end' and exits; the tracked child exits after
 * `tracker.wait()`. Both call `process.exit(0)` — after wait() it is safe.
 *
 * Run: npx tsx examples/flush-tracker.ts
 */
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { FlushTracker } from '../src/engine/flush-tracker.ts';
import { conclude, intoStalledPipe, linesPayload, nodeTs, report } from './lib/lesson.ts';

const SIZE = 4 * 1024 * 1024;
const CHUNK = 64 * 1024;
const STALL_MS = 1500;

/** What a child reports on stderr. */
interface ChildFacts {
  doneAfterMs: number;
  stdoutQueuedAtDone: number;
  fileBytesAtDone: number;
  events: string[];
}

/** The copy, in the child. `naive`: done at the source's 'end'. */
async function child(naive: boolean, finalPath: string): Promise<void> {
  const t0 = performance.now();
  const temp = `${finalPath}.partial`;
  const data = linesPayload(SIZE);
  const chunks: Buffer[] = [];
  for (let off = 0; off < SIZE; off += CHUNK) chunks.push(data.subarray(off, off + CHUNK));
  const source = Readable.from(chunks, { objectMode: false });
  const file = createWriteStream(temp);

  const tracker = new FlushTracker();
  tracker.source(source, 'source');
  tracker.owned(file, 'file');
  tracker.borrowed(process.stdout, 'stdout');
  tracker.cleanup(once(file, 'close').then(() => rename(temp, finalPath)), 'rename');

  source.pipe(file); // ends the file at the source's end
  source.pipe(process.stdout, { end: false }); // never ends stdout
  source.once('end', () => tracker.flush(process.stdout));

  if (naive) await once(source, 'end');
  else await tracker.wait();

  const facts: ChildFacts = {
    doneAfterMs: Math.round(performance.now() - t0),
    stdoutQueuedAtDone: process.stdout.writableLength,
    fileBytesAtDone: (() => {
      try {
        return statSync(naive ? temp : finalPath).size;
      } catch {
        return -1;
      }
    })(),
    events: tracker.events,
  };
  process.stderr.write(`${JSON.stringify(facts)}\n`);
  process.exit(0);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'loopssh-tracker-'));
  const expected = linesPayload(SIZE);
  const self = fileURLToPath(import.meta.url);
  try {
    console.log(`a child copies ${SIZE} bytes into a file (owned) and its stdout pipe (borrowed), then exits;`);
    console.log(`the pipe's reader takes ${SIZE - 2 * CHUNK} bytes, then sleeps ${STALL_MS} ms`);
    const variants = [
      { mode: 'naive', label: "done at the source's 'end'" },
      { mode: 'tracked', label: 'done at tracker.wait()' },
    ] as const;
    const runs = await Promise.all(
      variants.map((v) => intoStalledPipe(nodeTs(self, 'child', v.mode, join(dir, `${v.mode}.bin`)), SIZE - 2 * CHUNK, STALL_MS)),
    );
    for (const [i, v] of variants.entries()) {
      const run = runs[i]!;
      const facts = JSON.parse(run.stderr.trim().split('\n').pop() ?? '{}') as ChildFacts;
      console.log(
        `  ${v.mode}: ${v.label} after ${facts.doneAfterMs} ms; process.stdout still had ${facts.stdoutQueuedAtDone} bytes queued, ` +
          `${v.mode === 'naive' ? 'the .partial file' : 'the renamed file'} ${facts.fileBytesAtDone < 0 ? 'did not exist' : `had ${facts.fileBytesAtDone} bytes`}`,
      );
      console.log(`     tracker.events: ${facts.events.length ? facts.events.join(', ') : '(none yet)'}`);
    }
    for (const [i, v] of variants.entries()) {
      const kind = v.mode === 'naive' ? 'naive' : 'fixed';
      let file = Buffer.alloc(0);
      let note = '';
      try {
        file = readFileSync(join(dir, `${v.mode}.bin`));
      } catch (err) {
        const partial = statSync(join(dir, `${v.mode}.bin.partial`), { throwIfNoEntry: false });
        note = `${(err as NodeJS.ErrnoException).code}: the rename task never ran; .partial has ${partial?.size ?? 0} bytes`;
      }
      report(kind, `${v.label}: file`, file, expected, note);
      report(kind, `${v.label}: stdout pipe`, runs[i]!.data, expected);
    }
    conclude('the targets had caught up before the source ended');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') await child(process.argv[3] === 'naive', process.argv[4] as string);
else await main();
