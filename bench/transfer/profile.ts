/** `--profile`: node --cpu-prof of the loopssh processes, summarised as top self time. */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatSize } from '../../src/util/size.ts';
import { clientArgv, runChild, type MeasureContext } from './measure.ts';
import { ROOT, SFTP_INFO, type PathId, type SftpPathId } from './options.ts';
import { sftpProfileArgv } from './sftp.ts';
import { stopChild } from './setup.ts';
import { fmtRate, mbps } from './stats.ts';

/** Top self-time functions of a .cpuprofile. */
export function profileTop(file: string, top = 15): { total: number; rows: { name: string; where: string; ms: number; pct: number }[] } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    total += dt;
    const cf = byId.get(id)?.callFrame;
    if (!cf) return;
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(ROOT, '').replace(/^.*node_modules\//, '')}:${cf.lineNumber + 1}` : '';
    const k = `${cf.functionName}|${where}`;
    const e = self.get(k) ?? { name: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += dt;
    self.set(k, e);
  });
  const rows = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, pct: (100 * e.us) / total }));
  return { total: total / 1000, rows };
}

/**
 * Profiles one transfer per loopssh path (and loop2's server), the loopssh
 * SFTP client of each selected SFTP path, and the `loopssh serve` process of
 * put-loop (and sftp-loop); returns the Markdown sections.
 */
export async function runProfiles(ctx: MeasureContext, paths: readonly PathId[], sftpPaths: readonly SftpPathId[] = []): Promise<string> {
  const { env, options } = ctx;
  const SIZE = options.size;
  const dir = join(options.out, 'profiles');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const sections: string[] = [];
  const summarize = (label: string, sub: string, wallMs: number | undefined, note = ''): void => {
    const file = readdirSync(sub).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      sections.push(`### ${label}\n\nno profile written${note ? `: ${note}` : ''}\n`);
      return;
    }
    const { total, rows } = profileTop(join(sub, file), 15);
    sections.push(
      [
        `### ${label}`,
        '',
        `${formatSize(SIZE)}${wallMs !== undefined ? ` in ${(wallMs / 1000).toFixed(2)} s (${fmtRate(mbps(SIZE, wallMs))} MB/s under the profiler)` : ''}; ` +
          `${(total / 1000).toFixed(2)} s sampled; profile: \`${join(sub, file)}\``,
        '',
        '| self ms | self % | function | where |',
        '|---:|---:|---|---|',
        ...rows.map((r) => `| ${r.ms.toFixed(0)} | ${r.pct.toFixed(1)} | \`${r.name}\` | ${r.where} |`),
        '',
      ].join('\n'),
    );
  };
  const profileFlags = (sub: string): string[] => ['--cpu-prof', '--cpu-prof-dir', sub];
  const jobs: { label: string; path: PathId }[] = [];
  if (paths.includes('loop1')) jobs.push({ label: 'loop1: server + client in one process, to /dev/null', path: 'loop1' });
  if (paths.includes('cli2')) jobs.push({ label: 'cli2: the `loopssh exec` process (bin/loopssh.js, as npx runs it), to /dev/null', path: 'cli2' });
  if (paths.includes('loop2')) jobs.push({ label: 'loop2: the client process, to /dev/null', path: 'loop2' });
  if (paths.includes('loop-sshd')) jobs.push({ label: 'loop-sshd: the loopssh client against OpenSSH sshd, to /dev/null', path: 'loop-sshd' });
  for (const job of jobs) {
    const sub = join(dir, job.path);
    mkdirSync(sub);
    process.stderr.write(`bench: profiling ${job.label}\n`);
    // The CLI writes to its stdout: /dev/null as fd 1, as a user's `> /dev/null`.
    const devNull = job.path === 'cli2' ? openSync('/dev/null', 'w') : undefined;
    const outcome = await runChild(env, clientArgv(ctx, job.path, SIZE, 'null', profileFlags(sub)), { stdoutFd: devNull }).finally(() => devNull !== undefined && closeSync(devNull));
    summarize(job.label, sub, outcome.wallMs, `exit ${outcome.code}: ${outcome.stderr.trim().slice(-300)}`);
  }
  if (paths.includes('loop2')) {
    // The server side of loop2: its own `loopssh serve`, profiled from start to SIGTERM.
    const sub = join(dir, 'loop2-serve');
    mkdirSync(sub);
    process.stderr.write('bench: profiling loop2: the loopssh serve process\n');
    const profiled = await env.startServe('serve-profiled', profileFlags(sub));
    const outcome = await runChild(env, clientArgv(ctx, 'loop2', SIZE, 'null', [], profiled), {});
    await stopChild(profiled.child);
    summarize('loop2: the `loopssh serve` process (start-up, one transfer, stop)', sub, outcome.wallMs, profiled.log().trim().slice(-300));
  }
  for (const path of sftpPaths.filter((p) => SFTP_INFO[p].client === 'loopssh' || (SFTP_INFO[p].client === 'sftp' && SFTP_INFO[p].server === 'serve'))) {
    const info = SFTP_INFO[path];
    // Our client's process where the client is ours; else (OpenSSH sftp → loopssh serve) a serve of its own, start to SIGTERM.
    const side = info.client === 'loopssh' ? 'client' : 'serve';
    const label = `${path}: ${side === 'client' ? 'the `loopssh sftp` client process' : 'the `loopssh serve` process (start-up, one transfer, stop)'} (${info.label})`;
    const sub = join(dir, `${path}-${side}`);
    mkdirSync(sub);
    process.stderr.write(`bench: profiling ${label}\n`);
    const profiled = side === 'serve' ? await env.startServe(`serve-profiled-${path}`, profileFlags(sub)) : undefined;
    const { argv, check } = sftpProfileArgv(ctx, path, SIZE, side === 'client' ? profileFlags(sub) : [], profiled);
    const outcome = await runChild(env, argv, {});
    if (profiled) await stopChild(profiled.child);
    rmSync(check, { force: true });
    summarize(label, sub, outcome.wallMs, `exit ${outcome.code}: ${(profiled ? profiled.log() : outcome.stderr).trim().slice(-300)}`);
  }
  return sections.join('\n');
}

