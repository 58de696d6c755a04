/**
 * Real peers for interop tests: OpenSSH's ssh, ssh-keygen and sshd, and
 * Debian's python3 with AsyncSSH. One module, so no test file copies them.
 *
 * A missing peer fails the suite under CI=true (.ci/run installs them) and is
 * skipped loudly on a developer's machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, type KeyPair } from '../../src/openssh/key-format.ts';
import { recordMissingPeer } from './missing-peers.ts';

/** Peers a test can ask for. */
export type PeerName =
  | 'ssh'
  | 'ssh-keygen'
  | 'sshd'
  | 'sftp'
  | 'scp'
  | 'sftp-server'
  | 'asyncssh'
  | 'paramiko'
  | 'dbclient'
  | 'dropbear'
  | 'plink'
  | 'openssl';

const CANDIDATES: Record<PeerName, string[]> = {
  ssh: ['/usr/bin/ssh'],
  'ssh-keygen': ['/usr/bin/ssh-keygen'],
  sshd: ['/usr/sbin/sshd'],
  sftp: ['/usr/bin/sftp'],
  scp: ['/usr/bin/scp'],
  'sftp-server': ['/usr/lib/openssh/sftp-server'],
  // Debian's python3 (not a pyenv one): python3-asyncssh and python3-paramiko install there.
  asyncssh: ['/usr/bin/python3'],
  paramiko: ['/usr/bin/python3'],
  dbclient: ['/usr/bin/dbclient'],
  dropbear: ['/usr/sbin/dropbear'],
  plink: ['/usr/bin/plink'],
  openssl: ['/usr/bin/openssl'],
};

const INSTALL_HINT: Record<PeerName, string> = {
  ssh: 'apt-get install openssh-client',
  'ssh-keygen': 'apt-get install openssh-client',
  sshd: 'apt-get install openssh-server',
  sftp: 'apt-get install openssh-client',
  scp: 'apt-get install openssh-client',
  'sftp-server': 'apt-get install openssh-sftp-server',
  asyncssh: 'apt-get install python3-asyncssh',
  paramiko: 'apt-get install python3-paramiko',
  dbclient: 'apt-get install dropbear-bin',
  dropbear: 'apt-get install dropbear-bin',
  plink: 'apt-get install putty-tools',
  openssl: 'apt-get install openssl',
};

/** Python modules that must import for a peer that is a python3. */
const PYTHON_MODULE: Partial<Record<PeerName, string>> = { asyncssh: 'asyncssh', paramiko: 'paramiko' };

const found = new Map<PeerName, string | undefined>();

function locate(name: PeerName): string | undefined {
  if (found.has(name)) return found.get(name);
  let path = CANDIDATES[name].find((p) => existsSync(p));
  const module = PYTHON_MODULE[name];
  if (path && module) {
    const probe = spawnSync(path, ['-W', 'ignore', '-c', `import ${module}`], { stdio: 'ignore' });
    if (probe.status !== 0) path = undefined;
  }
  found.set(name, path);
  return path;
}

/**
 * The peer's executable, or undefined when it is missing and tests may skip.
 * Under CI=true a missing peer throws: CI must prove interop, not skip it.
 */
export function peer(name: PeerName): string | undefined {
  const path = locate(name);
  if (path) return path;
  const why = `peer '${name}' is missing (${INSTALL_HINT[name]})`;
  if (process.env.CI) throw new Error(`${why}: required under CI`);
  // Loud on a developer's machine: one line per missing peer per file, and a
  // record the end-of-run reporter (test/helpers/missing-peers.ts) sums up.
  process.stderr.write(`\n*** SKIPPING tests that need ${why} ***\n\n`);
  recordMissingPeer(name, INSTALL_HINT[name]);
  return undefined;
}

/** The version line a peer reports, for test names and notes. */
export function peerVersion(name: PeerName): string {
  const path = locate(name);
  if (!path) return 'missing';
  if (name === 'asyncssh') {
    return spawnSync(path, ['-W', 'ignore', '-c', 'import asyncssh; print("AsyncSSH", asyncssh.__version__)'], { encoding: 'utf8' }).stdout.trim();
  }
  if (name === 'paramiko') {
    return spawnSync(path, ['-W', 'ignore', '-c', 'import paramiko; print("paramiko", paramiko.__version__)'], { encoding: 'utf8' }).stdout.trim();
  }
  if (name === 'openssl') return spawnSync(path, ['version'], { encoding: 'utf8' }).stdout.trim();
  const r = spawnSync(path, ['-V'], { encoding: 'utf8' });
  return (r.stderr || r.stdout).trim().split('\n')[0] ?? '';
}

/** A free TCP port on 127.0.0.1 (listen on 0, close, reuse the number). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A temporary folder with a client key pair on disk (mode 0600), for OpenSSH. */
export interface KeyFolder {
  dir: string;
  client: KeyPair;
  clientKeyPath: string;
  remove(): void;
}

/** Makes a temporary folder with a fresh client key written for OpenSSH's `-i`. */
export function keyFolder(): KeyFolder {
  const dir = mkdtempSync(join(tmpdir(), 'loopssh-peer-'));
  const client = generateKeyPair('loopssh-test-client');
  const clientKeyPath = join(dir, 'id_ed25519');
  writeFileSync(clientKeyPath, client.privateKey, { mode: 0o600 });
  writeFileSync(`${clientKeyPath}.pub`, `${client.publicKey}\n`);
  return { dir, client, clientKeyPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A running OpenSSH sshd on a free loopback port. */
export interface Sshd {
  port: number;
  /** `ssh-ed25519 AAAA...` of its host key. */
  hostPublicKey: string;
  /** The login user (the user running the tests). */
  user: string;
  process: ChildProcess;
  /** Kills it by pid and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts its own sshd (not the system's) on a free 127.0.0.1 port, with a
 * temporary config, host key and authorized_keys holding `clientPublicKey`,
 * in the foreground (-D) so the test owns its pid.
 */
export async function startSshd(sshdPath: string, folder: KeyFolder): Promise<Sshd> {
  const port = await freePort();
  const host = generateKeyPair('loopssh-test-sshd');
  const hostKeyPath = join(folder.dir, 'sshd_host_ed25519');
  writeFileSync(hostKeyPath, host.privateKey, { mode: 0o600 });
  const authorized = join(folder.dir, 'authorized_keys');
  writeFileSync(authorized, `${folder.client.publicKey}\n`, { mode: 0o600 });
  const config = join(folder.dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyPath}`,
      `AuthorizedKeysFile ${authorized}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${join(folder.dir, 'sshd.pid')}`,
      'LogLevel ERROR',
      'MaxSessions 64',
      'MaxStartups 64',
      // The loopssh SFTP client tests talk to OpenSSH's own sftp-server.
      ...(existsSync('/usr/lib/openssh/sftp-server') ? ['Subsystem sftp /usr/lib/openssh/sftp-server'] : []),
      '',
    ].join('\n'),
  );
  // sshd insists on its privilege separation folder.
  if (!existsSync('/run/sshd')) spawnSync('mkdir', ['-p', '-m', '0755', '/run/sshd']);
  const child = spawn(sshdPath, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // Ready when the port accepts connections.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited at start: ${stderr.trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = netConnect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sshd did not listen on ${port}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    hostPublicKey: host.publicKey.split(' ').slice(0, 2).join(' '),
    user: userInfo().username,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
