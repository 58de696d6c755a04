/**
 * What the measurements share: a temporary folder and its cleanups, the
 * compiled loopssh children, the bench's client identity, and the servers
 * (`loopssh serve` processes and an OpenSSH sshd of our own).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprint } from '../../src/openssh/key-format.ts';
import { knownHostsLine } from '../../src/openssh/known-hosts.ts';
import { freePort, keyFolder, startSshd, type KeyFolder, type Sshd } from '../../test/helpers/peers.ts';
import { compileTree } from '../build.ts';
import { ROOT } from './options.ts';

/** A running `loopssh serve` child. */
export interface Serve {
  port: number;
  pid: number;
  fingerprint: string;
  knownHostsFile: string;
  child: ChildProcess;
  log: () => string;
}

/** The OpenSSH sshd the bench started, with what clients need to trust it. */
export interface BenchSshd {
  sshd: Sshd;
  knownHostsFile: string;
  fingerprint: string;
}

/** Shared state of one bench invocation; `cleanup()` undoes everything it started. */
export class BenchEnv {
  readonly tmp = mkdtempSync(join(tmpdir(), 'loopssh-bench-'));
  readonly build = join(this.tmp, 'build');
  /** The bench's one client identity: authorized by `loopssh serve` and by sshd. */
  readonly keys: KeyFolder = keyFolder();
  runnerUsed: 'compiled' | 'tsx' = 'tsx';
  /** The temporary project loopssh's packed tarball was installed into (path cli-pack). */
  installed: string | undefined;
  serve: Serve | undefined;
  sshd: BenchSshd | undefined;
  /** A folder every `loopssh serve` serves writable at /disk (the SFTP put rows land there). */
  serveSftpDir: string | undefined;
  readonly #cleanups: (() => Promise<void> | void)[] = [() => rmSync(this.tmp, { recursive: true, force: true }), () => this.keys.remove()];
  #cleaning: Promise<void> | undefined;
  #freshServes = 0;

  /** Compiles src/ and the bench children to plain JS (runner 'compiled'); falls back to tsx. */
  compile(runner: 'compiled' | 'tsx', log: (line: string) => void): void {
    this.runnerUsed = runner;
    if (runner !== 'compiled') return;
    const t = performance.now();
    const built = compileTree(ROOT, this.build, ['bench/client.ts', 'bench/inproc.ts']);
    if (!built.ok) {
      log(`cannot compile (${built.reason}); running loopssh processes through tsx`);
      this.runnerUsed = 'tsx';
    } else {
      log(`compiled src/ and the bench children to ${this.build} in ${Math.round(performance.now() - t)} ms`);
    }
  }

  /** argv prefix that runs a TypeScript entry of the checkout (`bench/client`, `src/cli/main`). */
  nodeScript(entry: string, nodeFlags: string[] = []): string[] {
    if (this.runnerUsed === 'compiled') return [process.execPath, ...nodeFlags, join(this.build, `${entry}.js`)];
    return [process.execPath, ...nodeFlags, '--import', 'tsx', join(ROOT, `${entry}.ts`)];
  }

  /**
   * `npm pack` (its prepare step builds dist/), then `npm install` of the
   * tarball into a fresh temporary project, as test/package/pack.test.ts
   * does (--prefer-offline: npm's cache where it has the packages). Install
   * scripts are skipped, so ssh2's native crypto binding is not compiled
   * there: the checkout's build of the same ssh2 version is copied in (the
   * files `npm rebuild ssh2` would produce), or the path would measure
   * ssh2's pure-JS fallback. Returns the project folder.
   */
  installPacked(log: (line: string) => void): string {
    const t = performance.now();
    const dir = join(this.tmp, 'installed');
    mkdirSync(dir);
    const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim()
      .split('\n')
      .at(-1) as string;
    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'loopssh-bench-user', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', join(dir, tarball)], {
      cwd: project,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const version = (p: string): string => (JSON.parse(readFileSync(join(p, 'ssh2', 'package.json'), 'utf8')) as { version: string }).version;
    const ours = join(ROOT, 'node_modules');
    const theirs = join(project, 'node_modules');
    const build = join('ssh2', 'lib', 'protocol', 'crypto', 'build');
    if (existsSync(join(ours, build)) && version(ours) === version(theirs)) cpSync(join(ours, build), join(theirs, build), { recursive: true });
    else log(`cannot give the installed package ssh2's native binding (checkout's ssh2 ${version(ours)}, installed ${version(theirs)}): its figures are pure-JS crypto`);
    log(`packed ${tarball} and installed it into ${project} in ${Math.round(performance.now() - t)} ms`);
    this.installed = project;
    return project;
  }

  /** Registers an undo step, run in reverse order by {@link cleanup}. */
  onCleanup(fn: () => Promise<void> | void): void {
    this.#cleanups.push(fn);
  }

  /** Stops every server and removes the temporary folder (once). */
  cleanup(): Promise<void> {
    this.#cleaning ??= (async () => {
      for (const fn of this.#cleanups.reverse()) {
        try {
          await fn();
        } catch {
          // best effort
        }
      }
    })();
    return this.#cleaning;
  }

  /** Starts `loopssh serve` on a free port with a temporary --keys folder that authorizes the bench's key. */
  async startServe(name = 'serve', nodeFlags: string[] = []): Promise<Serve> {
    const keysDir = join(this.tmp, `${name}-keys`);
    mkdirSync(keysDir, { mode: 0o700 });
    writeFileSync(join(keysDir, 'authorized_keys'), `${this.keys.client.publicKey}\n`, { mode: 0o600 });
    const port = await freePort();
    const [cmd, ...args] = this.nodeScript('src/cli/main', nodeFlags);
    const sftpDir = this.serveSftpDir ? ['--sftp-dir', this.serveSftpDir, '--sftp-writable'] : [];
    const child = spawn(cmd as string, [...args, 'serve', '--port', String(port), '--keys', keysDir, ...sftpDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LOOPSSH_CLI_ENTRY: '1', LOOPSSH_LOG_LEVEL: 'warn' },
      cwd: ROOT,
    });
    let log = '';
    child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8192)));
    this.onCleanup(() => stopChild(child));
    const fp = await new Promise<string>((ok, no) => {
      const timer = setTimeout(() => no(new Error(`loopssh serve did not start in 30 s: ${log.trim()}`)), 30_000);
      const check = (): void => {
        const m = /listening \S+ hostkey (SHA256:\S+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          child.stderr?.off('data', check);
          ok(m[1] as string);
        }
      };
      child.stderr?.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        no(new Error(`loopssh serve exited (${code}): ${log.trim()}`));
      });
    });
    const knownHostsFile = join(this.tmp, `known_hosts_${name}`);
    writeFileSync(knownHostsFile, `${knownHostsLine('127.0.0.1', port, readFileSync(join(keysDir, 'host_ed25519.pub'), 'utf8').trim())}\n`);
    return { port, pid: child.pid as number, fingerprint: fp, knownHostsFile, child, log: () => log };
  }

  /** A `loopssh serve` of its own for one transfer (peak RSS then covers only that transfer). */
  startFreshServe(): Promise<Serve> {
    return this.startServe(`serve-fresh-${++this.#freshServes}`);
  }

  /** Starts the bench's own OpenSSH sshd, authorizing the bench's key. */
  async startSshd(sshdPath: string): Promise<BenchSshd> {
    const sshd = await startSshd(sshdPath, this.keys);
    this.onCleanup(() => sshd.stop());
    const knownHostsFile = join(this.tmp, 'known_hosts_sshd');
    writeFileSync(knownHostsFile, `${knownHostsLine('127.0.0.1', sshd.port, sshd.hostPublicKey)}\n`);
    this.sshd = { sshd, knownHostsFile, fingerprint: fingerprint(sshd.hostPublicKey) };
    return this.sshd;
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the child has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}
