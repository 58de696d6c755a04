/**
 * Client templates for `loopssh audit` tests, one per client under audit.
 * The README's "What we found" rows are reproduced with these same words.
 */
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOOPSSH = `${ROOT}bin/loopssh.js`;
const CLIENTS_DIR = fileURLToPath(new URL('./clients/', import.meta.url));

/** OpenSSH's ssh with nothing from the user's config, agent or known_hosts. */
export function opensshTemplate(ssh: string): string[] {
  return [
    ssh, '-F', '/dev/null', '-p', '{port}', '-i', '{identity}',
    '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none',
    '-o', 'UserKnownHostsFile={known_hosts}', '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
    '-l', '{user}', '{host}', '{command}',
  ];
}

/** The loopssh CLI (`naive`: its --naive mode, the bug on request). */
export function loopsshTemplate(naive = false): string[] {
  return [
    process.execPath, LOOPSSH, 'exec', ...(naive ? ['--naive'] : []),
    '--host', '{host}', '--port', '{port}', '--user', '{user}', '--identity', '{identity}', '--known-hosts', '{known_hosts}',
    '--', '{command}',
  ];
}

/** A Python client script from test/audit/clients/ (asyncssh_audit.py, paramiko_audit.py). */
export function pythonTemplate(python: string, script: 'asyncssh_audit.py' | 'paramiko_audit.py'): string[] {
  return [python, '-W', 'ignore', `${CLIENTS_DIR}${script}`, '{host}', '{port}', '{user}', '{identity}', '{known_hosts}', '{command}'];
}

/** `loopssh sftp get {path} -o {out}`: the loopssh CLI as an SFTP download client. */
export function loopsshSftpTemplate(): string[] {
  return [
    process.execPath, LOOPSSH, 'sftp', 'get', '{path}', '-o', '{out}', '-q',
    '--host', '{host}', '--port', '{port}', '--user', '{user}', '--identity', '{identity}', '--known-hosts', '{known_hosts}',
  ];
}

/** A Python SFTP download script from test/audit/clients/: `get {path}` into `{out}` with the library's own `get()`. */
export function pythonSftpTemplate(python: string, script: 'asyncssh_sftp_get.py' | 'paramiko_sftp_get.py'): string[] {
  return [python, '-W', 'ignore', `${CLIENTS_DIR}${script}`, '{host}', '{port}', '{user}', '{identity}', '{known_hosts}', '{path}', '{out}'];
}

/**
 * OpenSSH's `sftp -b -` fed the batch line `get {path} {out}` (through sh,
 * since the audit gives clients no stdin); `-b` makes a failed command exit 1.
 */
export function opensshSftpTemplate(sftp: string): string[] {
  const words = [
    sftp, '-F', '/dev/null', '-P', '{port}', '-i', '{identity}',
    '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none',
    '-o', 'UserKnownHostsFile={known_hosts}', '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
    '-b', '-', '{user}@{host}',
  ];
  return ['sh', '-c', `printf 'get %s %s\\n' "$1" "$2" | ${words.map((w) => `'${w}'`).join(' ')}`, 'audit-sftp', '{path}', '{out}'];
}
