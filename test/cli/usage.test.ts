/**
 * Usage: help texts, and every kind of bad argument ending in exit 2 and one
 * line on stderr (never a stack trace). No server is needed: all of these
 * fail before connecting.
 */
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { removeTempDirs, tempDir } from '../helpers/fixture.ts';
import { isOneLine, runCli } from './helpers.ts';

// A key folder no test connects with; keeps the package's own keys/ untouched.
const KEYS = join(tempDir().dir, 'keys');
afterAll(() => removeTempDirs());

describe.concurrent('help', () => {
  for (const command of ['serve', 'exec', 'get', 'demo']) {
    it(`${command} --help exits 0 with a usage text on stdout`, async ({ expect }) => {
      const [long, viaHelp] = await Promise.all([runCli([command, '--help']), runCli(['help', command])]);
      expect(long.code).toBe(0);
      expect(long.stderr).toBe('');
      const text = long.stdout.toString();
      expect(text).toMatch(new RegExp(`^usage: loopssh ${command}\\b`));
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.stdout.toString()).toBe(text);
    });
  }

  it('every command takes -h like --help', async ({ expect }) => {
    const commands = ['serve', 'exec', 'get', 'demo'];
    const results = await Promise.all(commands.map((c) => runCli([c, '-h'])));
    const got = results.map((r, i) => ({ command: commands[i], code: r.code, stderr: r.stderr }));
    expect(got).toEqual(commands.map((command) => ({ command, code: 0, stderr: '' })));
  });

  it('--help and help with no topic exit 0 with the command list', async ({ expect }) => {
    const [long, word] = await Promise.all([runCli(['--help']), runCli(['help'])]);
    for (const r of [long, word]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const text = r.stdout.toString();
      for (const command of ['serve', 'exec', 'get', 'demo']) expect(text).toContain(`loopssh ${command}`);
    }
  });

  it('loopssh alone exits 2 and shows the usage', async ({ expect }) => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout.toString() + r.stderr).toContain('usage:');
  });

  it('an unknown command exits 2 with one line', async ({ expect }) => {
    const [bad, badHelp] = await Promise.all([runCli(['frobnicate', '--port', '1']), runCli(['help', 'frobnicate'])]);
    for (const r of [bad, badHelp]) {
      expect(r.code).toBe(2);
      expect(r.stdout.length).toBe(0);
      expect(isOneLine(r.stderr)).toBe(true);
      expect(r.stderr).toMatch(/^loopssh: unknown command 'frobnicate'/);
    }
  });
});

/** [command line, what the one line must mention]. */
const BAD: [string[], RegExp][] = [
  // serve
  [['serve', '--bogus'], /unknown option '--bogus'/],
  [['serve', '-x'], /unknown option '-x'/],
  [['serve', '--port'], /--port needs a value/],
  [['serve', '--port', 'abc', '--keys', KEYS], /--port must be a whole number/],
  [['serve', '--port', '70000', '--keys', KEYS], /--port must be between/],
  [['serve', '--port', '-1', '--keys', KEYS], /--port must be between/],
  [['serve', '--port', '1', '--port', '2'], /--port given twice/],
  [['serve', '--max-payload', '1.5M', '--keys', KEYS], /invalid size '1\.5M'/],
  // loopssh issue 13.5: the error names the flag; serve has a flag for stallTimeoutMs; -p is --port
  [['serve', '--max-payload', '2X', '--keys', KEYS], /^loopssh: --max-payload: invalid size '2X'/],
  [['serve', '--stall-timeout-ms', '-1', '--keys', KEYS], /--stall-timeout-ms must be between/],
  [['serve', '-p', 'abc', '--keys', KEYS], /--port must be a whole number/],
  [['serve', '--max-connections', '0', '--keys', KEYS], /--max-connections must be between/],
  [['serve', 'extra', '--keys', KEYS], /serve takes no arguments/],
  [['serve', '--host', 'not-an-ip', '--port', '0', '--keys', KEYS], /--host must be an IP address/],
  [['serve', '--help=yes'], /--help takes no value/],
  // exec
  [['exec', '--bogus', 'payload', '1'], /unknown option '--bogus'/],
  [['exec', '--port'], /--port needs a value/],
  [['exec', '--port', 'abc', '--keys', KEYS, 'payload', '1'], /--port must be a whole number/],
  [['exec', '--port', '70000', '--keys', KEYS, 'payload', '1'], /--port must be between/],
  [['exec', '--port', '0', '--keys', KEYS, 'payload', '1'], /--port must be between/],
  // loopssh issue 13.5: -p and -i, listed in help, are --port and --identity
  [['exec', '-p', '0', '--keys', KEYS, 'payload', '1'], /--port must be between/],
  [['exec', '-i', KEYS, '-i', KEYS, 'payload', '1'], /--identity given twice/],
  [['exec', '--port', '2222', '--keys', KEYS], /exec needs a COMMAND/],
  [['exec', '--port', '2222', '--keys', KEYS, '--'], /exec needs a COMMAND/],
  [['exec'], /exec needs a COMMAND/],
  [['exec', '--naive=1', 'payload', '1'], /--naive takes no value/],
  [['exec', '--keys', KEYS, '--known-hosts', join(KEYS, 'nope'), 'payload', '1'], /--known-hosts .*no such file/],
  // get
  [['get'], /get needs a SIZE/],
  [['get', '--bogus', '1K'], /unknown option '--bogus'/],
  [['get', '1K', '--port'], /--port needs a value/],
  [['get', '1K', '--port', 'abc', '--keys', KEYS], /--port must be a whole number/],
  [['get', '1K', '--port', '70000', '--keys', KEYS], /--port must be between/],
  [['get', '1.5M'], /invalid size '1\.5M'/],
  [['get', '1K', '--stderr', '1.5M'], /invalid size '1\.5M'/],
  [['get', '-5'], /invalid size '-5'/],
  [['get', '1K', '2K'], /extra argument '2K'/],
  [['get', '1K', '--exit', '300'], /--exit must be between 0 and 255/],
  [['get', '1K', '--exit', 'x'], /--exit must be a whole number/],
  [['get', '1K', '--rate', '0'], /--rate must be at least 1/],
  [['get', '1K', '--pattern', 'bogus'], /unknown pattern 'bogus'/],
  [['get', '1K', '--seed', 'abc'], /--seed must be a whole number/],
  [['get', '1K', '--signal', 'NOPE'], /unknown signal 'NOPE'/],
  [['get', '1K', '--exit', '1', '--signal', 'TERM'], /--exit and --signal cannot be used together/],
  [['get', '1K', '--chunk', '0'], /--chunk must be between/],
  [['get', '1K', '--delay-ms', '-1'], /--delay-ms must be between/],
  [['get', '1K', '-q', '-q'], /--quiet given twice/],
  // demo
  [['demo', '--bogus'], /unknown option '--bogus'/],
  [['demo', '--keys'], /--keys needs a value/],
];

describe.concurrent('bad arguments exit 2 with exactly one line, no stack trace', () => {
  it('a bad LOOPSSH_SEND_PATH (loopssh issue 14) is refused at start-up', async ({ expect }) => {
    const r = await runCli(['exec', '--port', '1', '--', 'x'], { env: { LOOPSSH_SEND_PATH: 'pad,turbo' } });
    expect([r.code, r.stdout.length, isOneLine(r.stderr)]).toEqual([2, 0, true]);
    expect(r.stderr).toBe("loopssh: LOOPSSH_SEND_PATH: unknown lever 'turbo' (a comma list of pad, reuse, cork, or all, none)\n");
  });

  for (const [args, mention] of BAD) {
    it(`loopssh ${args.map((a) => (a === KEYS ? 'KEYS' : a.startsWith(KEYS) ? a.replace(KEYS, 'KEYS') : a)).join(' ')}`, async ({ expect }) => {
      const r = await runCli(args);
      expect(r.stderr).not.toContain('    at ');
      expect(r.code).toBe(2);
      expect(r.stdout.length).toBe(0);
      expect(isOneLine(r.stderr), `stderr: ${r.stderr}`).toBe(true);
      expect(r.stderr).toMatch(/^loopssh: /);
      expect(r.stderr).toMatch(mention);
    });
  }
});
