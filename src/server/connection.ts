/**
 * One SSH connection after the accept gate let it in: authentication, then
 * session channels (env, pty refused, shell refused, exec) with the
 * per-connection channel limit.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthContext, ClientInfo, Connection, Session } from 'ssh2';
import type { ParsedKey } from '../openssh/key-format.js';
import { connectionSocket } from '../ssh2/index.js';
import { runCommand, refuseShell, type ExecScope } from './exec.js';
import type { AcceptGate } from './listener.js';
import { recordedUser } from './record.js';
import type { ConnectionRecord, ServerOptions } from './types.js';

/** What every connection of one server shares. */
export interface ConnectionScope extends ExecScope {
  readonly gate: AcceptGate;
  readonly authorized: readonly ParsedKey[];
  readonly passwords?: ServerOptions['passwords'];
  readonly users?: ServerOptions['users'];
  /** Commands still running, for stop()'s grace time. */
  readonly running: Set<Promise<void>>;
}

/** Serves one admitted connection until it closes. */
export function serveConnection(scope: ConnectionScope, client: Connection, info: ClientInfo): void {
  const { limits, gate } = scope;
  // One child logger per connection: every line it writes names the peer.
  const log = scope.log.child({ remote: `${info.ip}:${info.port}` });
  const record: ConnectionRecord = { remoteAddress: info.ip, remotePort: info.port };
  scope.recorder.connection(record);
  let failures = 0;
  let user = '';
  let channels = 0;
  const sock = connectionSocket(client);
  gate.watchIdle(sock, log);

  client.on('error', (err) => log.info({ err }, 'connection error'));
  client.on('rekey', () => log.debug({}, 'keys re-exchanged'));

  client.on('authentication', (ctx: AuthContext) => {
    // Past the limit nothing more is checked or recorded: requests already
    // in flight are refused and the socket is cut.
    if (failures >= limits.maxAuthTries) {
      ctx.reject();
      sock?.destroy();
      return;
    }
    const accepted = authenticate(scope, ctx);
    // An accepted key offer without signature is a query, not a login: the
    // client signs next. A refused offer is a failure, as in OpenSSH.
    const isQuery = ctx.method === 'publickey' && !ctx.signature;
    if (ctx.method !== 'none' && !(isQuery && accepted)) scope.recorder.authAttempt({ user: recordedUser(ctx.username), method: ctx.method, accepted });
    if (accepted) {
      if (!isQuery) {
        user = ctx.username;
        record.user = recordedUser(user);
      }
      ctx.accept();
      return;
    }
    if (ctx.method !== 'none' && ++failures >= limits.maxAuthTries) {
      log.warn({ user: recordedUser(ctx.username), failures }, 'too many authentication failures: closing');
      ctx.reject();
      sock?.destroy();
      return;
    }
    ctx.reject(scope.passwords ? ['publickey', 'password'] : ['publickey']);
  });

  client.on('ready', () => {
    gate.loggedIn(sock);
    if (limits.rekeyIntervalMs > 0) {
      const rekey = setInterval(() => client.rekey(), limits.rekeyIntervalMs);
      rekey.unref();
      client.once('close', () => clearInterval(rekey));
    }
    const execScope: ExecScope = { ...scope, log: log.child({ user: recordedUser(user) }) };
    client.on('session', (accept, reject) => {
      if (gate.stopping || channels >= limits.maxChannelsPerConnection) {
        reject();
        return;
      }
      channels++;
      const session: Session = accept();
      const env: Record<string, string> = {};
      let used = true;
      // Both the session's and the exec channel's 'close' release the slot; only the first counts.
      const release = (): void => {
        if (!used) return;
        used = false;
        channels--;
      };
      session.on('close', release);
      session.on('env', (acceptEnv, _rejectEnv, info) => {
        env[info.key] = info.val;
        acceptEnv?.();
      });
      session.on('pty', (_a, rejectPty) => rejectPty?.());
      session.on('shell', (acceptShell) => refuseShell(acceptShell()));
      session.on('exec', (acceptExec, _rejectExec, info) => {
        const channel = acceptExec();
        channel.on('close', release);
        const task = runCommand(execScope, client, channel, info.command, user, { ...env }).catch((err: unknown) =>
          log.error({ err }, 'command runner failed'),
        );
        scope.running.add(task);
        void task.finally(() => scope.running.delete(task));
      });
    });
  });
}

/** Whether `ctx` proves the user: a known public key (and its signature), or a configured password. */
function authenticate(scope: ConnectionScope, ctx: AuthContext): boolean {
  if (scope.users && !scope.users.includes(ctx.username)) return false;
  if (ctx.method === 'publickey') {
    const key = scope.authorized.find((k) => k.type === ctx.key.algo && sameBytes(k.getPublicSSH(), ctx.key.data));
    if (!key) return false;
    if (!ctx.signature) return true;
    return key.verify(ctx.blob as Buffer, ctx.signature, ctx.hashAlgo) === true;
  }
  if (ctx.method === 'password' && scope.passwords) {
    const expected = scope.passwords[ctx.username];
    return expected !== undefined && samePassword(ctx.password, expected);
  }
  return false;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time password check: hashing first makes the lengths equal. */
function samePassword(given: string, expected: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(expected));
}
