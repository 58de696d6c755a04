// process.stdout is created lazily; on a pipe, creating it sets O_NONBLOCK (Linux: /proc/self/fdinfo).
// Run: node examples/probes/stdout-nonblock.cjs | cat
'use strict';
const fs = require('node:fs');
const nonblocking = () => (parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync('/proc/self/fdinfo/1', 'utf8'))[1], 8) & 0o4000) !== 0;
const before = nonblocking();
void process.stdout;
fs.writeSync(2, `O_NONBLOCK on fd 1: before touching process.stdout ${before}, after ${nonblocking()}\n`);
