/**
 * Help comes from the same table that parses (loopssh issue 13.5): every flag
 * a command's parser accepts is in its help, every flag its help lists is
 * accepted, each exactly once, aliases included. No process is started.
 */
import { describe, expect, it } from 'vitest';
import { commandHelp, type CliCommand } from '../../src/cli/common.ts';
import { DEMO_COMMAND } from '../../src/cli/demo.ts';
import { EXEC_COMMAND, GET_COMMAND } from '../../src/cli/run.ts';
import { SERVE_COMMAND, serverOptions } from '../../src/cli/serve.ts';
import { HELP_TEXT, parsePayloadCommand } from '../../src/server/builtins.ts';
import { flagSpec, parseTable, UsageError, type FlagTable } from '../../src/util/flags.ts';

const COMMANDS: CliCommand<FlagTable>[] = [SERVE_COMMAND, EXEC_COMMAND, GET_COMMAND, DEMO_COMMAND];

/** The flags a help text lists: `--name`, and `-x` where a line starts `-x, --name`. */
function listed(help: string): { names: string[]; aliases: Map<string, string> } {
  const names: string[] = [];
  const aliases = new Map<string, string>();
  for (const line of help.split('\n')) {
    const m = /^ +(?:-([A-Za-z]), )?--([a-z][a-z0-9-]*)/.exec(line);
    if (!m) continue;
    names.push(m[2] as string);
    if (m[1] !== undefined) aliases.set(m[1], m[2] as string);
  }
  return { names, aliases };
}

/** Arguments that give flag `name` (with a value when it takes one). */
function give(table: FlagTable, flag: string, name: string): string[] {
  return table[name]?.kind === 'value' ? [flag, 'v'] : [flag];
}

describe.each(COMMANDS.map((c) => [c.name, c] as const))('loopssh %s', (_name, command) => {
  const help = commandHelp(command);
  const { names, aliases } = listed(help);
  const spec = flagSpec(command.flags);

  it('help lists every flag the parser accepts, each once, and nothing else', () => {
    expect(names.length).toBeGreaterThan(0);
    expect([...names].sort()).toEqual(Object.keys(spec.flags).sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it('help shows every short alias the parser accepts, next to its long name', () => {
    expect(Object.fromEntries(aliases)).toEqual(spec.alias);
  });

  it('the parser accepts every flag and alias the help lists, under its long name', () => {
    for (const name of names) {
      const { values } = parseTable(give(command.flags, `--${name}`, name), command.flags, command.name);
      expect(Object.keys(values)).toEqual([name]);
    }
    for (const [alias, name] of aliases) {
      const { values } = parseTable(give(command.flags, `-${alias}`, name), command.flags, command.name);
      expect(Object.keys(values)).toEqual([name]);
    }
  });

  it('the parser rejects a flag the help does not list', () => {
    expect(() => parseTable(['--not-a-flag'], command.flags, command.name)).toThrow(UsageError);
  });

  it('help starts with the usage line and ends with one newline', () => {
    expect(help.startsWith(`usage: loopssh ${command.name}`)).toBe(true);
    expect(help.endsWith('\n')).toBe(true);
    expect(help.endsWith('\n\n')).toBe(false);
  });
});

describe('aliases and defaults that used to be missing from help', () => {
  it('exec and get list -i, --identity and -p, --port with their own default port', () => {
    const exec = commandHelp(EXEC_COMMAND);
    const get = commandHelp(GET_COMMAND);
    for (const help of [exec, get]) {
      expect(help).toMatch(/^ {2}-i, --identity FILE +private key/m);
      expect(help).toMatch(/^ {2}-p, --port PORT +server port/m);
    }
    expect(exec).toMatch(/--port PORT +server port \(default 22\)/);
    expect(get).toMatch(/--port PORT +server port \(default 2222\)/);
  });

  it('serve has a flag for every ServerLimits field, stallTimeoutMs included', () => {
    const limits = serverOptions(
      parseTable(
        [
          ...['--max-payload', '1KiB', '--max-connections', '3', '--max-channels', '4', '--login-grace-ms', '500', '--idle-timeout-ms', '600'],
          ...['--max-auth-tries', '2', '--stall-timeout-ms', '700', '--max-startups', '5:50:9', '--version-timeout-ms', '800'],
          ...['--password-guess-burst', '11', '--password-guesses-per-second', '12', '--max-digest', '2KiB', '--max-buffers', '3KiB'],
          ...['--rekey-interval-ms', '900'],
        ],
        SERVE_COMMAND.flags,
      ).values,
    ).limits;
    expect(limits).toEqual({
      maxPayloadBytes: 1024,
      maxConnections: 3,
      maxChannelsPerConnection: 4,
      loginGraceMs: 500,
      idleTimeoutMs: 600,
      maxAuthTries: 2,
      stallTimeoutMs: 700,
      maxStartups: { start: 5, rate: 50, full: 9 },
      versionTimeoutMs: 800,
      passwordGuessBurst: 11,
      passwordGuessesPerSecond: 12,
      maxDigestBytes: 2048,
      maxBufferBytes: 3072,
      rekeyIntervalMs: 900,
    });
  });

  it('serve offers compression only with --compression', () => {
    const options = (args: string[]) => serverOptions(parseTable(args, SERVE_COMMAND.flags).values);
    expect(options([]).algorithms).toBeUndefined();
    expect(options(['--compression']).algorithms).toEqual({ compress: ['none', 'zlib@openssh.com', 'zlib'] });
  });

  it('a bad --max-payload names the flag', () => {
    const values = parseTable(['--max-payload', '1.5M'], SERVE_COMMAND.flags).values;
    expect(() => serverOptions(values)).toThrow(/^--max-payload: invalid size '1\.5M'/);
  });
});

describe("the server's help command", () => {
  it('lists each payload flag once, and payload accepts each flag it lists', () => {
    const { names } = listed(HELP_TEXT);
    expect(names.sort()).toEqual(['chunk', 'delay-ms', 'exit', 'pattern', 'rate', 'seed', 'signal', 'stderr']);
    const valid: Record<string, string> = { chunk: '1K', 'delay-ms': '0', exit: '0', pattern: 'zero', rate: '1K', seed: '1', signal: 'TERM', stderr: '1K' };
    for (const name of names) {
      expect(() => parsePayloadCommand(['1K', `--${name}`, valid[name] as string], { maxPayloadBytes: 1 << 20 })).not.toThrow();
    }
  });
});
