/**
 * Malformed peers over raw TCP: garbage, silence, an unfinished handshake,
 * garbage packets, a 10 MB flood, a client stuck before authenticating. The
 * server (loginGraceMs 500) must close each socket within the grace time plus
 * a margin, keep serving verified transfers, and leak no socket handle.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedDigest, startFixture, type Fixture } from '../helpers/fixture.ts';
import { fingerprint } from '../../src/openssh/key-format.ts';
import { waitFor, within } from '../helpers/stress.ts';

const LOGIN_GRACE_MS = 500;
/** A socket must be closed by the server within this long after connecting. */
const CLOSE_BOUND_MS = 3000;
const VERSION = 'SSH-2.0-x\r\n';

/** Sockets of this process (client and server side): a leak shows here. */
function tcpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

interface Probe {
  sock: Socket;
  /** Resolves with ms from connect to close; rejects after the bound (the socket is then destroyed here). */
  closed: Promise<number>;
  /** Bytes the server sent back. */
  received: () => Buffer;
}

/** Opens a raw TCP socket and starts timing until the server closes it. */
function probe(port: number): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    // Writes into a closing socket fail with EPIPE/ECONNRESET: expected here.
    sock.on('error', () => {});
    sock.once('connect', () => {
      sock.off('error', reject);
      const started = performance.now();
      const closed = new Promise<number>((res, rej) => {
        const timer = setTimeout(() => {
          sock.destroy();
          rej(new Error(`the server did not close the socket within ${CLOSE_BOUND_MS} ms`));
        }, CLOSE_BOUND_MS);
        sock.once('close', () => {
          clearTimeout(timer);
          res(performance.now() - started);
        });
      });
      resolve({ sock, closed, received: () => Buffer.concat(chunks) });
    });
    sock.once('error', reject);
  });
}

/** An SSH binary packet (unencrypted framing) around `payload`, padded as RFC 4253 asks. */
function packet(payload: Buffer): Buffer {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const head = Buffer.alloc(5);
  head.writeUInt32BE(1 + payload.length + pad, 0);
  head[4] = pad;
  return Buffer.concat([head, payload, randomBytes(pad)]);
}

describe('malformed peers (raw TCP)', () => {
  let fx: Fixture;
  let baseline: number;

  beforeAll(async () => {
    fx = await startFixture({ limits: { loginGraceMs: LOGIN_GRACE_MS } });
    baseline = tcpSockets();
  });

  afterAll(async () => {
    if (!fx) return;
    await within(fx.stop(), 5000, 'server.stop()');
  });

  /** The server is unharmed: a fresh connection gets a verified transfer. */
  async function verifiedTransfer(): Promise<void> {
    const conn = await fx.connect();
    const r = await conn.run('payload 2MiB --pattern random --seed 9', { stdout: 'ignore', hash: true });
    expect(r.exitCode).toBe(0);
    expect(r.stdoutBytes).toBe(2 * 1024 * 1024);
    expect(r.stdoutSha256).toBe(expectedDigest(2 * 1024 * 1024, 'random', 'stdout', '9'));
    await conn.close();
  }

  /** Runs `behave` on `count` sockets at once; each must be closed by the server in time. */
  async function expectClosed(count: number, behave: (p: Probe, i: number) => void | Promise<void>, alsoOpen = 0): Promise<number[]> {
    const probes = await Promise.all(Array.from({ length: count }, () => probe(fx.server.port)));
    await Promise.all(probes.map(async (p, i) => behave(p, i)));
    // Each probe's `closed` rejects if the server has not closed it within CLOSE_BOUND_MS (a hang).
    const times = await Promise.all(probes.map((p) => p.closed));
    await verifiedTransfer();
    // Every socket is gone on both sides (the server destroyed its end too).
    // (`alsoOpen`: connections the test itself keeps, two sockets each.)
    const allowed = baseline + 2 * alsoOpen;
    expect(await until(() => tcpSockets() <= allowed, 2000), `TCP sockets: ${tcpSockets()} open, ${allowed} allowed`).toBe(true);
    return times;
  }

  it('garbage bytes instead of a version line', async () => {
    await expectClosed(10, (p, i) => {
      p.sock.write(i % 2 ? randomBytes(64 + i * 100) : Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    });
  });

  it('connects and never speaks: closed at the login grace time', async () => {
    const times = await expectClosed(10, () => {});
    // Not before the grace time: a slow client gets its due.
    for (const t of times) expect(t).toBeGreaterThanOrEqual(LOGIN_GRACE_MS - 50);
  });

  it('sends only its version line and stops (unfinished handshake)', async () => {
    const before = fx.server.seen.connections.length;
    const probes: Probe[] = [];
    const times = await expectClosed(10, (p) => {
      probes.push(p);
      p.sock.write(VERSION);
    });
    for (const t of times) expect(t).toBeGreaterThanOrEqual(LOGIN_GRACE_MS - 50);
    // The server answered with its own version line (it did talk), then cut at the grace time.
    for (const p of probes) expect(p.received().toString('latin1')).toMatch(/^SSH-2\.0-loopssh\r\n/);
    expect(fx.server.seen.connections.length - before).toBeGreaterThanOrEqual(10);
  });

  it('sends a version line then garbage packets', async () => {
    await expectClosed(12, (p, i) => {
      p.sock.write(VERSION);
      switch (i % 4) {
        case 0: // random bytes
          p.sock.write(randomBytes(4096));
          break;
        case 1: {
          // a packet length of 4 GiB
          const b = randomBytes(64);
          b.writeUInt32BE(0xffffffff, 0);
          p.sock.write(b);
          break;
        }
        case 2: // well-framed packets with random message types and bodies
          for (let k = 0; k < 20; k++) p.sock.write(packet(randomBytes(1 + ((k * 37) % 300))));
          break;
        default: {
          // a KEXINIT whose name-lists are garbage
          const body = Buffer.concat([Buffer.from([20]), randomBytes(16), Buffer.from([0xff, 0xff, 0xff, 0xf0]), randomBytes(100)]);
          p.sock.write(packet(body));
        }
      }
    });
  });

  it('floods 10 MB of garbage', async () => {
    const MB = 1_000_000;
    const junk = randomBytes(MB);
    await expectClosed(2, (p, i) => {
      if (i === 1) p.sock.write(VERSION);
      // Write as fast as the socket takes it; stops when the server cuts it.
      let sent = 0;
      const more = (): void => {
        while (sent < 10 * MB && !p.sock.destroyed) {
          sent += MB;
          if (!p.sock.write(junk)) {
            p.sock.once('drain', more);
            return;
          }
        }
      };
      more();
    });
  });

  it('completes the key exchange but never authenticates: cut at the login grace time', async () => {
    const opts = fx.server.clientOptions();
    const results = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const client = new ssh2.Client();
        const started = performance.now();
        const closed = new Promise<number>((resolve) => client.once('close', () => resolve(performance.now() - started)));
        client.on('error', () => {});
        let kexDone = false;
        client.once('handshake', () => (kexDone = true));
        client.connect({
          host: opts.host,
          port: opts.port,
          username: 'stuck',
          hostVerifier: (key: Buffer) => fingerprint(key) === opts.hostKey,
          // Never answers: the client sits between key exchange and authentication.
          authHandler: () => {},
        });
        const ms = await within(closed, CLOSE_BOUND_MS, 'the server did not close a client stuck before auth');
        return { ms, kexDone };
      }),
    );
    for (const r of results) {
      expect(r.kexDone).toBe(true);
      // Not before the grace time (the upper bound is within()'s hang detector above).
      expect(r.ms).toBeGreaterThanOrEqual(LOGIN_GRACE_MS - 50);
    }
    await verifiedTransfer();
    expect(await until(() => tcpSockets() <= baseline, 2000)).toBe(true);
  });

  it('a transfer in progress is unharmed by a crowd of malformed peers', async () => {
    const conn = await fx.connect();
    const transfer = conn.run('payload 8MiB --pattern random --seed 3', { stdout: 'ignore', hash: true });
    await expectClosed(30, (p, i) => {
      if (i % 3 === 0) p.sock.write(randomBytes(1000));
      else if (i % 3 === 1) p.sock.write(VERSION);
    }, 1);
    const r = await transfer;
    expect(r.stdoutSha256).toBe(expectedDigest(8 * 1024 * 1024, 'random', 'stdout', '3'));
    await conn.close();
  });

  it('stop() with silent and half-handshaken sockets still open resolves promptly and closes them', async () => {
    const own = await startFixture({ limits: { loginGraceMs: 60_000 } });
    const probes = await Promise.all(Array.from({ length: 6 }, () => probe(own.server.port)));
    probes.slice(3).forEach((p) => p.sock.write(VERSION));
    // All 6 accepted (the server greets each with its version line); the 3 that sent theirs are recorded.
    await waitFor(() => probes.every((p) => p.received().length > 0) && own.server.seen.connections.length === 3, 5_000, 'the server to take all 6 sockets');
    await within(own.stop(), 3000, 'server.stop() with raw sockets open');
    // Closed by stop(), not by the grace time (60 s): each probe's close resolves.
    await Promise.all(probes.map((p) => p.closed));
    expect(probes.map((p) => p.sock.destroyed)).toEqual(Array(6).fill(true));
  });
});
