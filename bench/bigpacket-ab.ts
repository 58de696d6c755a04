/**
 * MEASUREMENT ONLY, not committed (loopssh issue 14, larger packets/window
 * between two loopssh ends). Like bench/send-ab.ts, but the variant is the
 * client's LOOPSSH_BIG_CHANNEL (packet,window in bytes) and both processes
 * run against a temporary copy of ssh2 whose MAX_PACKET_SIZE is raised, and
 * a packet-slabs.js whose slab fits the largest packet (for every variant).
 *
 *   tsx bench/bigpacket-ab.ts --size 512MiB --pairs 6 --variants p64w2,p256w2,p256w8,none --targets null,file
 */
import { cpSync, readdirSync, readFileSync, rmSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatSize, parseSize } from '../src/util/size.ts';
import { median } from './transfer/stats.ts';
import { baseFirst } from './transfer/ab.ts';
import { transfer, type MeasureContext } from './transfer/measure.ts';
import { parseBenchOptions, ROOT, type Target } from './transfer/options.ts';
import { BenchEnv, type Serve } from './transfer/setup.ts';
import { fmtMiB, fmtRate, mbps } from './transfer/stats.ts';

const log = (line: string): void => void process.stderr.write(`bench:bigpacket: ${line}\n`);
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '512MiB' },
    pairs: { type: 'string', default: '6' },
    variants: { type: 'string', default: 'p64w2,p256w2,p256w8,none' },
    targets: { type: 'string', default: 'null,file' },
    maxpacket: { type: 'string', default: String(1024 * 1024 + 1024) },
    'no-patch': { type: 'boolean', default: false },
  },
  strict: true,
});
const size = parseSize(values.size);
const pairs = Number(values.pairs);
const variants = values.variants.split(',');
const targets = values.targets.split(',') as Target[];
const envOf = (v: string): string => {
  if (v === 'none') return 'none';
  const m = /^p(\d+)w(\d+)$/.exec(v);
  if (!m) throw new Error(`bad variant ${v}`);
  return `${Number(m[1]) * 1024},${Number(m[2]) * 1024 * 1024}`;
};
const env = new BenchEnv();
const options = parseBenchOptions(['--size', String(size), '--only', 'loop2']);
const ctx: MeasureContext = { env, options, ssh: undefined };

function patchBuild(): void {
  const nm = join(env.build, 'node_modules');
  rmSync(nm);
  mkdirSync(nm);
  const src = join(ROOT, 'node_modules');
  for (const e of readdirSync(src)) if (e !== 'ssh2') symlinkSync(join(src, e), join(nm, e));
  cpSync(join(src, 'ssh2'), join(nm, 'ssh2'), { recursive: true, dereference: true });
  const crypto = join(nm, 'ssh2', 'lib', 'protocol', 'crypto.js');
  const text = readFileSync(crypto, 'utf8');
  if (!text.includes('const MAX_PACKET_SIZE = 35000;')) throw new Error('ssh2 crypto.js: no MAX_PACKET_SIZE');
  writeFileSync(crypto, text.replace('const MAX_PACKET_SIZE = 35000;', `const MAX_PACKET_SIZE = ${values.maxpacket};`));
  const slabs = join(env.build, 'src', 'ssh2', 'packet-slabs.js');
  const s = readFileSync(slabs, 'utf8');
  if (!s.includes('export const SLAB_BYTES = 32 * 1024 + 512;')) throw new Error('packet-slabs.js: no SLAB_BYTES');
  writeFileSync(slabs, s.replace('export const SLAB_BYTES = 32 * 1024 + 512;', 'export const SLAB_BYTES = 256 * 1024 + 512;'));
  log(`patched ssh2 copy (MAX_PACKET_SIZE ${values.maxpacket}) and SLAB_BYTES 256.5 KiB in ${env.build}`);
}

interface M { MBps: number; cpuS?: number; ccpuS?: number; rss?: number; crss?: number }
async function measure(serve: Serve, variant: string, target: Target): Promise<M> {
  env.serve = serve;
  process.env.LOOPSSH_BIG_CHANNEL = envOf(variant);
  const s = await transfer(ctx, 'loop2', target, size);
  if (!s.ok) throw new Error(`loop2 ${target} with ${variant} failed verification: ${s.why}`);
  return { MBps: mbps(size, s.wallMs), cpuS: s.serverCpuS, ccpuS: s.clientCpuS, rss: s.serverRssKiB, crss: s.clientRssKiB };
}

async function main(): Promise<void> {
  env.compile('compiled', log);
  if (env.runnerUsed !== 'compiled') throw new Error('needs the compiled build');
  if (!values['no-patch']) patchBuild();
  const serves = new Map<string, Serve>();
  delete process.env.LOOPSSH_BIG_CHANNEL;
  for (const role of ['base', ...variants]) serves.set(role, await env.startServe(`serve-${role}`));
  const load0 = loadavg()[0] ?? 0;
  const started = new Date();
  log(`${formatSize(size)} per transfer, ${pairs} pairs, variants ${variants.join(' ')}, targets ${targets.join(' ')}, load ${load0.toFixed(2)}`);
  const results = new Map<string, { base: M; on: M }[]>();
  for (let i = 0; i < pairs; i++) {
    for (const v of variants) {
      for (const t of targets) {
        const run = (role: 'base' | 'lever'): Promise<M> => (role === 'base' ? measure(serves.get('base') as Serve, 'none', t) : measure(serves.get(v) as Serve, v, t));
        const first = baseFirst(i) ? 'base' : 'lever';
        const a = await run(first);
        const b = await run(first === 'base' ? 'lever' : 'base');
        const [base, on] = first === 'base' ? [a, b] : [b, a];
        const key = `${v}|${t}`;
        results.set(key, [...(results.get(key) ?? []), { base, on }]);
        log(`pair ${i + 1}/${pairs} ${v} ${t} base ${fmtRate(base.MBps)} MB/s srv ${base.cpuS?.toFixed(2)} cli ${base.ccpuS?.toFixed(2)} s; lever ${fmtRate(on.MBps)} MB/s srv ${on.cpuS?.toFixed(2)} cli ${on.ccpuS?.toFixed(2)} s; ratio ${(on.MBps / base.MBps).toFixed(3)}`);
      }
    }
  }
  const load1 = loadavg()[0] ?? 0;
  const f = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `## big packets A/B (${started.toISOString().slice(0, 16).replace('T', ' ')} UTC), ${formatSize(size)}, load ${load0.toFixed(1)} → ${load1.toFixed(1)}`,
    '',
    '| variant | target | speed ratio per pair | median | faster in | server CPU ratio per pair | median | client CPU ratio per pair | median | MB/s base → variant (medians) | RSS srv / cli, base → variant |',
    '|---|---|---|---:|---:|---|---:|---|---:|---:|---:|',
  ];
  for (const [key, list] of results) {
    const [v, t] = key.split('|');
    const sp = list.map((p) => p.on.MBps / p.base.MBps);
    const sc = list.map((p) => (p.base.cpuS ?? NaN) / (p.on.cpuS ?? NaN));
    const cc = list.map((p) => (p.base.ccpuS ?? NaN) / (p.on.ccpuS ?? NaN));
    const med = (xs: (number | undefined)[]): number => median(xs.filter((x): x is number => x !== undefined));
    lines.push(
      `| ${v} | ${t} | ${f(sp)} | ${median(sp).toFixed(3)} | ${sp.filter((r) => r > 1).length}/${sp.length} | ${f(sc)} | ${median(sc).toFixed(3)} | ${f(cc)} | ${median(cc).toFixed(3)} | ` +
        `${fmtRate(med(list.map((p) => p.base.MBps)))} → ${fmtRate(med(list.map((p) => p.on.MBps)))} | ` +
        `${fmtMiB(med(list.map((p) => p.base.rss)))} / ${fmtMiB(med(list.map((p) => p.base.crss)))} → ${fmtMiB(med(list.map((p) => p.on.rss)))} / ${fmtMiB(med(list.map((p) => p.on.crss)))} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

try {
  await main();
} catch (err) {
  log((err as Error).stack ?? String(err));
  process.exitCode = 1;
} finally {
  await env.cleanup();
}
