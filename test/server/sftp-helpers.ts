/**
 * Shared set-up of the SFTP/SCP tests: OpenSSH `sftp`/`scp` argv for a
 * loopssh server, and running them.
 */
import { readFileSync, statSync } from 'node:fs';
import type { ServerHandle } from '../../src/server/index.ts';
import { sha256 } from '../helpers/oracle.ts';
import { runProcess, type ProcessResult } from '../helpers/run-process.ts';

/** `-P PORT` plus sshArgs()'s options (one key, pinned known_hosts, no config), and `user@host`. */
export function fileToolArgs(server: ServerHandle): { options: string[]; login: string } {
  const args = server.sshArgs();
  // sshArgs() is [-F /dev/null, -p PORT, ...options, -l USER, HOST]; sftp and scp take -P and user@host.
  const portAt = args.indexOf('-p');
  const port = args[portAt + 1] as string;
  const rest = args.filter((_, i) => i !== portAt && i !== portAt + 1);
  const host = rest.pop() as string;
  const user = rest.pop() as string;
  rest.pop(); // -l
  return { options: ['-P', port, ...rest], login: `${user}@${host}` };
}

/** Runs OpenSSH's `sftp -b -` with `commands` on stdin. */
export function sftpBatch(sftpPath: string, server: ServerHandle, commands: string, cwd: string): Promise<ProcessResult> {
  const { options, login } = fileToolArgs(server);
  return runProcess(sftpPath, [...options, '-b', '-', login], { cwd, input: commands, timeoutMs: 300_000 });
}

/** Runs OpenSSH's `scp` with `extra` flags from `from` to `to` (a remote side written as `:PATH`). */
export function scp(scpPath: string, server: ServerHandle, extra: readonly string[], from: string, to: string, cwd: string): Promise<ProcessResult> {
  const { options, login } = fileToolArgs(server);
  const side = (p: string): string => (p.startsWith(':') ? `${login}${p}` : p);
  return runProcess(scpPath, [...options, ...extra, side(from), side(to)], { cwd, timeoutMs: 300_000 });
}

/** Length and SHA-256 of a local file. */
export function fileDigest(path: string): [number, string] {
  return [statSync(path).size, sha256(readFileSync(path))];
}
