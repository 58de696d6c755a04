/**
 * `loopssh serve`: the standalone server.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { DEFAULT_KEYS_DIR } from '../openssh/key-dir.js';
import { startServer } from '../server/server.js';
import type { ServerOptions } from '../server/types.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../server/commands.js';
import { parseMaxStartups } from '../server/listener.js';
import { flagTable, parseInteger, parseSizeFlag, UsageError, type FlagTable, type FlagValues } from '../util/flags.js';
import { clip } from '../util/text.js';
import { createLogger } from '../server/log.js';
import { DEFAULT_LOOPSSH_PORT, helpFlag, parseOrHelp, type CliCommand } from './common.js';

const GiB = 1024 ** 3;

/** `loopssh serve`: flags, parser and help in one table. */
export const SERVE_COMMAND = {
  name: 'serve',
  usage: 'serve [options]',
  about: `Runs the loopssh server until SIGINT or SIGTERM. On ready it prints
'listening HOST:PORT hostkey SHA256:...' on stderr. Logs are JSON lines on
stderr (LOOPSSH_LOG_LEVEL=debug|info|warn|error).`,
  flags: flagTable({
    host: {
      kind: 'value',
      arg: 'ADDR',
      section: 'options',
      help: 'bind address, an IP (default 127.0.0.1; anything else\nis reachable from other machines and is logged)',
    },
    port: { kind: 'value', alias: 'p', arg: 'PORT', section: 'options', help: `port (default ${DEFAULT_LOOPSSH_PORT}; 0 = any free port)` },
    keys: {
      kind: 'value',
      arg: 'DIR',
      section: 'options',
      help: "host key and authorized_keys, generated if absent\n(default: the package's keys/)",
    },
    'sftp-dir': {
      kind: 'value',
      arg: 'DIR',
      section: 'options',
      help: 'serve DIR at /disk over SFTP, read-only, jailed (no\nescape by .. or links); the rest of the tree is virtual',
    },
    'sftp-writable': { kind: 'boolean', section: 'options', help: 'let SFTP clients create and write files in --sftp-dir' },
    'pid-file': {
      kind: 'value',
      arg: 'FILE',
      section: 'options',
      help: 'write the server\'s pid to FILE when ready, remove\nit on stop (`kill "$(cat FILE)"` stops it; npx\ndoes not pass SIGTERM on to the server)',
    },
    compression: {
      kind: 'boolean',
      section: 'options',
      help: 'offer zlib compression (zlib@openssh.com, zlib); off by\ndefault: on loopback it costs CPU and buys nothing',
    },
    ...helpFlag('options'),
    'max-payload': { kind: 'value', arg: 'SIZE', section: 'limits', help: `largest payload (default ${DEFAULT_LIMITS.maxPayloadBytes / GiB}GiB)` },
    'max-digest': { kind: 'value', arg: 'SIZE', section: 'limits', help: `largest digest, hashed on the server (default ${DEFAULT_LIMITS.maxDigestBytes / GiB}GiB)` },
    'max-buffers': {
      kind: 'value',
      arg: 'SIZE',
      section: 'limits',
      help: `write buffers of all running payload/digest commands\n(default ${DEFAULT_LIMITS.maxBufferBytes / 1024 ** 2}MiB)`,
    },
    'max-connections': { kind: 'value', arg: 'N', section: 'limits', help: `concurrent logged-in connections (default ${DEFAULT_LIMITS.maxConnections})` },
    'max-startups': {
      kind: 'value',
      arg: 'S:R:F',
      section: 'limits',
      help: `connections not logged in yet, as OpenSSH's MaxStartups:\nfrom S on, drop new ones with R% chance, all at F\n(default ${DEFAULT_LIMITS.maxStartups.start}:${DEFAULT_LIMITS.maxStartups.rate}:${DEFAULT_LIMITS.maxStartups.full})`,
    },
    'version-timeout-ms': { kind: 'value', arg: 'N', section: 'limits', help: `time to send the SSH version line (default ${DEFAULT_LIMITS.versionTimeoutMs})` },
    'password-guess-burst': { kind: 'value', arg: 'N', section: 'limits', help: `wrong passwords one address may send at once (default ${DEFAULT_LIMITS.passwordGuessBurst})` },
    'password-guesses-per-second': {
      kind: 'value',
      arg: 'N',
      section: 'limits',
      help: `then this many a second, over all its connections\n(default ${DEFAULT_LIMITS.passwordGuessesPerSecond})`,
    },
    'max-channels': { kind: 'value', arg: 'N', section: 'limits', help: `channels per connection (default ${DEFAULT_LIMITS.maxChannelsPerConnection})` },
    'login-grace-ms': { kind: 'value', arg: 'N', section: 'limits', help: `time to authenticate (default ${DEFAULT_LIMITS.loginGraceMs})` },
    'idle-timeout-ms': { kind: 'value', arg: 'N', section: 'limits', help: `close silent connections (default ${DEFAULT_LIMITS.idleTimeoutMs} = never)` },
    'stall-timeout-ms': {
      kind: 'value',
      arg: 'N',
      section: 'limits',
      help: `close a channel whose client takes no data for this\nlong (default ${DEFAULT_LIMITS.stallTimeoutMs}; 0 = never)`,
    },
    'max-auth-tries': { kind: 'value', arg: 'N', section: 'limits', help: `authentication attempts per connection (default ${DEFAULT_LIMITS.maxAuthTries})` },
    'rekey-interval-ms': {
      kind: 'value',
      arg: 'N',
      section: 'limits',
      help: `start a key re-exchange on each connection this often\n(default ${DEFAULT_LIMITS.rekeyIntervalMs} = never)`,
    },
  }),
} satisfies CliCommand<FlagTable>;

/** Writes this process's pid to `path` atomically (temp name, then rename). */
function writePidFile(path: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${process.pid}\n`, { mode: 0o644 });
  renameSync(temp, path);
}

/** The server options `serve`'s flags ask for (checked; defaults filled in by startServer). */
export function serverOptions(
  values: FlagValues<typeof SERVE_COMMAND.flags>,
): Pick<ServerOptions, 'host' | 'port' | 'keysDir' | 'limits' | 'recordLimit' | 'algorithms' | 'sftpDirectory'> {
  const int = (k: keyof typeof SERVE_COMMAND.flags, min: number, max: number): number | undefined => {
    const v = values[k];
    return typeof v === 'string' ? parseInteger(v, `--${k}`, min, max) : undefined;
  };
  const host = values.host;
  // The library takes host names too; the command line asks for an address, like sshd's ListenAddress.
  if (host !== undefined && isIP(host) === 0 && host !== 'localhost') throw new UsageError(`--host must be an IP address, not '${clip(host)}'`);
  const limits: Partial<ServerLimits> = {};
  const maxPayload = values['max-payload'];
  if (maxPayload !== undefined) limits.maxPayloadBytes = parseSizeFlag(maxPayload, '--max-payload');
  if (values['max-digest'] !== undefined) limits.maxDigestBytes = parseSizeFlag(values['max-digest'], '--max-digest');
  if (values['max-buffers'] !== undefined) limits.maxBufferBytes = parseSizeFlag(values['max-buffers'], '--max-buffers');
  const set = <K extends keyof ServerLimits>(key: K, value: number | undefined): void => {
    if (value !== undefined) limits[key] = value as ServerLimits[K];
  };
  set('maxConnections', int('max-connections', 1, 100_000));
  if (values['max-startups'] !== undefined) limits.maxStartups = parseMaxStartups(values['max-startups']);
  set('versionTimeoutMs', int('version-timeout-ms', 100, 3_600_000));
  set('maxChannelsPerConnection', int('max-channels', 1, 10_000));
  set('loginGraceMs', int('login-grace-ms', 100, 3_600_000));
  set('idleTimeoutMs', int('idle-timeout-ms', 0, 86_400_000));
  set('maxAuthTries', int('max-auth-tries', 1, 100));
  set('passwordGuessBurst', int('password-guess-burst', 1, 100_000));
  set('passwordGuessesPerSecond', int('password-guesses-per-second', 1, 100_000));
  set('stallTimeoutMs', int('stall-timeout-ms', 0, 86_400_000));
  set('rekeyIntervalMs', int('rekey-interval-ms', 0, 86_400_000));
  const algorithms: ServerOptions['algorithms'] = values.compression ? { compress: ['none', 'zlib@openssh.com', 'zlib'] } : undefined;
  // Nothing reads `seen` in a standalone server: keep only its totals, so a
  // hostile client's connections and user names cost no memory there.
  const recordLimit = 0;
  if (values['sftp-writable'] && values['sftp-dir'] === undefined) throw new UsageError('--sftp-writable needs --sftp-dir DIR');
  const sftpDirectory = values['sftp-dir'] === undefined ? undefined : { path: values['sftp-dir'], writable: values['sftp-writable'] === true };
  return { host, port: int('port', 0, 65535) ?? DEFAULT_LOOPSSH_PORT, keysDir: values.keys ?? DEFAULT_KEYS_DIR, limits, recordLimit, algorithms, sftpDirectory };
}

/** `loopssh serve`. */
export async function serveCommand(args: string[]): Promise<number> {
  const parsed = parseOrHelp(args, SERVE_COMMAND);
  if (!parsed) return 0;
  if (parsed.positionals.length > 0) throw new UsageError(`serve takes no arguments, got '${clip(parsed.positionals[0] as string)}'`);
  const options = serverOptions(parsed.values);
  const logger = createLogger('info', 'loopssh-server');
  // Signal handlers first: a SIGTERM during start-up still stops cleanly.
  const stopRequested = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const server = await startServer({ ...options, logger });
  const pidFile = parsed.values['pid-file'];
  if (pidFile !== undefined) {
    try {
      writePidFile(pidFile);
    } catch (err) {
      await server.stop();
      throw new UsageError(`--pid-file: cannot write '${clip(pidFile)}': ${(err as Error).message}`);
    }
  }
  process.stderr.write(`listening ${server.host}:${server.port} hostkey ${server.hostKeyFingerprint}\n`);
  await stopRequested;
  await server.stop();
  if (pidFile !== undefined) rmSync(pidFile, { force: true });
  logger.info('stopped');
  return 0;
}
