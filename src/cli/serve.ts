/**
 * `loopssh serve`: the standalone server.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { DEFAULT_KEYS_DIR } from '../openssh/key-dir.js';
import { startServer } from '../server/server.js';
import { DEFAULT_LIMITS, type ServerLimits } from '../server/commands.js';
import { parseInteger, UsageError } from '../util/flags.js';
import { clip } from '../util/text.js';
import { createLogger } from '../server/log.js';
import { parseSize } from '../util/size.js';
import { DEFAULT_LOOPSSH_PORT, parseOrHelp } from './common.js';

/** Help for `loopssh serve`. */
export const SERVE_HELP = `usage: loopssh serve [options]

Runs the loopssh server until SIGINT or SIGTERM. On ready it prints
'listening HOST:PORT hostkey SHA256:...' on stderr. Logs are JSON lines on
stderr (LOOPSSH_LOG_LEVEL=debug|info|warn|error).

options:
  --host ADDR               bind address (default 127.0.0.1; anything else
                            is reachable from other machines and is logged)
  --port PORT               port (default ${DEFAULT_LOOPSSH_PORT}; 0 = any free port)
  --keys DIR                host key and authorized_keys, generated if absent
                            (default: the package's keys/)
  --pid-file FILE           write the server's pid to FILE when ready, remove
                            it on stop (\`kill "$(cat FILE)"\` stops it; npx
                            does not pass SIGTERM on to the server)
limits:
  --max-payload SIZE        largest payload (default ${DEFAULT_LIMITS.maxPayloadBytes / 1024 ** 3}GiB)
  --max-connections N       concurrent connections (default ${DEFAULT_LIMITS.maxConnections})
  --max-channels N          channels per connection (default ${DEFAULT_LIMITS.maxChannelsPerConnection})
  --login-grace-ms N        time to authenticate (default ${DEFAULT_LIMITS.loginGraceMs})
  --idle-timeout-ms N       close silent connections (default 0 = never)
  --max-auth-tries N        authentication attempts per connection (default ${DEFAULT_LIMITS.maxAuthTries})
`;

/** Writes this process's pid to `path` atomically (temp name, then rename). */
function writePidFile(path: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${process.pid}\n`, { mode: 0o644 });
  renameSync(temp, path);
}

/** `loopssh serve`. */
export async function serveCommand(args: string[]): Promise<number> {
  const flags = {
    host: 'value',
    port: 'value',
    keys: 'value',
    'pid-file': 'value',
    'max-payload': 'value',
    'max-connections': 'value',
    'max-channels': 'value',
    'login-grace-ms': 'value',
    'idle-timeout-ms': 'value',
    'max-auth-tries': 'value',
    help: 'boolean',
  } as const;
  const parsed = parseOrHelp(args, { flags, alias: { p: 'port', h: 'help' } }, SERVE_HELP, 'serve');
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments, got '${clip(positionals[0] as string)}'`);
  const get = (k: string): string | undefined => values.get(k) as string | undefined;
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = get(k);
    return v === undefined ? undefined : parseInteger(v, `--${k}`, min, max);
  };
  const limits: Partial<ServerLimits> = {};
  const maxPayload = get('max-payload');
  if (maxPayload !== undefined) limits.maxPayloadBytes = parseSize(maxPayload);
  const set = <K extends keyof ServerLimits>(key: K, value: number | undefined): void => {
    if (value !== undefined) limits[key] = value as ServerLimits[K];
  };
  set('maxConnections', int('max-connections', 1, 100_000));
  set('maxChannelsPerConnection', int('max-channels', 1, 10_000));
  set('loginGraceMs', int('login-grace-ms', 100, 3_600_000));
  set('idleTimeoutMs', int('idle-timeout-ms', 0, 86_400_000));
  set('maxAuthTries', int('max-auth-tries', 1, 100));

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
  const server = await startServer({
    host: get('host'),
    port: int('port', 0, 65535) ?? DEFAULT_LOOPSSH_PORT,
    keysDir: get('keys') ?? DEFAULT_KEYS_DIR,
    limits,
    logger,
  });
  const pidFile = get('pid-file');
  try {
    if (pidFile !== undefined) writePidFile(pidFile);
  } catch (err) {
    await server.stop();
    throw new UsageError(`--pid-file: cannot write '${clip(pidFile as string)}': ${(err as Error).message}`);
  }
  process.stderr.write(`listening ${server.host}:${server.port} hostkey ${server.hostKeyFingerprint}\n`);
  await stopRequested;
  await server.stop();
  if (pidFile !== undefined) rmSync(pidFile, { force: true });
  logger.info('stopped');
  return 0;
}
