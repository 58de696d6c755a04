/**
 * `loopssh sftp get REMOTE [-o FILE]` and `loopssh sftp put FILE REMOTE`:
 * SFTP transfers with the client's download()/upload(), against loopssh
 * serve or any SFTP server (OpenSSH's sftp-server).
 */
import { connect, type TransferOptions, type TransferResult, RunError } from '../client/index.js';
import { flagTable, parseInteger, parseSizeFlag, UsageError } from '../util/flags.js';
import { formatSize } from '../util/size.js';
import { keepStdioBlocking } from './stdio.js';
import { DEFAULT_LOOPSSH_PORT, connectOptions, connectionFlags, helpFlag, interruptible, parseOrHelp, printLine, type CliCommand } from './common.js';

const section = 'transfer';

/** `loopssh sftp`: flags, parser and help in one table. */
export const SFTP_COMMAND = {
  name: 'sftp',
  usage: 'sftp get REMOTE [-o FILE] [options] | sftp put FILE REMOTE [options]',
  about: `Downloads REMOTE (to FILE, written under a temporary name and renamed only
when complete; default: this stdout) or uploads FILE to REMOTE over SFTP
(also under a temporary name in REMOTE's folder, renamed over REMOTE only
when every byte was acknowledged; --in-place writes REMOTE directly).
A download is checked against the size the server's stat reported and its
EOF: a short or long file is an error and leaves no FILE. On loopssh serve,
try 'get /README', 'get /payload/random/7/64MiB' or 'put FILE /sink/NAME'.
Exit status as scp's: 0 on success, 1 when the transfer failed, 255 when
the connection or login did, 2 for bad usage.`,
  flags: flagTable({
    output: { kind: 'value', alias: 'o', arg: 'FILE', section, help: 'get: write to FILE (default: this stdout)' },
    'keep-partial': { kind: 'boolean', section, help: 'get: keep an incomplete download as FILE.partial' },
    fsync: { kind: 'boolean', section, help: 'get: fsync FILE and its folder before renaming' },
    naive: { kind: 'boolean', section, help: 'get: the naive download (a short read taken for EOF, no size check, done before the target closed), to see it lose bytes' },
    'in-place': { kind: 'boolean', section, help: 'put: write REMOTE directly, not a temporary name renamed over it (for servers that refuse renames)' },
    'chunk-size': { kind: 'value', arg: 'SIZE', section, help: 'bytes per READ/WRITE request (default: 32KiB less\nthe SFTP header, one SSH packet each)' },
    requests: { kind: 'value', arg: 'N', section, help: 'requests in flight (default 64)' },
    sha256: { kind: 'boolean', section, help: 'hash the bytes moved and print their SHA-256 in the\nsummary line (about 0.5 CPU-seconds per GiB)' },
    quiet: { kind: 'boolean', alias: 'q', section, help: 'no summary line on success' },
    ...connectionFlags(DEFAULT_LOOPSSH_PORT),
    ...helpFlag('connection'),
  }),
} satisfies CliCommand<ReturnType<typeof flagTable>>;

/** A progress line on a terminal's stderr (redrawn in place, erased at the end); nothing otherwise. */
function progress(toStdout: boolean): Pick<TransferOptions, 'onProgress'> & { done(): void } {
  if (!process.stderr.isTTY || (toStdout && process.stdout.isTTY)) return { done: () => {} };
  let shown = false;
  const started = performance.now();
  return {
    onProgress: (bytes, total) => {
      const ms = performance.now() - started;
      const mbps = ms > 0 ? (bytes / ms / 1000).toFixed(0) : '0';
      const of = total ? ` of ${formatSize(total)} (${Math.floor((100 * bytes) / Math.max(1, total))}%)` : '';
      process.stderr.write(`\r\x1b[Kloopssh: ${formatSize(bytes)}${of}, ${mbps} MB/s`);
      shown = true;
    },
    done: () => {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

/** `loopssh sftp`. */
export async function sftpCommand(args: string[]): Promise<number> {
  const parsed = parseOrHelp(args, SFTP_COMMAND);
  if (!parsed) return 0;
  const [verb, ...paths] = parsed.positionals;
  const v = parsed.values;
  if (verb !== 'get' && verb !== 'put') throw new UsageError(`sftp needs 'get REMOTE' or 'put FILE REMOTE'${verb === undefined ? '' : `, not '${verb.slice(0, 40)}'`}`);
  if (verb === 'get' && paths.length !== 1) throw new UsageError('sftp get takes one REMOTE path (and -o FILE)');
  if (verb === 'put' && paths.length !== 2) throw new UsageError('sftp put takes FILE and REMOTE');
  if (verb === 'put' && v.output !== undefined) throw new UsageError('-o is for sftp get');
  if (verb === 'get' && v['in-place'] === true) throw new UsageError('--in-place is for sftp put');
  if (verb === 'put' && v.naive === true) throw new UsageError('--naive is for sftp get');
  const tune: TransferOptions = {
    chunkSize: v['chunk-size'] === undefined ? undefined : parseSizeFlag(v['chunk-size'], '--chunk-size'),
    requests: v.requests === undefined ? undefined : parseInteger(v.requests, '--requests', 1, 1024),
    keepPartial: v['keep-partial'] === true,
    fsync: v.fsync === true,
    atomic: v['in-place'] !== true,
    naive: v.naive === true,
    digest: v.sha256 === true,
  };
  if (tune.chunkSize !== undefined && (tune.chunkSize < 1 || tune.chunkSize > 255 * 1024)) throw new UsageError('--chunk-size: between 1 and 255KiB');
  const toStdout = verb === 'get' && v.output === undefined;
  if (toStdout) keepStdioBlocking();
  const options = await connectOptions(v, DEFAULT_LOOPSSH_PORT);
  const connection = await connect(options);
  const bar = progress(toStdout);
  let result: TransferResult;
  try {
    result = await interruptible(
      (signal) => {
        const run = { ...tune, signal, onProgress: bar.onProgress };
        return verb === 'get' ? connection.download(paths[0] as string, v.output ?? 1, run) : connection.upload(paths[0] as string, paths[1] as string, run);
      },
      (err): err is RunError => err instanceof RunError,
    );
  } finally {
    bar.done();
    await connection.close();
  }
  if (v.quiet !== true) {
    const where = verb === 'get' ? `${result.remotePath} → ${v.output ?? 'stdout'}` : `${paths[0]} → ${result.remotePath}`;
    const digest = result.sha256 === undefined ? '' : `, SHA-256 ${result.sha256}`;
    printLine(`${verb} ${where}: ${formatSize(result.bytes)} (${result.bytes} bytes${digest})`);
  }
  return 0;
}
