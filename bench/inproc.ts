/**
 * Bench child: loopssh server and client in ONE process, as `loopssh demo`
 * runs them (startServer on a free loopback port, connect, run).
 *
 *   inproc.js transfer --size N [--cipher C] --target null|pipe|FILE [--worker]
 *       one `payload N --pattern zero` into the target (null = /dev/null,
 *       FILE = a path, pipe = this process's stdout)
 *   inproc.js flush --size N [--cipher C] --dir DIR [--order K]
 *       FlushTracker overhead: the same transfer tracked, untracked (a bare
 *       ssh2 client piping the channel into a write stream with
 *       backpressure) and `naive: true`, to a file in DIR and to /dev/null
 *   inproc.js scale [--cipher C] [--order K] [--channel BYTES]
 *       1, 8 and 64 concurrent channels of 16 MiB (or BYTES) on one
 *       connection, and 64 over 8 connections; 64 channels' worth of bytes
 *       at every level
 *
 * Prints one line `BENCH-RESULT {json}` on stderr.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import ssh2 from 'ssh2';
import { connect, type Connection } from '../src/client/index.ts';
import { startServer, startServerWorker } from '../src/server/index.ts';
import { generateKeyPair } from '../src/openssh/key-format.ts';
import { createLogger } from '../src/server/log.ts';
import { FILE_HIGH_WATER_MARK } from '../src/engine/file-target.ts';
import { nativeCryptoAvailable } from '../src/ssh2/native-crypto.ts';

const { values, positionals } = parseArgs({
  options: {
    size: { type: 'string' },
    cipher: { type: 'string' },
    target: { type: 'string' },
    dir: { type: 'string' },
    order: { type: 'string' },
    channel: { type: 'string' },
    worker: { type: 'boolean' },
  },
  allowPositionals: true,
});
const mode = positionals[0] ?? 'transfer';
const loaded = performance.now();
const size = Number(values.size ?? 0);
const order = Number(values.order ?? 0);
const algorithms = values.cipher ? { cipher: [values.cipher as never] } : undefined;
const binding = nativeCryptoAvailable() === true;

const MiB = 1024 * 1024;
/** Bytes per channel in scale mode (16 MiB unless the bench was asked for a smaller --size). */
const SCALE_CHANNEL = Number(values.channel ?? 16 * MiB);
const SCALE_TOTAL = 64 * SCALE_CHANNEL;

const host = generateKeyPair('bench-host');
const client = generateKeyPair('bench-client');
// One process, one thread by default, as the demo runs it. With
// --worker (or LOOPSSH_BENCH_WORKER=1) the server runs on a worker thread (startServerWorker)
// so its encryption overlaps the client's decryption: measured 1.19× instead
// of ~1.0× OpenSSH to /dev/null, at ~150 MiB RSS instead of ~100.
const serverOptions = {
  port: 0,
  hostKey: host.privateKey,
  authorizedKeys: client.publicKey,
  algorithms,
  limits: { maxChannelsPerConnection: 64, maxConnections: 64 },
};
const server = values.worker || process.env.LOOPSSH_BENCH_WORKER
  ? await startServerWorker({ ...serverOptions, logLevel: 'silent' })
  : await startServer({ ...serverOptions, logger: createLogger('silent') });
const open = (): Promise<Connection> =>
  connect({ port: server.port, user: 'bench', privateKey: client.privateKey, hostKey: server.hostKeyFingerprint, algorithms });

function report(fields: Record<string, unknown>): void {
  process.stderr.write(`BENCH-RESULT ${JSON.stringify({ binding, loadMs: loaded, ...fields })}\n`);
}

/** SHA-256 of a file, off the clock. */
async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function zeroSha256(n: number): string {
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(Math.min(n, MiB));
  for (let left = n; left > 0; left -= zeros.length) hash.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
  return hash.digest('hex');
}

/** A target that counts what it is given and checks every byte is zero (the payload). */
class ZeroCheck extends Writable {
  bytes = 0;
  zero = true;
  static readonly zeros = Buffer.alloc(MiB);
  constructor() {
    super({ highWaterMark: MiB });
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.bytes += chunk.length;
    for (let off = 0; this.zero && off < chunk.length; off += MiB) {
      const n = Math.min(MiB, chunk.length - off);
      if (ZeroCheck.zeros.compare(chunk, off, off + n, 0, n) !== 0) this.zero = false;
    }
    cb();
  }
}

const command = (n: number): string => `payload ${n} --pattern zero`;

async function transferMode(): Promise<void> {
  const target = values.target ?? 'null';
  const t0 = performance.now();
  const conn = await open();
  const t1 = performance.now();
  const r = await conn.run(command(size), { stdout: target === 'null' ? '/dev/null' : target === 'pipe' ? 'inherit' : target, stderr: 'inherit' });
  const t2 = performance.now();
  await conn.close();
  const ok = r.exitCode === 0 && r.stdoutBytes === size;
  report({ ok, bytes: r.stdoutBytes, exitCode: r.exitCode, startMs: t0 - loaded, connectMs: t1 - t0, runMs: t2 - t1 });
  process.exitCode = ok ? 0 : 1;
}

type BareClient = InstanceType<typeof ssh2.Client>;

/**
 * A bare ssh2 client on the same server, tuned as loopssh's connect() is
 * (TCP_NODELAY, same algorithms): the baseline without loopssh's client layer.
 */
function openBare(): Promise<BareClient> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: server.port });
    sock.once('connect', () => {
      sock.setNoDelay(true);
      const bare = new ssh2.Client();
      bare.once('ready', () => resolve(bare)).once('error', reject);
      // The server is this process's own, just started: its key needs no check here.
      bare.connect({ sock, username: 'bench', privateKey: client.privateKey, algorithms, hostVerifier: () => true });
    });
    sock.once('error', reject);
  });
}

/**
 * The untracked pump: the channel into a write stream of the target path,
 * paused when write() says so and resumed at 'drain' (as loopssh's own pump
 * does), done when the stream has closed and the channel has closed. No
 * FlushTracker, no temporary file and rename, no counting or error routing.
 */
function untrackedRun(bare: BareClient, path: string, n: number): Promise<{ exitCode: number | undefined; bytes: number }> {
  return new Promise((resolve, reject) => {
    bare.exec(command(n), (err, channel) => {
      if (err) return reject(err);
      const out = createWriteStream(path, { highWaterMark: FILE_HIGH_WATER_MARK });
      let bytes = 0;
      let exitCode: number | undefined;
      let waiting = false;
      const resume = (): void => {
        waiting = false;
        channel.resume();
      };
      channel.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (!out.write(chunk) && !waiting) {
          waiting = true;
          channel.pause();
          out.once('drain', resume);
        }
      });
      channel.stderr.resume();
      channel.once('exit', (code: number | undefined) => (exitCode = code));
      channel.once('end', () => out.end());
      out.once('error', reject);
      let left = 2;
      const done = (): void => void (--left === 0 && resolve({ exitCode, bytes }));
      out.once('close', done);
      channel.once('close', done);
    });
  });
}

/**
 * Tracked vs untracked vs naive: time from run() to "the bytes are in the target". A
 * tracked run resolves only then; a naive one resolves at the channel's
 * 'close', so for the file the clock also waits until the file holds all
 * bytes (its writes may still be queued). /dev/null shows nothing, so there
 * the naive clock stops at 'close' (favouring naive, if anything).
 */
async function flushMode(): Promise<void> {
  const dir = values.dir as string;
  const conn = await open();
  await conn.run(command(MiB), { stdout: '/dev/null' }); // warm-up
  const bare = await openBare();
  await untrackedRun(bare, '/dev/null', MiB); // warm-up
  const expected = zeroSha256(size);
  const combos: { target: 'file' | 'null'; naive: boolean; fsync?: boolean; untracked?: boolean }[] = [
    { target: 'file', naive: false },
    // The opt-in fsync of the file and its folder (loopssh issue 16): what durability costs.
    { target: 'file', naive: false, fsync: true },
    { target: 'file', naive: true },
    { target: 'file', naive: false, untracked: true },
    { target: 'null', naive: false },
    { target: 'null', naive: true },
    { target: 'null', naive: false, untracked: true },
  ];
  const k = order % combos.length;
  const rotated = [...combos.slice(k), ...combos.slice(0, k)];
  const results: Record<string, { ms: number; ok: boolean; verify: string }> = {};
  for (const combo of rotated) {
    const name = `${combo.target}-${combo.naive ? 'naive' : combo.fsync ? 'fsync' : combo.untracked ? 'untracked' : 'tracked'}`;
    const path = combo.target === 'file' ? join(dir, `flush-${name}.bin`) : '/dev/null';
    const started = performance.now();
    const r = combo.untracked
      ? await untrackedRun(bare, path, size).then((u) => ({ exitCode: u.exitCode, stdoutBytes: u.bytes }))
      : await conn.run(command(size), { stdout: path, naive: combo.naive, fsync: combo.fsync });
    if (combo.target === 'file') {
      while ((statSync(path, { throwIfNoEntry: false })?.size ?? 0) < size) await new Promise((resolve) => setImmediate(resolve));
    }
    const ms = performance.now() - started;
    let ok = r.exitCode === 0 && r.stdoutBytes === size;
    let verify = 'exit 0 + length';
    if (combo.target === 'file') {
      // Naive writes may still be in flight in the stream; let them land first.
      await new Promise((resolve) => setTimeout(resolve, 50));
      ok &&= statSync(path).size === size && (await fileSha256(path)) === expected;
      verify = 'size + SHA-256';
      rmSync(path, { force: true });
    }
    results[name] = { ms, ok, verify };
  }
  await conn.close();
  bare.end();
  const ok = Object.values(results).every((x) => x.ok);
  report({ ok, results });
  process.exitCode = ok ? 0 : 1;
}

async function scaleMode(): Promise<void> {
  const levels = [
    { name: '1 channel, 1 connection', channels: 1, connections: 1 },
    { name: '8 channels, 1 connection', channels: 8, connections: 1 },
    { name: '64 channels, 1 connection', channels: 64, connections: 1 },
    { name: '64 channels, 8 connections', channels: 64, connections: 8 },
  ];
  const k = order % levels.length;
  const rotated = [...levels.slice(k), ...levels.slice(0, k)];
  const results: Record<string, { ms: number; ok: boolean; channels: number; connections: number }> = {};
  const warm = await open();
  await warm.run(command(MiB), { stdout: '/dev/null' });
  await warm.close();
  for (const level of rotated) {
    const conns = await Promise.all(Array.from({ length: level.connections }, () => open()));
    const jobs = SCALE_TOTAL / SCALE_CHANNEL;
    let next = 0;
    let ok = true;
    const started = performance.now();
    // `channels` workers, each running 16 MiB transfers back to back, spread over the connections.
    await Promise.all(
      Array.from({ length: level.channels }, async (_, i) => {
        const conn = conns[i % conns.length] as Connection;
        while (next < jobs) {
          next++;
          const sink = new ZeroCheck();
          const r = await conn.run(command(SCALE_CHANNEL), { stdout: sink });
          ok &&= r.exitCode === 0 && r.stdoutBytes === SCALE_CHANNEL && sink.bytes === SCALE_CHANNEL && sink.zero;
        }
      }),
    );
    const ms = performance.now() - started;
    await Promise.all(conns.map((c) => c.close()));
    results[level.name] = { ms, ok, channels: level.channels, connections: level.connections };
  }
  const ok = Object.values(results).every((x) => x.ok);
  report({ ok, totalBytes: SCALE_TOTAL, channelBytes: SCALE_CHANNEL, results });
  process.exitCode = ok ? 0 : 1;
}

try {
  if (mode === 'transfer') await transferMode();
  else if (mode === 'flush') await flushMode();
  else if (mode === 'scale') await scaleMode();
  else throw new Error(`unknown mode '${mode}'`);
} finally {
  await server.stop({ graceMs: 1000 });
}
