/**
 * The `loopssh` command line: a thin layer over the library API.
 */
import { auditCommand, AUDIT_COMMAND } from './audit.js';
import { commandHelp, reportError, EXIT_USAGE } from './common.js';
import { demoCommand, DEMO_COMMAND } from './demo.js';
import { execCommand, EXEC_COMMAND, getCommand, GET_COMMAND } from './run.js';
import { serveCommand, SERVE_COMMAND } from './serve.js';
import { sftpCommand, SFTP_COMMAND } from './sftp.js';

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

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; help: string }> = {
  serve: { run: serveCommand, help: commandHelp(SERVE_COMMAND) },
  exec: { run: execCommand, help: commandHelp(EXEC_COMMAND) },
  get: { run: getCommand, help: commandHelp(GET_COMMAND) },
  sftp: { run: sftpCommand, help: commandHelp(SFTP_COMMAND) },
  audit: { run: auditCommand, help: commandHelp(AUDIT_COMMAND) },
  demo: { run: demoCommand, help: commandHelp(DEMO_COMMAND) },
};

/** Runs the CLI with `args` (without node and script) and resolves to the exit status. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const entry = topic === undefined ? undefined : COMMANDS[topic];
    if (topic !== undefined && !entry) {
      process.stderr.write(`loopssh: unknown command '${topic}' (try 'loopssh --help')\n`);
      return EXIT_USAGE;
    }
    process.stdout.write(entry ? entry.help : MAIN_HELP);
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    process.stderr.write(`loopssh: unknown command '${name}' (try 'loopssh --help')\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest);
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
