/**
 * Transfer benchmark: loopssh vs OpenSSH over loopback, side by side.
 *
 *   npm run bench -- [--size 1GiB] [--runs 5] [--cipher aes128-gcm@openssh.com]
 *                    [--only PATH,...] [--targets null,file,pipe] [--out DIR]
 *                    [--runner compiled|tsx] [--profile] [--allow-js-crypto]
 *
 * Paths (--only takes these ids, and the extras below):
 *   cli2       `npx loopssh exec` from this checkout (bin/loopssh.js) → `loopssh serve`
 *   cli-pack   `npx loopssh exec` installed from `npm pack`'s tarball into a
 *              temporary project → `loopssh serve`
 *   loop2      loopssh client (the bench's compiled child) → `loopssh serve`, two processes
 *   loop1      loopssh server and client in one process (as `loopssh demo`)
 *   loop1w     the same with the server on a worker thread (startServerWorker)
 *   ssh-loop   OpenSSH ssh → `loopssh serve`
 *   loop-sshd  loopssh client → OpenSSH sshd (own sshd on a free port)
 *   ssh-sshd   OpenSSH ssh → OpenSSH sshd: the baseline every ratio uses
 * SFTP paths (into a file, 1 GiB by default; --only sftp runs these alone,
 * sftp-get or sftp-put one direction):
 *   sftp-loop       `npx loopssh sftp get` → `loopssh serve`
 *   sftp-ssh-loop   OpenSSH `sftp -b` get → `loopssh serve`
 *   sftp-loop-sshd  `npx loopssh sftp get` → OpenSSH sftp-server (own sshd)
 *   sftp-ssh-sshd   OpenSSH `sftp -b` get → OpenSSH sftp-server: the get baseline
 *   put-loop, put-ssh-loop, put-loop-sshd, put-ssh-sshd: the same for put
 *                   (into loopssh serve's --sftp-dir, or a file beside sshd)
 * Targets: /dev/null, a file in a temporary folder, a pipe (`client | reader`).
 * Extras: setup (0-byte transfers: the fixed cost per path), rss (fresh
 * processes at 16 MiB and at SIZE: peak RSS vs size), flush (FlushTracker vs
 * an untracked pump that respects backpressure, and vs `naive: true`), scale
 * (1, 8, 64 concurrent 16 MiB channels in one process), limits (the
 * machine's: AES-128-GCM on one core, a plain TCP loopback copy).
 *
 * Every run does every selected item once, in an order rotated per run, so
 * machine noise hits all paths alike. MB/s are decimal and measured over the
 * whole client process (start-up, handshake, transfer, exit), as the
 * baseline in docs/performance-baseline.md was. Every transfer is
 * verified: files by size and SHA-256, pipes by length and every byte,
 * /dev/null by exit status (and the loopssh client's byte count).
 *
 * Writes OUT/bench.md (also printed on stdout), OUT/bench.png and
 * OUT/bench.json; progress goes to stderr. Exit status 1 if any transfer
 * failed verification, 2 on bad usage or missing prerequisites.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { nativeCryptoAvailable } from '../src/ssh2/native-crypto.ts';
import { formatSize } from '../src/util/size.ts';
import { peer, peerVersion } from '../test/helpers/peers.ts';
import { GNU_TIME } from './procstat.ts';
import { clientCwd, inprocExtra, runChild, transfer, type ExtraSample, type MeasureContext, type Sample } from './transfer/measure.ts';
import { distIsFresh } from '../bin/fresh-dist.js';
import { BenchUsageError, HELP, PATH_INFO, ROOT, SFTP_INFO, TARGET_LABEL, parseBenchOptions, type BenchOptions } from './transfer/options.ts';
import { measureLimits } from './transfer/limits.ts';
import { runProfiles } from './transfer/profile.ts';
import { resultKey, type BenchRecord } from './transfer/record.ts';
import { buildReport } from './transfer/report.ts';
import { itemsForRun } from './transfer/schedule.ts';
import { BenchEnv } from './transfer/setup.ts';
import { serveDiskDir, sftpTransfer } from './transfer/sftp.ts';
import { fmtMiB, fmtRate, fmtS, mbps } from './transfer/stats.ts';

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

function fail(message: string, status = 2): never {
  log(message);
  process.exit(status);
}

let options: BenchOptions;
try {
  options = parseBenchOptions(process.argv.slice(2));
} catch (err) {
  fail(err instanceof BenchUsageError ? err.message : String(err));
}
if (options.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

// Prerequisites.
const binding = nativeCryptoAvailable() === true;
if (!binding && !options.allowJsCrypto) {
  fail(
    "ssh2's native crypto binding is not available (npm run check-crypto), " +
      'so loopssh would run on pure-JS crypto (~41 MB/s) and its figures would mean nothing. ' +
      'Build it (npm rebuild ssh2, with a C++ toolchain and python3), or pass --allow-js-crypto to measure anyway.',
  );
}
const SSH = options.paths.length ? peer('ssh') : undefined;
const SSHD = options.paths.some((p) => PATH_INFO[p].server === 'sshd') || options.sftpPaths.some((p) => SFTP_INFO[p].server === 'sshd') ? peer('sshd') : undefined;
const SFTP = options.sftpPaths.some((p) => SFTP_INFO[p].client === 'sftp') ? peer('sftp') : undefined;
const SFTP_SERVER = options.sftpPaths.some((p) => SFTP_INFO[p].server === 'sshd') ? peer('sftp-server') : undefined;
const missing = options.paths.filter((p) => (PATH_INFO[p].client === 'ssh' && !SSH) || (PATH_INFO[p].server === 'sshd' && !SSHD));
if (missing.length > 0) log(`skipping ${missing.join(', ')}: OpenSSH ${!SSH ? 'ssh' : 'sshd'} is not installed (npm run peers)`);
const paths = options.paths.filter((p) => !missing.includes(p));
const sftpMissing = options.sftpPaths.filter((p) => (SFTP_INFO[p].client === 'sftp' && !SFTP) || (SFTP_INFO[p].server === 'sshd' && (!SSHD || !SFTP_SERVER)));
if (sftpMissing.length > 0) log(`skipping ${sftpMissing.join(', ')}: OpenSSH sftp, sshd or sftp-server is not installed (npm run peers)`);
const sftpPaths = options.sftpPaths.filter((p) => !sftpMissing.includes(p));
if (!GNU_TIME) log('/usr/bin/time not found (apt-get install time): client peak RSS is sampled from /proc and client CPU is not reported');

const env = new BenchEnv();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping servers, removing ${env.tmp}`);
    void env.cleanup().then(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  env.compile(options.runner, log);
  const ctx: MeasureContext = { env, options, ssh: SSH, sftp: SFTP };
  if (paths.includes('cli-pack')) {
    try {
      env.installPacked(log);
    } catch (err) {
      // No registry and an empty npm cache, say: the other paths still run.
      const e = err as Error & { stderr?: Buffer | string };
      log(`skipping cli-pack: cannot pack and install loopssh (${(e.stderr?.toString().trim().split('\n').pop() ?? e.message).slice(0, 300)})`);
      paths.splice(paths.indexOf('cli-pack'), 1);
    }
  }
  if (sftpPaths.some((p) => SFTP_INFO[p].server === 'serve')) {
    env.serveSftpDir = serveDiskDir(env.tmp);
    mkdirSync(env.serveSftpDir);
  }
  if (paths.some((p) => PATH_INFO[p].server === 'serve') || sftpPaths.some((p) => SFTP_INFO[p].server === 'serve')) {
    env.serve = await env.startServe();
    log(`loopssh serve on 127.0.0.1:${env.serve.port} (pid ${env.serve.pid})`);
  }
  if (paths.some((p) => PATH_INFO[p].server === 'sshd') || sftpPaths.some((p) => SFTP_INFO[p].server === 'sshd')) {
    const { sshd } = await env.startSshd(SSHD as string);
    log(`own sshd on 127.0.0.1:${sshd.port} (pid ${sshd.process.pid}, user ${sshd.user})`);
  }
  // npm's first `npx` in a folder can cost it seconds and ~200 MiB (seen on
  // the first transfer of a run): warm it up untimed, as a user's later runs are.
  const npxFolders = new Set([
    ...paths.filter((p) => PATH_INFO[p].client === 'cli-checkout' || PATH_INFO[p].client === 'cli-installed').map((p) => clientCwd(ctx, p)),
    ...(sftpPaths.some((p) => SFTP_INFO[p].client === 'loopssh') ? [ROOT] : []),
  ]);
  for (const cwd of npxFolders) {
    const warm = await runChild(env, ['npx', '--no-install', 'loopssh', '--help'], { cwd });
    log(`npx warm-up in ${cwd}: exit ${warm.code}, ${(warm.wallMs / 1000).toFixed(2)} s (not counted)`);
  }
  const record: BenchRecord = {
    options,
    paths,
    results: new Map<string, Sample[]>(),
    sftpPaths,
    sftp: new Map(),
    flush: [],
    scale: [],
    limits: [],
    runnerUsed: env.runnerUsed,
    checkoutLauncher: process.env.LOOPSSH_FROM_SOURCE !== '1' && distIsFresh(ROOT) ? 'dist' : 'tsx',
    binding,
    startedAt: new Date(),
    loadAtStart: loadavg()[0] ?? 0,
    opensshVersion: SSH || SSHD || SFTP ? peerVersion(SSH ? 'ssh' : SSHD ? 'sshd' : 'sftp') : undefined,
  };
  const started = performance.now();
  if (record.loadAtStart > 1) {
    log(`WARNING: load average ${record.loadAtStart.toFixed(2)} before starting: other work on this machine will skew the figures (all paths alike, thanks to the interleaving, but not the ratios' spread)`);
  }
  log(`${formatSize(options.size)} per transfer, ${options.runs} run(s), cipher ${options.cipher}, paths ${[...paths, ...sftpPaths].join(', ') || '(none)'}, targets ${options.targets.join(', ')}`);

  let failures = 0;
  for (let run = 0; run < options.runs; run++) {
    const items = itemsForRun(options, paths, run, sftpPaths);
    for (const [i, item] of items.entries()) {
      const tag = `[run ${run + 1}/${options.runs}, ${i + 1}/${items.length}]`;
      if (item.kind === 'transfer') {
        const sample = await transfer(ctx, item.path, item.target, item.size, item.fresh);
        const k = resultKey(item.tag, item.path, item.target);
        record.results.set(k, [...(record.results.get(k) ?? []), sample]);
        if (!sample.ok) failures++;
        const what = item.tag === 'main' ? '' : item.tag === 'setup' ? ' (setup, 0 B)' : ` (rss, ${formatSize(item.size)}${item.fresh && PATH_INFO[item.path].server === 'serve' ? ', fresh serve' : ''})`;
        const rate = item.size > 0 ? `${fmtRate(mbps(item.size, sample.wallMs)).padStart(6)} MB/s` : `${(sample.wallMs / 1000).toFixed(3)} s`;
        process.stderr.write(
          `${tag} ${item.path.padEnd(9)} ${TARGET_LABEL[item.target].padEnd(9)}${what} ${rate}  client ${fmtMiB(sample.clientRssKiB)} ${fmtS(sample.clientCpuS)} s` +
            `${sample.serverCpuS !== undefined ? `, server ${fmtMiB(sample.serverRssKiB)} ${fmtS(sample.serverCpuS)} s` : ''}  ${sample.ok ? 'ok' : `FAILED: ${sample.why}`}\n`,
        );
      } else if (item.kind === 'sftp') {
        const sample = await sftpTransfer(ctx, item.path, options.size);
        record.sftp.set(item.path, [...(record.sftp.get(item.path) ?? []), sample]);
        if (!sample.ok) failures++;
        process.stderr.write(
          `${tag} ${item.path.padEnd(14)} file      ${fmtRate(mbps(options.size, sample.wallMs)).padStart(6)} MB/s  client ${fmtMiB(sample.clientRssKiB)} ${fmtS(sample.clientCpuS)} s` +
            `${sample.serverCpuS !== undefined ? `, server ${fmtMiB(sample.serverRssKiB)} ${fmtS(sample.serverCpuS)} s` : ''}  ${sample.ok ? 'ok' : `FAILED: ${sample.why}`}\n`,
        );
      } else if (item.kind === 'limits') {
        const s = await measureLimits(options.limitBytes);
        record.limits.push(s);
        if (!s.ok) failures++;
        process.stderr.write(
          `${tag} limits    AES-128-GCM ${s.aesGcmMBps === undefined ? '—' : fmtRate(s.aesGcmMBps)} MB/s, TCP loopback ${s.tcpMBps === undefined ? '—' : fmtRate(s.tcpMBps)} MB/s  ${s.ok ? 'ok' : `FAILED: ${s.why}`}\n`,
        );
      } else {
        const s: ExtraSample = await inprocExtra(ctx, item.kind, run);
        record[item.kind].push(s);
        if (!s.ok) failures++;
        const bytes = item.kind === 'flush' ? options.size : 64 * options.scaleChannel;
        const parts = Object.entries(s.results).map(([name, r]) => `${name} ${fmtRate(mbps(bytes, r.ms))}`);
        process.stderr.write(`${tag} ${item.kind.padEnd(9)} ${parts.join(', ')} MB/s  ${s.ok ? 'ok' : `FAILED: ${s.why}`}\n`);
      }
    }
  }

  const profile = options.profile ? await runProfiles(ctx, paths, sftpPaths) : undefined;
  const report = buildReport(record, profile);
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'bench.md'), report.markdown);
  writeFileSync(join(options.out, 'bench.png'), report.png);
  writeFileSync(join(options.out, 'bench.json'), `${JSON.stringify(report.json, null, 2)}\n`);
  process.stdout.write(report.markdown);
  log(
    `done in ${((performance.now() - started) / 1000).toFixed(0)} s; wrote ${join(options.out, 'bench.md')}, bench.png, bench.json` +
      `${failures ? `; ${failures} item(s) FAILED verification` : ''}`,
  );
  process.exitCode = failures ? 1 : 0;
}

try {
  await main();
} catch (err) {
  log((err as Error).stack ?? String(err));
  process.exitCode = 2;
} finally {
  await env.cleanup();
}
