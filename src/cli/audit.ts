/**
 * `loopssh audit`: thin over {@link audit} (src/audit/).
 */
import { audit, formatJson, formatMarkdown, formatTable, READERS, SCENARIOS, type ReaderName } from '../audit/index.js';
import { flagTable, parseInteger, parseSizeFlag, UsageError, type FlagTable } from '../util/flags.js';
import { clip } from '../util/text.js';
import { helpFlag, parseOrHelp, type CliCommand } from './common.js';

/** `loopssh audit`: flags, parser and help in one table. */
export const AUDIT_COMMAND = {
  name: 'audit',
  usage: 'audit [options] -- CLIENT-TEMPLATE...',
  about: `Starts a loopssh server on 127.0.0.1 (a free port, ephemeral keys), runs the
client once per scenario and run, and judges what it delivered: its stdout
(read from a pipe by the scenario's reader, or the file it wrote as {out}),
its stderr where the scenario sends some, and its exit status. Verdicts:
exact, truncated, corrupted, duplicated, wrong exit status, hung. Exit status
0 only if every run of every scenario was exact; 1 otherwise.

placeholders in the template:
  {host} {port} {user}  where to connect, as whom
  {identity}            private key file the server authorizes (mode 0600)
  {known_hosts}         known_hosts file holding the server's key
  {command}             the scenario's remote command (one word)
  {out}                 a file for a client that writes its output itself
  {path}                the SFTP scenario's remote path (with its fault suffix)

stdin: /dev/null, except in tiny-window, which feeds 1 MiB through a pipe
on fd 0 and judges what the server received (the client must forward it:
ssh does; loopssh exec needs --stdin /dev/stdin).

scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(20)}${s.does}`).join('\n')}

example:
  loopssh audit -- ssh -F /dev/null -p {port} -i {identity} \\
      -o UserKnownHostsFile={known_hosts} -o BatchMode=yes {user}@{host} {command}`,
  flags: flagTable({
    only: { kind: 'value', arg: 'A,B', section: 'options', help: 'run only these scenarios (optional ones too)' },
    huge: { kind: 'boolean', section: 'options', help: 'add the optional 1 GiB scenario (tiny-window only with --only)' },
    sftp: { kind: 'boolean', section: 'options', help: 'run the SFTP scenarios instead (template: get {path} into {out})' },
    runs: { kind: 'value', arg: 'N', section: 'options', help: 'runs per scenario (default 1)' },
    reader: { kind: 'value', arg: 'NAME', section: 'options', help: `read stdout with this reader in every scenario:\n${READERS.join(', ')}` },
    'slow-rate': { kind: 'value', arg: 'RATE', section: 'options', help: "the slow reader's bytes per second (default 64KiB)" },
    'stall-ms': { kind: 'value', arg: 'N', section: 'options', help: 'the stall of the stalled readers (default 2000)' },
    'timeout-ms': { kind: 'value', arg: 'N', section: 'options', help: "per run; longer is judged 'hung' (default per scenario)" },
    user: { kind: 'value', arg: 'NAME', section: 'options', help: '{user} (default audit)' },
    json: { kind: 'boolean', section: 'options', help: 'print the report as JSON instead of a table' },
    markdown: { kind: 'boolean', section: 'options', help: 'print the table as Markdown (as in the README)' },
    list: { kind: 'boolean', section: 'options', help: 'list the scenarios (name, command, what it does) and exit' },
    ...helpFlag('options'),
  }),
  stopAtPositional: true,
} satisfies CliCommand<FlagTable>;

/** `loopssh audit`. */
export async function auditCommand(args: string[]): Promise<number> {
  const parsed = parseOrHelp(args, AUDIT_COMMAND);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (values.list) {
    process.stdout.write(SCENARIOS.map((s) => `${s.name}\t${s.command}\t${s.does}\n`).join(''));
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("audit needs a CLIENT-TEMPLATE after '--' (see 'loopssh audit --help')");
  const reader = values.reader;
  if (reader !== undefined && !(READERS as readonly string[]).includes(reader)) {
    throw new UsageError(`unknown reader '${clip(reader)}' (expected ${READERS.join(', ')})`);
  }
  const int = (text: string | undefined, name: string, min: number, max: number): number | undefined =>
    text === undefined ? undefined : parseInteger(text, name, min, max);
  const slowRate = values['slow-rate'];
  const stallMs = int(values['stall-ms'], '--stall-ms', 0, 600_000);
  const json = values.json === true;
  const report = await audit({
    client: positionals,
    only: values.only?.split(',').filter((s) => s !== ''),
    huge: values.huge === true,
    sftp: values.sftp === true,
    runs: int(values.runs, '--runs', 1, 1000),
    reader: reader as ReaderName | undefined,
    pace: {
      ...(slowRate === undefined ? {} : { slowBytesPerSecond: parseSizeFlag(slowRate, '--slow-rate') }),
      ...(stallMs === undefined ? {} : { stallMs }),
    },
    timeoutMs: int(values['timeout-ms'], '--timeout-ms', 100, 3_600_000),
    user: values.user,
    // Progress on stderr, one line per run, so a long audit shows life.
    onRun: json ? undefined : (scenario, run, outcome) => process.stderr.write(`loopssh audit: ${scenario.name} run ${run}: ${outcome.verdict} (${outcome.ms} ms)\n`),
  });
  process.stdout.write(json ? formatJson(report) : values.markdown ? formatMarkdown(report) : formatTable(report));
  return report.passed ? 0 : 1;
}
