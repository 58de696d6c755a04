/**
 * The machine's limits, printed beside the table so each row's distance to
 * them shows: AES-128-GCM on one core (what every SSH packet costs at
 * least, once to encrypt and once to decrypt) and a plain TCP loopback copy
 * between two processes (what any transfer over 127.0.0.1 can reach).
 */
import { spawn } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { connect } from 'node:net';

/** One measurement of both limits. */
export interface LimitSample {
  ok: boolean;
  why?: string;
  /** AES-128-GCM encryption of 32 KiB chunks (an SSH packet's size), MB/s (decimal), one core. */
  aesGcmMBps?: number;
  /** Bytes moved by the TCP copy, and its MB/s from connect to the reader's count. */
  tcpBytes: number;
  tcpMBps?: number;
}

const CHUNK = 32 * 1024;

/** Encrypts 32 KiB chunks with one AES-128-GCM cipher for about `ms` milliseconds; MB/s. */
export function aesGcmMBps(ms = 1000): number {
  const cipher = createCipheriv('aes-128-gcm', randomBytes(16), randomBytes(12));
  const chunk = Buffer.alloc(CHUNK);
  let bytes = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 64; i++) cipher.update(chunk);
    bytes += 64 * CHUNK;
    elapsed = performance.now() - started;
  }
  cipher.final();
  return bytes / 1e6 / (elapsed / 1000);
}

// The reading end: a separate node process that counts what arrives and prints the count.
const SINK = `
const net = require('node:net');
const server = net.createServer((s) => {
  let n = 0;
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => { process.stdout.write(String(n) + '\\n'); server.close(); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write('PORT ' + server.address().port + '\\n'));
`;

/** Copies `bytes` zeros over loopback TCP into a reader process (1 MiB writes, backpressure respected); MB/s. */
export async function tcpLoopbackMBps(bytes: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', SINK], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: string): void => {
      out += d;
      const m = /PORT (\d+)\n/.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        out = out.slice((m.index ?? 0) + m[0].length);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`TCP reader exited (${code}) before listening`)));
  });
  const counted = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: string) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`TCP reader exited ${code}`))));
  });
  const started = performance.now();
  const sock = connect({ host: '127.0.0.1', port });
  const block = Buffer.alloc(1024 * 1024);
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    let left = bytes;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!sock.write(n === block.length ? block : block.subarray(0, n))) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end(resolve);
    };
    sock.once('connect', pump);
  });
  const got = await counted;
  const ms = performance.now() - started;
  if (got !== bytes) throw new Error(`TCP reader counted ${got} of ${bytes} bytes`);
  return bytes / 1e6 / (ms / 1000);
}

/** Both limits once; a failure is reported in the sample, not thrown. */
export async function measureLimits(tcpBytes: number): Promise<LimitSample> {
  const sample: LimitSample = { ok: true, tcpBytes };
  try {
    sample.aesGcmMBps = aesGcmMBps();
    sample.tcpMBps = await tcpLoopbackMBps(tcpBytes);
  } catch (err) {
    sample.ok = false;
    sample.why = (err as Error).message;
  }
  return sample;
}
