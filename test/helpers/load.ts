/**
 * Helpers for the stress tests (test/stress): a bounded worker pool, a raw
 * ssh2 client that can send an exec request as arbitrary bytes, a standalone
 * `loopssh serve` child process and its peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { fingerprint } from '../../src/openssh/key-format.ts';
import { BIN } from './processes.ts';

const { Client } = ssh2;

/** Runs `fn` over `items` with at most `concurrency` in flight; resolves when all settled. */
export async function runPool<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** What a raw exec produced. */
export interface RawResult {
  exited: boolean;
  code: number | null;
  /** Signal name without `SIG`, or null. */
  signal: string | null;
  stdoutBytes: number;
  stdoutSha256: string;
  stderr: Buffer;
}

type RawClient = InstanceType<typeof Client>;

/** Connects a plain ssh2 client (no loopssh client code) with a pinned host key. */
export function rawConnect(options: { host: string; port: number; user: string; privateKey: string; hostKey: string }): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => {
      client.off('error', reject);
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', reject);
    client.once('close', () => reject(new Error('raw client: connection closed before ready')));
    client.connect({
      host: options.host,
      port: options.port,
      username: options.user,
      privateKey: options.privateKey,
      readyTimeout: 20_000,
      hostVerifier: (key: Buffer) => fingerprint(key) === options.hostKey,
    });
  });
}

/**
 * Sends one exec request whose command is `command` as is: a Buffer goes on
 * the wire byte for byte (ssh2's protocol layer takes a Buffer), so invalid
 * UTF-8 reaches the server. Sends EOF at once; resolves when stdout and
 * stderr ended and the channel closed.
 */
export function rawExec(client: RawClient, command: string | Buffer): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    client.exec(command as string, (err: Error | undefined, channel: ClientChannel) => {
      if (err) {
        reject(err);
        return;
      }
      const result: RawResult = { exited: false, code: null, signal: null, stdoutBytes: 0, stdoutSha256: '', stderr: Buffer.alloc(0) };
      // Listen at once: the exit status may come in the same read as the reply.
      channel.on('exit', (code: number | null, signal?: string) => {
        result.exited = true;
        result.code = code;
        result.signal = signal ? signal.replace(/^SIG/, '') : null;
      });
      const hash = createHash('sha256');
      const errChunks: Buffer[] = [];
      channel.on('data', (c: Buffer) => {
        result.stdoutBytes += c.length;
        hash.update(c);
      });
      channel.stderr.on('data', (c: Buffer) => errChunks.push(c));
      const ended = (s: NodeJS.EventEmitter, ev: string): Promise<void> => new Promise((r) => s.once(ev, () => r()));
      void Promise.all([ended(channel, 'end'), ended(channel.stderr, 'end'), ended(channel, 'close')]).then(() => {
        result.stdoutSha256 = hash.digest('hex');
        result.stderr = Buffer.concat(errChunks);
        resolve(result);
      });
      channel.end();
    });
  });
}

/** Peak resident set size (VmHWM) of a Linux process, in bytes. */
export function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** A `loopssh serve` child process. */
export interface ServeProcess {
  child: ChildProcess;
  pid: number;
  host: string;
  port: number;
  hostKey: string;
  /** The last 64 KiB of its stderr (logs), for failure messages. */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}


/**
 * Starts `node bin/loopssh.js serve --port 0 ...args` and resolves once it
 * printed `listening HOST:PORT hostkey SHA256:...`. Its stderr is drained
 * all along (a full pipe would block the server).
 */
export function startServeProcess(args: readonly string[], timeoutMs = 20_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  let seenLine = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`loopssh serve did not get ready in ${timeoutMs} ms: ${tail}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      if (seenLine) return;
      clearTimeout(timer);
      reject(new Error(`loopssh serve exited (${code ?? signal}) before listening: ${tail}`));
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-65536);
      if (seenLine) return;
      const m = /listening (\S+):(\d+) hostkey (SHA256:\S+)/.exec(tail);
      if (!m) return;
      seenLine = true;
      clearTimeout(timer);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) r({ code: child.exitCode, signal: child.signalCode });
        else child.once('exit', (code, signal) => r({ code, signal }));
      });
      resolve({
        child,
        pid: child.pid as number,
        host: m[1] as string,
        port: Number(m[2]),
        hostKey: m[3] as string,
        stderrTail: () => tail,
        stop: (graceMs = 10_000) => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
            kill.unref();
            void exited.then(() => clearTimeout(kill));
          }
          return exited;
        },
      });
    });
  });
}
