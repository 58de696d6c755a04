// What ending process.stdout does (docs/close-semantics.md, "pipe(), pipeline() and end: false").
// Run: node examples/probes/stdout-ending.cjs end|pipeline|pipeline-end-false | cat
// Prints on stderr the events in order, whether fd 1 is still open, and how a later write ends.
'use strict';
const fs = require('node:fs');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const mode = process.argv[2] ?? 'end';
const order = [];
const fd1Open = () => {
  try {
    fs.fstatSync(1);
    return true;
  } catch {
    return false;
  }
};
process.stdout.on('finish', () => order.push('finish'));
process.stdout.on('close', () => order.push(`close (fd 1 open: ${fd1Open()})`));
process.stdout.on('error', (err) => order.push(`'error' ${err.code}`));

const later = () =>
  setTimeout(() => {
    process.stdout.write('later\n', (err) => {
      order.push(`later write: ${err ? err.code : 'ok'}`);
      fs.writeSync(2, `${mode}: ${order.join(' > ')}\n`);
    });
  }, 50);

if (mode === 'end') {
  process.stdout.end('last\n');
  later();
} else {
  const end = mode === 'pipeline-end-false' ? [{ end: false }] : [];
  pipeline(Readable.from([Buffer.from('piped\n')]), process.stdout, ...end).then(() => {
    order.push('pipeline resolved');
    later();
  });
}
