/**
 * A/B of the ssh2 send-path levers (src/ssh2/send-path.ts, loopssh issue 14),
 * interleaved in one invocation:
 *
 *   npm run bench:sendpath -- [--size 512MiB] [--pairs 6] [--levers pad,reuse,cork]
 *                             [--paths ssh-loop,loop2] [--cipher aes128-gcm@openssh.com]
 *
 * One `loopssh serve` per variant (LOOPSSH_SEND_PATH=none as the base, and
 * one per lever alone; `--levers none` adds an A/A control), all running for the whole invocation. Each pair is
 * the same transfer to /dev/null against the base and against the lever,
 * the order alternating per pair; the client gets the same LOOPSSH_SEND_PATH
 * as its server. Transfers are measured and verified by the main bench's
 * code (bench/transfer/measure.ts). Prints, per lever and path, the per-pair
 * ratios (lever MB/s ÷ base MB/s; base server CPU ÷ lever server CPU), their
 * medians and wins out of N, as Markdown on stdout; progress on stderr.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { SEND_PATH_ENV, parseSendLevers } from '../src/ssh2/send-path.ts';
import { formatSize, parseSize } from '../src/util/size.ts';
import { peer } from '../test/helpers/peers.ts';
import { baseFirst, summarisePairs, type Pair } from './transfer/ab.ts';
import { transfer, type MeasureContext } from './transfer/measure.ts';
import { PATH_INFO, parseBenchOptions, type PathId } from './transfer/options.ts';
import { BenchEnv, type Serve } from './transfer/setup.ts';
import { fmtMiB, fmtRate, mbps } from './transfer/stats.ts';

const log = (line: string): void => void process.stderr.write(`bench:sendpath: ${line}\n`);

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '512MiB' },
    pairs: { type: 'string', default: '6' },
    levers: { type: 'string', default: 'pad,reuse,cork' },
    base: { type: 'string', default: 'none' },
    paths: { type: 'string', default: 'ssh-loop,loop2' },
    cipher: { type: 'string', default: 'aes128-gcm@openssh.com' },
  },
  strict: true,
});
const size = parseSize(values.size);
const pairs = Number(values.pairs);
// A variant is one LOOPSSH_SEND_PATH value; '+' joins levers inside one (reuse+pad).
const levers = values.levers.split(',').map((s) => s.trim());
const baseVariant = values.base;
const envValue = (variant: string): string => variant.replaceAll('+', ',');
for (const v of [baseVariant, ...levers]) parseSendLevers(envValue(v)); // one line naming a bad lever
const paths = values.paths.split(',').map((s) => s.trim()) as PathId[];
const ssh = peer('ssh');
for (const p of paths) {
  if (!(p in PATH_INFO) || PATH_INFO[p].server !== 'serve') throw new Error(`--paths: '${p}' is not a path to loopssh serve`);
  if (PATH_INFO[p].client === 'ssh' && !ssh) throw new Error(`--paths: '${p}' needs OpenSSH ssh`);
}

const env = new BenchEnv();
const options = parseBenchOptions(['--size', String(size), '--cipher', values.cipher, '--only', paths.join(',')]);
const ctx: MeasureContext = { env, options, ssh };

/** One verified transfer with `variant` on both ends; MB/s and server CPU. */
async function measure(serve: Serve, variant: string, path: PathId): Promise<{ MBps: number; cpuS?: number; rssKiB?: number }> {
  env.serve = serve;
  process.env[SEND_PATH_ENV] = envValue(variant);
  const s = await transfer(ctx, path, 'null', size);
  if (!s.ok) throw new Error(`${path} with ${SEND_PATH_ENV}=${variant} failed verification: ${s.why}`);
  return { MBps: mbps(size, s.wallMs), cpuS: s.serverCpuS, rssKiB: s.serverRssKiB };
}

async function main(): Promise<void> {
  env.compile('compiled', log);
  const serves = new Map<string, Serve>();
  // The base is a server of its own even when a lever equals it (an A/A control).
  for (const [role, variant] of [['base', baseVariant], ...levers.map((l) => [l, l])] as [string, string][]) {
    process.env[SEND_PATH_ENV] = envValue(variant);
    serves.set(role, await env.startServe(`serve-${role.replace(/\W/g, '_')}`));
  }
  const load0 = loadavg()[0] ?? 0;
  const started = new Date();
  log(`${formatSize(size)} per transfer, ${pairs} pairs per lever and path, levers ${levers.join(' ')}, paths ${paths.join(' ')}, load ${load0.toFixed(2)}`);
  const results = new Map<string, Pair[]>();
  for (let i = 0; i < pairs; i++) {
    for (const lever of levers) {
      for (const path of paths) {
        const run = (role: 'base' | 'lever'): Promise<{ MBps: number; cpuS?: number; rssKiB?: number }> =>
          role === 'base' ? measure(serves.get('base') as Serve, baseVariant, path) : measure(serves.get(lever) as Serve, lever, path);
        const first = baseFirst(i) ? 'base' : 'lever';
        const a = await run(first);
        const b = await run(first === 'base' ? 'lever' : 'base');
        const [base, on] = first === 'base' ? [a, b] : [b, a];
        const key = `${lever}|${path}`;
        results.set(key, [...(results.get(key) ?? []), { baseMBps: base.MBps, leverMBps: on.MBps, baseCpuS: base.cpuS, leverCpuS: on.cpuS, baseRssKiB: base.rssKiB, leverRssKiB: on.rssKiB }]);
        log(`pair ${i + 1}/${pairs} ${lever.padEnd(5)} ${path.padEnd(8)} base ${fmtRate(base.MBps)} MB/s ${base.cpuS?.toFixed(2)} s cpu, lever ${fmtRate(on.MBps)} MB/s ${on.cpuS?.toFixed(2)} s cpu, ratio ${(on.MBps / base.MBps).toFixed(3)}`);
      }
    }
  }
  const load1 = loadavg()[0] ?? 0;
  const lines = [
    `## Send-path levers, A/B (${started.toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `\`npm run bench:sendpath -- --size ${values.size} --pairs ${pairs} --base ${baseVariant} --levers ${levers.join(',')} --paths ${paths.join(',')}\`; ` +
      `${formatSize(size)} of zeros to /dev/null per transfer, ${values.cipher}, load average ${load0.toFixed(1)} at start, ${load1.toFixed(1)} at end. ` +
      `Speed ratio = lever MB/s ÷ base MB/s; CPU ratio = base server CPU ÷ lever server CPU (both > 1 when the lever helps); base = \`LOOPSSH_SEND_PATH=${envValue(baseVariant)}\`.`,
    '',
    '| lever | path | speed ratio per pair | median | faster in | server CPU ratio per pair | median | less CPU in | server peak RSS, base → lever (medians) |',
    '|---|---|---|---:|---:|---|---:|---:|---:|',
  ];
  for (const [key, list] of results) {
    const [lever, path] = key.split('|');
    const s = summarisePairs(list);
    lines.push(
      `| ${lever} | ${path} | ${s.speed.map((r) => r.toFixed(2)).join(' ')} | ${s.speedMedian.toFixed(3)} | ${s.speedWins}/${s.speed.length} | ` +
        `${s.cpu.map((r) => r.toFixed(2)).join(' ')} | ${s.cpuMedian?.toFixed(3) ?? '—'} | ${s.cpuWins}/${s.cpu.length} | ${fmtMiB(s.baseRssKiB)} → ${fmtMiB(s.leverRssKiB)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

try {
  await main();
} catch (err) {
  log((err as Error).message);
  process.exitCode = 1;
} finally {
  await env.cleanup();
}
