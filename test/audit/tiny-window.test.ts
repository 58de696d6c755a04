/**
 * loopssh issue 12: "a tiny window that the client must keep topping up",
 * the direction the server controls: the audit's `tiny-window` scenario
 * advertises a 1 KiB receive window and 512-byte packets on the session
 * (src/ssh2/session-window.ts), the client uploads 1 MiB on stdin, and the
 * server judges what arrived. OpenSSH, the loopssh CLI (--stdin) and
 * AsyncSSH pass; paramiko 2.12.0 raises any max packet below 4096 to 4096
 * (its MIN_PACKET_SIZE), sends 1024-byte packets and is disconnected by the
 * overrun check; a client that does not forward stdin is truncated.
 */
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type ClientChannel } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { audit, SCENARIOS, type AuditOptions, type RunOutcome } from '../../src/audit/index.ts';
import { selectScenarios } from '../../src/audit/audit.ts';
import { createServerLog, type ServerLog } from '../../src/audit/server-log.ts';
import { startServer, type CommandHandler, type ServerHandle } from '../../src/server/index.ts';
import { assertSsh2Shape } from '../../src/ssh2/index.ts';
import { pushIgnoringWindow } from '../helpers/hostile-ssh2.ts';
import { referenceBytes, referenceDigest } from '../helpers/oracle.ts';
import { peer, peerVersion } from '../helpers/peers.ts';
import { runProcess } from '../helpers/run-process.ts';
import { waitFor, within } from '../helpers/stress.ts';
import { loopsshTemplate, opensshTemplate, pythonTemplate } from './clients.ts';

const SSH = peer('ssh');
const PARAMIKO = peer('paramiko');
const ASYNCSSH = peer('asyncssh');
const SCENARIO = SCENARIOS.find((s) => s.name === 'tiny-window');
const STDIN = SCENARIO?.stdin ?? { size: 0 };
const WINDOW = { window: 1024, packetSize: 512, step: 256 };

let server: ServerHandle | undefined;
let serverLog: ServerLog | undefined;
let dir: string | undefined;
afterEach(async () => {
  await server?.stop({ graceMs: 0 });
  server = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A server advertising `window` on every session, its key files, and the 1 MiB stdin payload in a file. */
async function startLimited(window = WINDOW): Promise<{ port: number; identity: string; knownHosts: string; input: string }> {
  // `hold`: never reads its stdin, so the window is granted back only while ssh2 buffers (its 2 MiB readable side).
  const hold: CommandHandler = () => new Promise((resolve) => setTimeout(resolve, 60_000).unref());
  serverLog = createServerLog();
  server = await startServer({ port: 0, logger: serverLog.logger, sessionWindow: window, commands: { hold } });
  dir = await mkdtemp(join(tmpdir(), 'loopssh-tiny-'));
  const o = server.clientOptions();
  const files = { identity: join(dir, 'id'), knownHosts: join(dir, 'known_hosts'), input: join(dir, 'in.bin') };
  writeFileSync(files.identity, o.privateKey, { mode: 0o600 });
  writeFileSync(files.knownHosts, o.knownHosts);
  writeFileSync(files.input, referenceBytes(STDIN));
  return { port: server.port, ...files };
}

/** One tiny-window run of `client`, its outcome. */
async function tinyRun(client: string[], options: Partial<AuditOptions> = {}): Promise<RunOutcome> {
  const report = await audit({ client, only: ['tiny-window'], ...options });
  expect(report.results.map((r) => r.name)).toEqual(['tiny-window']);
  return report.results[0]?.runs[0] as RunOutcome;
}

describe('the tiny-window scenario', () => {
  it('is opt-in (the template must forward stdin): not in the default set, nor added by --huge', () => {
    expect(SCENARIO).toMatchObject({ command: 'audit-stdin', optional: true, window: WINDOW, stdin: { size: 1024 * 1024, pattern: 'random' } });
    expect(SCENARIOS.filter((s) => !s.optional).map((s) => s.name)).not.toContain('tiny-window');
    const withHuge = selectScenarios(undefined, true).map((s) => s.name);
    expect([withHuge.includes('huge-stdout'), withHuge.includes('tiny-window')]).toEqual([true, false]);
    expect(selectScenarios(['tiny-window']).map((s) => s.name)).toEqual(['tiny-window']);
  });

  it('the loopssh CLI with --stdin /dev/stdin: exact, all 1 MiB at the server (independent oracle), exit 0', async () => {
    const template = loopsshTemplate();
    const run = await tinyRun([...template.slice(0, 3), '--stdin', '/dev/stdin', ...template.slice(3)]);
    expect([run.verdict, run.end.code, run.stdin?.receivedBytes, run.stdin?.receivedSha256, run.stdout.receivedBytes]).toEqual(['exact', 0, STDIN.size, referenceDigest(STDIN), 0]);
  }, 120_000);

  it('known-bad: the loopssh CLI without --stdin sends EOF at once: truncated, 0 bytes at the server, exit 0', async () => {
    const run = await tinyRun(loopsshTemplate());
    expect([run.verdict, run.end.code, run.stdin?.receivedBytes]).toEqual(['truncated', 0, 0]);
  }, 120_000);
});

/** A plain ssh2 client on a {@link startLimited} server, with `command` running on a session. */
async function openOnLimited(command: string): Promise<{ client: ssh2.Client; channel: ClientChannel; errors: (Error & { code?: number })[]; closed: Promise<void> }> {
  await startLimited();
  const o = (server as ServerHandle).clientOptions();
  const client = new ssh2.Client();
  const errors: (Error & { code?: number })[] = [];
  client.on('error', (e) => errors.push(e));
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await new Promise<void>((resolve) => client.once('ready', resolve).connect({ host: o.host, port: o.port, username: o.user, privateKey: o.privateKey }));
  let channel: ClientChannel | undefined;
  client.exec(command, (err, ch) => {
    if (!err) channel = ch;
  });
  return { client, channel: await waitFor(() => channel, 10_000, `${command} channel`), errors, closed };
}

describe('a session opened with a limited window (src/ssh2/session-window.ts)', () => {
  it('a client that sends past the window is disconnected (protocol error) once the server stops granting', async () => {
    const { client, channel, errors, closed } = await openOnLimited('hold');
    // 512-byte packets (the maximum), ignoring the 1 KiB window. ssh2 grants
    // the window back as each packet lands in its readable buffer; once that
    // is full (2 MiB, plus what the command's stdin pipe holds) no grant
    // comes, and the next packet overruns.
    await within(pushIgnoringWindow(client, channel, 8 * 1024 * 1024, 512, () => {}), 30_000, 'push');
    await within(closed, 10_000, 'disconnect');
    expect(errors.map((e) => e.code)).toContain(2); // SSH_DISCONNECT_PROTOCOL_ERROR
    // Client and server share this process, so what the push wrote says little; the server's reason says it all.
    await new Promise((resolve) => setImmediate(resolve));
    expect(serverLog?.take()).toContainEqual(expect.stringMatching(/peer overran the channel window \(512 bytes sent, ([0-9]|[1-4][0-9]{1,2}|50[0-9]|51[01]) allowed\)/));
  }, 60_000);

  it('a client that sends a packet larger than the maximum is disconnected even within the window', async () => {
    const { client, channel, errors, closed } = await openOnLimited('sink');
    // One 1024-byte packet: the whole window, twice the packet size.
    await within(pushIgnoringWindow(client, channel, 1024, 1024, () => {}), 30_000, 'push');
    await within(closed, 10_000, 'disconnect');
    expect(errors.map((e) => e.code)).toContain(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(serverLog?.take()).toContainEqual(expect.stringMatching(/peer overran the maximum packet size \(1024 bytes in one packet, 512 allowed\)/));
    expect((server as ServerHandle).seen.commands.map((c) => c.exit)).not.toContainEqual({ code: 0 });
  }, 60_000);
});

describe.skipIf(!SSH)(`tiny-window: ${peerVersion('ssh')}`, () => {
  it('sees the window on the wire (rwindow 1024 rmax 512), gets it back 256 bytes per WINDOW_ADJUST, and delivers all 1 MiB', async () => {
    const s = await startLimited();
    const ssh = opensshTemplate(SSH as string).map((w) =>
      w.replace('{port}', String(s.port)).replace('{identity}', s.identity).replace('{known_hosts}', s.knownHosts).replace('{user}', 'x').replace('{host}', '127.0.0.1').replace('{command}', 'sink').replace('LogLevel=ERROR', 'LogLevel=DEBUG2'),
    );
    const r = await runProcess(ssh[0] as string, ssh.slice(1), { stdinFile: s.input, timeoutMs: 60_000 });
    expect([r.code, r.stdoutHead]).toEqual([0, `${STDIN.size} ${referenceDigest(STDIN)}\n`]);
    expect(r.stderr).toMatch(/open confirm rwindow 1024 rmax 512/);
    const adjusts = [...r.stderr.matchAll(/rcvd adjust (\d+)/g)].map((m) => Number(m[1]));
    expect(new Set(adjusts)).toEqual(new Set([256]));
    // Granted back: everything consumed, less at most one window still owed at the end.
    const granted = adjusts.length * 256;
    expect(granted).toBeGreaterThanOrEqual(STDIN.size - 1024);
    expect(granted).toBeLessThanOrEqual(STDIN.size);
  }, 90_000);

  it('the audit: exact, all 1 MiB at the server, exit 0', async () => {
    const run = await tinyRun(opensshTemplate(SSH as string));
    expect([run.verdict, run.end.code, run.stdin?.receivedBytes, run.stdin?.receivedSha256]).toEqual(['exact', 0, STDIN.size, referenceDigest(STDIN)]);
  }, 120_000);

  it('known-bad: ssh -n (stdin from /dev/null) is truncated, 0 bytes at the server', async () => {
    const ssh = opensshTemplate(SSH as string);
    const run = await tinyRun([ssh[0] as string, '-n', ...ssh.slice(1)]);
    expect([run.verdict, run.end.code, run.stdin?.receivedBytes]).toEqual(['truncated', 0, 0]);
  }, 120_000);
});

describe.skipIf(!ASYNCSSH)(`tiny-window: ${peerVersion('asyncssh')} (asyncssh_audit.py, stdin=sys.stdin.buffer)`, () => {
  it('exact, all 1 MiB at the server, exit 0', async () => {
    const run = await tinyRun(pythonTemplate(ASYNCSSH as string, 'asyncssh_audit.py'));
    expect([run.verdict, run.end.code, run.stdin?.receivedBytes, run.stdin?.receivedSha256]).toEqual(['exact', 0, STDIN.size, referenceDigest(STDIN)]);
  }, 120_000);
});

describe.skipIf(!PARAMIKO)(`tiny-window: ${peerVersion('paramiko')} (paramiko_audit.py, sendall)`, () => {
  it('known-bad: sends 1024-byte packets past the 512-byte maximum, is disconnected: truncated, exit 255, the server says why', async () => {
    const run = await tinyRun(pythonTemplate(PARAMIKO as string, 'paramiko_audit.py'));
    expect([run.verdict, run.end.code, run.stdin?.receivedBytes]).toEqual(['truncated', 255, 0]);
    expect(run.serverLog).toContainEqual(expect.stringMatching(/peer overran the maximum packet size \(1024 bytes in one packet, 512 allowed\)/));
  }, 120_000);

  it('with a 4096-byte maximum packet (its MIN_PACKET_SIZE) it honours the 1 KiB window: all 1 MiB arrives', async () => {
    const s = await startLimited({ window: 1024, packetSize: 4096, step: 256 });
    const script = pythonTemplate(PARAMIKO as string, 'paramiko_audit.py').slice(0, 4).join(' ');
    // A pipe on its stdin (the script forwards a pipe only), as the audit gives it.
    const r = await runProcess('sh', ['-c', `cat '${s.input}' | ${script} 127.0.0.1 ${s.port} x '${s.identity}' '${s.knownHosts}' sink`], { timeoutMs: 60_000 });
    expect([r.code, r.stdoutHead]).toEqual([0, `${STDIN.size} ${referenceDigest(STDIN)}\n`]);
  }, 90_000);
});

describe('the start-up shape check (session-window.ts)', () => {
  it('fails with one line when ssh2 no longer grants the window the way the patch takes back', () => {
    const real = assertSsh2Shape();
    const moved = { ...real, channelSource: real.channelSource.replace('self.incoming.window += amt;', 'self.incoming.window = MAX_WINDOW;') };
    expect(() => assertSsh2Shape(() => moved)).toThrow(/^loopssh: ssh2 1\.17\.\d+ has an unexpected shape: Channel\.js windowAdjust\(\) no longer adds to incoming\.window/);
    const confirm = { ...real, serverSource: real.serverSource.replace('proto.channelOpenConfirm(info.sender,', 'proto.channelOpenConfirm(sender,') };
    expect(() => assertSsh2Shape(() => confirm)).toThrow(/a session accept\(\) no longer registers the Session/);
  });
});
