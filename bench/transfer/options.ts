/**
 * `npm run bench` flags: one table of what the bench can measure, and the
 * parse of the command line into a typed {@link BenchOptions}.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseSize } from '../../src/util/size.ts';
import type { Rgb } from '../png.ts';

/** The checkout's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MiB = 1024 * 1024;

export const PATH_IDS = ['cli2', 'cli-pack', 'loop2', 'loop1', 'loop1w', 'ssh-loop', 'loop-sshd', 'ssh-sshd'] as const;
/** A client → server path measured end to end. */
export type PathId = (typeof PATH_IDS)[number];
export const SFTP_PATH_IDS = ['sftp-loop', 'sftp-bin', 'sftp-ssh-loop', 'sftp-loop-sshd', 'sftp-ssh-sshd', 'put-loop', 'put-bin', 'put-ssh-loop', 'put-loop-sshd', 'put-ssh-sshd'] as const;
/** An SFTP transfer path: a get (download into a file) or a put (a file uploaded into a file on the server). */
export type SftpPathId = (typeof SFTP_PATH_IDS)[number];
/** Names --only takes for several SFTP paths at once. */
export const SFTP_GROUPS: Record<string, readonly SftpPathId[]> = {
  sftp: SFTP_PATH_IDS,
  'sftp-get': ['sftp-loop', 'sftp-bin', 'sftp-ssh-loop', 'sftp-loop-sshd', 'sftp-ssh-sshd'],
  'sftp-put': ['put-loop', 'put-bin', 'put-ssh-loop', 'put-loop-sshd', 'put-ssh-sshd'],
};
export const EXTRAS = ['setup', 'rss', 'flush', 'scale', 'limits'] as const;
/** A measurement besides the path × target table. */
export type Extra = (typeof EXTRAS)[number];
export const TARGETS = ['null', 'file', 'pipe'] as const;
/** Where the client writes what it receives. */
export type Target = (typeof TARGETS)[number];

/**
 * Who the client of a path is: the bench's compiled loopssh child, the CLI
 * as users run it (`npx loopssh exec` in the checkout, or installed from the
 * packed tarball), OpenSSH's ssh, or the one-process child.
 */
export type ClientKind = 'loopssh' | 'cli-checkout' | 'cli-installed' | 'ssh' | 'inproc';

/** What each path runs on each end. */
export const PATH_INFO: Record<PathId, { label: string; short: string; client: ClientKind; server: 'serve' | 'sshd' | 'inproc' }> = {
  cli2: { label: '`npx loopssh exec` (checkout) → loopssh serve', short: 'npx loopssh (checkout)', client: 'cli-checkout', server: 'serve' },
  'cli-pack': { label: '`npx loopssh exec` (installed tarball) → loopssh serve', short: 'npx loopssh (installed)', client: 'cli-installed', server: 'serve' },
  loop2: { label: 'loopssh → loopssh, 2 processes', short: 'loopssh -> loopssh (2 proc)', client: 'loopssh', server: 'serve' },
  loop1: { label: 'loopssh → loopssh, 1 process', short: 'loopssh -> loopssh (1 proc)', client: 'inproc', server: 'inproc' },
  loop1w: { label: 'loopssh → loopssh, 1 process, server on a worker thread', short: 'loopssh -> loopssh (1 proc, worker)', client: 'inproc', server: 'inproc' },
  'ssh-loop': { label: 'OpenSSH ssh → loopssh serve', short: 'ssh -> loopssh serve', client: 'ssh', server: 'serve' },
  'loop-sshd': { label: 'loopssh → OpenSSH sshd', short: 'loopssh -> sshd', client: 'loopssh', server: 'sshd' },
  'ssh-sshd': { label: 'OpenSSH ssh → OpenSSH sshd (baseline)', short: 'ssh -> sshd (baseline)', client: 'ssh', server: 'sshd' },
};
/**
 * What each SFTP path runs: the client is `npx loopssh sftp` from the
 * checkout (the CLI as users run it, like cli2) or OpenSSH's `sftp -b`; the
 * server `loopssh serve` (gets from /payload, puts into its --sftp-dir at
 * /disk) or the bench's own sshd with OpenSSH's sftp-server. The baseline of
 * each direction is OpenSSH → OpenSSH.
 */
export const SFTP_INFO: Record<SftpPathId, { label: string; short: string; verb: 'get' | 'put'; client: 'loopssh' | 'loopssh-bin' | 'sftp'; server: 'serve' | 'sshd'; baseline: SftpPathId }> = {
  'sftp-loop': { label: '`npx loopssh sftp get` → loopssh serve', short: 'sftp get: loopssh -> loopssh', verb: 'get', client: 'loopssh', server: 'serve', baseline: 'sftp-ssh-sshd' },
  'sftp-bin': { label: '`loopssh sftp get` (bin, no npx) → loopssh serve', short: 'sftp get: loopssh bin -> loopssh', verb: 'get', client: 'loopssh-bin', server: 'serve', baseline: 'sftp-ssh-sshd' },
  'sftp-ssh-loop': { label: 'OpenSSH `sftp -b` get → loopssh serve', short: 'sftp get: sftp -> loopssh', verb: 'get', client: 'sftp', server: 'serve', baseline: 'sftp-ssh-sshd' },
  'sftp-loop-sshd': { label: '`npx loopssh sftp get` → OpenSSH sftp-server', short: 'sftp get: loopssh -> sftp-server', verb: 'get', client: 'loopssh', server: 'sshd', baseline: 'sftp-ssh-sshd' },
  'sftp-ssh-sshd': { label: 'OpenSSH `sftp -b` get → OpenSSH sftp-server (baseline)', short: 'sftp get: sftp -> sftp-server (base)', verb: 'get', client: 'sftp', server: 'sshd', baseline: 'sftp-ssh-sshd' },
  'put-loop': { label: '`npx loopssh sftp put` → loopssh serve', short: 'sftp put: loopssh -> loopssh', verb: 'put', client: 'loopssh', server: 'serve', baseline: 'put-ssh-sshd' },
  'put-bin': { label: '`loopssh sftp put` (bin, no npx) → loopssh serve', short: 'sftp put: loopssh bin -> loopssh', verb: 'put', client: 'loopssh-bin', server: 'serve', baseline: 'put-ssh-sshd' },
  'put-ssh-loop': { label: 'OpenSSH `sftp -b` put → loopssh serve', short: 'sftp put: sftp -> loopssh', verb: 'put', client: 'sftp', server: 'serve', baseline: 'put-ssh-sshd' },
  'put-loop-sshd': { label: '`npx loopssh sftp put` → OpenSSH sftp-server', short: 'sftp put: loopssh -> sftp-server', verb: 'put', client: 'loopssh', server: 'sshd', baseline: 'put-ssh-sshd' },
  'put-ssh-sshd': { label: 'OpenSSH `sftp -b` put → OpenSSH sftp-server (baseline)', short: 'sftp put: sftp -> sftp-server (base)', verb: 'put', client: 'sftp', server: 'sshd', baseline: 'put-ssh-sshd' },
};
export const TARGET_LABEL: Record<Target, string> = { null: '/dev/null', file: 'file', pipe: 'pipe' };
export const TARGET_COLOR: Record<Target, Rgb> = { null: [66, 133, 244], file: [244, 160, 0], pipe: [15, 157, 88] };

export const HELP = `usage: npm run bench -- [options]

  --size SIZE          bytes per transfer (default 1GiB; e.g. 64MiB for a quick run)
  --runs N             interleaved runs (default 5)
  --cipher NAME        cipher for every client, ssh -c and loopssh's (default aes128-gcm@openssh.com)
  --only LIST          comma-separated: ${PATH_IDS.join(', ')}
                       (exec paths), ${SFTP_PATH_IDS.join(', ')}
                       (SFTP paths; or the groups ${Object.keys(SFTP_GROUPS).join(', ')})
                       and ${EXTRAS.join(', ')} (extras); default all
  --targets LIST       ${TARGETS.join(', ')} (default all three)
  --out DIR            where bench.md, bench.png and bench.json go (default bench/results)
  --runner R           how loopssh processes run: compiled (default: the checkout
                       transpiled to plain JS, as an installed package runs) or tsx
  --profile            also profile (node --cpu-prof) one loop1 transfer, one
                       loop2 client and the loopssh SFTP clients (and the
                       serve process of put-loop), and list the top
                       self-time functions
  --allow-js-crypto    run even though ssh2's native crypto binding is missing
                       (loopssh figures are then marked as not representative)
`;

/** A bad flag: the message is the one line the bench prints. */
export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

/** What one `npm run bench` invocation measures. */
export interface BenchOptions {
  help: boolean;
  /** Bytes per transfer. */
  size: number;
  runs: number;
  cipher: string;
  /** Output folder (absolute). */
  out: string;
  runner: 'compiled' | 'tsx';
  profile: boolean;
  allowJsCrypto: boolean;
  /** Paths selected by --only (before dropping those whose peers are missing). */
  paths: PathId[];
  /** SFTP paths selected by --only (every one without --only); to a file, whatever --targets says. */
  sftpPaths: SftpPathId[];
  targets: Target[];
  /** Whether --only selected this path or extra (everything without --only). */
  wanted(name: PathId | Extra): boolean;
  /**
   * Bytes per channel in the scaling figure: 16 MiB, 64 of them at once. A
   * --size below 1 GiB shrinks the channels in proportion (at least 64 KiB),
   * so quick runs stay quick; the report says which size was used.
   */
  scaleChannel: number;
  /** Paths of the peak-RSS-vs-size check (they run whether or not --only selects them as paths). */
  rssPaths: PathId[];
  /** Bytes of the plain TCP loopback copy (--size, at most 1 GiB). */
  limitBytes: number;
}

/** Parses the bench's command line; throws {@link BenchUsageError} naming the bad flag. */
export function parseBenchOptions(argv: string[]): BenchOptions {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        size: { type: 'string', default: '1GiB' },
        runs: { type: 'string', default: '5' },
        cipher: { type: 'string', default: 'aes128-gcm@openssh.com' },
        only: { type: 'string' },
        targets: { type: 'string' },
        out: { type: 'string', default: join(ROOT, 'bench', 'results') },
        runner: { type: 'string', default: 'compiled' },
        profile: { type: 'boolean', default: false },
        'allow-js-crypto': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new BenchUsageError(`${(err as Error).message} (try --help)`);
  }
  let size: number;
  try {
    size = parseSize(values.size);
  } catch (err) {
    throw new BenchUsageError(`--size: ${(err as Error).message}`);
  }
  if (size < 1) throw new BenchUsageError('--size must be at least 1 byte');
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new BenchUsageError(`--runs must be a whole number from 1, not '${values.runs}'`);
  if (!/^[\w.@-]+$/.test(values.cipher)) throw new BenchUsageError(`--cipher: '${values.cipher}' is not a cipher name`);
  const runner = values.runner;
  if (runner !== 'compiled' && runner !== 'tsx') throw new BenchUsageError(`--runner must be compiled or tsx, not '${runner}'`);
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of only ?? []) {
    if (![...PATH_IDS, ...SFTP_PATH_IDS, ...Object.keys(SFTP_GROUPS), ...EXTRAS].includes(name)) {
      throw new BenchUsageError(`--only: unknown '${name}' (paths: ${PATH_IDS.join(', ')}; SFTP: ${[...SFTP_PATH_IDS, ...Object.keys(SFTP_GROUPS)].join(', ')}; extras: ${EXTRAS.join(', ')})`);
    }
  }
  const sftpWanted = (id: SftpPathId): boolean => only === undefined || only.includes(id) || only.some((g) => SFTP_GROUPS[g]?.includes(id));
  const selected = values.targets?.split(',').map((s) => s.trim()) ?? [...TARGETS];
  for (const t of selected) if (!(TARGETS as readonly string[]).includes(t)) throw new BenchUsageError(`--targets: unknown '${t}' (${TARGETS.join(', ')})`);
  const wanted = (name: PathId | Extra): boolean => only === undefined || only.includes(name);
  return {
    help: values.help,
    size,
    runs,
    cipher: values.cipher,
    out: resolve(values.out),
    runner,
    profile: values.profile,
    allowJsCrypto: values['allow-js-crypto'],
    paths: PATH_IDS.filter((p) => wanted(p)),
    sftpPaths: SFTP_PATH_IDS.filter(sftpWanted),
    targets: TARGETS.filter((t) => selected.includes(t)),
    wanted,
    scaleChannel: Math.max(64 * 1024, Math.min(16 * MiB, Math.floor(size / 64 / 65536) * 65536)),
    rssPaths: wanted('rss') ? ['cli2', 'loop2', 'loop1'] : [],
    limitBytes: Math.min(size, 1024 * MiB),
  };
}
