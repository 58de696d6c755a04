/**
 * Bench child: the loopssh client alone in its process, as `loopssh exec`
 * runs it (connect, one run with a redirect target, close, exitCode), but
 * without `loopssh get`'s SHA-256 of the stream: OpenSSH's ssh hashes
 * nothing either, and the bench verifies what arrived itself.
 *
 *   client.js --port P --user U --identity KEY --host-key SHA256:... [--cipher C]
 *             --size N --target null|pipe|FILE -- COMMAND
 *
 * Targets: `null` is the path /dev/null (written in place), FILE a path
 * (temporary sibling, renamed when complete), `pipe` this process's stdout.
 * On exit it prints one line `BENCH-RESULT {json}` on stderr.
 */
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.ts';
import { nativeCryptoAvailable } from '../src/ssh2/native-crypto.ts';

const { values, positionals } = parseArgs({
  options: {
    port: { type: 'string' },
    user: { type: 'string' },
    identity: { type: 'string' },
    'host-key': { type: 'string' },
    cipher: { type: 'string' },
    size: { type: 'string' },
    target: { type: 'string' },
  },
  allowPositionals: true,
});

const loaded = performance.now();
const size = Number(values.size);
const target = values.target ?? 'null';
const command = positionals.join(' ');
const binding = nativeCryptoAvailable() === true;

const connection = await connect({
  port: Number(values.port),
  user: values.user,
  identityFile: values.identity,
  hostKey: values['host-key'],
  algorithms: values.cipher ? { cipher: [values.cipher as never] } : undefined,
});
const connected = performance.now();
const result = await connection.run(command, {
  stdout: target === 'null' ? '/dev/null' : target === 'pipe' ? 'inherit' : target,
  stderr: 'inherit',
});
const ran = performance.now();
await connection.close();
const ok = result.exitCode === 0 && result.stdoutBytes === size;
process.stderr.write(
  `BENCH-RESULT ${JSON.stringify({
    ok,
    bytes: result.stdoutBytes,
    exitCode: result.exitCode,
    binding,
    loadMs: loaded,
    connectMs: connected - loaded,
    runMs: ran - connected,
  })}\n`,
);
process.exitCode = ok ? 0 : 1;
