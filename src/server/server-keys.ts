/**
 * The keys a server runs with: its host key and the public keys it
 * authorizes, from a keys folder or generated in memory.
 */
import ssh2 from 'ssh2';
import { UsageError } from '../util/flags.js';
import { ensureKeyDir } from '../openssh/key-dir.js';
import { generateKeyPair, readPrivateKey } from '../openssh/key-format.js';
import { readStrictFile, strictFileCheck } from '../openssh/strict-modes.js';
import { parseServerKeys, type ServerKey } from './auth.js';
import type { ServerHandle, ServerOptions } from './types.js';

/** The keys a server was started with. */
export interface LoadedKeys {
  hostKey: string | Buffer;
  authorized: ServerKey[];
  /** One line per `authorized_keys` line not used for its options (the server logs each). */
  refusedLines: string[];
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

/**
 * Reads (or generates) the host key and the authorized keys `options` ask
 * for. Files of a keys folder are read only if they pass StrictModes
 * (owner is the user or root, no group/other write; see ../openssh/strict-modes.ts),
 * checked on the open file.
 */
export async function loadKeys(options: ServerOptions): Promise<LoadedKeys> {
  const refusedLines: string[] = [];
  const refused = (message: string): void => void refusedLines.push(message);
  if (options.keysDir !== undefined) {
    const files = await ensureKeyDir(options.keysDir);
    const usesFileAuth = options.authorizedKeys === undefined;
    const authorizedKeys = options.authorizedKeys ?? readStrictFile(files.authorizedKeysPath, `authorized_keys ${files.authorizedKeysPath}`).toString('utf8');
    return {
      hostKey: options.hostKey ?? readPrivateKey(files.hostKeyPath, strictFileCheck),
      authorized: parseServerKeys(authorizedKeys, usesFileAuth ? files.authorizedKeysPath : 'authorizedKeys', refused),
      refusedLines,
      clientKey: usesFileAuth ? readPrivateKey(files.clientKeyPath, strictFileCheck).toString('utf8') : undefined,
      keyFiles: usesFileAuth ? { clientKeyPath: files.clientKeyPath, authorizedKeysPath: files.authorizedKeysPath } : undefined,
    };
  }
  // Ephemeral: nothing is written to disk; a fresh client key is authorized
  // unless the caller brought its own authorized keys.
  const client = options.authorizedKeys === undefined ? generateKeyPair('loopssh-ephemeral-client') : undefined;
  return {
    hostKey: options.hostKey ?? generateKeyPair('loopssh-ephemeral-host').privateKey,
    authorized: parseServerKeys(client ? client.publicKey : (options.authorizedKeys as NonNullable<ServerOptions['authorizedKeys']>), 'authorizedKeys', refused),
    refusedLines,
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
