/**
 * Connection details a running server hands to its clients and tests:
 * options for the loopssh client or ssh2, and argv for OpenSSH's `ssh` with
 * temporary key files.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../util/flags.js';
import { fingerprint } from '../openssh/key-format.js';
import { knownHostsLine } from '../openssh/known-hosts.js';
import { opensshArgs } from '../openssh/ssh-args.js';
import type { HostPublicKey } from './server-keys.js';
import type { ClientOptions } from './types.js';

/** The client-facing half of a {@link ServerHandle}, plus the cleanup of its temp files. */
export interface ClientFixture {
  hostKeyFingerprint: string;
  clientOptions(overrides?: Partial<ClientOptions>): ClientOptions;
  sshArgs(extra?: readonly string[]): string[];
  /** Removes the temp files {@link sshArgs} wrote, if any. */
  cleanup(): void;
}

/** Builds the fixture for a server at `host:port`; `clientKey` is the private key it authorizes, if it knows one. */
export function clientFixture(host: string, port: number, hostKey: HostPublicKey, clientKey: string | undefined): ClientFixture {
  const hostKeyFingerprint = fingerprint(hostKey.blob);
  const clientOptions = (overrides: Partial<ClientOptions> = {}): ClientOptions => {
    if (clientKey === undefined && overrides.privateKey === undefined) {
      throw new UsageError('clientOptions(): this server was given authorizedKeys but no client key; pass { privateKey }');
    }
    return {
      host,
      port,
      user: 'loopssh',
      privateKey: clientKey as string,
      hostKey: hostKeyFingerprint,
      knownHosts: `${knownHostsLine(host, port, hostKey.blob)}\n`,
      ...overrides,
    };
  };
  // Written on first use only: most tests never start OpenSSH. Sync I/O is
  // fine here, it runs once per server in test set-up, never per connection.
  let sshDir: string | undefined;
  const sshArgs = (extra: readonly string[] = []): string[] => {
    const client = clientOptions();
    if (!sshDir) {
      sshDir = mkdtempSync(join(tmpdir(), 'loopssh-ssh-'));
      writeFileSync(join(sshDir, 'id_ed25519'), client.privateKey, { mode: 0o600 });
      writeFileSync(join(sshDir, 'known_hosts'), client.knownHosts, { mode: 0o600 });
    }
    return opensshArgs({ host, port, user: client.user, identityFile: join(sshDir, 'id_ed25519'), knownHostsFile: join(sshDir, 'known_hosts') }, extra);
  };
  const cleanup = (): void => {
    if (sshDir) rmSync(sshDir, { recursive: true, force: true });
  };
  return { hostKeyFingerprint, clientOptions, sshArgs, cleanup };
}
