/**
 * The `loopssh` command line: a thin layer over the library API.
 */
import { commandHelp, reportError, EXIT_USAGE, type CliCommand } from './common.js';
import type { FlagTable } from '../util/flags.js';

const MAIN_HELP = `loopssh: an SSH server + client pair that never loses output

usage:
  loopssh serve [options]               run the server (default 127.0.0.1:2222)
  loopssh exec [options] -- COMMAND...  run a command on any SSH server
  loopssh get SIZE [options]            fetch a payload and verify it byte for byte
  loopssh sftp get REMOTE [-o FILE]     download over SFTP (any SFTP server)
  loopssh sftp put FILE REMOTE          upload over SFTP
  loopssh audit [options] -- CLIENT...  check an SSH client for lost output
  loopssh demo                          the tracked vs naive close, side by side
  loopssh help [COMMAND]                help for a command

Run 'loopssh COMMAND --help' for a command's options.
`;

/** A command: its runner and its flag table (for its help), loaded on first use. */
interface LoadedCommand {
  run: (args: string[]) => Promise<number>;
  table: CliCommand<FlagTable>;
}

// Loaded lazily: a command pulls in only its own modules (\`sftp get\` does
// not load the server, the audit or the demo: ~60 ms less start-up).
const COMMANDS: Record<string, () => Promise<LoadedCommand>> = {
  serve: async () => import('./serve.js').then((m) => ({ run: m.serveCommand, table: m.SERVE_COMMAND })),
  exec: async () => import('./run.js').then((m) => ({ run: m.execCommand, table: m.EXEC_COMMAND })),
  get: async () => import('./run.js').then((m) => ({ run: m.getCommand, table: m.GET_COMMAND })),
  sftp: async () => import('./sftp.js').then((m) => ({ run: m.sftpCommand, table: m.SFTP_COMMAND })),
  audit: async () => import('./audit.js').then((m) => ({ run: m.auditCommand, table: m.AUDIT_COMMAND })),
  demo: async () => import('./demo.js').then((m) => ({ run: m.demoCommand, table: m.DEMO_COMMAND })),
};

/** Runs the CLI with `args` (without node and script) and resolves to the exit status. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const load = topic === undefined ? undefined : Object.hasOwn(COMMANDS, topic) ? COMMANDS[topic] : undefined;
    if (topic !== undefined && !load) {
      process.stderr.write(`loopssh: unknown command '${topic}' (try 'loopssh --help')\n`);
      return EXIT_USAGE;
    }
    process.stdout.write(load ? commandHelp((await load()).table) : MAIN_HELP);
    return name === undefined ? EXIT_USAGE : 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    process.stderr.write(`loopssh: unknown command '${name}' (try 'loopssh --help')\n`);
    return EXIT_USAGE;
  }
  try {
    return await (await load()).run(rest);
  } catch (err) {
    return reportError(err);
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isEntry || process.env.LOOPSSH_CLI_ENTRY === '1') {
  // exitCode, not exit(): pending writes to stdout and files still complete.
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => (process.exitCode = reportError(err)),
  );
}
