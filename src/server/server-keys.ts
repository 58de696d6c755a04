/**
 * The keys a server runs with: its host key and the public keys it
 * authorizes, from a keys folder or generated in memory.
 */
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import { UsageError } from '../util/flags.js';
import { parseAuthorizedKeys } from '../openssh/authorized-keys.js';
import { ensureKeyDir } from '../openssh/key-dir.js';
import { generateKeyPair, type ParsedKey } from '../openssh/key-format.js';
import type { ServerHandle, ServerOptions } from './types.js';

/** The keys a server was started with. */
export interface LoadedKeys {
  hostKey: string | Buffer;
  authorized: ParsedKey[];
  /** The client private key, when this server knows one it authorizes. */
  clientKey?: string;
  keyFiles?: ServerHandle['keyFiles'];
}

/** The host key's public half, in the two forms clients pin. */
export interface HostPublicKey {
  /** The SSH wire blob, for fingerprints and known_hosts lines. */
  blob: Buffer;
  /** `ssh-ed25519 AAAA...`. */
  line: string;
}

/** Reads (or generates) the host key and the authorized keys `options` ask for. */
export async function loadKeys(options: ServerOptions): Promise<LoadedKeys> {
  const authText = (keys: string | readonly string[]): string => (typeof keys === 'string' ? keys : keys.join('\n'));
  if (options.keysDir !== undefined) {
    const files = await ensureKeyDir(options.keysDir);
    const usesFileAuth = options.authorizedKeys === undefined;
    return {
      hostKey: options.hostKey ?? (await readFile(files.hostKeyPath)),
      authorized: parseAuthorizedKeys(usesFileAuth ? await readFile(files.authorizedKeysPath, 'utf8') : authText(options.authorizedKeys as string)).keys.map((e) => e.key),
      clientKey: usesFileAuth ? await readFile(files.clientKeyPath, 'utf8') : undefined,
      keyFiles: usesFileAuth ? { clientKeyPath: files.clientKeyPath, authorizedKeysPath: files.authorizedKeysPath } : undefined,
    };
  }
  // Ephemeral: nothing is written to disk; a fresh client key is authorized
  // unless the caller brought its own authorized keys.
  const client = options.authorizedKeys === undefined ? generateKeyPair('loopssh-ephemeral-client') : undefined;
  return {
    hostKey: options.hostKey ?? generateKeyPair('loopssh-ephemeral-host').privateKey,
    authorized: parseAuthorizedKeys(client ? client.publicKey : authText(options.authorizedKeys as string)).keys.map((e) => e.key),
    clientKey: client?.privateKey,
  };
}

/** The public half of a host private key; a key ssh2 cannot parse is a one-line UsageError. */
export function hostPublicKey(hostKey: string | Buffer): HostPublicKey {
  const parsed = ssh2.utils.parseKey(hostKey);
  if (parsed instanceof Error) throw new UsageError(`host key: ${parsed.message}`);
  const blob = parsed.getPublicSSH();
  return { blob, line: `${parsed.type} ${blob.toString('base64')}` };
}
