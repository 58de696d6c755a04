/**
 * One SSH connection after the accept gate let it in: authentication, then
 * session channels (env, pty refused, shell refused, exec) with the
 * per-connection channel limit.
 */
import type { EventEmitter } from 'node:events';
import type { AuthContext, ClientInfo, Connection, ServerChannel, Session } from 'ssh2';
import { connectionSocket } from '../ssh2/index.js';
import { authenticate, type AuthPolicy } from './auth.js';
import { runCommand, refuseShell, type ExecScope } from './exec.js';
import type { DiskJail } from './sftp/disk.js';
import { serveSftp } from './sftp/session.js';
import type { AcceptGate } from './listener.js';
import type { PasswordBudget } from './password-budget.js';
import { recordedUser } from './record.js';
import type { ConnectionRecord, ServerOptions } from './types.js';

/** What every connection of one server shares. */
export interface ConnectionScope extends ExecScope, AuthPolicy {
  readonly gate: AcceptGate;
  /** Wrong-password budget per source address. */
  readonly passwordBudget: PasswordBudget;
  /** Commands still running, for stop()'s grace time. */
  readonly running: Set<Promise<void>>;
  readonly takeOverExec?: ServerOptions['takeOverExec'];
  readonly sftpFiles?: ServerOptions['sftpFiles'];
  /** The real directory behind `/disk`, if one is mounted. */
  readonly sftpDisk?: DiskJail;
}

/** Numbers connections in log lines (`conn`), so one connection's lines can be told apart. */
let nextConnectionId = 1;

/**
 * Makes an exception thrown by one of `emitter`'s listeners go to `onThrow`
 * instead of up into ssh2, which would report it as a plain connection error.
 */
function catchListenerThrows(emitter: EventEmitter, onThrow: (err: unknown) => void): void {
  const emit = emitter.emit;
  emitter.emit = function (this: EventEmitter, event: string | symbol, ...args: unknown[]): boolean {
    try {
      return emit.call(this, event, ...args);
    } catch (err) {
      onThrow(err);
      return true;
    }
  };
}

/** Serves one admitted connection until it closes. */
export function serveConnection(scope: ConnectionScope, client: Connection, info: ClientInfo): void {
  const { limits, gate } = scope;
  // One child logger per connection: every line it writes names the peer.
  const log = scope.log.child({ conn: nextConnectionId++, remote: `${info.ip}:${info.port}` });
  const record: ConnectionRecord = { remoteAddress: info.ip, remotePort: info.port };
  scope.recorder.connection(record);
  let failures = 0;
  let user = '';
  /** The `command=` of the key that logged in: it runs instead of whatever the client asks. */
  let forcedCommand: string | undefined;
  let channels = 0;
  const sock = connectionSocket(client);
  gate.watchIdle(sock, log);

  client.on('error', (err) => log.info({ err }, 'connection error'));
  // A handler below that throws is a loopssh bug, not the peer's doing: it is
  // logged at error level (with the connection's id) and this connection ends.
  const handlerFailed = (err: unknown): void => {
    log.error({ err }, 'connection handler failed: closing the connection');
    client.end();
  };
  catchListenerThrows(client, handlerFailed);
  client.on('rekey', () => log.debug({}, 'keys re-exchanged'));

  client.on('authentication', (ctx: AuthContext) => {
    // Past the limit nothing more is checked or recorded: requests already
    // in flight are refused and the socket is cut.
    if (failures >= limits.maxAuthTries) {
      ctx.reject();
      sock?.destroy();
      return;
    }
    const outcome = authenticate(scope, ctx, info.ip);
    const accepted = outcome.accepted;
    if (outcome.refusal !== undefined) log.warn({ user: recordedUser(ctx.username) }, outcome.refusal);
    // An accepted key offer without signature is a query, not a login: the
    // client signs next. A refused offer is a failure, as in OpenSSH.
    const isQuery = ctx.method === 'publickey' && !ctx.signature;
    if (ctx.method !== 'none' && !(isQuery && accepted)) scope.recorder.authAttempt({ user: recordedUser(ctx.username), method: ctx.method, accepted });
    if (accepted) {
      if (!isQuery) {
        // Only now does the connection count toward maxConnections.
        if (!gate.logIn(client, log)) return;
        user = ctx.username;
        record.user = recordedUser(user);
        forcedCommand = outcome.key?.options.command;
      }
      ctx.accept();
      return;
    }
    const last = ctx.method !== 'none' && ++failures >= limits.maxAuthTries;
    const answer = (): void => {
      if (last) {
        log.warn({ user: recordedUser(ctx.username), failures }, 'too many authentication failures: closing');
        ctx.reject();
        sock?.destroy();
      } else ctx.reject(scope.passwords ? ['publickey', 'password'] : ['publickey']);
    };
    // A wrong password from a source over its budget is answered late: no
    // number of parallel connections guesses faster than the budget allows.
    const delayMs = ctx.method === 'password' ? scope.passwordBudget.failure(info.ip) : 0;
    if (delayMs <= 0) return answer();
    scope.recorder.seen.throttled++;
    const timer = setTimeout(answer, delayMs);
    client.once('close', () => clearTimeout(timer));
  });

  client.on('ready', () => {
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
      catchListenerThrows(session, handlerFailed);
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
      const run = (channel: ServerChannel | undefined, command: string, commandEnv: Record<string, string>, viaExec: boolean): void => {
        // undefined: ssh2 no longer takes it (the session is ending); a second
        // exec on a running channel is refused before it gets here (src/ssh2).
        if (!channel) return;
        channel.on('close', release);
        if (viaExec && scope.takeOverExec?.({ command, user, channel, connection: client })) return;
        const task = runCommand(execScope, client, channel, command, user, commandEnv).catch((err: unknown) =>
          log.error({ err }, 'command runner failed'),
        );
        scope.running.add(task);
        void task.finally(() => scope.running.delete(task));
      };
      // As sshd: a forced command runs for a shell request too, and for exec
      // the client's command is passed on in SSH_ORIGINAL_COMMAND.
      session.on('shell', (acceptShell) => {
        if (forcedCommand === undefined) refuseShell(acceptShell());
        else run(acceptShell(), forcedCommand, withoutOriginal(env), false);
      });
      // The sftp subsystem serves the virtual tree (src/server/sftp). A forced
      // command= key gets no SFTP, as sshd runs the forced command instead.
      session.on('sftp', (acceptSftp, rejectSftp) => {
        if (forcedCommand !== undefined) return rejectSftp();
        const sftp = acceptSftp();
        if (!sftp) return;
        sftp.on('end', release);
        sftp.on('close', release);
        serveSftp({ ...execScope, files: scope.sftpFiles, disk: scope.sftpDisk }, sftp, client, user);
      });
      session.on('exec', (acceptExec, _rejectExec, info) => {
        if (forcedCommand === undefined) run(acceptExec(), info.command, { ...env }, true);
        else run(acceptExec(), forcedCommand, { ...withoutOriginal(env), SSH_ORIGINAL_COMMAND: info.command }, true);
      });
    });
  });
}

/** A copy of the session's env without a client-sent SSH_ORIGINAL_COMMAND (only the server says what that was). */
function withoutOriginal(env: Record<string, string>): Record<string, string> {
  const rest = { ...env };
  delete rest.SSH_ORIGINAL_COMMAND;
  return rest;
}
