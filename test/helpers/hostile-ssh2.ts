/**
 * Test-only: an ssh2 client made to misbehave on purpose, the way real
 * peers do (dbclient's guessed kex packets, clients that ignore the channel
 * window, a second exec on a running channel). It reaches into ssh2 1.17's
 * privates deliberately; loopssh's own code does so only in src/ssh2/.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import ssh2, { type Client, type ClientChannel, type ConnectConfig, type Connection, type ServerChannel } from 'ssh2';

interface Writer {
  allocStartKEX: number;
  alloc(size: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}
interface Protocol {
  _kexinit?: Buffer;
  _packetRW: { write: Writer };
  _cipher: { encrypt(packet: Buffer): void };
  rekey(): void;
  exec(chan: number, command: string, wantReply: boolean): void;
  channelData(chan: number, data: Buffer): void;
}
interface Internals {
  _protocol: Protocol;
  _sock: Socket;
}
interface ChannelInternals {
  outgoing: { id: number };
  _callbacks: ((hadError: boolean) => void)[];
}

const internals = (client: Client | Connection): Internals => client as unknown as Internals;

/** Sends one key-exchange packet through the current compression and cipher, as ssh2's kexinit() does. */
function sendKexPacket(proto: Protocol, payload: Buffer): void {
  const w = proto._packetRW.write;
  const packet = w.alloc(payload.length, true);
  packet.set(payload, w.allocStartKEX);
  proto._cipher.encrypt(w.finalize(packet, true));
}

/**
 * The next KEXINIT this client sends says first_kex_packet_follows. `wrong`:
 * a bogus KEX_ECDH_INIT follows at once (the server must drop it); `right`:
 * nothing extra, so the client's real KEX_ECDH_INIT is the guessed packet.
 * Whether a guess is right is decided by the algorithm lists (RFC 4253 §7).
 */
export function armGuess(client: Client | Connection, mode: 'right' | 'wrong'): void {
  const proto = internals(client)._protocol;
  const writer = proto._packetRW.write;
  const finalize = writer.finalize;
  let guessNext = false;
  writer.finalize = function (packet: Buffer, force?: boolean): Buffer {
    const kexinit = proto._kexinit;
    if (!kexinit || packet[writer.allocStartKEX] !== 20) return finalize.call(this, packet, force);
    writer.finalize = finalize;
    // The exchange hash covers the KEXINIT as sent: flag ssh2's copy too.
    kexinit[kexinit.length - 5] = 1;
    packet[writer.allocStartKEX + kexinit.length - 5] = 1;
    guessNext = mode === 'wrong';
    return finalize.call(this, packet, force);
  };
  // Installed now: ssh2 reads `_cipher.encrypt` before it builds the KEXINIT.
  // The bogus guess goes right after the KEXINIT (same cipher, same zlib stream).
  const cipher = proto._cipher;
  const encrypt = cipher.encrypt;
  cipher.encrypt = function (packet: Buffer): void {
    encrypt.call(this, packet);
    if (!guessNext) return;
    guessNext = false;
    cipher.encrypt = encrypt;
    sendKexPacket(proto, Buffer.concat([Buffer.from([30, 0, 0, 0, 32]), randomBytes(32)]));
  };
}

/** Connects an ssh2 client, arming a guess for the first handshake when asked. Resolves at 'ready'. */
export function connectHostile(config: ConnectConfig, guess?: 'right' | 'wrong'): Promise<Client> {
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    client.once('ready', () => {
      client.off('error', reject);
      resolve(client);
    });
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed before ready')));
    client.connect(config);
    if (guess) armGuess(client, guess);
  });
}

/** Starts a key re-exchange from the client and resolves when it completed. */
export function rekey(client: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once('handshake', () => {
      client.off('close', onClose);
      resolve();
    });
    const onClose = (): void => reject(new Error('connection closed during the rekey'));
    client.once('close', onClose);
    internals(client)._protocol.rekey();
  });
}

/** Sends a second `exec` request on a channel that already runs one; resolves true on CHANNEL_FAILURE, false on SUCCESS. */
export function execAgain(client: Client, channel: ClientChannel, command: string): Promise<boolean> {
  const ch = channel as unknown as ChannelInternals;
  return new Promise((resolve) => {
    ch._callbacks.push((hadError) => resolve(hadError));
    internals(client)._protocol.exec(ch.outgoing.id, command, true);
  });
}

/**
 * Sends `total` bytes as CHANNEL_DATA in `packet`-byte packets ignoring the
 * peer's window, pacing only on the socket's 'drain'. Resolves with the
 * bytes handed to the socket before it closed, and calls `sample` at every
 * drain. Works from either end (an ssh2 client, or a server-side connection).
 */
export async function pushIgnoringWindow(client: Client | Connection, channel: ClientChannel | ServerChannel, total: number, packet: number, sample: () => void): Promise<number> {
  const { _protocol: proto, _sock: sock } = internals(client);
  const id = (channel as unknown as ChannelInternals).outgoing.id;
  const data = Buffer.alloc(packet, 'w');
  let sent = 0;
  while (sent < total && !sock.destroyed && sock.writable) {
    try {
      proto.channelData(id, data);
    } catch {
      break; // ssh2 tore the protocol down: the server disconnected us
    }
    sent += packet;
    if (sock.writableNeedDrain) {
      sample();
      await new Promise<void>((resolve) => {
        const done = (): void => {
          sock.off('drain', done);
          sock.off('close', done);
          resolve();
        };
        sock.once('drain', done);
        sock.once('close', done);
      });
    }
  }
  return sent;
}

/**
 * Starts a rekey and, right after its own KEXINIT, sends a channel request
 * that wants a reply (as PuTTY's winadj@putty does; RFC 4253 §7.1 forbids
 * it). ssh2 would queue it until the rekey ends, so the queue is bypassed.
 * Resolves with the reply (true: CHANNEL_FAILURE) once the rekey completed.
 */
export async function channelRequestDuringRekey(client: Client, channel: ClientChannel): Promise<boolean> {
  const proto = internals(client)._protocol as Protocol & { _kexinit?: Buffer };
  const ch = channel as unknown as ChannelInternals;
  const reply = new Promise<boolean>((resolve) => ch._callbacks.push((hadError) => resolve(hadError)));
  const rekeyed = rekey(client);
  // Undo, for this one packet, what ssh2 does while its KEXINIT is out:
  // queueing, and packets built without room for the header.
  const writer = proto._packetRW.write as Writer & { allocStart: number };
  const { allocStart } = writer;
  const kexinit = proto._kexinit;
  proto._kexinit = undefined;
  writer.allocStart = writer.allocStartKEX;
  try {
    proto.exec(ch.outgoing.id, 'winadj@putty.projects.tartarus.org', true);
  } finally {
    proto._kexinit = kexinit;
    writer.allocStart = allocStart;
  }
  await rekeyed;
  return reply;
}

/** Starts a rekey and sends SSH_MSG_IGNORE right after its own KEXINIT (AsyncSSH does); resolves when the rekey completed. */
export async function ignoreDuringRekey(client: Client): Promise<void> {
  const rekeyed = rekey(client);
  sendKexPacket(internals(client)._protocol, Buffer.from([2, 0, 0, 0, 0]));
  await rekeyed;
}

/** What came back on one raw ssh2 exec channel: stdout's length and SHA-256, and the exit status. */
export interface ExecDigest {
  bytes: number;
  sha256: string;
  code: number | undefined;
}

/** Runs `command` on a new channel of a raw ssh2 client; resolves at the channel's 'close' with what came back (stderr is drained). */
export function execDigest(client: Client, command: string, onChannel?: (ch: ClientChannel) => void): Promise<ExecDigest> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      onChannel?.(ch);
      const hash = createHash('sha256');
      let bytes = 0;
      let code: number | undefined;
      ch.on('data', (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
      });
      ch.stderr.resume();
      ch.on('exit', (c: number) => (code = c));
      ch.on('close', () => resolve({ bytes, sha256: hash.digest('hex'), code }));
    });
  });
}
