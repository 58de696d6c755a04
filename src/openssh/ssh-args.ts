/**
 * The argv that makes OpenSSH's `ssh` talk to one server and nothing else:
 * one key, one known_hosts, strict host key checking, no agent, no config.
 */

/** Where the key and known_hosts for {@link opensshArgs} are. */
export interface OpensshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key file (mode 0600). */
  identityFile: string;
  /** known_hosts file holding the server's key. */
  knownHostsFile: string;
}

/** argv for `ssh` (without `ssh` itself and without the remote command). */
export function opensshArgs(target: OpensshTarget, extra: readonly string[] = []): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(target.port),
    '-i', target.identityFile,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', `UserKnownHostsFile=${target.knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
    ...extra,
    '-l', target.user,
    target.host,
  ];
}
