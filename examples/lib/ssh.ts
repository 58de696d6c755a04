/**
 * The SSH side of the ssh2 examples: a loopssh server in this process with
 * in-memory keys on a free port, a raw ssh2 client, and a loopssh client.
 */
import ssh2 from 'ssh2';
import { connect, type Connection } from '../../src/client/index.ts';
import { startServer, type ServerHandle } from '../../src/server/index.ts';
import { fingerprint, generateKeyPair } from '../../src/openssh/key-format.ts';
import { createLogger } from '../../src/server/log.ts';

/** A server, the client key it authorizes, and ways to connect. */
export interface LessonServer extends AsyncDisposable {
  server: ServerHandle;
  /** A raw ssh2 Client, connected and authenticated (host key pinned). */
  raw(): Promise<ssh2.Client>;
  /** A loopssh Connection. */
  loopssh(): Promise<Connection>;
}

export async function lessonServer(): Promise<LessonServer> {
  const host = generateKeyPair();
  const client = generateKeyPair();
  const server = await startServer({
    port: 0,
    hostKey: host.privateKey,
    authorizedKeys: client.publicKey,
    logger: createLogger('error', 'lesson-server'),
  });
  const opened: { end(): unknown }[] = [];
  return {
    server,
    raw: () =>
      new Promise((resolve, reject) => {
        const c = new ssh2.Client();
        opened.push(c);
        c.once('ready', () => resolve(c));
        c.once('error', reject);
        c.connect({
          host: server.host,
          port: server.port,
          username: 'lesson',
          privateKey: client.privateKey,
          hostVerifier: (key: Buffer) => fingerprint(key) === server.hostKeyFingerprint,
        });
      }),
    loopssh: async () => {
      const c = await connect({ port: server.port, user: 'lesson', privateKey: client.privateKey, hostKey: server.hostKeyFingerprint });
      opened.push({ end: () => c.close() });
      return c;
    },
    async [Symbol.asyncDispose]() {
      for (const c of opened) c.end();
      await server.stop({ graceMs: 1000 });
    },
  };
}

/** Runs `command` on a raw ssh2 client and hands over the channel. */
export function rawExec(client: ssh2.Client, command: string): Promise<ssh2.ClientChannel> {
  return new Promise((resolve, reject) => client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch))));
}
