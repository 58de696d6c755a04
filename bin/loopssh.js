#!/usr/bin/env node
// Launcher. In a checkout (src/ present) it runs the TypeScript CLI through
// tsx, so edits take effect without a build, unless dist/ is a build of src/
// as it is now (bin/fresh-dist.js): then, like an installed package, the
// compiled dist/, which starts ~0.25 s sooner (loopssh issue 14).
// LOOPSSH_FROM_SOURCE=1 always runs src/ through tsx.
import { existsSync, fstatSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';

// A stdout/stderr pipe is shared with other processes. The first touch of
// process.stdout (by a loader, a colour check, anything) makes it O_NONBLOCK
// for all of them, and a sibling writer then fails with EAGAIN. So before
// anything else loads, a pipe or socket on fd 1/2 gets a plain blocking
// writer instead. Payload bytes do not go through it (they use FdWriteStream
// from the thread pool); --naive keeps Node's own stream, as a naive program would.
const ownArgs = process.argv.slice(2);
const end = ownArgs.indexOf('--');
if (!(end < 0 ? ownArgs : ownArgs.slice(0, end)).includes('--naive')) {
  for (const [name, fd] of [['stdout', 1], ['stderr', 2]]) {
    let shared = false;
    try {
      const st = fstatSync(fd);
      shared = st.isFIFO() || st.isSocket();
    } catch {
      shared = false;
    }
    if (!shared) continue;
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        try {
          for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
          callback();
        } catch (err) {
          callback(err);
        }
      },
    });
    Object.assign(stream, { fd, isTTY: false });
    Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => stream });
  }
}

process.env.LOOPSSH_CLI_ENTRY = '1';
const source = new URL('../src/cli/main.ts', import.meta.url);
const fromSource = existsSync(source) && (process.env.LOOPSSH_FROM_SOURCE === '1' || !(await import('./fresh-dist.js')).distIsFresh(fileURLToPath(new URL('..', import.meta.url))));
try {
  if (fromSource) {
    const { register } = await import('tsx/esm/api');
    register();
    await import(source.href);
  } else {
    await import('../dist/cli/main.js');
  }
} catch (err) {
  // loopssh's own start-up refusals (ssh2's shape, a bad LOOPSSH_SEND_PATH)
  // are one line, already naming the problem: no stack trace.
  if (!(err instanceof Error) || !err.message.startsWith('loopssh: ')) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
