/**
 * `loopssh audit`: thin over {@link audit} (src/audit/).
 */
import { audit, formatJson, formatTable, READERS, SCENARIOS, type ReaderName } from '../audit/index.js';
import { clip, parseInteger, UsageError } from '../shared/flags.js';
import { parseSize } from '../shared/size.js';
import { parseOrHelp } from './common.js';

/** Help for `loopssh audit`. */
export const AUDIT_HELP = `usage: loopssh audit [options] -- CLIENT-TEMPLATE...

Starts a loopssh server on 127.0.0.1 (a free port, ephemeral keys), runs the
client once per scenario and run, and judges what it delivered: its stdout
(read from a pipe by the scenario's reader, or the file it wrote as {out}),
its stderr where the scenario sends some, and its exit status. Exit status 0
only if every run of every scenario was exact.

placeholders in the template:
  {host} {port} {user}  where to connect, as whom
  {identity}            private key file the server authorizes (mode 0600)
  {known_hosts}         known_hosts file holding the server's key
  {command}             the scenario's remote command (one word)
  {out}                 a file for a client that writes its output itself

options:
  --only A,B            run only these scenarios (optional ones too)
  --huge                add the optional 1 GiB scenario
  --runs N              runs per scenario (default 1)
  --reader NAME         read stdout with this reader in every scenario:
                        ${READERS.join(', ')}
  --slow-rate RATE      the slow reader's bytes per second (default 64KiB)
  --stall-ms N          the stall of the stalled readers (default 2000)
  --timeout-ms N        per run: longer is judged 'hung' (default per scenario)
  --user NAME           {user} (default audit)
  --json                print the report as JSON instead of a table
  --list                list the scenarios and exit

scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(20)} ${s.does}`).join('\n')}

example:
  loopssh audit -- ssh -F /dev/null -p {port} -i {identity} \\
      -o UserKnownHostsFile={known_hosts} -o BatchMode=yes {user}@{host} {command}
`;

/** `loopssh audit`. */
export async function auditCommand(args: string[]): Promise<number> {
  const flags = {
    only: 'value',
    huge: 'boolean',
    runs: 'value',
    reader: 'value',
    'slow-rate': 'value',
    'stall-ms': 'value',
    'timeout-ms': 'value',
    user: 'value',
    json: 'boolean',
    list: 'boolean',
    help: 'boolean',
  } as const;
  const parsed = parseOrHelp(args, { flags, alias: { h: 'help' }, stopAtPositional: true }, AUDIT_HELP, 'audit');
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const get = (k: string): string | undefined => values.get(k) as string | undefined;
  if (values.has('list')) {
    process.stdout.write(SCENARIOS.map((s) => `${s.name}\t${s.command}\t${s.does}\n`).join(''));
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("audit needs a CLIENT-TEMPLATE after '--' (see 'loopssh audit --help')");
  const reader = get('reader');
  if (reader !== undefined && !(READERS as readonly string[]).includes(reader)) {
    throw new UsageError(`unknown reader '${clip(reader)}' (expected ${READERS.join(', ')})`);
  }
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = get(k);
    return v === undefined ? undefined : parseInteger(v, `--${k}`, min, max);
  };
  const slowRate = get('slow-rate');
  const json = values.has('json');
  const report = await audit({
    client: positionals,
    only: get('only')?.split(',').filter((s) => s !== ''),
    huge: values.has('huge'),
    runs: int('runs', 1, 1000),
    reader: reader as ReaderName | undefined,
    pace: {
      ...(slowRate === undefined ? {} : { slowBytesPerSecond: parseSize(slowRate) }),
      ...(get('stall-ms') === undefined ? {} : { stallMs: int('stall-ms', 0, 600_000) }),
    },
    timeoutMs: int('timeout-ms', 100, 3_600_000),
    user: get('user'),
    // Progress on stderr, one line per run, so a long audit shows life.
    onRun: json ? undefined : (scenario, run, outcome) => process.stderr.write(`loopssh audit: ${scenario.name} run ${run}: ${outcome.verdict} (${outcome.ms} ms)\n`),
  });
  process.stdout.write(json ? formatJson(report) : formatTable(report));
  return report.passed ? 0 : 1;
}
