import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNK, parsePayloadCommand, type PayloadCommand } from '../../src/server/builtins.ts';
import { EXIT_SIGNALS } from '../../src/server/commands.ts';
import { UsageError } from '../../src/util/flags.ts';

const LIMITS = { maxPayloadBytes: 1024 ** 4 };
// loopssh issue 15, point 9: --chunk went up to 16 MiB per channel (~10 GiB
// over 64 connections × 10 channels); now 1 MiB, and a shared budget on top.
const MAX_CHUNK = 1024 * 1024;

const parse = (args: string[], limits = LIMITS, name?: string): PayloadCommand => parsePayloadCommand(args, limits, name);

/** The UsageError parsing `args` throws; asserts its message is one line. */
function usageError(args: string[], limits = LIMITS, name?: string): UsageError {
  try {
    parsePayloadCommand(args, limits, name);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    const message = (err as Error).message;
    expect(message, 'one line').not.toMatch(/[\r\n\u2028\u2029\u0085]/);
    expect(message.length).toBeLessThan(300);
    return err as UsageError;
  }
  throw new Error(`expected a UsageError for ${JSON.stringify(args)}, nothing was thrown`);
}

describe('parsePayloadCommand', () => {
  it('defaults: lines pattern, seed 0, 256 KiB chunks, no stderr, no rate, no delay, exit 0', () => {
    const cmd = parse(['160KiB']);
    expect(cmd).toEqual({
      stdout: { pattern: 'lines', seed: '0', size: 163_840, stream: 'stdout' },
      stderr: undefined,
      chunk: 256 * 1024,
      rate: undefined,
      delayMs: 0,
      exit: { code: 0 },
    });
    expect(DEFAULT_CHUNK).toBe(262_144);
  });

  it('SIZE 0 is allowed', () => {
    expect(parse(['0']).stdout.size).toBe(0);
  });

  it('every flag at once', () => {
    const cmd = parse([
      '1MB',
      '--pattern',
      'random',
      '--seed',
      '12345678901234567890',
      '--stderr',
      '2KiB',
      '--chunk',
      '64K',
      '--rate',
      '4MB',
      '--delay-ms',
      '250',
      '--exit',
      '3',
    ]);
    expect(cmd).toEqual({
      stdout: { pattern: 'random', seed: '12345678901234567890', size: 1_000_000, stream: 'stdout' },
      stderr: { pattern: 'random', seed: '12345678901234567890', size: 2048, stream: 'stderr' },
      chunk: 65_536,
      rate: 4_000_000,
      delayMs: 250,
      exit: { code: 3 },
    });
  });

  it('flags may come before SIZE and use --x=v', () => {
    const cmd = parse(['--pattern=zero', '--chunk=1', '--signal=TERM', '7']);
    expect(cmd.stdout).toEqual({ pattern: 'zero', seed: '0', size: 7, stream: 'stdout' });
    expect(cmd.chunk).toBe(1);
    expect(cmd.exit).toEqual({ signal: 'TERM' });
  });

  it.each(['zero', 'lines', 'random'])('--pattern %s', (pattern) => {
    const cmd = parse(['1', '--pattern', pattern, '--stderr', '1']);
    expect(cmd.stdout.pattern).toBe(pattern);
    expect(cmd.stderr?.pattern).toBe(pattern);
  });

  it("the stderr spec is the stdout spec with its own size and stream 'stderr'", () => {
    const cmd = parse(['100', '--stderr', '50', '--seed', '9', '--pattern', 'random']);
    expect(cmd.stdout.stream).toBe('stdout');
    expect(cmd.stderr).toEqual({ pattern: 'random', seed: '9', size: 50, stream: 'stderr' });
    expect(parse(['100', '--stderr', '0']).stderr).toEqual({ pattern: 'lines', seed: '0', size: 0, stream: 'stderr' });
  });

  describe('limits', () => {
    const small = { maxPayloadBytes: 1000 };

    it('SIZE and --stderr exactly at the limit are accepted', () => {
      const cmd = parse(['1000', '--stderr', '1kB'], small);
      expect(cmd.stdout.size).toBe(1000);
      expect(cmd.stderr?.size).toBe(1000);
    });

    it('SIZE above maxPayloadBytes is a UsageError naming the limit', () => {
      expect(usageError(['1001'], small).message).toBe("SIZE 1001 bytes is above this server's limit of 1000 bytes");
      expect(usageError(['1K'], small).message).toBe("SIZE 1024 bytes is above this server's limit of 1000 bytes");
    });

    it('--stderr above maxPayloadBytes is a UsageError naming the limit', () => {
      expect(usageError(['1', '--stderr', '2KB'], small).message).toBe("--stderr 2000 bytes is above this server's limit of 1000 bytes");
    });

    it('--chunk and --rate are not bound by maxPayloadBytes', () => {
      const cmd = parse(['1', '--chunk', '4096', '--rate', '1MB'], small);
      expect(cmd.chunk).toBe(4096);
      expect(cmd.rate).toBe(1_000_000);
    });
  });

  describe('--chunk, --rate, --delay-ms', () => {
    it('chunk bounds: 1 byte to 1 MiB', () => {
      expect(parse(['1', '--chunk', '1']).chunk).toBe(1);
      expect(parse(['1', '--chunk', '1MiB']).chunk).toBe(MAX_CHUNK);
      expect(usageError(['1', '--chunk', '16MiB']).message).toBe(`--chunk must be between 1 and ${MAX_CHUNK} bytes, not ${16 * MAX_CHUNK}`);
      expect(usageError(['1', '--chunk', '0']).message).toBe(`--chunk must be between 1 and ${MAX_CHUNK} bytes, not 0`);
      expect(usageError(['1', '--chunk', String(MAX_CHUNK + 1)]).message).toBe(
        `--chunk must be between 1 and ${MAX_CHUNK} bytes, not ${MAX_CHUNK + 1}`,
      );
    });

    it('rate 0 is rejected; 1 byte per second is allowed', () => {
      expect(usageError(['1', '--rate', '0']).message).toBe('--rate must be at least 1 byte per second');
      expect(usageError(['1', '--rate', '0MB']).message).toBe('--rate must be at least 1 byte per second');
      expect(parse(['1', '--rate', '1']).rate).toBe(1);
    });

    it('--delay-ms is a whole number in [0, 3600000]', () => {
      expect(parse(['1', '--delay-ms', '0']).delayMs).toBe(0);
      expect(parse(['1', '--delay-ms', '3600000']).delayMs).toBe(3_600_000);
      expect(usageError(['1', '--delay-ms', '3600001']).message).toBe('--delay-ms must be between 0 and 3600000, not 3600001');
      expect(usageError(['1', '--delay-ms', '1.5']).message).toBe("--delay-ms must be a whole number, not '1.5'");
      expect(usageError(['1', '--delay-ms', '1s']).message).toMatch(/^--delay-ms must be a whole number/);
    });

    it.each([
      ['--chunk', '1.5K'],
      ['--rate', 'fast'],
      ['--stderr', '-1'],
    ])('%s %j is a UsageError that names the flag', (flag, value) => {
      expect(usageError(['1', flag, value]).message.startsWith(`${flag}: invalid size '${value}'`)).toBe(true);
    });
  });

  describe('--seed', () => {
    it('accepts up to 20 digits', () => {
      expect(parse(['1', '--seed', '00000000000000000001']).stdout.seed).toBe('00000000000000000001');
    });

    it.each(['', 'abc', '-1', '1.0', '123456789012345678901', '0x1f', '1\n'])('rejects %j', (seed) => {
      expect(usageError(['1', '--seed', seed]).message.startsWith('--seed must be a whole number of at most 20 digits')).toBe(true);
    });
  });

  describe('--pattern', () => {
    it('an unknown pattern lists the valid ones', () => {
      expect(usageError(['1', '--pattern', 'ones']).message).toBe("unknown pattern 'ones' (expected zero, lines, random)");
      // Case-sensitive.
      expect(usageError(['1', '--pattern', 'Zero']).message).toMatch(/^unknown pattern 'Zero'/);
    });
  });

  describe('--exit and --signal', () => {
    it('--exit is a code in [0, 255]', () => {
      expect(parse(['1', '--exit', '0']).exit).toEqual({ code: 0 });
      expect(parse(['1', '--exit', '255']).exit).toEqual({ code: 255 });
      expect(usageError(['1', '--exit', '256']).message).toBe('--exit must be between 0 and 255, not 256');
      expect(usageError(['1', '--exit', '-1']).message).toBe('--exit must be between 0 and 255, not -1');
    });

    it('--exit with --signal together is a UsageError', () => {
      expect(usageError(['1', '--exit', '1', '--signal', 'TERM']).message).toBe('--exit and --signal cannot be used together');
      expect(usageError(['1', '--signal', 'KILL', '--exit', '0']).message).toBe('--exit and --signal cannot be used together');
    });

    it.each(EXIT_SIGNALS.map((s) => [s]))('--signal %s', (sig) => {
      expect(parse(['1', '--signal', sig]).exit).toEqual({ signal: sig });
    });

    it('a SIG prefix and lower case are accepted and normalised away', () => {
      expect(parse(['1', '--signal', 'SIGTERM']).exit).toEqual({ signal: 'TERM' });
      expect(parse(['1', '--signal', 'sigkill']).exit).toEqual({ signal: 'KILL' });
      expect(parse(['1', '--signal', 'usr1']).exit).toEqual({ signal: 'USR1' });
    });

    it.each(['FOO', 'SIG', '', '9', 'SIGSIGTERM', 'TERM '])('rejects --signal %j, listing the valid ones', (sig) => {
      const err = usageError(['1', '--signal', sig]);
      expect(err.message).toBe(`unknown signal '${sig}' (expected one of ${EXIT_SIGNALS.join(', ')})`);
    });
  });

  describe('arguments', () => {
    it('missing SIZE', () => {
      expect(usageError([]).message).toBe("payload needs a SIZE (e.g. 'payload 160KiB')");
      expect(usageError(['--pattern', 'zero']).message).toBe("payload needs a SIZE (e.g. 'payload 160KiB')");
      expect(usageError([], LIMITS, 'digest').message).toBe("digest needs a SIZE (e.g. 'digest 160KiB')");
    });

    it('an extra positional is named', () => {
      expect(usageError(['1', '2']).message).toBe("payload takes one SIZE, got extra argument '2'");
      expect(usageError(['1', '--', '--chunk']).message).toBe("payload takes one SIZE, got extra argument '--chunk'");
      expect(usageError(['1', 'x'.repeat(5000)], LIMITS, 'get').message).toBe(`get takes one SIZE, got extra argument '${'x'.repeat(40)}…'`);
    });

    it('unknown, repeated and valueless flags name the command', () => {
      expect(usageError(['1', '--bogus']).message).toBe("unknown option '--bogus' for payload");
      expect(usageError(['1', '--seed', '1', '--seed', '2'], LIMITS, 'digest').message).toBe('option --seed given twice for digest');
      expect(usageError(['1', '--chunk']).message).toBe('option --chunk needs a value for payload');
    });

    // Regression (util/flags.ts): inherited Object.prototype names pass
    // as flags and are then silently ignored.
    it('an option named like an Object.prototype member is rejected, not silently ignored', () => {
      expect(usageError(['1', '--constructor', 'x']).message).toBe("unknown option '--constructor' for payload");
    });

    it.each([
      ['negative', '-5', /^SIZE: invalid size '-5': /],
      ['decimal', '1.5M', /^SIZE: invalid size '1\.5M': /],
      ['with a space', '12 MB', /^SIZE: invalid size '12 MB': /],
      ['lower-case suffix', '1m', /^SIZE: invalid size '1m': /],
      ['too big', '99999999999999999999', /^SIZE: invalid size '99999999999999999999': exceeds the maximum/],
      ['with a newline', '1\n2', /^SIZE: invalid size '1\\n2': /],
      ['with line breaks', '1\r\n\u2028\u0085', /^SIZE: invalid size /],
      ['100 000 digits long', `${'9'.repeat(100_000)}x`, /^SIZE: invalid size '9{40}…': /],
    ])('a bad SIZE (%s) is a one-line UsageError', (_what, text, message) => {
      expect(usageError([text]).message).toMatch(message);
    });
  });
});
