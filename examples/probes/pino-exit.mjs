// pino() writes through an asynchronous SonicBoom on fd 1 and flushes it synchronously on 'exit'.
// Run: node examples/probes/pino-exit.mjs exit|kill | { head -c 1 >/dev/null; sleep 1.5; cat; } | wc -l
// exit: every line arrives through process.exit(0); kill: SIGKILL runs no hook, the queued lines are lost.
import pino from 'pino';

const LINES = 20_000;
const log = pino();
for (let i = 0; i < LINES; i++) log.info({ i }, 'line');
if (process.argv[2] === 'kill') process.kill(process.pid, 'SIGKILL');
else process.exit(0);
